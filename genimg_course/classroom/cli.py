"""The ``genimg`` command line (also ``python -m genimg_course`` and ``python -m genimg_course.classroom``).

    genimg doctor      # is this machine ready for the course? exit code 0 if so, 1 if not
    genimg run         # execute every lesson (or some) with papermill; executed copies + compute cards
    genimg student     # student versions (solutions stubbed, outputs cleared) and instructor versions
    genimg prefetch    # download and hash-verify datasets and checkpoints into a folder a lab can share
    genimg site        # a browsable static HTML course from executed lessons, widgets rendered offline
    genimg course DIR  # the course as a folder of one's own (lessons, docs, tools), from a checkout or a wheel
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    _add_run(sub)
    _add_student(sub)
    # prefetch and site parse their own arguments (main() hands them over); listed here for --help
    sub.add_parser("prefetch", add_help=False,
                   help="download and hash-verify every dataset and checkpoint into a folder a classroom can share")
    sub.add_parser("site", add_help=False,
                   help="build a browsable static HTML course from executed lessons (widgets rendered offline)")
    sub.add_parser("course", add_help=False,
                   help="write the course (lessons, the docs they link to, tools, benchmarks) into a folder of your "
                        "own, from this checkout or the installed package")
    return parser


_NOTEBOOKS_HELP = ("lessons to use: a name (05_vae), its number (05), its file name (05_vae.ipynb) or the path "
                   "of a .ipynb file; default: every lesson in notebooks/")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _add_run(sub: argparse._SubParsersAction) -> None:
    from .runner import DEFAULT_TIMEOUT_S, PROFILE_CHOICES  # the profiles' names plus "auto"; no torch

    run = sub.add_parser(
        "run",
        help="execute lessons with papermill under a profile; executed copies and compute cards",
        description="Execute lessons with papermill under a profile, each in its own kernel, several at a time "
                    "where the machine allows. Writes OUT/<lesson>.ipynb (only when every cell passed; a failed "
                    "lesson's copy is OUT/<lesson>.FAILED.ipynb), its figures OUT/<lesson>.json and its compute "
                    "card OUT/<lesson>.card.json (wall time, peak GPU memory, peak RAM, device), plus "
                    "OUT/compute_cards.md and OUT/compute_cards.json for every card in OUT. Prints a line as each "
                    "lesson finishes; a failing lesson is reported with its cell and error while the others go on. "
                    "Each lesson that ran has its figures compared with the [PROFILE] section of its band file "
                    "(notebooks/bands/<lesson>.toml); its card and the summary name every figure outside its band "
                    "(lesson, key, value, band), and a lesson with no band file or no [PROFILE] section is reported "
                    "as 'no bands for PROFILE'. "
                    "Exit code 0 when every lesson passed and met its bands (or has none), 1 when one failed, "
                    "2 on bad input (nothing executed), 3 when every lesson ran but a figure is outside its band "
                    "or a band file is broken.",
    )
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help=_NOTEBOOKS_HELP)
    run.add_argument("--profile", choices=PROFILE_CHOICES, default="auto",
                     help="run sizes: smoke (CI, seconds), cpu (a laptop), gpu (a lab GPU), auto (default: "
                          "$GENIMG_PROFILE, else gpu with CUDA, else cpu); the figures are checked against that profile's "
                          "bands (for auto, the profile it resolved to)")
    run.add_argument("--out", type=_path_arg, metavar="DIR",
                     help="output folder (created if missing; default: notebooks/executed/<profile>)")
    run.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                     help="lessons at a time (default: 1 on a CPU-only machine with fewer than 4 cores, "
                          "else up to 4); each kernel gets cores // N OpenMP threads")
    run.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT_S, metavar="S",
                     help=f"seconds a cell may go without a reply before the lesson fails (default {DEFAULT_TIMEOUT_S:g}); "
                          "a lesson that timed out is run once more")
    run.set_defaults(func=_run)


def _add_student(sub: argparse._SubParsersAction) -> None:
    student = sub.add_parser(
        "student",
        help="write student versions (solutions stubbed, outputs cleared) and instructor versions",
        description="Write OUT/student/<lesson>.ipynb — every solution block between '### BEGIN SOLUTION' and "
                    "'### END SOLUTION' replaced by `raise NotImplementedError()`, outputs and execution counts "
                    "cleared, the checks kept, a note on top — and OUT/instructor/<lesson>.ipynb (outputs cleared, "
                    "solutions kept, with nbgrader's cell metadata). Exit code 0 when written, 2 on bad input "
                    "(nothing written). With --check-submission, writes nothing: says whether a student's notebook "
                    "kept every check cell of its instructor version (exit 0) or names the cell it lost or edited (2).",
    )
    student.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help=_NOTEBOOKS_HELP)
    student.add_argument("--out", type=_path_arg, metavar="DIR", help="output folder (created if missing; default: ./handout)")
    student.add_argument("--check-submission", nargs=2, type=_path_arg, metavar=("SUBMITTED", "INSTRUCTOR"),
                         help="check a submitted notebook against the instructor version genimg student wrote")
    student.set_defaults(func=_student)


def _run(args: argparse.Namespace) -> int:
    from . import runner

    return runner.main(args.notebooks, profile=args.profile, out=args.out, jobs=args.jobs, timeout=args.timeout)


def _student(args: argparse.Namespace) -> int:
    from . import student
    from .lessons import BadInput

    if args.check_submission:
        submitted, instructor = args.check_submission
        try:
            student.check_submission(submitted, instructor)
        except BadInput as e:
            print(f"genimg student: {e}", file=sys.stderr)
            return 2
        print(f"{submitted}: every check cell of {instructor} is there, unedited")
        return 0
    return student.main(args.notebooks, out=args.out)


def _doctor(args: argparse.Namespace) -> int:
    from . import env

    items = env.report(verbose=not args.quiet)
    return 0 if env.ready(items) else 1


_DELEGATED = {"prefetch": ("prefetch", "prefetch_main"), "site": ("site", "site_main"),
              "course": ("course", "course_main")}


def _path_arg(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return Path(text)


def main(argv: list[str] | None = None) -> int:
    from .lessons import BadType, as_argv

    try:
        argv = sys.argv[1:] if argv is None else as_argv(argv)
    except BadType as e:
        print(f"genimg: error: {e}", file=sys.stderr)
        return 2
    if argv and argv[0] in _DELEGATED:  # these commands own their argparse, so their --help is complete
        import importlib

        module, function = _DELEGATED[argv[0]]
        return int(getattr(importlib.import_module(f".{module}", __package__), function)(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
