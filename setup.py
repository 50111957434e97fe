"""Build step that pyproject.toml cannot say on its own: the course's files (the lessons, their bands, the docs they
link to, the scripts that made the shipped weights, the benchmarks) go into the wheel beside the package, under
``genimg_course/course/``, with ``MANIFEST.json`` (path -> SHA-256). ``genimg course DIR`` lays them out again, so a
course installed with ``pip install`` (no checkout) has every lesson and every file a lesson names.

Which files: ``[tool.genimg-course] course-files`` in pyproject.toml (globs from the root). Everything else about the
package is in pyproject.toml. An editable install (``pip install -e .``) copies nothing: the checkout is the course.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pyproject's build-system requires tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent


def course_files(root: Path = ROOT) -> list[str]:
    """The course's files (posix paths from ``root``), sorted; every glob must match something."""
    globs = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["genimg-course"]["course-files"]
    found: set[str] = set()
    for pattern in globs:
        hits = [p for p in root.glob(pattern) if p.is_file()]
        if not hits:
            raise SystemExit(f"pyproject.toml's course-files glob {pattern!r} matches no file under {root}")
        found.update(p.relative_to(root).as_posix() for p in hits)
    return sorted(found)


class BuildWithCourse(build_py):
    """build_py, then the course's files into ``<build_lib>/genimg_course/course/`` and their MANIFEST.json."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "genimg_course" / "course"
        shutil.rmtree(dest, ignore_errors=True)  # nothing left from an earlier build
        manifest = {}
        for rel in course_files():
            data = (ROOT / rel).read_bytes()
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            manifest[rel] = hashlib.sha256(data).hexdigest()
        (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


setup(cmdclass={"build_py": BuildWithCourse})
