"""Hostile inputs to every public function of the classroom wing (issue 12): each is refused before any
work is done, with a message that names what was expected and what came. One row per behaviour; the
fragments a row lists must all appear in the message, in that order (the expected thing, then the
received one). The commands (``genimg run / student / site / prefetch``) answer bad arguments with exit
code 2 and one line on stderr, never a traceback.

Later tests say what a table cannot: an output folder that is the lessons' own folder leaves the
lessons untouched, a notebook that is not JSON stops ``genimg run`` before any kernel starts, and
:class:`BadType` is caught both as ``BadInput`` and as ``TypeError``."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from genimg_course.classroom import bands, cli, env, lessons, prefetch, runner, site, solutions, student
from genimg_course.classroom.lessons import BadInput, BadType

pytestmark = pytest.mark.usefixtures("isolated")

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "notebooks" / "00_setup.ipynb"
CARD = {"lesson": "00_setup", "status": "ok", "wall_s": 1.0}
NAN, INF = float("nan"), float("inf")


@pytest.fixture
def lab(tmp_path) -> dict[str, Path]:
    """A folder of lessons (one good, one not JSON, one JSON that is not a notebook), a plain file, a missing path."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    shutil.copy(LESSON, nbs / "00_setup.ipynb")
    (nbs / "01_broken.ipynb").write_text("{not json")
    (nbs / "02_config.ipynb").write_text(json.dumps({"hello": 1}))
    (nbs / "03_list.ipynb").write_text("[1, 2]")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    band = tmp_path / "b.toml"
    band.write_text("[smoke]\nacc = [0, 1]\n")
    return {"nbs": nbs, "nb": nbs / "00_setup.ipynb", "broken": nbs / "01_broken.ipynb",
            "config": nbs / "02_config.ipynb", "list": nbs / "03_list.ipynb", "file": tmp_path / "file.txt",
            "missing": tmp_path / "missing", "empty": tmp_path / "empty", "band": band, "out": tmp_path / "out",
            "tmp": tmp_path}


def assert_names(message: str, *fragments: str) -> None:
    """Every fragment is in ``message``, each after the one before (expected first, then received)."""
    at = 0
    for fragment in fragments:
        found = message.find(fragment, at)
        assert found >= 0, f"{fragment!r} not in (or not after the previous fragment in) {message!r}"
        at = found + len(fragment)


def _no_work(*args, **kwargs):
    raise AssertionError("work started on bad input")


@pytest.fixture(autouse=True)
def nothing_runs(monkeypatch):
    """Should a row be accepted by mistake, it fails here instead of running a lesson or downloading."""
    monkeypatch.setattr(runner, "_Workers", _no_work)
    monkeypatch.setattr(prefetch, "_torchvision_item", _no_work)
    monkeypatch.setattr(site, "_exporter", _no_work)


# --------------------------------------------------------------------------------------------
# Python functions: (id, call, exception, fragments expected then received)
# --------------------------------------------------------------------------------------------

