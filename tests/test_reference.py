"""The shipped reference runs and the "your run vs the reference run" table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from genimg_course import reference
from genimg_course.figures import Figures

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def test_every_shipped_reference_names_a_lesson_machine_date_and_commit() -> None:
    files = sorted(reference.REFERENCE_DIR.glob("*.json"))
    assert files, "no reference runs shipped"
    for path in files:
        assert path.stem in LESSONS, f"{path.name}: no lesson notebook of that name"
        data = json.loads(path.read_text())
        assert data["lesson"] == path.stem
        for profile, run in data["runs"].items():
            assert profile in ("smoke", "cpu", "gpu"), (path.name, profile)
            for key in ("machine", "date", "commit", "figures"):
                assert run.get(key), f"{path.name} [{profile}] lacks {key!r}"
            assert run["figures"].get("profile") == profile, f"{path.name}: a {run['figures'].get('profile')} run filed under {profile}"


def test_versus_reference_prints_both_columns_and_a_dash_for_what_is_missing(tmp_path, capsys) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "07_demo.json").write_text(json.dumps({"lesson": "07_demo", "runs": {"cpu": {
        "machine": "a laptop", "date": "2026-12-01", "commit": "abcdef0123", "figures": {"fid": 61.234, "acc": 0.9}}}}))
    figs = Figures("07_demo", folder=tmp_path)
    figs.record("fid", 70.0)
    rows = reference.versus_reference(figs, ["fid", "acc"], folder=tmp_path / "ref")
    out = capsys.readouterr().out
    assert rows == [("fid", 70.0, {"cpu": 61.234}), ("acc", None, {"cpu": 0.9})]
    assert "reference cpu" in out and "61.2" in out and "70" in out and "–" in out
    assert "a laptop, 2026-12-01, commit abcdef0" in out


def test_versus_reference_without_a_shipped_run_says_so(tmp_path, capsys) -> None:
    figs = Figures("08_demo", folder=tmp_path / "figs")
    assert reference.versus_reference(figs, ["x"], folder=tmp_path)[0][2] == {}
    assert "no reference run shipped for 08_demo" in capsys.readouterr().out


@pytest.mark.parametrize("bad, kind, words", [
    ("fid", TypeError, "single string"), ([], ValueError, "non-empty list"), ([3], ValueError, "non-empty list")])
def test_versus_reference_names_bad_figure_lists(tmp_path, bad, kind, words) -> None:
    figs = Figures("08_demo", folder=tmp_path)
    with pytest.raises(kind, match=words):
        reference.versus_reference(figs, bad, folder=tmp_path)


def test_versus_reference_refuses_what_is_not_figures(tmp_path) -> None:
    with pytest.raises(TypeError, match="expects the lesson's Figures"):
        reference.versus_reference([1, 2], ["x"], folder=tmp_path)


def test_make_reference_files_a_finished_run_under_its_profile(tmp_path) -> None:
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_reference", ROOT / "tools" / "make_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    run = tmp_path / "run"
    run.mkdir()
    (run / "03_x.card.json").write_text(json.dumps({"status": "ok", "torch": "2.14.1", "wall_s": 12.5}))
    (run / "03_x.json").write_text(json.dumps({"lesson": "03_x", "profile": "cpu", "started": "2026-12-01 10:00:00",
                                               "elapsed_s": 3, "peak_ram_gib": 1, "fid": 50.0}))
    (run / "04_y.card.json").write_text(json.dumps({"status": "failed"}))
    assert mod.main([str(run), "--machine", "m", "--commit", "c0ffee", "--out", str(tmp_path / "ref")]) == 0
    data = json.loads((tmp_path / "ref" / "03_x.json").read_text())
    assert data["runs"]["cpu"]["figures"] == {"profile": "cpu", "fid": 50.0}
    assert data["runs"]["cpu"]["date"] == "2026-12-01" and data["runs"]["cpu"]["commit"] == "c0ffee"
    assert not (tmp_path / "ref" / "04_y.json").exists()
