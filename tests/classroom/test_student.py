"""``genimg student`` (genimg_course.classroom.student): student and instructor versions of the lessons.

The issue's proof is here too: a real student notebook, executed with papermill under the smoke
profile, runs every cell up to its first exercise, whose check then rejects the unanswered stub
(``✗ Not answered yet``), and — where later cells use the learner's answer — stops there with
``NotImplementedError``. Separately, every lesson check called on its stubbed function rejects it.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from genimg_course.checks import NOT_ANSWERED
from genimg_course.classroom import student
from genimg_course.classroom.solutions import BEGIN_SOLUTION, END_SOLUTION, strip_solutions

pytestmark = pytest.mark.usefixtures("isolated")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
STUB = "raise NotImplementedError()"
CELL_TIMEOUT_S = 240


def read(path: Path):
    return nbformat.read(path, as_version=4)


def code(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def run_main(*args, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = student.main(*args, **kwargs)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def executed_like(tmp_path) -> Path:
    """A notebook as papermill leaves it: outputs, counts, an injected-parameters cell, widget state."""
    params = new_code_cell('PROFILE = "auto"', execution_count=1)
    params.metadata["tags"] = ["parameters"]
    injected = new_code_cell('PROFILE = "smoke"', execution_count=2)
    injected.metadata["tags"] = ["injected-parameters"]
    answer = new_code_cell(f"def f(x):\n    {BEGIN_SOLUTION}\n    return 2 * x\n    {END_SOLUTION}\n\ncheck_f(f)",
                           execution_count=3, outputs=[new_output("stream", name="stdout", text="✓ Correct!\n")])
    answer.metadata["papermill"] = {"duration": 0.1, "status": "completed"}
    nb = new_notebook(cells=[new_markdown_cell("# 97_done"), params, injected, answer])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["papermill"] = {"parameters": {"PROFILE": "smoke"}}
    path = tmp_path / "97_done.ipynb"
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------------------------
# what the two versions hold
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_version_stubs_every_solution_and_keeps_every_check(path):
    original, version = read(path), student.student_version(read(path))
    exercises = sum(c.source.count(BEGIN_SOLUTION) for c in code(original))
    text = "\n".join(c.source for c in version.cells)
    assert BEGIN_SOLUTION not in text and END_SOLUTION not in text
    assert sum(c.source.count(STUB) for c in code(version)) == exercises
    checks = [line for c in code(original) for line in c.source.splitlines() if re.match(r"\s*\S*check_\w+\(", line)]
    assert all(line in text for line in checks)


def test_student_version_starts_with_a_note_saying_so():
    version = student.student_version(read(NOTEBOOKS[0]))
    note = version.cells[0]
    assert note.cell_type == "markdown" and note.source.startswith("**Student version.**")
    assert student.NOTE_TAG in note.metadata["tags"]


def test_a_student_version_of_a_student_version_has_one_note():
    twice = student.student_version(student.student_version(read(NOTEBOOKS[0])))
    assert sum(student.NOTE_TAG in c.metadata.get("tags", []) for c in twice.cells) == 1


def test_both_versions_clear_outputs_counts_and_what_papermill_added(executed_like):
    for version in (student.student_version(read(executed_like)), student.instructor_version(read(executed_like))):
        nbformat.validate(version)
        assert all(c.outputs == [] and c.execution_count is None for c in code(version))
        assert all("papermill" not in c.metadata for c in version.cells)
        assert not any("injected-parameters" in c.metadata.get("tags", []) for c in version.cells)
        assert "widgets" not in version.metadata and "papermill" not in version.metadata


def test_instructor_version_keeps_the_solutions(executed_like):
    version = student.instructor_version(read(executed_like))
    assert "return 2 * x" in version.cells[-1].source and BEGIN_SOLUTION in version.cells[-1].source
    assert not any(c.source.startswith("**Student version.**") for c in version.cells)


def test_a_solution_in_markdown_becomes_a_blank_to_fill_not_python():
    nb = new_notebook(cells=[new_markdown_cell(f"Why?\n{BEGIN_SOLUTION}\nBecause.\n{END_SOLUTION}\n")])
    source = student.student_version(nb).cells[1].source
    assert "Because" not in source and "_YOUR ANSWER HERE_" in source and "NotImplementedError" not in source


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------

def test_genimg_student_writes_a_student_and_an_instructor_copy_of_each_lesson(tmp_path):
    rc, out, _ = run_main(["01", "05_vae"], out=tmp_path)
    assert rc == 0
    for stem in ("01_cnn_basics", "05_vae"):
        stu, ins = read(tmp_path / "student" / f"{stem}.ipynb"), read(tmp_path / "instructor" / f"{stem}.ipynb")
        nbformat.validate(stu), nbformat.validate(ins)
        assert STUB in "\n".join(c.source for c in code(stu)) and BEGIN_SOLUTION in "\n".join(c.source for c in code(ins))
        assert f"{stem}: " in out
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["01_cnn_basics.ipynb", "01_cnn_basics.ipynb",
                                                                          "05_vae.ipynb", "05_vae.ipynb"]


def test_genimg_student_defaults_to_every_lesson_in_handout(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert run_main()[0] == 0
    assert sorted(p.name for p in (tmp_path / "handout" / "student").iterdir()) == [p.name for p in NOTEBOOKS]
    assert sorted(p.name for p in (tmp_path / "handout" / "instructor").iterdir()) == [p.name for p in NOTEBOOKS]


def test_the_same_lesson_gives_the_same_files_every_time(tmp_path):
    assert run_main(["03"], out=tmp_path / "a")[0] == 0 and run_main(["03"], out=tmp_path / "b")[0] == 0
    for version in ("student", "instructor"):
        assert (tmp_path / "a" / version / "03_dcgan.ipynb").read_bytes() == (tmp_path / "b" / version / "03_dcgan.ipynb").read_bytes()


def test_an_unknown_notebook_lists_the_lessons_and_writes_nothing(tmp_path):
    rc, _, err = run_main(["89"], out=tmp_path / "handout")
    assert rc == 2 and "unknown notebook '89'" in err and "00_setup, 01_cnn_basics" in err
    assert not (tmp_path / "handout").exists()


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    rc, _, err = run_main(["00"], out=blocker)
    assert rc == 2 and "is a file, not a folder" in err


def test_unbalanced_markers_name_the_notebook_and_cell_and_nothing_is_written(tmp_path):
    broken = new_notebook(cells=[new_markdown_cell("# 98"), new_code_cell(f"{BEGIN_SOLUTION}\nx = 1\n")])
    nbformat.write(broken, tmp_path / "98_broken.ipynb")
    rc, _, err = run_main(["00", str(tmp_path / "98_broken.ipynb")], out=tmp_path / "handout")
    assert rc == 2
    assert "98_broken.ipynb cell 1: unbalanced solution markers: line 1" in err
    assert not (tmp_path / "handout" / "student").exists()


# --------------------------------------------------------------------------------------------
# checks reject the unanswered stubs
# --------------------------------------------------------------------------------------------

def _stubbed_function_exercises() -> list[tuple[str, int, str, str]]:
    """(lesson, cell, check name, function name) for every exercise cell that ends in ``check_x(fn)``."""
    found = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(read(path).cells):
            if cell.cell_type == "code" and BEGIN_SOLUTION in cell.source:
                tree = ast.parse(strip_solutions(cell.source))
                defs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
                for call in re.findall(r"(check_\w+)\((\w+)\)", cell.source):
                    if call[1] in defs:
                        found.append((path.stem, i, *call))
    return found


EXERCISES = _stubbed_function_exercises()


def test_most_exercises_are_functions_handed_to_a_check():
    assert len(EXERCISES) >= 20


@pytest.mark.parametrize("lesson, cell, check_name, fn_name", EXERCISES,
                         ids=[f"{e[0]}-cell{e[1]}-{e[3]}" for e in EXERCISES])
def test_every_check_rejects_its_unanswered_stub(lesson, cell, check_name, fn_name):
    source = strip_solutions(read(ROOT / "notebooks" / f"{lesson}.ipynb").cells[cell].source)
    tree = ast.parse(source)
    namespace: dict = {}
    exec(compile(ast.Module([n for n in tree.body if isinstance(n, ast.FunctionDef)], []), lesson, "exec"), namespace)
    checks = importlib.import_module(f"genimg_course.checks.lesson{lesson.split('_')[0]}")  # 04b_… -> lesson04b
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = getattr(checks, check_name)(namespace[fn_name])
    assert not result
    assert printed.getvalue() == f"✗ {NOT_ANSWERED}\n"


# --------------------------------------------------------------------------------------------
# a real student notebook, executed under the smoke profile
# --------------------------------------------------------------------------------------------

def _first_exercise(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and STUB in c.source)


def _execute_student(stem: str, tmp_path: Path, monkeypatch, stop_after_first_exercise: bool):
    """Make the student version of ``stem`` with ``genimg student``, execute it with papermill
    (GENIMG_PROFILE=smoke); return the executed notebook and the papermill error (or None)."""
    import papermill as pm

    assert run_main([stem], out=tmp_path / "handout")[0] == 0
    path = tmp_path / "handout" / "student" / f"{stem}.ipynb"
    if stop_after_first_exercise:
        nb = read(path)
        nb.cells = nb.cells[:_first_exercise(nb) + 1]
        nbformat.write(nb, path)
    monkeypatch.setenv("GENIMG_PROFILE", "smoke")
    executed, error = tmp_path / f"{stem}.executed.ipynb", None
    try:
        pm.execute_notebook(str(path), str(executed), cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
                            execution_timeout=CELL_TIMEOUT_S)
    except pm.PapermillExecutionError as e:
        error = e
    nb = read(executed)
    nb.cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    return nb, error


def _assert_runs_to_the_first_exercise_whose_check_rejects_the_stub(nb) -> int:
    first = _first_exercise(nb)
    before = code(nb)[:code(nb).index(nb.cells[first])]
    assert before and all(c.execution_count is not None for c in before), "a cell before the first exercise did not run"
    assert not [o for c in before for o in c.outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in nb.cells[first].outputs)
    assert f"✗ {NOT_ANSWERED}" in printed, f"the first exercise's check did not reject the stub: {printed!r}"
    return first


def test_student_lesson01_runs_to_the_end_with_stand_ins_for_the_unanswered_exercises(tmp_path, monkeypatch):
    nb, error = _execute_student("01_cnn_basics", tmp_path, monkeypatch, stop_after_first_exercise=False)
    first = _assert_runs_to_the_first_exercise_whose_check_rejects_the_stub(nb)
    assert error is None, f"the student copy of lesson 01 stopped: {error}"
    assert all(c.execution_count is not None for c in code(nb))
    uses = next(i for i, c in enumerate(nb.cells) if i > first and 'yours_or("conv2d_by_hand"' in c.source)
    printed = "".join(o.get("text", "") for o in nb.cells[uses].outputs)
    assert "your conv2d_by_hand has not passed its check yet" in printed  # the later cell says it uses a stand-in


def test_student_lesson05_runs_to_its_first_exercise_and_rejects_the_stub(tmp_path, monkeypatch):
    nb, error = _execute_student("05_vae", tmp_path, monkeypatch, stop_after_first_exercise=True)
    assert error is None
    first = _assert_runs_to_the_first_exercise_whose_check_rejects_the_stub(nb)
    assert "def reparameterize" in nb.cells[first].source
