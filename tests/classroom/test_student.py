"""``genimg student`` (genimg_course.classroom.student): student and instructor versions of the lessons.

The issue's proof is here too: a real student notebook, executed with papermill under the smoke
profile, runs every cell up to its first exercise, whose check then rejects the unanswered stub
(``✗ Not answered yet``), and — where later cells use the learner's answer — stops there with
``NotImplementedError``. Separately, every lesson check called on its stubbed function rejects it.
"""
from __future__ import annotations

import ast
import copy
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
    assert "return 2 * x" in version.cells[-2].source and BEGIN_SOLUTION in version.cells[-2].source
    assert not any(c.source.startswith("**Student version.**") for c in version.cells)


def test_a_solution_in_markdown_becomes_a_blank_to_fill_not_python():
    nb = new_notebook(cells=[new_markdown_cell(f"Why?\n{BEGIN_SOLUTION}\nBecause.\n{END_SOLUTION}\n")])
    source = student.student_version(nb).cells[1].source
    assert "Because" not in source and "YOUR ANSWER HERE" in source and "NotImplementedError" not in source


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
        nb.cells = nb.cells[:_first_exercise(nb) + 2]  # the exercise and its check cell
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
    printed = "".join(o.get("text", "") for c in nb.cells[first:first + 2] for o in c.outputs)  # its check cell follows
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


# --------------------------------------------------------------------------------------------
# nbgrader's metadata, and the lint that names the lesson and cell before nbgrader does
# (real nbgrader over every lesson: tests/test_nbgrader.py)
# --------------------------------------------------------------------------------------------

from genimg_course.checks import assert_passed, check as _check_decorator  # noqa: E402
from genimg_course.classroom import grading  # noqa: E402
from genimg_course.classroom.lessons import BadInput  # noqa: E402


def _lesson(*cells):
    return new_notebook(cells=[new_markdown_cell("# 96_tiny"), *cells])


