"""The ``genimg`` command line (also ``python -m genimg_course``).

    genimg doctor      # is this machine ready for the course? exit code 0 if so, 1 if not
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genimg",
        description="Tools for the genimg-course notebooks.",
        epilog="Run `genimg <command> --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    doctor = sub.add_parser(
        "doctor",
        help="check Python, torch/torchvision, GPU, widgets, data and the shipped weights",
        description="Check that this environment can run the course: Python, torch and torchvision "
                    "(a matching pair), GPU and bf16, ipywidgets and the JupyterLab extension, torchmetrics, "
                    "the offline data, the data cache folder ($GENIMG_DATA_DIR) and the shipped judge weights. "
                    "Prints the exact command that fixes each problem. Exit code 0 when every required "
                    "item passes, 1 otherwise.",
    )
    doctor.add_argument("-q", "--quiet", action="store_true", help="print nothing; only set the exit code")
    doctor.set_defaults(func=_doctor)
    return parser


def _doctor(args: argparse.Namespace) -> int:
    from . import env

    items = env.report(verbose=not args.quiet)
    return 0 if env.ready(items) else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
