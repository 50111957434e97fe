"""``genimg course DIR``: the course as a folder of one's own, from a checkout or from an installed wheel.

An installed wheel (``pip install genimg-course...whl``, or a lesson's bootstrap cell in a hosted kernel) carries the
course's files beside the package, in ``genimg_course/course/`` with ``MANIFEST.json`` (path -> SHA-256), put there
by setup.py from pyproject.toml's ``course-files``. :func:`copy_course` lays them out again::

    DIR/notebooks/NN_name.ipynb   the lessons (and notebooks/bands/, what each lesson's figures are held to)
    DIR/docs/                     what the lessons link to (article.md, benchmarks.md, compute.md, ...)
    DIR/tools/, DIR/benchmarks/   the scripts that made the shipped weights, and the benchmarks
    DIR/README.md

so every link and file name in a lesson resolves there. Each file is hash-checked against the manifest before it is
written (a damaged install is named, nothing written). ``DIR/.genimg-course.json`` records the SHA-256 of what was
written, so a later run (a newer course) updates every file the learner left as it was and keeps, not overwrites,
every file they changed — a learner's edited lesson is never lost — unless ``replace``, which first saves it as
``NAME.bak``. Each file is written through genimg_course.files.atomic_write.
Standard library only (no torch).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..files import atomic_write
from .lessons import (LESSON_GLOB, BadInput, as_callable, as_flag, as_path, course_root, in_checkout, parse_command)

__all__ = ["MANIFEST", "DEFAULT_DIR", "course_files", "copy_course", "CopyReport", "course_main"]

MANIFEST = "MANIFEST.json"
RECORD = ".genimg-course.json"  # in the course folder: path -> SHA-256 of the file genimg course wrote there
DEFAULT_DIR = Path("genimg-course")


def _checkout_files(root: Path) -> dict[str, str | None]:
    """The checkout's course files (pyproject.toml's ``course-files`` globs), no hashes to check against."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    globs = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["genimg-course"]["course-files"]
    return {p.relative_to(root).as_posix(): None for g in globs for p in sorted(root.glob(g)) if p.is_file()}


def course_files(root: Path | None = None) -> dict[str, str | None]:
    """``{posix path: SHA-256}`` of the course's files under ``root`` (default :func:`course_root`): the wheel's
    manifest, or (a checkout: no manifest) the pyproject globs with ``None`` for the hash."""
    root = course_root() if root is None else as_path(root, "course folder")
    manifest = root / MANIFEST
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise BadInput(f"{manifest} is not a course manifest: expected an object of path -> SHA-256; reinstall "
                           "the course (pip install --force-reinstall ...)")
        return dict(sorted(data.items()))
    if (root / "pyproject.toml").is_file():
        return _checkout_files(root)
    raise BadInput(f"no course files in {root}: expected a checkout (pyproject.toml, notebooks/) or an installed "
                   f"wheel's genimg_course/course/{MANIFEST}; this install has neither — install the course from its "
                   "wheel or a checkout (pip install PATH)")


@dataclass
class CopyReport:
    dest: Path
    written: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # the learner had not changed it; the course's is newer
    kept: list[str] = field(default_factory=list)  # changed by the learner (or not written by us), left as it was
    backed_up: list[str] = field(default_factory=list)  # replaced, the old one saved as NAME.bak

    @property
    def lessons(self) -> list[str]:
        return [r for r in self.written + self.same + self.kept + self.updated if Path(r).parent.as_posix() == "notebooks"
                and Path(r).match(LESSON_GLOB)]


def _write(path: Path, data: bytes) -> None:
    with atomic_write(path) as f:
        f.write(data)


