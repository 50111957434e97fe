#!/usr/bin/env python3
"""Set up and use the course with nothing but Python 3.10+ (standard library only).

    python3 tools/course.py lab       # set up .venv, then open the course in JupyterLab
    python3 tools/course.py test      # set up .venv, then run every test (what CI runs)
    python3 tools/course.py run-all   # set up .venv, then execute every lesson headless (papermill)
    python3 tools/course.py setup     # only set up .venv

Setup creates ``.venv`` beside this checkout and installs the course with the exact versions in
``constraints.txt``; it is skipped when nothing changed since the last setup.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("GENIMG_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def sh(*cmd: str | os.PathLike, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def setup() -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"the course needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    stamp = VENV / ".genimg-setup"
    want = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in ("pyproject.toml", "constraints.txt"))).hexdigest()
    if PY.exists() and stamp.exists() and stamp.read_text() == want:
        print(f"[setup] {VENV} is up to date")
        return
    if not PY.exists():
        print(f"[setup] creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("[setup] installing the course and its pinned dependencies (first time: a few minutes, torch is large)")
    rc = sh(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q",
            "-c", ROOT / "constraints.txt", "-e", f"{ROOT}[test]")
    if rc:
        sys.exit(f"[setup] pip failed (exit {rc}); see the messages above")
    stamp.write_text(want)


def test(extra: list[str]) -> int:
    setup()
    env = dict(os.environ, GENIMG_PROFILE="smoke", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    # Two workers, a file each at a time (nbval runs a notebook's cells in order in one kernel). The two longest
    # files start first, one on each worker (tests/conftest.py puts them first), and the rest follow in order: xdist
    # would otherwise start the files with the most tests first and leave test_nbgrader.py, 13 min, for the end.
    workers = ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"] if (os.cpu_count() or 1) >= 2 else []
    if workers:  # one thread per worker (and per kernel it starts): oversubscribed cores slow torch 10x
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep instead of spinning on shared cores
    # unit tests, notebook execution with papermill + figure bands, then every notebook cell as an
    # nbval test item (smoke profile through GENIMG_PROFILE); the 25 slowest tests are listed at the end, so a
    # CI run that grows slower says where
    return sh(PY, "-m", "pytest", *workers, "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout", "300", "-p", "no:cacheprovider",
              "--durations=25", "tests", "notebooks", *extra, env=env)


def lab(extra: list[str]) -> int:
    setup()
    args = [BIN / "jupyter", "lab", "--notebook-dir", ROOT / "notebooks"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # JupyterLab refuses to run as root without it
    return sh(*args, *extra)


def run_all(profile: str) -> int:
    """Execute every lesson into notebooks/executed/<profile>/ with `genimg run` (compute cards too)."""
    setup()
    return sh(PY, "-m", "genimg_course", "run", "--profile", profile, "--out", ROOT / "notebooks" / "executed" / profile)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["setup", "lab", "test", "run-all"])
    p.add_argument("--profile", default="auto", help="run-all: smoke | cpu | gpu | auto (default)")
    args, extra = p.parse_known_args()
    if args.command == "setup":
        setup()
        sys.exit(0)
    if args.command == "test":
        sys.exit(test(extra))
    if args.command == "lab":
        sys.exit(lab(extra))
    sys.exit(run_all(args.profile))


if __name__ == "__main__":
    main()
