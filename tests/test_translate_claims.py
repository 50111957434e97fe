"""benchmarks/translate_claims.py runs end to end in its ``--smoke`` mode and writes what it promises.

The claims themselves are measured by the script (its default budget), never asserted here: five
steps cannot make them hold.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "translate_claims.py"
ENV = dict(os.environ, MPLBACKEND="Agg", GENIMG_OFFLINE="1", OMP_NUM_THREADS="1")

PIX2PIX_KEYS = {"psnr", "judge_acc", "judge_acc_true", "judge_ratio", "edge_ratio", "fid", "fid_floor", "n", "steps",
                "seconds", "s_per_step"}
CYCLE_KEYS = {"keep_ab", "keep_ba", "judge_acc_a", "judge_acc_b", "cycle_psnr_a", "cycle_psnr_b", "fid_ab",
              "fid_ab_untranslated", "fid_b_floor", "fid_ba", "fid_ba_untranslated", "fid_a_floor", "n", "steps",
              "seconds", "s_per_step"}


def test_smoke_trains_all_four_runs_and_writes_finite_numbers(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    result = json.loads((tmp_path / "translate_claims.json").read_text())
    assert result["info"]["smoke"] and result["info"]["p2p_steps"] == result["info"]["cycle_steps"] == 5
    rows = {r["run"]: r for r in result["rows"]}
    assert list(rows) == ["cyclegan, cycle 10", "cyclegan, no cycle", "pix2pix, L1 only", "pix2pix, L1 + cGAN"]
    for name, r in rows.items():
        keys = PIX2PIX_KEYS if r["claim"] == "pix2pix" else CYCLE_KEYS
        assert keys <= set(r), (name, keys - set(r))
        assert all(isinstance(r[k], (int, float)) and math.isfinite(r[k]) for k in keys), r
        assert r["steps"] == 5 and r["seconds"] >= 0
    for r in rows.values():  # shares are shares, PSNRs in dB of [0, 1] images, FIDs at n per side are >= 0
        for k in ("judge_acc", "judge_acc_true", "keep_ab", "keep_ba", "judge_acc_a", "judge_acc_b"):
            assert k not in r or 0 <= r[k] <= 1, (k, r[k])
        assert all(r[k] >= 0 for k in r if k.startswith("fid"))
        assert r["n"] == 128
    p2p = rows["pix2pix, L1 only"]
    assert abs(p2p["judge_ratio"] - p2p["judge_acc"] / p2p["judge_acc_true"]) < 1e-3
    assert rows["pix2pix, L1 only"]["adversarial"] is False and rows["pix2pix, L1 + cGAN"]["adversarial"] is True
    assert [rows[n]["lam_cycle"] for n in ("cyclegan, cycle 10", "cyclegan, no cycle")] == [10.0, 0.0]
    # the real-vs-real floor does not depend on the run: the same held-out halves for both
    assert rows["pix2pix, L1 only"]["fid_floor"] == rows["pix2pix, L1 + cGAN"]["fid_floor"]
    assert {c["claim"] for c in result["claims"]} >= {"L1 alone wins PSNR", "the cGAN wins judge FID"}
    assert all(isinstance(c["held"], bool) for c in result["claims"])
    md = (tmp_path / "translate_claims.md").read_text()
    assert "| pix2pix, L1 + cGAN |" in md and "| cyclegan, no cycle |" in md and "| pix2pix, L1 only |" in proc.stdout


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("translate_claims", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args, message", [
    (["--only", "nothing"], "--only 'nothing' matches none of the runs"),
    (["--n", "50"], "--n: FID on the judge's 128 features needs 128 to 500 images per side"),
    (["--n-cycle", "300"], "--n-cycle: expected 128 to 179 images per side"),
    (["--p2p-steps", "0"], "--p2p-steps: expected a whole number >= 1, got 0"),
    (["--margin", "11"], "--margin: expected 0 to 10 pixels, got 11")])
def test_names_a_bad_setting_before_any_training(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        _script().main([*args, "--out", str(tmp_path)])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "translate_claims.json").exists()