def copy_course(dest: str | os.PathLike = DEFAULT_DIR, replace: bool = False,
                log: Callable[[str], None] = print) -> CopyReport:
    """Lay the course's files out in ``dest`` (created if missing). Reads and hash-checks every file first; then
    writes the new ones, leaves identical ones alone and keeps ones that differ (``replace``: saves each as
    ``NAME.bak``, then writes the course's). Raises :class:`BadInput` before writing anything for a ``dest`` that is
    a file or the course's own folder, or a packaged file whose hash is not the manifest's."""
    dest = as_path(dest, "course folder")
    replace, log = as_flag(replace, "replace"), as_callable(log, "log")
    root = course_root()
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"course folder {dest} is a file: expected a folder (new or one made by genimg course)")
    if dest.resolve() == root.resolve():
        raise BadInput(f"course folder {dest} is where the course's files are read from ({root}): expected another "
                       "folder")
    files = course_files(root)
    data: dict[str, bytes] = {}
    for rel, digest in files.items():
        src = root / rel
        try:
            body = src.read_bytes()
        except OSError as e:
            raise BadInput(f"cannot read the course's file {src}: {e.strerror or e}; reinstall the course") from None
        if digest is not None and hashlib.sha256(body).hexdigest() != digest:
            raise BadInput(f"the course's file {src} does not match its SHA-256 in {root / MANIFEST}: the install is "
                           "damaged; reinstall the course (pip install --force-reinstall ...). Nothing was written")
        data[rel] = body
    for rel in data:
        if (dest / rel).is_dir():
            raise BadInput(f"{dest / rel} is a folder where the course has the file {rel}: move it away and run again")
    record_path = dest / RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    except (OSError, ValueError):
        record = {}
    record = record if isinstance(record, dict) else {}
    report = CopyReport(dest)
    for rel, body in data.items():
        target = dest / rel
        if target.is_file():
            there = target.read_bytes()
            if there == body:
                report.same.append(rel)
            elif record.get(rel) == hashlib.sha256(there).hexdigest():  # as we wrote it: take the newer one
                _write(target, body)
                report.updated.append(rel)
            elif replace:
                _write(target.with_name(target.name + ".bak"), there)
                _write(target, body)
                report.backed_up.append(rel)
            else:
                report.kept.append(rel)
                continue
        else:
            _write(target, body)
            report.written.append(rel)
        record[rel] = hashlib.sha256(body).hexdigest()
    _write(record_path, (json.dumps(dict(sorted(record.items())), indent=1) + "\n").encode())
    source = "this checkout" if in_checkout() else "the installed package"
    n = len(report.lessons)
    log(f"course folder {dest.resolve()}: {n} lesson{'' if n == 1 else 's'}; {len(report.written)} file(s) written, "
        f"{len(report.updated)} updated, {len(report.same)} already there, from {source}")
    if report.kept:
        log(f"kept {len(report.kept)} file(s) you had changed (e.g. {report.kept[0]}); `genimg course {dest} --replace` "
            "saves each as NAME.bak and writes the course's")
    if report.backed_up:  # written after saving the learner's
        log(f"saved {len(report.backed_up)} changed file(s) as NAME.bak before replacing them")
    log(f"open it: jupyter lab {dest / 'notebooks'}")
    return report


def build_parser(prog: str = "genimg course") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Write the course as a folder of your own: the lessons (notebooks/), the docs they link to, the "
                    "scripts that made the shipped weights (tools/) and the benchmarks, from this checkout or from "
                    "the installed package (a wheel carries them, hash-checked). Files you changed are kept. Exit "
                    "code 0 when written, 2 on bad input (nothing written).")
    p.add_argument("dest", nargs="?", type=Path, default=DEFAULT_DIR, metavar="DIR",
                   help=f"the folder to write (created if missing; default: ./{DEFAULT_DIR})")
    p.add_argument("--replace", action="store_true",
                   help="replace files you changed with the course's, after saving each as NAME.bak")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def course_main(argv: list[str] | None = None) -> int:
    args = parse_command(build_parser(), argv, "genimg course")
    if args is None:
        return 2
    try:
        copy_course(args.dest, replace=args.replace, log=(lambda s: None) if args.quiet else print)
    except BadInput as e:
        print(f"genimg course: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(course_main())
