"""benchmarks/gan_seeds.py runs end to end in its ``--smoke`` mode and writes what it promises.

The claims (DiffAugment at 10 % of the digits, spectral norm) are measured by the script's real run
(docs/benchmarks.md), never asserted here: five steps cannot make them hold.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gan_seeds.py"
ENV = dict(os.environ, MPLBACKEND="Agg", GENIMG_OFFLINE="1", OMP_NUM_THREADS="1")
NUMBERS = {"fid", "floor", "fid_over_floor", "kid", "kid_std", "precision", "recall", "floor_precision", "floor_recall",
           "train_distance_ratio", "near_copy_share", "sample_to_train", "heldout_to_train", "seconds", "s_per_step",
           "eval_seconds", "d_real_final", "d_fake_final"}


def _script():
    spec = importlib.util.spec_from_file_location("gan_seeds", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan_seeds")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return out, proc.stdout, json.loads((out / "gan_seeds.json").read_text())


def test_smoke_writes_one_row_per_run_with_every_number(smoke):
    _, _, result = smoke
    rows = result["rows"]
    cells = [(r["recipe"], r["fraction"], r["augment"]) for r in rows]
    assert cells == [("dcgan", 1.0, "none"), ("dcgan", 1.0, "color,translation,cutout"), ("dcgan", 0.1, "none"),
                     ("dcgan", 0.1, "color,translation,cutout"), ("dcgan+sn", 1.0, "none")]
    for r in rows:
        assert NUMBERS <= set(r), NUMBERS - set(r)
        assert all(isinstance(r[k], (int, float)) and math.isfinite(r[k]) for k in NUMBERS), r
        assert r["steps"] == 5 and r["n"] == 128 and r["seed"] == 0 and r["batch"] == 64
        assert r["train_images"] == (4000 if r["fraction"] == 1.0 else 400)
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and 0 <= r["near_copy_share"] <= 1
    assert len({r["floor"] for r in rows}) == 1  # every run is judged against the same held-out digits
    info = result["info"]
    assert info["smoke"] and info["runs"] == 5 and info["subset"]["images"] == 400 and info["subset"]["per_class"] == 40


def test_smoke_writes_the_cell_summary_the_ratios_and_the_figure(smoke):
    out, stdout, result = smoke
    assert len(result["cells"]) == 5
    for c in result["cells"]:
        assert c["fids"] and c["fid_mean"] == pytest.approx(sum(c["fids"]) / len(c["fids"]), abs=0.01)
        assert c["fid_std"] == 0.0  # one seed
    ratios = {r["ratio"]: r for r in result["ratios"]}
    assert set(ratios) == {"FID(10 %, no aug) / FID(10 %, DiffAugment)", "FID(100 %, no aug) / FID(100 %, DiffAugment)",
                           "FID(dcgan) / FID(dcgan+sn), 100 %, no aug"}
    by_cell = {c["cell"]: c for c in result["cells"]}
    r10 = ratios["FID(10 %, no aug) / FID(10 %, DiffAugment)"]
    assert r10["of_means"] == pytest.approx(by_cell["dcgan, 10% data, no aug"]["fid_mean"]
                                            / by_cell["dcgan, 10% data, DiffAugment"]["fid_mean"], rel=1e-3)
    assert list(r10["per_seed"]) == ["0"]  # JSON keys: the seeds as text
    png = (out / "gan_seeds.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "FID(10 %, no aug) / FID(10 %, DiffAugment)" in stdout and "dcgan+sn, 100% data, no aug" in stdout


def test_the_ten_percent_set_is_fixed_and_class_balanced():
    from genimg_course.data import load_mnist

    gs = _script()
    train = load_mnist("train", source="offline", verbose=False)
    a, b = gs.balanced_subset(train), gs.balanced_subset(train)
    assert len(a) == 400 and a.sha256 == b.sha256
    assert a.labels.bincount(minlength=10).tolist() == [40] * 10
    assert gs.balanced_subset(train, seed=1).sha256 != a.sha256


@pytest.mark.parametrize("argv, message", [(["--n", "50"], "--n"), (["--seeds", "a,b"], "--seeds"),
                                           (["--seeds", "0,0"], "--seeds"), (["--steps", "0"], "--steps"),
                                           (["--batch", "500"], "--batch")])
def test_bad_arguments_are_refused_before_any_training(argv, message, capsys):
    gs = _script()
    with pytest.raises(SystemExit) as e:
        gs.main(argv + ["--out", "/nonexistent/never-written"])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_resume_keeps_the_finished_runs_and_refuses_other_settings(smoke, tmp_path, capsys):
    import shutil

    out, _, result = smoke
    shutil.copy(out / "gan_seeds.json", tmp_path / "gan_seeds.json")
    gs = _script()
    assert gs.main(["--smoke", "--resume", "--out", str(tmp_path)]) == 0
    stdout = capsys.readouterr().out
    assert "5 finished runs kept" in stdout and "wall 0 s for 0 runs" in stdout
    again = json.loads((tmp_path / "gan_seeds.json").read_text())
    assert again["rows"] == result["rows"] and again["info"]["resumed_runs"] == 5
    assert (tmp_path / "gan_seeds.png").exists()
    with pytest.raises(SystemExit) as e:
        gs.main(["--resume", "--steps", "6", "--out", str(tmp_path)])
    assert e.value.code == 2 and "steps: 5 there, 6 here" in capsys.readouterr().err
