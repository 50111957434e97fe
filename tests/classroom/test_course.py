"""``genimg course DIR``: the course's files laid out as a folder of one's own, from a checkout or (tests/test_wheel.py)
an installed wheel; hash-checked, a learner's changed files kept; and where the tools find lessons and write when there
is no checkout."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from genimg_course.classroom import course, lessons, runner, site
from genimg_course.classroom.cli import main
from genimg_course.classroom.lessons import BadInput, BadType

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def test_from_the_checkout_it_writes_every_lesson_and_what_they_link_to(tmp_path: Path) -> None:
    said: list[str] = []
    report = course.copy_course(tmp_path / "mine", log=said.append)
    assert sorted(Path(r).name for r in report.lessons) == LESSONS
    assert sorted(p.name for p in (tmp_path / "mine" / "notebooks").glob("[0-9][0-9]*_*.ipynb")) == LESSONS
    for rel in ("docs/article.md", "docs/benchmarks.md", "tools/make_gan_weights.py", "notebooks/bands/05_vae.toml",
                "benchmarks/gpu_check.sh", "README.md"):
        assert (tmp_path / "mine" / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    assert not (tmp_path / "mine" / "notebooks" / "executed").exists()
    assert f"{len(LESSONS)} lessons" in said[0] and "from this checkout" in said[0]
    assert said[-1] == f"open it: jupyter lab {tmp_path / 'mine' / 'notebooks'}"


def test_a_changed_file_is_kept_unless_replace_which_saves_it_first(tmp_path: Path) -> None:
    course.copy_course(tmp_path, log=lambda s: None)
    mine = tmp_path / "notebooks" / "05_vae.ipynb"
    mine.write_text("my answers")
    said: list[str] = []
    again = course.copy_course(tmp_path, log=said.append)
    assert again.kept == ["notebooks/05_vae.ipynb"] and again.written == [] and mine.read_text() == "my answers"
    assert "kept 1 file(s) you had changed" in said[1] and "--replace" in said[1]
    replaced = course.copy_course(tmp_path, replace=True, log=lambda s: None)
    assert replaced.backed_up == ["notebooks/05_vae.ipynb"] and replaced.written == []
    assert mine.read_bytes() == (ROOT / "notebooks" / "05_vae.ipynb").read_bytes()
    assert (tmp_path / "notebooks" / "05_vae.ipynb.bak").read_text() == "my answers"


def test_a_newer_course_updates_the_files_the_learner_left_and_keeps_the_ones_they_changed(tmp_path: Path) -> None:
    course.copy_course(tmp_path, log=lambda s: None)
    record = json.loads((tmp_path / course.RECORD).read_text())
    assert sorted(record) == sorted(course.course_files()) and len(record) > 50
    # as if an older course had written these two: 01 left as written, 02 then edited by the learner
    old = {"notebooks/01_cnn_basics.ipynb": b"older 01", "notebooks/02_gan_basics.ipynb": b"older 02"}
    for rel, body in old.items():
        (tmp_path / rel).write_bytes(body)
        record[rel] = hashlib.sha256(body).hexdigest()
    (tmp_path / "notebooks" / "02_gan_basics.ipynb").write_bytes(b"older 02 with my answers")
    (tmp_path / course.RECORD).write_text(json.dumps(record))
    said: list[str] = []
    again = course.copy_course(tmp_path, log=said.append)
    assert again.updated == ["notebooks/01_cnn_basics.ipynb"] and again.kept == ["notebooks/02_gan_basics.ipynb"]
    assert (tmp_path / "notebooks" / "01_cnn_basics.ipynb").read_bytes() == \
        (ROOT / "notebooks" / "01_cnn_basics.ipynb").read_bytes()
    assert (tmp_path / "notebooks" / "02_gan_basics.ipynb").read_bytes() == b"older 02 with my answers"
    assert "1 updated" in said[0]


def test_bad_destinations_are_named_before_anything_is_written(tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(BadInput, match="is a file: expected a folder"):
        course.copy_course(afile)
    with pytest.raises(BadInput, match="where the course's files are read from"):
        course.copy_course(ROOT)
    with pytest.raises(BadType, match="expected a path"):
        course.copy_course(None)  # type: ignore[arg-type]
    with pytest.raises(BadType, match="replace: expected True or False"):
        course.copy_course(tmp_path / "x", replace="yes")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def _packaged(where: Path, damage: bool = False) -> Path:
    """A stand-in for an installed wheel's genimg_course/course/: two lessons, a doc and their manifest."""
    files = {"notebooks/00_setup.ipynb": b'{"cells": [], "nbformat": 4}', "docs/article.md": b"# the article\n",
             "notebooks/bands/00_setup.toml": b""}
    for rel, body in files.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_bytes(body + (b" " if damage and rel.startswith("docs") else b""))
    manifest = {rel: hashlib.sha256(body).hexdigest() for rel, body in files.items()}
    (where / course.MANIFEST).write_text(json.dumps(manifest))
    return where


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The package as if installed from the wheel: no checkout around it, its course files in PACKAGED."""
    packaged = _packaged(tmp_path / "site-packages" / "genimg_course" / "course")
    monkeypatch.setattr(lessons, "CHECKOUT", tmp_path / "site-packages")
    monkeypatch.setattr(lessons, "PACKAGED", packaged)
    monkeypatch.chdir(tmp_path)
    return packaged


def test_installed_the_tools_read_the_wheel_s_lessons_and_write_in_the_current_folder(installed: Path,
                                                                                      tmp_path: Path) -> None:
    assert not lessons.in_checkout()
    assert lessons.course_root() == installed and lessons.lessons_dir() == installed / "notebooks"
    assert [p.name for p in lessons.available_lessons()] == ["00_setup.ipynb"]
    assert lessons.work_dir() == tmp_path
    assert runner.default_out("smoke") == tmp_path / "executed" / "smoke"
    assert site.default_source() == tmp_path / "executed"
    said: list[str] = []
    report = course.copy_course(tmp_path / "mine", log=said.append)
    assert sorted(report.written) == ["docs/article.md", "notebooks/00_setup.ipynb", "notebooks/bands/00_setup.toml"]
    assert "1 lesson;" in said[0] and "from the installed package" in said[0]


def test_installed_a_damaged_file_is_named_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    packaged = _packaged(tmp_path / "pkg" / "course", damage=True)
    monkeypatch.setattr(lessons, "CHECKOUT", tmp_path / "pkg")
    monkeypatch.setattr(lessons, "PACKAGED", packaged)
    with pytest.raises(BadInput, match=r"docs/article.md does not match its SHA-256 .* reinstall"):
        course.copy_course(tmp_path / "mine")
    assert not (tmp_path / "mine").exists()


def test_without_checkout_or_wheel_files_it_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    monkeypatch.setattr(lessons, "CHECKOUT", tmp_path / "bare")
    monkeypatch.setattr(lessons, "PACKAGED", tmp_path / "bare" / "genimg_course" / "course")
    assert lessons.course_root() == tmp_path / "bare" and lessons.available_lessons() == []
    with pytest.raises(BadInput, match="no course files in .*expected a checkout"):
        course.copy_course(tmp_path / "mine")


def test_the_command_writes_the_folder_and_answers_help(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["course", str(tmp_path / "c"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "c" / "notebooks" / LESSONS[0]).is_file()
    (tmp_path / "f").write_text("x")
    assert main(["course", str(tmp_path / "f")]) == 2
    assert "genimg course: course folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["course", "--help"])
    assert e.value.code == 0 and "genimg course" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "course" in capsys.readouterr().out