RAISES = [
    # lessons
    ("available_lessons-int", lambda L: lessons.available_lessons(5), BadType, ["expected a path", "got int 5"]),
    ("available_lessons-file", lambda L: lessons.available_lessons(L["file"]), BadInput,
     ["file.txt", "is a file", "expected a folder of lessons"]),
    ("available_lessons-missing", lambda L: lessons.available_lessons(L["missing"]), BadInput,
     ["does not exist", "expected a folder of lessons"]),
    ("resolve_notebooks-a-lone-str", lambda L: lessons.resolve_notebooks("00", L["nbs"]), BadType,
     ["expected a list of lesson names", "got str '00'"]),
    ("resolve_notebooks-int", lambda L: lessons.resolve_notebooks(5, L["nbs"]), BadType,
     ["expected a list", "got int 5"]),
    ("resolve_notebooks-None-name", lambda L: lessons.resolve_notebooks([None], L["nbs"]), BadType,
     ["expected a path", "got None"]),
    ("resolve_notebooks-empty-name", lambda L: lessons.resolve_notebooks([""], L["nbs"]), BadInput,
     ["expected a path", "got an empty string"]),
    ("resolve_notebooks-unknown-name", lambda L: lessons.resolve_notebooks(["zz"], L["nbs"]), BadInput,
     ["unknown notebook 'zz'", "expected a lesson name", "lessons: 00_setup"]),
    ("resolve_notebooks-folder-is-a-file", lambda L: lessons.resolve_notebooks([], L["file"]), BadInput,
     ["is a file", "expected a folder of lessons"]),
    ("prepare_out_dir-None", lambda L: lessons.prepare_out_dir(None), BadType, ["expected a path", "got None"]),
    ("prepare_out_dir-empty", lambda L: lessons.prepare_out_dir(""), BadInput,
     ["expected a path", "got an empty string"]),
    ("prepare_out_dir-file", lambda L: lessons.prepare_out_dir(L["file"]), BadInput, ["is a file, not a folder"]),
    # solutions
    ("strip_solutions-None", lambda L: solutions.strip_solutions(None), BadType, ["expected", "str", "got None"]),
    ("strip_solutions-bytes", lambda L: solutions.strip_solutions(b"x\n"), BadType, ["expected", "str", "got bytes"]),
    ("strip_solutions-list", lambda L: solutions.strip_solutions(["x"]), BadType, ["expected", "str", "got list"]),
    ("strip_solutions-unclosed", lambda L: solutions.strip_solutions("### BEGIN SOLUTION\nx\n"), ValueError,
     ["line 1", "is never closed"]),
    # bands
    ("band_file-None", lambda L: bands.band_file(None), BadType, ["expected a path", "got None"]),
    ("band_file-empty", lambda L: bands.band_file(""), BadInput, ["expected a path", "got an empty string"]),
    ("band_file-folder-int", lambda L: bands.band_file("05_vae", 5), BadType, ["band folder", "got int 5"]),
    ("load_band_file-None", lambda L: bands.load_band_file(None), BadType, ["expected a path", "got None"]),
    ("load_band_file-missing", lambda L: bands.load_band_file(L["missing"]), bands.BandFileError,
     ["missing", "cannot read the band file"]),
    ("load_band_file-a-folder", lambda L: bands.load_band_file(L["empty"]), bands.BandFileError,
     ["cannot read the band file"]),
    ("check-figures-None", lambda L: bands.check(None, bands.load_bands(L["band"], "smoke")), BadType,
     ["expected a dict of the lesson's figures", "got None"]),
    ("check-figures-list", lambda L: bands.check([], bands.load_bands(L["band"], "smoke")), BadType,
     ["expected a dict", "got list []"]),
    ("check-bands-a-dict", lambda L: bands.check({}, {"acc": [0, 1]}), BadType,
     ["expected the Bands that load_bands() returns", "got dict"]),
    ("check_lesson-figures-None", lambda L: bands.check_lesson(None, "b", "smoke", L["tmp"]), BadType,
     ["expected a dict", "got None"]),
    ("check_lesson-unknown-profile-without-a-band-file", lambda L: bands.check_lesson({}, "zz", "fast", L["tmp"]),
     ValueError, ["unknown profile 'fast'", "smoke, cpu, gpu"]),
    # runner: the small pieces
    ("default_out-auto", lambda L: runner.default_out("auto"), BadInput,
     ["expected a resolved profile", "got 'auto'"]),
    ("default_jobs-zero-lessons", lambda L: runner.default_jobs(0, 8, False), BadInput,
     ["lessons", "expected a whole number of 1 or more", "got 0"]),
    ("default_jobs-bool-lessons", lambda L: runner.default_jobs(True, 8, False), BadType,
     ["expected a whole number", "got bool True"]),
    ("default_jobs-str-cores", lambda L: runner.default_jobs(3, "8", False), BadType,
     ["cores", "expected a whole number", "got str '8'"]),
    ("default_jobs-str-gpu", lambda L: runner.default_jobs(3, 8, "no"), BadType,
     ["expected True, False or None", "got str 'no'"]),
    ("human_duration-negative", lambda L: runner.human_duration(-5), BadInput,
     ["expected a finite number of seconds, 0 or more", "got -5"]),
    ("human_duration-nan", lambda L: runner.human_duration(NAN), BadInput, ["expected a finite number", "got nan"]),
    ("human_duration-inf", lambda L: runner.human_duration(INF), BadInput, ["expected a finite number", "got inf"]),
    ("human_duration-str", lambda L: runner.human_duration("5"), BadType, ["expected a finite number", "got str '5'"]),
    ("progress_line-card-without-lesson", lambda L: runner.progress_line(1, 1, {}), BadInput,
     ["expected a compute card with 'lesson'", "without 'lesson', 'status'"]),
    ("progress_line-done-above-total", lambda L: runner.progress_line(2, 1, CARD), BadInput,
     ["expected done between 1 and total (1)", "got 2"]),
    ("bands_text-None", lambda L: runner.bands_text(None), BadType, ["expected a card's band report", "got None"]),
    ("bands_text-negative-limit", lambda L: runner.bands_text({"status": "met"}, limit=-1), BadInput,
     ["limit", "expected a whole number of 0 or more", "got -1"]),
    ("band_problems-list-of-int", lambda L: runner.band_problems([1]), BadType,
     ["expected a list of compute cards", "got int 1 at position 0"]),
    ("cards_table-a-dict", lambda L: runner.cards_table(CARD), BadType, ["expected a list of compute cards", "got dict"]),
    ("cards_table-card-without-lesson", lambda L: runner.cards_table([{}]), BadInput,
     ["expected a compute card", "without 'lesson'"]),
    ("collect_cards-missing", lambda L: runner.collect_cards(L["missing"]), BadInput,
     ["expected the folder `genimg run` wrote into", "does not exist"]),
    ("write_summary-a-file", lambda L: runner.write_summary(L["file"]), BadInput,
     ["expected the folder `genimg run` wrote into", "is a file"]),
    # runner.run_lessons: every argument checked before a worker starts
    ("run_lessons-no-notebooks", lambda L: runner.run_lessons([], "smoke", L["tmp"], 1), BadInput,
     ["expected at least one notebook", "got an empty list"]),
    ("run_lessons-a-lone-str", lambda L: runner.run_lessons(str(L["nb"]), "smoke", L["tmp"], 1), BadType,
     ["expected a list of paths", "got str"]),
    ("run_lessons-auto-profile", lambda L: runner.run_lessons([L["nb"]], "auto", L["tmp"], 1), BadInput,
     ["expected a resolved profile", "got 'auto'"]),
    ("run_lessons-zero-jobs", lambda L: runner.run_lessons([L["nb"]], "smoke", L["tmp"], 0), BadInput,
     ["jobs", "expected a whole number of 1 or more", "got 0"]),
    ("run_lessons-bool-jobs", lambda L: runner.run_lessons([L["nb"]], "smoke", L["tmp"], True), BadType,
     ["jobs", "expected a whole number", "got bool True"]),
    ("run_lessons-negative-timeout", lambda L: runner.run_lessons([L["nb"]], "smoke", L["tmp"], 1, -1), BadInput,
     ["timeout", "expected a positive, finite number of seconds", "got -1"]),
    ("run_lessons-echo-None", lambda L: runner.run_lessons([L["nb"]], "smoke", L["tmp"], 1, echo=None), BadType,
     ["echo", "expected a function", "got None"]),
    ("run_lessons-out-missing", lambda L: runner.run_lessons([L["nb"]], "smoke", L["missing"], 1), BadInput,
     ["expected the folder", "does not exist"]),
    ("run_lessons-not-json", lambda L: runner.run_lessons([L["broken"]], "smoke", L["tmp"], 1), BadInput,
     ["01_broken.ipynb is not a notebook", "expected JSON", "got invalid JSON (line 1 column 2"]),
    ("run_lessons-out-is-the-lessons-folder", lambda L: runner.run_lessons([L["nb"]], "smoke", L["nbs"], 1), BadInput,
     ["is the folder of the notebook", "expected a folder apart from the notebooks"]),
    # student
    ("clear_outputs-None", lambda L: student.clear_outputs(None), BadType, ["expected a notebook", "got None"]),
    ("clear_outputs-empty-dict", lambda L: student.clear_outputs({}), BadType, ["expected a notebook", "got dict {}"]),
    ("clear_outputs-a-path", lambda L: student.clear_outputs(str(L["nb"])), BadType,
     ["expected a notebook", "got str", "read it first with nbformat.read"]),
    ("student_version-list", lambda L: student.student_version([1]), BadType, ["expected a notebook", "got list [1]"]),
    ("instructor_version-int", lambda L: student.instructor_version(5), BadType, ["expected a notebook", "got int 5"]),
    ("write_versions-no-notebooks", lambda L: student.write_versions([], L["out"]), BadInput,
     ["expected at least one notebook", "got an empty list"]),
    ("write_versions-out-None", lambda L: student.write_versions([L["nb"]], None), BadType,
     ["out", "expected a path", "got None"]),
    ("write_versions-json-not-a-notebook", lambda L: student.write_versions([L["config"]], L["out"]), BadInput,
     ["02_config.ipynb is not a Jupyter notebook", "expected a JSON object with a 'cells' list",
      "got an object with the keys 'hello'"]),
    ("write_versions-json-list", lambda L: student.write_versions([L["list"]], L["out"]), BadInput,
     ["is not a Jupyter notebook", "expected a JSON object", "got a JSON list"]),
    ("write_versions-a-folder", lambda L: student.write_versions([L["empty"]], L["out"]), BadInput,
     ["cannot read the notebook", "Is a directory"]),
    ("write_versions-out-is-the-lessons-folder", lambda L: student.write_versions([L["nb"]], L["nbs"]), BadInput,
     ["is the folder of the notebook", "expected a folder apart from the notebooks"]),
    # site
    ("find_lessons-a-lone-str", lambda L: site.find_lessons(str(L["nbs"])), BadType,
     ["expected a list of paths", "got str"]),
    ("find_lessons-int-source", lambda L: site.find_lessons([5]), BadType, ["expected a path", "got int 5"]),
    ("find_lessons-log-None", lambda L: site.find_lessons([L["nbs"]], log=None), BadType,
     ["log", "expected a function", "got None"]),
    ("find_lessons-missing", lambda L: site.find_lessons([L["missing"]]), site.SiteError,
     ["does not exist", "expected executed notebooks"]),
    ("install_assets-a-file", lambda L: site.install_assets(L["file"]), site.SiteError,
     ["expected a folder for the site", "is a file"]),
    ("render_lesson-None", lambda L: site.render_lesson(None), BadType, ["expected a Lesson", "got None"]),
    ("render_lesson-lesson-without-notebook",
     lambda L: site.render_lesson(site.Lesson("00", L["nb"], "t", "smoke", {}, "", "")), BadInput,
     ["has no notebook", "expected a Lesson from find_lessons"]),
    ("render_index-list-of-int", lambda L: site.render_index([1]), BadType,
     ["expected a list of Lessons", "got int 1 at position 0"]),
    ("render_index-title-None", lambda L: site.render_index([], title=None), BadType,
     ["title", "expected a str", "got None"]),
    ("card_summary-None", lambda L: site.card_summary(None), BadType, ["expected a compute card", "got None"]),
    ("card_summary-list", lambda L: site.card_summary([]), BadType, ["expected a compute card", "got list []"]),
    ("build_site-out-None", lambda L: site.build_site([L["nbs"]], None), BadType, ["out", "expected a path", "got None"]),
    ("build_site-out-is-the-source", lambda L: site.build_site([L["nbs"]], L["nbs"]), site.SiteError,
     ["is the source folder", "expected a folder apart from the executed notebooks"]),
    ("build_site-out-is-the-folder-of-a-source-file", lambda L: site.build_site([L["nb"]], L["nbs"]), site.SiteError,
     ["is the source folder", "expected a folder apart"]),
    # prefetch
    ("prefetch-None", lambda L: prefetch.prefetch(None), BadType, ["expected a path", "got None"]),
    ("prefetch-empty", lambda L: prefetch.prefetch(""), prefetch.PrefetchError,
     ["expected a path", "got an empty string"]),
    ("prefetch-a-file", lambda L: prefetch.prefetch(L["file"]), prefetch.PrefetchError,
     ["cannot write to the prefetch folder", "expected a folder this user can create and write"]),
    ("prefetch-download-str", lambda L: prefetch.prefetch(L["out"], download="no"), BadType,
     ["download", "expected True or False", "got str 'no'"]),
    ("prefetch-require_torchvision-int", lambda L: prefetch.prefetch(L["out"], require_torchvision=1), BadType,
     ["require_torchvision", "expected True or False", "got int 1"]),
    ("prefetch-log-None", lambda L: prefetch.prefetch(L["out"], log=None), BadType,
     ["log", "expected a function", "got None"]),
    ("write_manifest-items-None", lambda L: prefetch.write_manifest(L["tmp"], None), BadType,
     ["expected a list of Items", "got None"]),
    ("write_manifest-missing-folder", lambda L: prefetch.write_manifest(L["missing"], []), prefetch.PrefetchError,
     ["expected the prefetch folder", "does not exist"]),
    ("prefetch.ready-one-Item", lambda L: prefetch.ready(prefetch.Item("a", "ok", True, "")), BadType,
     ["expected a list of Items", "got Item"]),
    ("prefetch.ready-list-of-int", lambda L: prefetch.ready([1]), BadType,
     ["expected a list of Items", "got int 1 at position 0"]),
    # env
    ("report-verbose-str", lambda L: env.report(verbose="no"), BadType, ["verbose", "expected True or False", "got str"]),
    ("print_report-None", lambda L: env.print_report(None), BadType, ["expected a list of Items", "got None"]),
    ("print_report-seconds-str", lambda L: env.print_report([], seconds="x"), BadType,
     ["seconds", "expected a finite number of seconds", "got str 'x'"]),
    ("print_report-seconds-negative", lambda L: env.print_report([], seconds=-1), BadInput,
     ["seconds", "expected a finite number of seconds, 0 or more", "got -1"]),
    ("env.ready-list-of-int", lambda L: env.ready([1]), BadType, ["expected a list of Items", "got int 1 at position 0"]),
]


