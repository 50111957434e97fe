"""Real nbgrader, end to end, over every lesson (the instructor versions ``genimg student`` writes).

In a fresh nbgrader course folder: ``nbgrader generate_assignment`` succeeds for every lesson, the
release holds no solution (and is exactly the student version ``genimg student`` writes, less its
note), and ``nbgrader autograde`` (smoke profile, offline data) gives

* the instructor solutions, submitted by student ``full``: full marks in every lesson;
* the unanswered release, submitted by student ``zero``: zero in every lesson;
* lesson 01 with one wrong answer (``conv_output_size`` off by one), student ``wrong``: that
  exercise's point lost, the others kept, and its feedback shows the check's hint.

The whole folder is built and graded once for the module (one ``nbgrader autograde`` run executes
every submitted notebook: about two smoke runs of each lesson).
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from genimg_course.classroom import grading, student
from genimg_course.classroom.solutions import BEGIN_SOLUTION, END_SOLUTION

pytest.importorskip("nbgrader")
pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
STEMS = [p.stem for p in NOTEBOOKS]
ASSIGNMENT = "lessons"
WRONG_LESSON, WRONG_ID = "01_cnn_basics", "conv_output_size"
RIGHT_LINE, WRONG_LINE = "return (n + 2 * p - k) // s + 1", "return (n + 2 * p - k) // s"
BIN = Path(sys.executable).parent
TIMEOUT_S = 1800  # one nbgrader command; the whole module takes about 13 min on the shared 2-core VM
AUTOGRADE_S = 600  # one student's autograde of the 14 lessons: about 4 min on a quiet 2-core VM, 7 min loaded


def _env(root: Path) -> dict:
    env = dict(os.environ, GENIMG_PROFILE="smoke", GENIMG_OFFLINE="1", MPLBACKEND="Agg",
               GENIMG_FIGURES_DIR=str(root.parent / "figures"))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic` from PATH
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _nbgrader(root: Path, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "nbgrader"), *args], cwd=root, env=_env(root), capture_output=True, text=True,
                          timeout=timeout)


def _autograde(root: Path, who: str) -> subprocess.CompletedProcess:
    """``nbgrader autograde`` of one student's submission, run once more if it hung or a cell timed out: a kernel
    message is rarely lost on this machine (the papermill runs of tests/test_notebooks.py retry the same way),
    and a hung cell must not cost the whole CI run."""
    for attempt in (1, 2):
        try:
            run = _nbgrader(root, "autograde", ASSIGNMENT, "--student", who, "--force", timeout=AUTOGRADE_S)
        except subprocess.TimeoutExpired as e:
            if attempt == 2:
                raise
            print(f"nbgrader autograde --student {who} gave no answer in {AUTOGRADE_S} s ({e}); running it again")
            continue
        log = (run.stdout + run.stderr).lower()
        if attempt == 1 and ("timeout" in log or "timed out" in log):
            print(f"nbgrader autograde --student {who}: a cell timed out; running it again")
            continue
        return run
    return run


def _solution_lines(nb) -> set[str]:
    lines, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.split("\n"):
            if line.strip() == BEGIN_SOLUTION:
                inside = True
            elif line.strip() == END_SOLUTION:
                inside = False
            elif inside and line.strip():
                lines.add(line.strip())
    return lines


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("nbgrader")
    handout = tmp / "handout"
    assert student.main([str(p) for p in NOTEBOOKS], out=handout) == 0
    root = tmp / "course"
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'genimg-course'\n"
        "c.Execute.timeout = 120\n")  # seconds per cell; the longest smoke cell took 12.8 s (test_notebooks.py)
    for stem in STEMS:
        shutil.copy(handout / "instructor" / f"{stem}.ipynb", root / "source" / ASSIGNMENT)
    generate = _nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    release = root / "release" / ASSIGNMENT
    submitted = {name: root / "submitted" / name / ASSIGNMENT for name in ("full", "zero", "wrong")}
    for folder in submitted.values():
        folder.mkdir(parents=True)
    for stem in STEMS:
        shutil.copy(root / "source" / ASSIGNMENT / f"{stem}.ipynb", submitted["full"])
        if (release / f"{stem}.ipynb").exists():
            shutil.copy(release / f"{stem}.ipynb", submitted["zero"])
    wrong = nbformat.read(root / "source" / ASSIGNMENT / f"{WRONG_LESSON}.ipynb", as_version=4)
    cell = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"answer-{WRONG_ID}")
    assert RIGHT_LINE in cell.source
    cell.source = cell.source.replace(RIGHT_LINE, WRONG_LINE)
    wrong_answer = cell.source
    nbformat.write(wrong, submitted["wrong"] / f"{WRONG_LESSON}.ipynb")
    autograde = None
    if generate.returncode == 0:
        runs = [_autograde(root, who) for who in submitted]
        failed = [r for r in runs if r.returncode != 0]
        autograde = failed[0] if failed else runs[-1]
    feedback = _nbgrader(root, "generate_feedback", ASSIGNMENT, "--student", "wrong", "--force") \
        if autograde is not None and autograde.returncode == 0 else None
    return dict(root=root, handout=handout, release=release, generate=generate, autograde=autograde,
                feedback=feedback, wrong_answer=wrong_answer)


def _scores(course: dict, who: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gb:
        for stem in STEMS:
            try:
                nb = gb.find_submission_notebook(stem, ASSIGNMENT, who)
            except MissingEntry:
                continue
            scores[stem] = (nb.score, nb.max_score)
    return scores


def _test_scores(course: dict, who: str, stem: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(stem, ASSIGNMENT, who)
        return {g.name: g.score for g in nb.grades}


def test_generate_assignment_succeeds_for_every_lesson(course):
    run = course["generate"]
    assert run.returncode == 0, f"nbgrader generate_assignment failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    assert sorted(p.stem for p in course["release"].glob("*.ipynb")) == STEMS


def test_the_release_holds_no_solution_and_no_hidden_test(course):
    for stem in STEMS:
        instructor = nbformat.read(course["root"] / "source" / ASSIGNMENT / f"{stem}.ipynb", as_version=4)
        released = nbformat.read(course["release"] / f"{stem}.ipynb", as_version=4)
        text = "\n".join(c.source for c in released.cells)
        assert "SOLUTION" not in text and "HIDDEN TESTS" not in text, stem
        elsewhere = {line.strip() for c in instructor.cells if not c.metadata.get("nbgrader", {}).get("solution")
                     for line in c.source.split("\n")}
        released_lines = {line.strip() for line in text.split("\n")}
        leaked = (_solution_lines(instructor) - elsewhere) & released_lines
        assert not leaked, f"{stem}: solution lines in the release: {sorted(leaked)[:5]}"


def test_the_student_version_is_what_nbgrader_releases(course):
    for stem in STEMS:
        released = nbformat.read(course["release"] / f"{stem}.ipynb", as_version=4)
        mine = nbformat.read(course["handout"] / "student" / f"{stem}.ipynb", as_version=4)
        mine.cells = [c for c in mine.cells if student.NOTE_TAG not in c.metadata.get("tags", [])]
        assert mine.cells == released.cells and mine.metadata == released.metadata, stem


def _autograded(course):
    run = course["autograde"]
    assert run is not None and run.returncode == 0, \
        f"nbgrader autograde failed:\n{'' if run is None else run.stderr[-6000:]}"


def test_autograde_gives_the_instructor_solutions_full_marks_in_every_lesson(course):
    _autograded(course)
    scores = _scores(course, "full")
    assert sorted(scores) == STEMS
    assert {s: v for s, v in scores.items() if v[0] != v[1]} == {}
    graded = [s for s, (_, top) in scores.items() if top > 0]
    assert len(graded) >= len(STEMS) - 1, f"lessons without graded checks: {set(STEMS) - set(graded)}"


def test_autograde_gives_the_unanswered_release_zero_in_every_lesson(course):
    _autograded(course)
    scores = _scores(course, "zero")
    assert sorted(scores) == STEMS
    assert {s: v for s, v in scores.items() if v[0] != 0} == {}


def test_a_wrong_answer_loses_that_exercises_point_and_its_feedback_shows_the_hint(course):
    _autograded(course)
    score, top = _scores(course, "wrong")[WRONG_LESSON]
    assert (score, top) == (top - grading.POINTS_PER_CHECK, _scores(course, "full")[WRONG_LESSON][1])
    tests = _test_scores(course, "wrong", WRONG_LESSON)
    assert tests[f"test-{WRONG_ID}"] == 0
    assert all(v > 0 for k, v in tests.items() if k.startswith("test-") and k != f"test-{WRONG_ID}")

    from genimg_course.checks import lesson01

    namespace: dict = {}
    exec(course["wrong_answer"], namespace)
    hint = getattr(lesson01, f"check_{WRONG_ID}")(namespace[WRONG_ID]).message
    assert hint.startswith("✗ ")
    run = course["feedback"]
    assert run is not None and run.returncode == 0, f"nbgrader generate_feedback failed:\n{run and run.stderr[-4000:]}"
    page = course["root"] / "feedback" / "wrong" / ASSIGNMENT / f"{WRONG_LESSON}.html"
    text = html.unescape(page.read_text(encoding="utf-8"))
    assert hint in text and "AssertionError" in text
