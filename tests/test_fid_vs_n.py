"""benchmarks/fid_vs_n.py in its --smoke mode: one row per model, n and seed, written as JSON beside a figure, each
with its floor at the same n; bad settings are refused before any work."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fid_vs_n  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_smoke_run_writes_rows_with_their_floor_and_a_figure(tmp_path):
    rows = fid_vs_n.main(["--smoke", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "fid_vs_n.json").read_text())["rows"]
    assert saved == rows and len(rows) == 1 and rows[0]["n"] == 128 and rows[0]["model"] == "shipped DCGAN"
    r = rows[0]
    assert r["floor"] > 0 and r["ratio"] == pytest.approx(r["fid"] / r["floor"], rel=1e-2)
    assert (tmp_path / "fid_vs_n.png").stat().st_size > 1000


def test_bad_settings_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        fid_vs_n.main(["--seeds", "0", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit):
        fid_vs_n.main([])
    err = capsys.readouterr().err
    assert "--seeds: expected a whole number" in err and "--out" in err
    assert not (tmp_path / "x").exists()