@pytest.mark.parametrize("call, error, fragments", [r[1:] for r in RAISES], ids=[r[0] for r in RAISES])
def test_a_bad_argument_is_refused_naming_what_was_expected_and_what_came(lab, call, error, fragments):
    with pytest.raises(error) as e:
        call(lab)
    assert_names(str(e.value), *fragments)
    assert not lab["out"].exists(), "a refused call created its output folder"


# --------------------------------------------------------------------------------------------
# the commands: (id, call returning the exit code, fragments of the one line on stderr)
# --------------------------------------------------------------------------------------------

def _exit(call, lab) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            rc = call(lab)
        except SystemExit as e:  # argparse's own errors
            rc = e.code
    return rc, err.getvalue()


COMMANDS = [
    ("run-jobs-zero", lambda L: runner.main([str(L["nb"])], "smoke", L["out"], jobs=0),
     ["--jobs", "expected a whole number of 1 or more", "got 0"]),
    ("run-jobs-bool", lambda L: runner.main([str(L["nb"])], "smoke", L["out"], jobs=True),
     ["--jobs", "expected a whole number", "got bool True"]),
    ("run-jobs-float", lambda L: runner.main([str(L["nb"])], "smoke", L["out"], jobs=2.5),
     ["--jobs", "expected a whole number", "got float 2.5"]),
    ("run-timeout-inf", lambda L: runner.main([str(L["nb"])], "smoke", L["out"], timeout=INF),
     ["--timeout", "expected a positive, finite number of seconds", "got inf"]),
    ("run-timeout-nan", lambda L: runner.main([str(L["nb"])], "smoke", L["out"], timeout=NAN),
     ["--timeout", "expected a positive, finite number", "got nan"]),
    ("run-timeout-str", lambda L: runner.main([str(L["nb"])], "smoke", L["out"], timeout="5"),
     ["--timeout", "expected a positive, finite number", "got str '5'"]),
    ("run-timeout-bool", lambda L: runner.main([str(L["nb"])], "smoke", L["out"], timeout=True),
     ["--timeout", "expected a positive, finite number", "got bool True"]),
    ("run-profile-None", lambda L: runner.main([str(L["nb"])], None, L["out"]), ["unknown profile None", "expected one of"]),
    ("run-names-a-lone-str", lambda L: runner.main(str(L["nb"]), "smoke", L["out"]),
     ["expected a list of lesson names", "got str"]),
    ("run-names-int", lambda L: runner.main(5, "smoke", L["out"]), ["expected a list", "got int 5"]),
    ("run-out-int", lambda L: runner.main([str(L["nb"])], "smoke", 5), ["--out", "expected a path", "got int 5"]),
    ("run-out-empty", lambda L: runner.main([str(L["nb"])], "smoke", ""), ["--out", "expected a path", "got an empty string"]),
    ("run-out-is-the-lessons-folder", lambda L: runner.main([str(L["nb"])], "smoke", L["nbs"]),
     ["is the folder of the notebook", "expected a folder apart from the notebooks"]),
    ("run-not-json", lambda L: runner.main([str(L["broken"])], "smoke", L["out"]),
     ["is not a notebook", "expected JSON", "got invalid JSON"]),
    ("run-json-not-a-notebook", lambda L: runner.main([str(L["config"])], "smoke", L["out"]),
     ["is not a Jupyter notebook", "expected a JSON object with a 'cells' list", "got an object with the keys 'hello'"]),
    ("student-names-int", lambda L: student.main(5, out=L["out"]), ["expected a list", "got int 5"]),
    ("student-out-int", lambda L: student.main([str(L["nb"])], out=5), ["--out", "expected a path", "got int 5"]),
    ("student-out-empty", lambda L: student.main([str(L["nb"])], out=""), ["--out", "expected a path", "got an empty string"]),
    ("student-json-list", lambda L: student.main([str(L["list"])], out=L["out"]),
     ["is not a Jupyter notebook", "got a JSON list"]),
    ("student-out-is-the-lessons-folder", lambda L: student.main([str(L["nb"])], out=L["nbs"]),
     ["is the folder of the notebook", "expected a folder apart"]),
    ("site-out-empty", lambda L: site.site_main([str(L["nbs"]), "--out", ""]), ["--out", "expected a path", "got an empty string"]),
    ("site-path-empty", lambda L: site.site_main(["", "--out", str(L["out"])]), ["expected a path", "got an empty string"]),
    ("site-out-is-the-source", lambda L: site.site_main([str(L["nbs"]), "--out", str(L["nbs"])]),
     ["is the source folder", "expected a folder apart"]),
    ("site-argv-a-lone-str", lambda L: site.site_main(str(L["nbs"])), ["argv", "expected a list of str", "got str"]),
    ("prefetch-dir-empty", lambda L: prefetch.prefetch_main(["--dir", "", "-q"]), ["--dir", "expected a folder", "got an empty string"]),
    ("prefetch-dir-a-file", lambda L: prefetch.prefetch_main(["--dir", str(L["file"]), "-q"]),
     ["cannot write to the prefetch folder", "expected a folder"]),
    ("prefetch-argv-list-of-int", lambda L: prefetch.prefetch_main([5]), ["argv", "expected a list of str", "got list [5]"]),
    ("genimg-argv-a-lone-str", lambda L: cli.main("doctor"), ["argv", "expected a list of str", "got str 'doctor'"]),
    ("genimg-run-out-empty", lambda L: cli.main(["run", str(L["nb"]), "--profile", "smoke", "--out", ""]),
     ["--out", "expected a path", "got an empty string"]),
    ("genimg-student-out-empty", lambda L: cli.main(["student", str(L["nb"]), "--out", ""]),
     ["--out", "expected a path", "got an empty string"]),
    ("genimg-run-out-is-the-lessons-folder",
     lambda L: cli.main(["run", str(L["nb"]), "--profile", "smoke", "--out", str(L["nbs"])]),
     ["is the folder of the notebook"]),
    ("genimg-student-not-json", lambda L: cli.main(["student", str(L["broken"]), "--out", str(L["out"])]),
     ["is not a notebook", "expected JSON"]),
    ("genimg-run-jobs-zero", lambda L: cli.main(["run", "-j", "0"]), ["--jobs", "expected a whole number of 1 or more", "got '0'"]),
    ("genimg-unknown-command", lambda L: cli.main(["bogus"]), ["invalid choice: 'bogus'", "choose from"]),
]


