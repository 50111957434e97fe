"""nbgrader's cell metadata for the lessons, the release nbgrader would make, and a lint.

The lessons in ``notebooks/`` carry only the solution markers. :func:`nbgrader_version` (the
instructor version ``genimg student`` writes) turns them into what ``nbgrader generate_assignment``
and ``nbgrader autograde`` need:

* each exercise cell (a code cell holding ``### BEGIN SOLUTION``) becomes an *autograded answer*
  cell (``solution: true``, grade id ``answer-<the names it defines>``);
* its check line(s) at the end of the cell (``x = check_...(...)``) move into *autograded test*
  cells that follow it, one per check statement (``grade: true``, 1 point, locked, grade id
  ``test-<check name>``). The learner sees the check line as before; a hidden test
  (``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS``, removed from the release and put back by
  ``nbgrader autograde``) calls :func:`genimg_course.checks.assert_passed`, which fails the cell with
  the check's hint when the check failed;
* markdown cells are read-only (``locked: true``). Other code cells stay editable (a learner
  changes ``PROFILE`` or experiments).

:func:`release_version` applies nbgrader's own ``generate_assignment`` steps (lock, clear
solutions, clear outputs, checksums, clear hidden tests) without needing nbgrader installed.
:func:`lint_lesson` and :func:`lint_submission` name the lesson and the cell of what nbgrader would
refuse, or of a check cell a student edited.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import re
from typing import Any

from .lessons import BadInput, BadType, got
from .solutions import BEGIN_SOLUTION, END_SOLUTION, strip_solutions

__all__ = ["SCHEMA_VERSION", "BEGIN_HIDDEN", "END_HIDDEN", "POINTS_PER_CHECK", "nbgrader_version", "release_version",
           "lint_lesson", "lint_submission", "compute_checksum", "test_cells", "grade_ids"]

SCHEMA_VERSION = 3
POINTS_PER_CHECK = 1
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
# nbgrader treats a line *containing* these as a marker
_NBGRADER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
_TEXT_STUB = "YOUR ANSWER HERE"
_ID = re.compile(r"[^A-Za-z0-9_-]+")


def _hidden_test(n_checks: int) -> str:
    return (f"{BEGIN_HIDDEN}\nfrom genimg_course.checks import assert_passed\n"
            f"assert_passed({n_checks})  # fails this cell, with the hint, unless the check(s) above passed\n{END_HIDDEN}")


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution}
    if grade:
        meta["points"] = points
    return meta


def _check_calls(node: ast.AST) -> list[str]:
    return [n.func.id for n in ast.walk(node)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id.startswith("check_")]


def _defined_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]


def _marker_lines(source: str) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(source.split("\n"), 1) if any(m in line for m in _NBGRADER_MARKERS)]


def split_exercise(source: str, where: str) -> tuple[str, str, list[tuple[str, str, int]]]:
    """``(answer source, answer grade id, [(test source, test grade id, number of checks), ...])`` for one
    exercise cell's source. Raises :class:`BadInput` naming ``where`` when the cell cannot be split."""
    for n, line in _marker_lines(source):
        if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION):
            raise BadInput(f"{where}: line {n}: {line.strip()!r}: nbgrader reads any line containing "
                           f"'BEGIN/END SOLUTION' or 'HIDDEN TESTS' as a marker; expected exactly "
                           f"'{BEGIN_SOLUTION}' / '{END_SOLUTION}' on a line of its own")
    try:
        strip_solutions(source)
    except ValueError as e:
        raise BadInput(f"{where}: {e}") from None
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise BadInput(f"{where}: the exercise cell is not valid Python (line {e.lineno}: {e.msg})") from None
    lines = source.split("\n")
    last_end = max(n for n, line in enumerate(lines, 1) if line.strip() == END_SOLUTION)
    checks: list[ast.stmt] = []
    for stmt in reversed(tree.body):
        if stmt.lineno <= last_end or not _check_calls(stmt):
            break
        checks.insert(0, stmt)
    if not checks:
        raise BadInput(f"{where}: the exercise cell has no check line after its '{END_SOLUTION}': expected it to end "
                       f"with the exercise's check, e.g. `answer = check_<name>(<your function>)`, which becomes the "
                       f"autograded test cell")
    names: list[str] = []
    for n, line in enumerate(lines, 1):
        if line.strip() == BEGIN_SOLUTION:
            owner = next((s for s in tree.body if s.lineno <= n <= (s.end_lineno or s.lineno)), None)
            if owner is None:  # a top-level block: the names assigned inside it
                owner = next((s for s in tree.body if s.lineno > n), None)
            names += [x for x in (_defined_names(owner) if owner is not None else []) if x not in names]
    if not names:
        raise BadInput(f"{where}: cannot name the exercise: no def, class or assignment holds its solution")
    answer = "\n".join(lines[:checks[0].lineno - 1]).rstrip()
    tests = []
    for k, stmt in enumerate(checks):
        stop = checks[k + 1].lineno - 1 if k + 1 < len(checks) else len(lines)
        text = "\n".join(lines[stmt.lineno - 1:stop]).rstrip()
        calls = _check_calls(stmt)
        tests.append((text, "test-" + _ID.sub("_", calls[0][len("check_"):]), len(calls)))
    return answer, "answer-" + _ID.sub("_", "-".join(names)), tests


