"""``genimg run`` (genimg_course.classroom.runner): executed copies, compute cards, progress, failures and bad input.

Tiny notebooks written into tmp stand in for lessons (a kernel starts in about a second): one that
records Figures values the way a lesson does, one with a broken cell, one that leaves no Figures; and,
with band files in tmp/bands/, one whose figures meet their bands, one that misses, one whose band file
is broken.
A whole real lesson is run end to end in tests/classroom/test_cli.py (``python -m genimg_course run 00``).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from genimg_course.classroom import cli, lessons, runner

ROOT = Path(__file__).resolve().parents[2]
LESSONS = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))]

# the keys a lesson's Figures writes, with made-up GPU peaks so the card has something to carry
RECORD_FIGURES = '''import json, os
json.dump({"lesson": "91_ok", "profile": PROFILE, "device": "cuda:0", "gpu": "Fake GPU", "peak_ram_gib": 0.25,
           "peak_gpu_allocated_gib": 1.0, "peak_gpu_reserved_gib": 1.25,
           "seen": {"PROFILE": PROFILE, "cwd": os.getcwd(), "OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"]}},
          open(os.path.join(os.environ["GENIMG_FIGURES_DIR"], "91_ok.json"), "w"))'''


def write_notebook(path: Path, *sources: str, markdown_first: bool = True) -> Path:
    """A notebook with a markdown title, a ``parameters`` cell ``PROFILE = "auto"``, then ``sources``."""
    params = new_code_cell('PROFILE = "auto"')
    params.metadata["tags"] = ["parameters"]
    cells = ([new_markdown_cell(f"# {path.stem}")] if markdown_first else []) + [params]
    nb = new_notebook(cells=cells + [new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def fakes(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lessons")
    return {
        "ok": write_notebook(folder / "91_ok.ipynb", RECORD_FIGURES, "print('done')"),
        # cell 3 of the notebook (0: title, 1: parameters, 2: x = 1) is the broken one
        "bad": write_notebook(folder / "92_bad.ipynb", "x = 1", "# a broken cell\nraise ValueError('the answer is not 42')",
                              "print('never reached')"),
        "nofig": write_notebook(folder / "93_nofig.ipynb", "y = [0] * 1000"),
    }


def run_main(*args, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = runner.main(*args, **kwargs)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def course(fakes, tmp_path_factory):
    """One run of the three fake lessons, two at a time, into a folder holding a stale run of 92_bad."""
    out = tmp_path_factory.mktemp("executed")
    (out / "92_bad.ipynb").write_text("{}")  # an earlier, complete-looking copy
    (out / "92_bad.card.json").write_text(json.dumps({"lesson": "92_bad", "status": "ok"}))
    (out / "05_earlier.card.json").write_text(json.dumps({  # another lesson's card from an earlier run
        "lesson": "05_earlier", "profile": "smoke", "status": "ok", "wall_s": 3.0, "peak_ram_gib": 0.5}))
    rc, stdout, stderr = run_main([str(fakes["bad"]), str(fakes["ok"]), str(fakes["nofig"])], profile="smoke",
                                  out=out, jobs=2, timeout=120)
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "out": out}


def card(course, stem: str) -> dict:
    return json.loads((course["out"] / f"{stem}.card.json").read_text())


# --------------------------------------------------------------------------------------------
# a run with a passing, a failing and a figure-less lesson
# --------------------------------------------------------------------------------------------

def test_exit_code_is_1_when_any_lesson_failed(course):
    assert course["rc"] == 1, course["stdout"] + course["stderr"]


def test_a_failing_lesson_does_not_stop_the_others(course):
    assert card(course, "91_ok")["status"] == "ok"
    assert card(course, "93_nofig")["status"] == "ok"
    assert card(course, "92_bad")["status"] == "failed"


def test_a_passing_lesson_has_its_executed_copy_with_outputs_and_no_partial_file(course):
    nb = nbformat.read(course["out"] / "91_ok.ipynb", as_version=4)
    assert any("done" in o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert not list(course["out"].glob("*.partial"))


def test_the_card_carries_the_lessons_figures_peaks_and_device(course):
    c = card(course, "91_ok")
    assert c["lesson"] == "91_ok" and c["profile"] == "smoke" and c["status"] == "ok"
    assert (c["peak_gpu_allocated_gib"], c["peak_gpu_reserved_gib"], c["peak_ram_gib"]) == (1.0, 1.25, 0.25)
    assert (c["device"], c["gpu"]) == ("cuda:0", "Fake GPU")
    assert c["wall_s"] > 0 and c["torch"] and c["date"][:2] == "20" and c["failure"] is None
    assert c["executed"] == "91_ok.ipynb" and not c["retried"]


def test_a_lesson_without_figures_gets_its_kernels_peak_ram(course):
    c = card(course, "93_nofig")
    assert c["peak_gpu_allocated_gib"] is None and c["device"] is None and c["figures_peak_ram_gib"] is None
    assert 0.01 < c["peak_ram_gib"] < 8 and c["peak_ram_gib"] == c["kernel_peak_ram_gib"]


def test_peak_ram_is_the_larger_of_the_figures_and_the_kernels_own(course):
    c = card(course, "91_ok")  # the fake lesson records 0.25 GiB; its kernel really used less
    assert c["figures_peak_ram_gib"] == 0.25 and c["kernel_peak_ram_gib"] < 0.25 and c["peak_ram_gib"] == 0.25


def test_each_kernel_gets_the_profile_its_own_scratch_folder_and_a_share_of_the_cores(course):
    seen = json.loads((course["out"] / "91_ok.json").read_text())["seen"]
    assert seen["PROFILE"] == "smoke"
    assert Path(seen["cwd"]).resolve() == (course["out"] / ".work" / "91_ok").resolve()  # checkpoints/ land there
    assert seen["OMP_NUM_THREADS"] == str(card(course, "91_ok")["threads"])
    assert card(course, "91_ok")["jobs"] == 2


def test_a_failed_lesson_is_kept_only_as_FAILED_and_the_stale_copy_is_gone(course):
    out = course["out"]
    assert not (out / "92_bad.ipynb").exists()  # the earlier run's copy was removed before the lesson ran
    failed = nbformat.read(out / "92_bad.FAILED.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in failed.cells if c.cell_type == "code" for o in c.outputs)
    assert card(course, "92_bad")["executed"] == "92_bad.FAILED.ipynb"


def test_a_failed_lessons_card_names_the_cell_its_first_line_and_the_error(course):
    f = card(course, "92_bad")["failure"]
    assert f["cell"] == 3  # the index in the lesson's own cells, not counting papermill's injected one
    assert f["first_line"] == "# a broken cell"
    assert (f["error"], f["message"]) == ("ValueError", "the answer is not 42")


def test_progress_prints_one_numbered_line_per_lesson_as_it_finishes(course):
    lines = [line for line in course["stdout"].splitlines() if line.startswith("[")]
    assert sorted(line[:5] for line in lines) == ["[1/3]", "[2/3]", "[3/3]"]
    ok = next(line for line in lines if "91_ok" in line)
    assert re.fullmatch(r"\[\d/3\] 91_ok ok in \d+ s, peak GPU 1.0 GiB \(reserved 1.2 GiB\); "
                        r"no bands for smoke \(no band file 91_ok.toml\)", ok), ok
    bad = next(line for line in lines if "92_bad" in line)
    assert "92_bad failed at cell 3 (`# a broken cell`)" in bad
    assert "ValueError: the answer is not 42" in bad and "92_bad.FAILED.ipynb" in bad
    assert "peak RAM" in next(line for line in lines if "93_nofig" in line)


def test_the_summary_names_the_failed_lessons(course):
    last = course["stdout"].strip().splitlines()[-1]
    assert "2/3 lesson(s) ok" in last and "failed: 92_bad" in last


def test_lessons_without_band_files_are_reported_as_no_bands_not_as_passing(course):
    assert card(course, "91_ok")["bands"] == {
        "profile": "smoke", "file": str(ROOT / "notebooks" / "bands" / "91_ok.toml"), "status": "no bands", "met": 0,
        "recorded": [], "misses": [], "error": "no band file 91_ok.toml"}
    assert card(course, "92_bad")["bands"] is None  # a lesson that failed is not checked against its bands
    assert "; no bands for smoke: 91_ok, 93_nofig." in course["stdout"].strip().splitlines()[-1]
    md = (course["out"] / "compute_cards.md").read_text()
    assert "| no bands for smoke (no band file 93_nofig.toml) |" in md


def test_compute_cards_md_is_a_table_of_every_card_in_the_folder(course):
    md = (course["out"] / "compute_cards.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| lesson")]
    assert [r.split(" | ")[0][2:] for r in rows] == ["05_earlier", "91_ok", "92_bad", "93_nofig"]
    bad = next(r for r in rows if r.startswith("| 92_bad"))
    assert "**failed** at cell 3: ValueError: the answer is not 42" in bad
    assert "| 1.0 GiB / 1.2 GiB | 0.25 GiB | Fake GPU |" in next(r for r in rows if r.startswith("| 91_ok"))


def test_compute_cards_json_lists_every_card(course):
    cards = json.loads((course["out"] / "compute_cards.json").read_text())
    assert [c["lesson"] for c in cards] == ["05_earlier", "91_ok", "92_bad", "93_nofig"]
    assert cards[1] == card(course, "91_ok")


def test_exit_code_is_0_when_every_lesson_passed(fakes, tmp_path):
    rc, stdout, _ = run_main([str(fakes["ok"])], profile="cpu", out=tmp_path, jobs=1)
    assert rc == 0, stdout
    assert card({"out": tmp_path}, "91_ok")["profile"] == "cpu"
    assert "1/1 lesson(s) ok" in stdout


# --------------------------------------------------------------------------------------------
# hangs and crashes become failures
# --------------------------------------------------------------------------------------------

def test_a_cell_past_the_timeout_fails_the_lesson_after_one_retry(tmp_path):
    nb = write_notebook(tmp_path / "94_hang.ipynb", "import time\ntime.sleep(60)", markdown_first=False)
    out = tmp_path / "out"
    rc, stdout, _ = run_main([str(nb)], profile="smoke", out=out, jobs=1, timeout=2)
    assert rc == 1
    c = card({"out": out}, "94_hang")
    assert c["status"] == "failed" and c["retried"] and "ran twice" in c["note"]
    assert c["failure"]["cell"] == 1 and c["failure"]["first_line"] == "import time"
    assert c["failure"]["error"] == "CellTimeoutError" and "no reply from the kernel for 2 s" in c["failure"]["message"]
    assert (out / "94_hang.FAILED.ipynb").exists() and not (out / "94_hang.ipynb").exists()
    assert "ran twice" in stdout


def test_a_kernel_that_dies_fails_its_lesson_with_a_readable_reason(tmp_path):
    nb = write_notebook(tmp_path / "95_dies.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    rc, stdout, _ = run_main([str(nb)], profile="smoke", out=tmp_path / "out", jobs=1)
    assert rc == 1
    f = card({"out": tmp_path / "out"}, "95_dies")["failure"]
    assert f["cell"] == 2 and f["error"] == "DeadKernelError" and "kernel died" in f["message"]


def test_a_worker_killed_before_writing_a_card_still_gets_a_failed_card_and_a_FAILED_copy(tmp_path):
    (tmp_path / ".work").mkdir()
    (tmp_path / ".work" / "96_killed.log").write_text("Executing notebook\n")
    (tmp_path / "96_killed.ipynb.partial").write_text("{}")
    spec = dict(notebook=str(tmp_path / "96_killed.ipynb"), out=str(tmp_path), profile="cpu", timeout=600, jobs=1, threads=2)
    c = runner._crashed_card(spec, -9, 5.0)
    assert c["status"] == "failed" and c["executed"] == "96_killed.FAILED.ipynb"
    assert c["failure"]["error"] == "WorkerExited"
    assert c["failure"]["message"] == "the lesson's worker process was killed by signal 9: Executing notebook"
    assert not (tmp_path / "96_killed.ipynb.partial").exists() and not (tmp_path / "96_killed.ipynb").exists()
    assert json.loads((tmp_path / "96_killed.card.json").read_text()) == c


def test_a_lesson_cut_short_by_an_interrupt_is_carded_as_interrupted(tmp_path):
    spec = dict(notebook=str(tmp_path / "96_cut.ipynb"), out=str(tmp_path), profile="cpu", timeout=600, jobs=1, threads=2)
    f = runner._crashed_card(spec, -2, 5.0, interrupted=True)["failure"]
    assert (f["error"], f["message"]) == ("Interrupted", "genimg run was interrupted before this lesson finished")


# --------------------------------------------------------------------------------------------
# bad input: a clear message, exit code 2, nothing executed
# --------------------------------------------------------------------------------------------

@pytest.fixture
def nothing_runs(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a lesson was executed despite bad input")

    monkeypatch.setattr(runner, "run_lessons", refuse)


def test_an_unknown_notebook_name_lists_the_lessons_and_creates_nothing(nothing_runs, tmp_path):
    rc, _, err = run_main(["06_diffusion"], profile="smoke", out=tmp_path / "out")
    assert rc == 2
    assert "unknown notebook '06_diffusion'" in err and ", ".join(LESSONS) in err
    assert not (tmp_path / "out").exists()


def test_an_unknown_profile_is_refused_by_the_command_line(nothing_runs, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--profile", "fast"])
    assert exit_.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_an_unknown_profile_is_refused_by_main_too(nothing_runs, tmp_path):
    rc, _, err = run_main([], profile="fast", out=tmp_path)
    assert rc == 2 and "unknown profile 'fast'" in err


def test_an_output_folder_that_is_a_file_is_refused(nothing_runs, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc, _, err = run_main(["00"], profile="smoke", out=blocker)
    assert rc == 2 and f"output folder {blocker} is a file, not a folder" in err
    rc, _, err = run_main(["00"], profile="smoke", out=blocker / "executed")
    assert rc == 2 and f"cannot create the output folder {blocker / 'executed'}" in err


def test_an_unwritable_output_folder_is_refused(nothing_runs, tmp_path, monkeypatch):
    def no_write(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(lessons.tempfile, "TemporaryFile", no_write)  # prepare_out_dir lives in lessons.py
    rc, _, err = run_main(["00"], profile="smoke", out=tmp_path)
    assert rc == 2 and f"output folder {tmp_path} is not writable (Permission denied)" in err


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "argument -j/--jobs: expected a whole number of 1 or more, got '0'"),
    (["--timeout", "-5"], "argument --timeout: expected a positive number of seconds, got '-5'"),
])
def test_jobs_and_timeout_must_be_positive(nothing_runs, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# the pieces
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["05_vae", "05", "5", "05_vae.ipynb", "notebooks/05_vae.ipynb"])
def test_a_lesson_can_be_named_by_name_number_file_name_or_path(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert runner.resolve_notebooks([name]) == [(ROOT / "notebooks" / "05_vae.ipynb").resolve()]


def test_no_names_means_every_lesson_and_a_name_given_twice_runs_once():
    assert [p.stem for p in runner.resolve_notebooks([])] == LESSONS
    assert [p.stem for p in runner.resolve_notebooks(["05", "05_vae", "00"])] == ["05_vae", "00_setup"]


def test_a_file_that_is_not_a_notebook_is_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(runner.BadInput, match="is not a notebook"):
        runner.resolve_notebooks([str(text)])


def test_auto_follows_GENIMG_PROFILE_and_refuses_a_bad_one(monkeypatch):
    monkeypatch.setenv("GENIMG_PROFILE", "smoke")
    assert runner.resolve_profile("auto") == "smoke"
    monkeypatch.setenv("GENIMG_PROFILE", "fast")
    with pytest.raises(runner.BadInput, match="GENIMG_PROFILE='fast'"):
        runner.resolve_profile("auto")


@pytest.mark.parametrize("lessons, cores, gpu, jobs", [
    (6, 2, False, 1), (6, 3, False, 1), (6, 4, False, 4), (6, 16, False, 4), (3, 16, False, 3), (6, 2, True, 4), (1, 16, True, 1),
])
def test_default_jobs(lessons, cores, gpu, jobs):
    assert runner.default_jobs(lessons, cores=cores, gpu=gpu) == jobs


@pytest.mark.parametrize("seconds, text", [(8.2, "8 s"), (60, "1 min"), (130, "2 min 10 s"), (3900, "1 h 5 min")])
def test_human_duration(seconds, text):
    assert runner.human_duration(seconds) == text


def test_progress_line_of_a_gpu_lesson_and_of_a_failed_one():
    ok = {"lesson": "03_dcgan", "status": "ok", "wall_s": 130.4, "peak_gpu_allocated_gib": 1.0,
          "peak_gpu_reserved_gib": None, "peak_ram_gib": 2.0}
    assert runner.progress_line(3, 6, ok) == "[3/6] 03_dcgan ok in 2 min 10 s, peak GPU 1.0 GiB"
    bad = {"lesson": "04_stable_gans", "status": "failed", "wall_s": 12, "executed": "04_stable_gans.FAILED.ipynb",
           "failure": {"cell": 12, "first_line": "fit(task)", "error": "ValueError", "message": "shapes differ"}}
    assert runner.progress_line(4, 6, bad) == ("[4/6] 04_stable_gans failed at cell 12 (`fit(task)`) after 12 s: "
                                               "ValueError: shapes differ — see 04_stable_gans.FAILED.ipynb")


def test_course_py_run_all_sets_up_the_venv_then_calls_genimg_run(monkeypatch):
    spec = importlib.util.spec_from_file_location("course_tool", ROOT / "tools" / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    calls = []
    monkeypatch.setattr(course, "setup", lambda: calls.append("setup"))
    monkeypatch.setattr(course, "sh", lambda *cmd, **kw: calls.append([str(c) for c in cmd]) or 0)
    assert course.run_all("smoke") == 0
    assert calls[0] == "setup"
    assert calls[1][1:] == ["-m", "genimg_course", "run", "--profile", "smoke", "--out",
                            str(ROOT / "notebooks" / "executed" / "smoke")]


# --------------------------------------------------------------------------------------------
# figures against their bands
# --------------------------------------------------------------------------------------------

def _record(stem: str, **figures) -> str:
    return (f"import json, os\nfigures = {{'lesson': {stem!r}, 'profile': PROFILE, **{figures!r}}}\n"
            f"json.dump(figures, open(os.path.join(os.environ['GENIMG_FIGURES_DIR'], {stem!r} + '.json'), 'w'))")


@pytest.fixture(scope="module")
def banded(tmp_path_factory):
    """A run under cpu of a lesson that meets its [cpu] bands, one that misses two, one whose band file is
    broken, and one that meets [smoke] but has no [cpu] section."""
    folder = tmp_path_factory.mktemp("banded")
    (folder / "bands").mkdir()
    for stem in ("97_meets", "98_misses"):
        write_notebook(folder / f"{stem}.ipynb", _record(stem, accuracy=0.95, steps=120, seeds=4))
        (folder / "bands" / f"{stem}.toml").write_text(
            "[smoke]\naccuracy = [0.3, 1.0]\n\n"
            "[cpu]\naccuracy = [%s, 1.0]\nsteps = [100, 200]\nseeds = \"recorded\"\n%s"
            % ("0.9" if stem == "97_meets" else "0.97", "" if stem == "97_meets" else "fid = [1, 50]\n"))
    write_notebook(folder / "99_broken.ipynb", _record("99_broken", accuracy=0.5))
    (folder / "bands" / "99_broken.toml").write_text("[cpu]\naccuracy = [1.0, 0.5]\n")
    write_notebook(folder / "96_smoke_only.ipynb", _record("96_smoke_only", accuracy=0.5))
    (folder / "bands" / "96_smoke_only.toml").write_text("[smoke]\naccuracy = [0.3, 1.0]\n")
    out = tmp_path_factory.mktemp("banded_out")
    rc, stdout, stderr = run_main([str(folder / f"{s}.ipynb") for s in ("97_meets", "98_misses", "99_broken", "96_smoke_only")],
                                  profile="cpu", out=out, jobs=2, timeout=120)
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "out": out, "folder": folder}


def test_a_band_miss_makes_the_exit_code_3_though_every_lesson_ran(banded):
    assert banded["rc"] == 3, banded["stdout"] + banded["stderr"]
    assert all(card(banded, s)["status"] == "ok" for s in ("97_meets", "98_misses", "99_broken", "96_smoke_only"))


def test_a_lesson_inside_its_bands_says_so_on_its_card(banded):
    b = card(banded, "97_meets")["bands"]
    assert (b["profile"], b["status"], b["met"], b["recorded"], b["misses"]) == ("cpu", "met", 2, ["seeds"], [])
    assert b["file"] == str(banded["folder"] / "bands" / "97_meets.toml")


def test_a_miss_is_on_the_card_with_key_value_and_band(banded):
    b = card(banded, "98_misses")["bands"]
    assert b["status"] == "missed" and b["met"] == 1
    assert b["misses"] == [
        {"key": "accuracy", "reason": "outside", "value": 0.95, "band": [0.97, 1.0],
         "text": "accuracy = 0.95, outside band [0.97, 1]"},
        {"key": "fid", "reason": "missing", "value": None, "band": [1, 50], "text": "fid not recorded (band [1, 50])"}]


def test_the_summary_names_lesson_key_value_and_band_of_every_miss(banded):
    out = banded["stdout"]
    progress = next(line for line in out.splitlines() if line.startswith("[") and "98_misses" in line)
    assert progress.endswith("; 2 figure(s) outside their [cpu] bands: accuracy = 0.95, outside band [0.97, 1]; "
                             "fid not recorded (band [1, 50])")
    assert "Figures outside their [cpu] bands:\n" in out
    assert "  98_misses: accuracy = 0.95, outside band [0.97, 1] (98_misses.toml [cpu])\n" in out
    assert "  98_misses: fid not recorded (band [1, 50]) (98_misses.toml [cpu])\n" in out
    assert "  99_broken: band file error: " in out and "[cpu] accuracy = [1.0, 0.5]: low 1.0 is above high 0.5" in out
    last = out.strip().splitlines()[-1]
    assert "4/4 lesson(s) ok" in last and "; outside their [cpu] bands: 98_misses, 99_broken" in last
    assert "; no bands for cpu: 96_smoke_only" in last
    assert "figures in their [cpu] bands (2 checked, 1 recorded, not banded)" in next(
        line for line in out.splitlines() if line.startswith("[") and "97_meets" in line)


def test_a_lesson_without_a_section_for_the_profile_is_no_bands(banded):
    b = card(banded, "96_smoke_only")["bands"]
    assert (b["status"], b["error"]) == ("no bands", "96_smoke_only.toml has no [cpu] section")


def test_compute_cards_md_has_a_bands_column_and_lists_the_misses(banded):
    md = (banded["out"] / "compute_cards.md").read_text()
    assert "| lesson | profile | status | bands |" in md
    row = next(r for r in md.splitlines() if r.startswith("| 98_misses"))
    assert "| ok | **2 figure(s) outside their [cpu] bands: accuracy = 0.95, outside band [0.97, 1]; fid" in row
    assert "| ok | figures in their [cpu] bands (2 checked, 1 recorded, not banded) |" in next(
        r for r in md.splitlines() if r.startswith("| 97_meets"))
    assert "## Figures outside their bands\n\n- 98_misses: accuracy = 0.95, outside band [0.97, 1] (98_misses.toml [cpu])\n" in md
    cards = json.loads((banded["out"] / "compute_cards.json").read_text())
    assert [c["bands"]["status"] for c in cards] == ["no bands", "met", "missed", "error"]


def test_the_same_lesson_meets_its_smoke_bands_and_exits_0(banded, tmp_path):
    rc, stdout, _ = run_main([str(banded["folder"] / "98_misses.ipynb")], profile="smoke", out=tmp_path, jobs=1)
    assert rc == 0, stdout
    assert card({"out": tmp_path}, "98_misses")["bands"]["status"] == "met"
    assert "figures in their [smoke] bands (1 checked)" in stdout


def test_exit_code_precedence_failed_then_bands(monkeypatch, tmp_path, fakes):
    cards = [{"lesson": "a", "profile": "cpu", "status": "failed", "wall_s": 1, "bands": None,
              "failure": {"cell": 1, "error": "E", "message": "m"}},
             {"lesson": "b", "profile": "cpu", "status": "ok", "wall_s": 1,
              "bands": {"profile": "cpu", "file": "b.toml", "status": "missed", "misses": [{"key": "k", "text": "k = 2, outside band [0, 1]"}]}}]
    monkeypatch.setattr(runner, "run_lessons", lambda *a, **k: cards)
    rc, stdout, _ = run_main([str(fakes["ok"])], profile="cpu", out=tmp_path)
    assert rc == runner.EXIT_FAILED == 1
    monkeypatch.setattr(runner, "run_lessons", lambda *a, **k: cards[1:])
    rc, stdout, _ = run_main([str(fakes["ok"])], profile="cpu", out=tmp_path)
    assert rc == runner.EXIT_BANDS == 3 and "  b: k = 2, outside band [0, 1] (b.toml [cpu])" in stdout