@pytest.mark.parametrize("call, fragments", [r[1:] for r in COMMANDS], ids=[r[0] for r in COMMANDS])
def test_a_bad_argument_to_a_command_exits_2_with_one_line_naming_it(lab, call, fragments):
    rc, err = _exit(call, lab)
    assert rc == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert_names(lines[-1], *fragments)
    assert len(lines) == 1 or lines[0].startswith("usage:"), err  # argparse puts its usage line first


# --------------------------------------------------------------------------------------------
# what a table cannot say
# --------------------------------------------------------------------------------------------

def test_run_into_the_lessons_own_folder_leaves_the_lesson_untouched(lab):
    before = lab["nb"].read_bytes()
    rc, _ = _exit(lambda L: runner.main([str(L["nb"])], "smoke", L["nbs"], jobs=1), lab)
    assert rc == 2
    assert lab["nb"].read_bytes() == before
    assert sorted(p.name for p in lab["nbs"].iterdir()) == ["00_setup.ipynb", "01_broken.ipynb", "02_config.ipynb",
                                                             "03_list.ipynb"]


def test_a_notebook_that_is_not_json_stops_run_before_anything_is_written(lab):
    rc, err = _exit(lambda L: runner.main([str(L["nb"]), str(L["broken"])], "smoke", L["out"], jobs=1), lab)
    assert rc == 2 and "01_broken.ipynb" in err
    assert not lab["out"].exists()


def test_a_student_version_over_the_lessons_writes_nothing(lab):
    lab["nbs"].rename(lab["tmp"] / "student")
    lesson = lab["tmp"] / "student" / "00_setup.ipynb"
    before = lesson.read_bytes()
    with pytest.raises(BadInput, match="student is the folder of the notebook"):
        student.write_versions([lesson], lab["tmp"])
    assert lesson.read_bytes() == before
    assert not (lab["tmp"] / "instructor").exists()


def test_bad_type_is_caught_as_bad_input_and_as_type_error():
    assert issubclass(BadType, BadInput) and issubclass(BadType, TypeError) and issubclass(BadType, ValueError)


def test_a_folder_argument_accepts_str_and_path_alike(lab):
    assert lessons.available_lessons(str(lab["nbs"])) == lessons.available_lessons(lab["nbs"])
    assert lessons.resolve_notebooks(("00",), str(lab["nbs"])) == [lab["nb"]]


def test_the_default_lesson_folder_still_lists_every_lesson():
    assert [p.name for p in lessons.available_lessons()][:1] == ["00_setup.ipynb"]
    assert lessons.resolve_notebooks([]) == lessons.available_lessons()