def _new_cell(template: Any, cell_type: str, source: str, cell_id: str) -> Any:
    import nbformat

    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, id=cell_id[:64])
    cell.metadata = copy.deepcopy(template.metadata)
    return cell


def nbgrader_version(nb: Any, name: str = "notebook") -> Any:
    """A copy of ``nb`` (already cleared of outputs) with nbgrader's cell metadata and the exercise cells
    split into answer + test cells. Raises :class:`BadInput` naming ``name`` and the cell index (in ``nb``)."""
    _check(nb, name)
    nb = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        where = f"{name} cell {i}"
        if "nbgrader" in cell.metadata:  # already an nbgrader version: keep what the author set
            cells.append(cell)
            continue
        has_markers = bool(_marker_lines(cell.source))
        if cell.cell_type == "code" and has_markers:
            answer, answer_id, tests = split_exercise(cell.source, where)
            cell.source = answer
            cell.metadata["nbgrader"] = _meta(answer_id, solution=True)
            cells.append(cell)
            for source, test_id, n_checks in tests:
                test = _new_cell(cell, "code", f"{source}\n{_hidden_test(n_checks)}", f"{test_id}")
                test.metadata["nbgrader"] = _meta(test_id, grade=True, locked=True, points=POINTS_PER_CHECK * n_checks)
                cells.append(test)
        elif cell.cell_type == "markdown" and has_markers:  # a written answer
            try:
                strip_solutions(cell.source)
            except ValueError as e:
                raise BadInput(f"{where}: {e}") from None
            cell.metadata["nbgrader"] = _meta(f"answer-cell{i}", solution=True)
            cells.append(cell)
        elif cell.cell_type == "markdown":
            cell.metadata["nbgrader"] = _meta(f"md-{cell.get('id') or i}", locked=True)
            cells.append(cell)
        elif has_markers:
            raise BadInput(f"{where}: a solution or hidden-test marker in a {cell.cell_type} cell; "
                           f"expected markers only in code exercise cells")
        else:
            cells.append(cell)
    nb.cells = cells
    lint_lesson(nb, name)
    return nb


def _check(nb: Any, name: str) -> None:
    if not isinstance(name, str):
        raise BadType(f"expected the notebook's name as a str, got {got(name)}")
    if not hasattr(nb, "cells") or not isinstance(nb.cells, list):
        raise BadType(f"{name}: expected a notebook (nbformat.read(path, as_version=4)), got {got(nb)}")


def grade_ids(nb: Any) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]


def lint_lesson(nb: Any, name: str = "notebook") -> None:
    """Raise :class:`BadInput` naming ``name`` and the cell of what nbgrader would refuse in an nbgrader
    version: a solution region outside a solution cell, a hidden test outside a grade cell, an exercise
    without its test cell, missing or malformed metadata, a duplicate grade id."""
    _check(nb, name)
    seen: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        where = f"{name} cell {i}"
        meta = cell.metadata.get("nbgrader")
        source = cell.source
        solution_marks = BEGIN_SOLUTION.replace("### ", "") in source or END_SOLUTION.replace("### ", "") in source
        hidden_marks = "HIDDEN TESTS" in source
        if meta is None:
            if solution_marks:
                raise BadInput(f"{where}: a solution region in a cell without nbgrader metadata "
                               f"(nbgrader refuses it: 'Solution region detected in a non-solution cell')")
            if hidden_marks:
                raise BadInput(f"{where}: a hidden-test region in a cell that is not an autograded test cell")
            continue
        if not isinstance(meta, dict) or meta.get("schema_version") != SCHEMA_VERSION:
            raise BadInput(f"{where}: nbgrader metadata with schema_version {SCHEMA_VERSION} expected, got {meta!r}"[:300])
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not gid:
            raise BadInput(f"{where}: nbgrader metadata without a grade_id")
        if gid in seen:
            raise BadInput(f"{where}: duplicate grade id {gid!r} (cell {seen[gid]} has it too)")
        seen[gid] = i
        if solution_marks and not meta.get("solution"):
            raise BadInput(f"{where}: a solution region in a cell that is not a solution cell ({gid!r})")
        if hidden_marks and not meta.get("grade"):
            raise BadInput(f"{where}: a hidden-test region in a cell that is not a grade cell ({gid!r})")
        if meta.get("grade") and not isinstance(meta.get("points"), (int, float)):
            raise BadInput(f"{where}: the grade cell {gid!r} has no points")
        if meta.get("solution") and cell.cell_type == "code" and not meta.get("grade"):
            nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            if nxt is None or not nxt.metadata.get("nbgrader", {}).get("grade"):
                raise BadInput(f"{where}: the exercise {gid!r} is not followed by its autograded test cell")