def _exercise(body="return 2 * x", check_line="answer = check_f(f)"):
    return new_code_cell(f"def f(x):\n    {BEGIN_SOLUTION}\n    {body}\n    {END_SOLUTION}\n\n\n{check_line}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_instructor_version_has_an_answer_cell_then_a_locked_test_cell_per_check(path):
    original, version = read(path), student.instructor_version(read(path), path.name)
    ids = grading.grade_ids(version)
    assert len(ids) == len(set(ids))
    answers = [c for c in version.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == sum(1 for c in code(original) if BEGIN_SOLUTION in c.source)
    for i, cell in enumerate(version.cells):
        meta = cell.metadata.get("nbgrader")
        if cell.cell_type == "markdown":
            assert meta["locked"] and not meta["grade"] and not meta["solution"]
        if meta and meta["solution"]:
            assert meta == {"grade": False, "grade_id": meta["grade_id"], "locked": False, "schema_version": 3,
                            "solution": True}
            test = version.cells[i + 1].metadata["nbgrader"]
            assert test["grade"] and test["locked"] and not test["solution"] and test["points"] == 1
            assert "check_" in version.cells[i + 1].source and "check_" not in cell.source.split(END_SOLUTION)[-1]
    # every check line of the lesson is in a test cell, unchanged
    lines = [line for c in code(original) if BEGIN_SOLUTION in c.source for line in c.source.split(END_SOLUTION)[-1].split("\n")
             if "check_" in line]
    tests = "\n".join(src for _, src in grading.test_cells(version).values())
    assert all(line in tests for line in lines) and (lines or path.stem == "90_appendix_multigpu")


def test_the_grade_ids_are_stable_and_named_after_the_exercise():
    version = student.instructor_version(read(ROOT / "notebooks" / "10_diffusion.ipynb"))
    ids = [g for g in grading.grade_ids(version) if not g.startswith("md-")]
    assert ids[:2] == ["answer-q_sample", "test-q_sample"]
    assert ids == [g for g in grading.grade_ids(student.instructor_version(read(ROOT / "notebooks" / "10_diffusion.ipynb")))
                   if not g.startswith("md-")]


def test_the_student_version_releases_the_check_line_without_its_hidden_test():
    version = student.student_version(_lesson(_exercise()), "96_tiny.ipynb")
    test = next(c for c in version.cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert test.source == "answer = check_f(f)"
    assert test.metadata["editable"] is False and test.metadata["nbgrader"]["checksum"] == grading.compute_checksum(test)
    instructor = student.instructor_version(_lesson(_exercise()), "96_tiny.ipynb")
    hidden = next(c for c in instructor.cells if c.metadata.get("nbgrader", {}).get("grade")).source
    assert grading.BEGIN_HIDDEN in hidden and "assert_passed(1)" in hidden


def test_assert_passed_fails_with_the_hint_only_when_the_check_failed(capsys):
    @_check_decorator
    def check_double(fn):
        if fn(2) != 4:
            from genimg_course.checks import Wrong
            raise Wrong("double(2) should be 4")
        return "doubles"

    assert check_double(lambda x: 2 * x)
    assert_passed(1)
    assert not check_double(lambda x: x)
    with pytest.raises(AssertionError, match=r"✗ double\(2\) should be 4"):
        assert_passed(1)
    with pytest.raises(AssertionError, match="a check did not run"):
        assert_passed(1)
    assert capsys.readouterr().out == "✓ doubles\n✗ double(2) should be 4\n"  # learners see what they saw


@pytest.mark.parametrize("cell, expected", [
    (_exercise(check_line="print('done')"), "96_tiny.ipynb cell 1: the exercise cell has no check line"),
    (new_code_cell(f"def f(x):\n    # {BEGIN_SOLUTION} here\n    return 1\n    {END_SOLUTION}\ncheck_f(f)"),
     "96_tiny.ipynb cell 1: line 2:"),
    (nbformat.v4.new_raw_cell(f"{BEGIN_SOLUTION}\nx\n{END_SOLUTION}"), "96_tiny.ipynb cell 1: a solution or hidden-test marker in a raw cell"),
    (new_code_cell(f"def f(x):\n    {BEGIN_SOLUTION}\n    return 1\n"), "96_tiny.ipynb cell 1: unbalanced solution markers"),
], ids=["no-check-line", "marker-inside-a-comment", "marker-in-a-raw-cell", "unclosed"])
def test_a_lesson_nbgrader_would_refuse_is_named_by_lesson_and_cell_and_nothing_is_written(tmp_path, cell, expected):
    nbformat.write(_lesson(cell), tmp_path / "96_tiny.ipynb")
    rc, _, err = run_main([str(tmp_path / "96_tiny.ipynb")], out=tmp_path / "handout")
    assert rc == 2 and expected in err, err
    assert not (tmp_path / "handout" / "student").exists()


def test_a_duplicate_grade_id_is_named_by_lesson_and_cell():
    with pytest.raises(BadInput, match=r"96_tiny cell 4: duplicate grade id 'test-f' \(cell 2 has it too\)"):
        student.instructor_version(_lesson(_exercise(), new_code_cell(f"def g(x):\n    {BEGIN_SOLUTION}\n    return x\n"
                                                                      f"    {END_SOLUTION}\ncheck_f(g)")), "96_tiny")


def test_lint_names_a_solution_region_outside_a_solution_cell():
    nb = _lesson(new_code_cell(f"x = 1\n{BEGIN_SOLUTION}\ny = 2\n{END_SOLUTION}"))
    with pytest.raises(BadInput, match="96_tiny cell 1: a solution region in a cell without nbgrader metadata"):
        grading.lint_lesson(nb, "96_tiny")
    version = student.instructor_version(_lesson(_exercise()), "96_tiny")
    version.cells[2].source += f"\n{BEGIN_SOLUTION}\n{END_SOLUTION}"
    with pytest.raises(BadInput, match="96_tiny cell 2: a solution region in a cell that is not a solution cell"):
        grading.lint_lesson(version, "96_tiny")


def test_lint_names_a_check_cell_a_student_edited_or_deleted():
    instructor = student.instructor_version(_lesson(_exercise()), "96_tiny")
    submission = student.student_version(_lesson(_exercise()), "96_tiny")
    grading.lint_submission(submission, instructor, "alice/96_tiny")  # as released: fine
    edited = copy.deepcopy(submission)
    edited.cells[3].source = "answer = True"
    with pytest.raises(BadInput, match=r"alice/96_tiny cell 3: the check cell 'test-f' was edited"):
        grading.lint_submission(edited, instructor, "alice/96_tiny")
    del edited.cells[3]
    with pytest.raises(BadInput, match=r"alice/96_tiny: the check cell\(s\) \['test-f'\] .* missing"):
        grading.lint_submission(edited, instructor, "alice/96_tiny")


def test_check_submission_names_the_file_and_cell_of_an_edited_check(tmp_path):
    nbformat.write(_lesson(_exercise()), tmp_path / "96_tiny.ipynb")
    assert run_main([str(tmp_path / "96_tiny.ipynb")], out=tmp_path / "handout")[0] == 0
    instructor, released = tmp_path / "handout" / "instructor" / "96_tiny.ipynb", tmp_path / "handout" / "student" / "96_tiny.ipynb"
    student.check_submission(released, instructor)
    nb = read(released)
    nb.cells[3].source = "answer = True  # passed, surely"
    nbformat.write(nb, tmp_path / "edited.ipynb")
    with pytest.raises(BadInput, match=r"edited.ipynb cell 3: the check cell 'test-f' was edited"):
        student.check_submission(tmp_path / "edited.ipynb", instructor)
    with pytest.raises(BadInput, match="cannot read"):
        student.check_submission(tmp_path / "missing.ipynb", instructor)


def test_genimg_student_check_submission_from_the_command_line(tmp_path, capsys):
    from genimg_course.classroom.cli import main as genimg

    nbformat.write(_lesson(_exercise()), tmp_path / "96_tiny.ipynb")
    assert run_main([str(tmp_path / "96_tiny.ipynb")], out=tmp_path / "handout")[0] == 0
    instructor, released = tmp_path / "handout" / "instructor" / "96_tiny.ipynb", tmp_path / "handout" / "student" / "96_tiny.ipynb"
    assert genimg(["student", "--check-submission", str(released), str(instructor)]) == 0
    assert "every check cell" in capsys.readouterr().out
    nb = read(released)
    nb.cells[3].source = "answer = True  # passed, surely"
    nbformat.write(nb, tmp_path / "edited.ipynb")
    assert genimg(["student", "--check-submission", str(tmp_path / "edited.ipynb"), str(instructor)]) == 2
    assert "cell 3: the check cell 'test-f' was edited" in capsys.readouterr().err
