"""The ``genimg`` command line (``python -m genimg_course``): ``doctor`` and its exit codes.

The ready machine is checked end to end in a subprocess with a fresh ``HOME`` and an empty
working directory; the failure cases run ``cli.main([...])`` in-process so the judge can be
swapped for a corrupted copy (the shipped file itself is never touched).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genimg_course import checkpoints
from genimg_course.classroom import cli

pytestmark = pytest.mark.usefixtures("isolated", "shipped_judge_untouched")

REAL_JUDGE = checkpoints.shipped_path("judge_mnist")


def _genimg(*args: str, cwd: Path, home: Path, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    """``python -m genimg_course ARGS`` with a fresh HOME, no GENIMG_* settings from outside."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GENIMG_")}
    environ.update(HOME=str(home), MPLBACKEND="Agg", PYTHONIOENCODING="utf-8", **extra_env)
    return subprocess.run([sys.executable, "-m", "genimg_course", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


# --------------------------------------------------------------------------------------------
# the entry point and its usage
# --------------------------------------------------------------------------------------------

def test_help_exits_0_and_lists_the_doctor_command(tmp_path, home):
    run = _genimg("--help", cwd=tmp_path, home=home)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: genimg")
    assert "doctor" in run.stdout and "check Python, torch/torchvision, GPU" in run.stdout


def test_no_command_exits_2_and_prints_the_usage(tmp_path, home):
    run = _genimg(cwd=tmp_path, home=home)
    assert run.returncode == 2
    assert "usage: genimg" in run.stdout + run.stderr
    assert "doctor" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_unknown_command_exits_2_and_names_the_valid_ones(tmp_path, home):
    run = _genimg("doctr", cwd=tmp_path, home=home)
    assert run.returncode == 2
    assert "invalid choice: 'doctr'" in run.stderr and "doctor" in run.stderr
    assert "Traceback" not in run.stderr


def test_doctor_help_documents_its_exit_codes_and_quiet_flag(tmp_path, home):
    run = _genimg("doctor", "--help", cwd=tmp_path, home=home)
    assert run.returncode == 0, run.stderr
    assert "Exit code 0 when every required item passes, 1 otherwise" in " ".join(run.stdout.split())
    assert "--quiet" in run.stdout


def test_main_without_a_command_returns_2_and_prints_help(capsys):
    assert cli.main([]) == 2
    assert "usage: genimg" in capsys.readouterr().out


def test_genimg_console_script_is_installed_and_answers_help(tmp_path, home):
    script = Path(sys.executable).with_name("genimg")
    if not script.exists():
        pytest.skip(f"no console script at {script} (package not installed in this interpreter's environment)")
    run = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOME": str(home)})
    assert run.returncode == 0 and "doctor" in run.stdout


# --------------------------------------------------------------------------------------------
# doctor on this machine (ready) and on broken setups
# --------------------------------------------------------------------------------------------

def test_doctor_exits_0_on_this_machine_from_an_empty_folder_with_a_fresh_home(tmp_path, home):
    run = _genimg("doctor", cwd=tmp_path, home=home)
    assert run.returncode == 0, f"doctor says this machine is not ready:\n{run.stdout}\n{run.stderr}"
    lines = run.stdout.splitlines()
    assert "READY: every required item passed" in lines[-1]
    marks = [line[0] for line in lines if line[:2] in ("✓ ", "✗ ", "! ")]
    assert len(marks) >= 13 and "✗" not in marks
    for name in ("python", "torch", "torchvision", "GPU", "profile", "data cache", "offline data", "judge weights"):
        assert any(line[2:].startswith(name) for line in lines), f"no {name!r} line in\n{run.stdout}"
    assert "Traceback" not in run.stdout + run.stderr
    assert list(tmp_path.iterdir()) == [home]  # writes nothing into the working directory


def test_doctor_with_an_unwritable_data_folder_exits_1_and_prints_the_fix(tmp_path, home):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = _genimg("doctor", cwd=tmp_path, home=home, GENIMG_DATA_DIR=str(blocker / "data"))
    assert run.returncode == 1, run.stdout
    assert "✗ data cache" in run.stdout and f"{blocker / 'data'} is not writable" in run.stdout
    assert "fix: export GENIMG_DATA_DIR=" in run.stdout
    assert run.stdout.splitlines()[-1].startswith("NOT READY:")
    assert "data cache" in run.stdout.splitlines()[-1]
    assert "Traceback" not in run.stdout + run.stderr


@pytest.fixture
def corrupted_judge(judge_copy) -> Path:
    """A truncated copy of the shipped judge, with SHIPPED/WEIGHTS_DIR pointing at it."""
    judge_copy.write_bytes(judge_copy.read_bytes()[:1000])
    return judge_copy


def test_doctor_with_a_corrupted_judge_returns_1_and_prints_the_problem_and_fix(corrupted_judge, capsys):
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("✗ judge weights"))
    assert "judge_mnist.pt does not match its registered SHA-256" in line
    assert "fix: reinstall the course" in out and "tools/make_judge.py" in out
    assert out.splitlines()[-1].startswith("NOT READY: 1 required item(s) failed: judge weights.")
    assert "Traceback" not in out


def test_doctor_quiet_with_a_corrupted_judge_returns_1_and_prints_nothing(corrupted_judge, capsys):
    assert cli.main(["doctor", "--quiet"]) == 1
    assert capsys.readouterr().out == ""


def test_doctor_quiet_on_this_machine_returns_0_and_prints_nothing(capsys):
    assert cli.main(["doctor", "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_doctor_returns_1_when_GENIMG_PROFILE_is_not_a_profile(monkeypatch, capsys):
    monkeypatch.setenv("GENIMG_PROFILE", "fast")
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ profile" in out and "GENIMG_PROFILE='fast' is not a profile" in out
    assert "fix: unset GENIMG_PROFILE" in out


# --------------------------------------------------------------------------------------------
# run and student from the command line
# --------------------------------------------------------------------------------------------

def test_help_lists_the_run_and_student_commands(tmp_path, home):
    run = _genimg("--help", cwd=tmp_path, home=home)
    assert run.returncode == 0, run.stderr
    assert "run " in run.stdout and "execute lessons with papermill" in run.stdout
    assert "student " in run.stdout and "write student versions" in run.stdout


def test_run_help_documents_its_options_and_exit_codes(tmp_path, home):
    run = _genimg("run", "--help", cwd=tmp_path, home=home)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: genimg run [-h] [--profile {smoke,cpu,gpu,auto}] [--out DIR] [-j N]")
    text = " ".join(run.stdout.split())
    assert ("Exit code 0 when every lesson passed and met its bands (or has none), 1 when one failed, 2 on bad input "
            "(nothing executed), 3 when every lesson ran but a figure is outside its band or a band file is broken.") in text
    assert "'no bands for PROFILE'" in text and "notebooks/bands/<lesson>.toml" in text
    for option in ("NOTEBOOK", "--profile", "--out", "--jobs", "--timeout"):
        assert option in run.stdout


def test_student_help_documents_its_output(tmp_path, home):
    run = _genimg("student", "--help", cwd=tmp_path, home=home)
    assert run.returncode == 0, run.stderr
    assert "OUT/student/<lesson>.ipynb" in run.stdout and "OUT/instructor/<lesson>.ipynb" in run.stdout


def test_run_executes_a_real_lesson_end_to_end_and_writes_its_compute_card(tmp_path, home):
    out = tmp_path / "executed"
    run = _genimg("run", "00", "--profile", "smoke", "--out", str(out), cwd=tmp_path, home=home, timeout=300)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert "[1/1] 00_setup ok in " in run.stdout and "peak RAM" in run.stdout
    assert "; figures in their [smoke] bands (3 checked)" in run.stdout  # 00's [smoke] bands, checked by genimg run
    card = json.loads((out / "00_setup.card.json").read_text())
    assert (card["lesson"], card["profile"], card["status"], card["device"]) == ("00_setup", "smoke", "ok", "cpu")
    assert (card["bands"]["status"], card["bands"]["met"], card["bands"]["misses"]) == ("met", 3, [])
    assert 0.05 < card["peak_ram_gib"] < 8 and card["wall_s"] > 0 and card["torch"]
    figures = json.loads((out / "00_setup.json").read_text())
    assert figures["profile"] == "smoke"  # the lesson's own figures, beside its executed copy
    executed = json.loads((out / "00_setup.ipynb").read_text())
    assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code")
    assert "| 00_setup | smoke | ok |" in (out / "compute_cards.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["executed", "home"]  # nothing in the working directory


def test_run_with_an_unknown_lesson_exits_2_with_the_list_and_no_traceback(tmp_path, home):
    run = _genimg("run", "nosuch", "--out", str(tmp_path / "out"), cwd=tmp_path, home=home)
    assert run.returncode == 2
    assert "genimg run: error: unknown notebook 'nosuch'" in run.stderr and "00_setup" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


def test_student_writes_the_two_versions_from_the_command_line(tmp_path, home):
    run = _genimg("student", "00_setup.ipynb", "--out", str(tmp_path / "handout"), cwd=tmp_path, home=home)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "handout" / "student" / "00_setup.ipynb").exists()
    assert (tmp_path / "handout" / "instructor" / "00_setup.ipynb").exists()


def test_prefetch_and_site_are_listed_and_answer_help(capsys):
    from genimg_course.classroom.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert "prefetch" in listing and "site" in listing
    for command in ("prefetch", "site"):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0
        assert f"genimg {command}" in capsys.readouterr().out