def compute_checksum(cell: Any) -> str:
    """nbgrader's checksum of a cell (nbgrader.utils.compute_checksum)."""
    meta = cell.metadata["nbgrader"]
    m = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(bool(meta.get("grade", False))),
                 str(bool(meta.get("solution", False))), str(bool(meta.get("locked", False))), meta["grade_id"]):
        m.update(part.encode("utf-8"))
    if meta.get("grade", False):
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()


def _replace_regions(source: str, begin: str, end: str, stub: str | None) -> tuple[str, bool]:
    """nbgrader's ClearSolutions / ClearHiddenTests line loop (``stub`` None: drop the region)."""
    out, inside, found = [], False, False
    for line in source.split("\n"):
        if begin in line:
            inside = found = True
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                out += [indent + s for s in stub.split("\n")]
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out), found


def release_version(nb: Any, name: str = "notebook") -> Any:
    """What ``nbgrader generate_assignment`` releases for the nbgrader version ``nb`` (default settings):
    cells locked, solutions replaced by the stub, outputs cleared, hidden tests removed, checksums set."""
    lint_lesson(nb, name)
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        if meta.get("solution"):
            cell.metadata["deletable"] = False
        elif meta.get("grade") or meta.get("locked"):
            cell.metadata["deletable"] = False
            cell.metadata["editable"] = False
        stub = _CODE_STUB if cell.cell_type == "code" else _TEXT_STUB
        cell.source, replaced = _replace_regions(cell.source, "BEGIN SOLUTION", "END SOLUTION", stub)
        if meta.get("solution") and not replaced and stub not in cell.source:  # (a release of a release: as it is)
            cell.source = stub
        cell.source, _ = _replace_regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        meta["checksum"] = compute_checksum(cell)
        meta["cell_type"] = cell.cell_type
    nb.metadata.pop("celltoolbar", None)
    return nb


def test_cells(nb: Any) -> dict[str, tuple[int, str]]:
    """``{grade id: (cell index, release source)}`` of the autograded test cells of an nbgrader version."""
    return {c.metadata["nbgrader"]["grade_id"]: (i, _replace_regions(c.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", None)[0])
            for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")}


test_cells.__test__ = False  # not a pytest test


def lint_submission(submission: Any, instructor: Any, name: str = "submission") -> None:
    """Raise :class:`BadInput` naming ``name`` and the cell when a student's notebook lost or edited a check
    (autograded test) cell of the instructor version ``instructor``, or a cell's checksum does not match."""
    _check(submission, name)
    _check(instructor, "instructor version")
    expected = test_cells(instructor)
    found = {}
    for i, cell in enumerate(submission.cells):
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid in expected:
            if gid in found:
                raise BadInput(f"{name} cell {i}: duplicate grade id {gid!r} (cell {found[gid]} has it too)")
            found[gid] = i
            if cell.source != expected[gid][1]:
                raise BadInput(f"{name} cell {i}: the check cell {gid!r} was edited: expected {expected[gid][1]!r}, "
                               f"got {cell.source!r}"[:400])
            if "checksum" in meta and meta["checksum"] != compute_checksum(cell):
                raise BadInput(f"{name} cell {i}: the check cell {gid!r} does not match its checksum "
                               f"(its metadata was edited)")
    missing = [gid for gid in expected if gid not in found]
    if missing:
        raise BadInput(f"{name}: the check cell(s) {missing} of the instructor version are missing "
                       f"(instructor cells {[expected[g][0] for g in missing]})")
