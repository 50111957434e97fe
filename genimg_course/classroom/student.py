"""``genimg student``: the student and instructor versions of lessons, ready for nbgrader.

* ``<out>/instructor/<stem>.ipynb``: outputs cleared, solutions kept, and nbgrader's cell metadata
  (:func:`~genimg_course.classroom.grading.nbgrader_version`): each exercise is an autograded answer
  cell followed by its check line(s) as locked, autograded test cells (1 point per check) whose hidden
  test fails when the check fails; markdown cells read-only. Put these under an nbgrader course's
  ``source/<assignment>/`` and run ``nbgrader generate_assignment`` / ``nbgrader autograde``.
* ``<out>/student/<stem>.ipynb``: what ``nbgrader generate_assignment`` releases from the instructor
  version (:func:`~genimg_course.classroom.grading.release_version`; nbgrader need not be installed):
  every solution block replaced by nbgrader's stub ``raise NotImplementedError()``, hidden tests
  removed, cells locked, checksums set, and a note on top saying it is the student version.

Both drop what an executed copy adds (papermill's injected parameters and error markers, widget
state), so an executed lesson can be handed out too. Every version is built and linted
(:func:`~genimg_course.classroom.grading.lint_lesson`: an exercise without its check line, a duplicate
grade id, a solution region outside an exercise cell — each named by lesson and cell) before any file
is written, and each file is written through a temporary file renamed into place.
"""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import nbformat

from ..files import write_text
from collections.abc import Mapping

from .lessons import (BadInput, BadType, as_list, as_path, check_notebooks, check_out_dir, got, prepare_out_dir,
                      resolve_notebooks)
from .grading import lint_submission, nbgrader_version, release_version
from .solutions import BEGIN_SOLUTION

__all__ = ["NOTE_TAG", "STUDENT_NOTE", "DEFAULT_OUT", "clear_outputs", "student_version", "instructor_version",
           "write_versions", "check_submission", "main"]

NOTE_TAG = "student-version-note"
DEFAULT_OUT = Path("handout")
STUDENT_NOTE = (
    "**Student version.** The solutions are removed from this notebook: in each exercise, "
    "`raise NotImplementedError()` marks where your code goes. Run the cells from the top; the check "
    "cell under each exercise prints ✓ or ✗ with a hint. Until you answer an exercise, its check says "
    "\"Not answered yet\", and later cells that use your answer stop with `NotImplementedError`. "
    "The check cells are read-only: they are what grades your answers."
)
_DROP_TAGS = ("injected-parameters", "papermill-error-cell-tag", NOTE_TAG)
_CELL_METADATA = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")
_NB_METADATA = ("widgets", "papermill")


def clear_outputs(nb: Any) -> Any:
    """A copy of ``nb`` with no outputs, execution counts or run metadata, and without the cells a
    papermill run or an earlier student version added."""
    _check_nb(nb)
    nb = nbformat.v4.upgrade(copy.deepcopy(nb))
    nb.cells = [c for c in nb.cells if not set(_DROP_TAGS) & set(c.metadata.get("tags", []))]
    for cell in nb.cells:
        for key in _CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for key in _NB_METADATA:
        nb.metadata.pop(key, None)
    return nb


def _check_nb(nb: Any) -> None:
    if not isinstance(nb, Mapping) or not isinstance(nb.get("cells", nb.get("worksheets")), list) \
            or not isinstance(nb.get("nbformat"), int):
        hint = " (read it first with nbformat.read(path, as_version=4))" if isinstance(nb, (str, os.PathLike)) else ""
        raise BadType(f"expected a notebook (the NotebookNode nbformat.read returns, with 'cells' and 'nbformat'), "
                      f"got {got(nb)}{hint}")


def student_version(nb: Any, name: str = "notebook") -> Any:
    """What ``nbgrader generate_assignment`` releases from :func:`instructor_version` (solutions stubbed,
    hidden tests removed, outputs cleared), with the student note on top.
    Raises :class:`~genimg_course.classroom.lessons.BadInput` naming the cell nbgrader would refuse."""
    if not isinstance(name, str):
        raise BadType(f"student_version: name: expected the notebook's name as a str, got {got(name)}")
    nb = release_version(instructor_version(nb, name), name)
    note = nbformat.v4.new_markdown_cell(STUDENT_NOTE, id=NOTE_TAG)  # a fixed id: the same input gives the same file
    note.metadata["tags"] = [NOTE_TAG]
    nb.cells.insert(0, note)
    return nb


def instructor_version(nb: Any, name: str = "notebook") -> Any:
    """``nb`` with outputs cleared, solutions kept and nbgrader's cell metadata
    (:func:`~genimg_course.classroom.grading.nbgrader_version`)."""
    if not isinstance(name, str):
        raise BadType(f"instructor_version: name: expected the notebook's name as a str, got {got(name)}")
    return nbgrader_version(clear_outputs(nb), name)


def _exercises(nb: Any) -> int:
    return sum(c.source.count(BEGIN_SOLUTION) for c in nb.cells if c.cell_type == "code")


def write_versions(notebooks: Sequence[Path], out: Path) -> list[tuple[Path, Path, int]]:
    """Write both versions of every notebook under ``out``; returns ``(student, instructor, exercises)``
    per notebook. Nothing is written when any notebook cannot be read or stripped, or when ``out`` would put the
    copies beside the notebooks."""
    notebooks = [as_path(p, "write_versions: notebook") for p in as_list(notebooks, "write_versions: notebooks")]
    if not notebooks:
        raise BadInput("write_versions: expected at least one notebook, got an empty list")
    out = as_path(out, "write_versions: out")
    check_notebooks(notebooks)
    check_out_dir(out, notebooks, writes=("", "student", "instructor"))
    built = []
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as e:
            raise BadInput(f"cannot read {path} as a notebook: {e}") from None
        student, instructor = student_version(nb, path.name), instructor_version(nb, path.name)
        for version in (student, instructor):
            nbformat.validate(version)
        built.append((path.stem, student, instructor, _exercises(nb)))
    student_dir, instructor_dir = prepare_out_dir(out / "student"), prepare_out_dir(out / "instructor")
    written = []
    for stem, student, instructor, count in built:
        pair = (student_dir / f"{stem}.ipynb", instructor_dir / f"{stem}.ipynb")
        write_text(pair[0], nbformat.writes(student) + "\n")
        write_text(pair[1], nbformat.writes(instructor) + "\n")
        written.append((*pair, count))
    return written


def check_submission(submission: str | os.PathLike, instructor: str | os.PathLike) -> None:
    """Raise :class:`~genimg_course.classroom.lessons.BadInput` naming the file and the cell when a student's
    notebook ``submission`` lost or edited a check cell of the instructor version ``instructor`` (a file
    ``genimg student`` wrote), before ``nbgrader autograde`` overwrites it."""
    paths = [as_path(p, f"check_submission: {what}") for p, what in ((submission, "submission"), (instructor, "instructor"))]
    nbs = []
    for path in paths:
        try:
            nbs.append(nbformat.read(path, as_version=4))
        except Exception as e:
            raise BadInput(f"cannot read {path} as a notebook: {e}") from None
    lint_submission(nbs[0], nbs[1], str(paths[0]))


def main(names: Sequence[str] = (), out: str | os.PathLike | None = None) -> int:
    """``genimg student``: 0 when every version was written, 2 on bad input (nothing written)."""
    try:
        out = as_path(out, "--out") if out is not None else DEFAULT_OUT
        notebooks = resolve_notebooks(names)
        prepare_out_dir(out)
        written = write_versions(notebooks, out)
    except BadInput as e:
        print(f"genimg student: error: {e}", file=sys.stderr)
        return 2
    for student, instructor, count in written:
        print(f"{student.stem}: {count} exercise(s) stubbed → {student}; with solutions → {instructor}")
    print(f"genimg student: {len(written)} lesson(s). Hand out {out / 'student'}; keep {out / 'instructor'} "
          f"(for nbgrader: copy it to <course>/source/<assignment>/, then nbgrader generate_assignment / autograde).")
    return 0
