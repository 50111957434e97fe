"""Every benchmark script runs end to end in its ``--tiny`` CPU mode and writes what it promises.

Speed itself is measured by the scripts (see docs/benchmarks.md), never asserted here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg", GENIMG_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--tiny", "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def rows_ok(path: Path) -> list[dict]:
    rows = json.loads(path.read_text())["rows"]
    assert rows and all("error" not in r and r["img_per_s"] > 0 for r in rows), rows
    return rows


def test_bench_gan_times_both_ways_of_making_gs_fakes_and_counts_the_flops(tmp_path):
    run("bench_gan.py", tmp_path)
    result = json.loads((tmp_path / "gan_bench.json").read_text())
    rows = rows_ok(tmp_path / "gan_bench.json")
    assert [r["reuse_fakes"] for r in rows] == [True, False]
    info = result["info"]
    # reusing D's fakes saves one forward pass of G; no D weight gradients in G's update
    assert 0 < info["gflop_per_img_step"] < info["gflop_per_img_step_fresh_codes"]
    assert info["gflop_per_img_step"] < 2.44  # the reference's own count for its step (../shared/bench)
    assert (tmp_path / "gan_bench.png").stat().st_size > 1000


def _layers(module) -> list[tuple]:
    """(type, weight shape, has bias, stride) of every conv and norm layer, in order."""
    import torch.nn as nn
    return [(type(m).__name__, tuple(m.weight.shape), m.bias is not None, getattr(m, "stride", None))
            for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d))]


def test_bench_gan_times_exactly_the_reference_models():
    import importlib.util

    import torch
    spec = importlib.util.spec_from_file_location("bench_gan", ROOT / "benchmarks" / "bench_gan.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    G, D = bench.models(torch.device("cpu"))
    # pytorch/examples' DCGAN (nz 100, ngf = ndf 64, 64x64, 1 channel, no conv bias), as in ../shared/bench
    assert sum(p.numel() for p in G.parameters()) == 3_574_656
    assert sum(p.numel() for p in D.parameters()) == 2_763_520
    reference = next((p for p in (ROOT / ".bench_ref" / "examples_loop_reference.py",
                                  ROOT.parent / "shared" / "bench" / "examples_loop_reference.py") if p.exists()), None)
    if reference is None:
        return  # the counts above were taken from it
    G_ref, D_ref = bench.reference_models(reference)
    assert _layers(G) == _layers(G_ref)
    assert _layers(D) == _layers(D_ref)


def test_bench_vae_runs(tmp_path):
    run("bench_vae.py", tmp_path)
    assert list(tmp_path.glob("*.json"))


def test_bench_classifier_runs(tmp_path):
    run("bench_classifier.py", tmp_path, "--no-naive")
    assert list(tmp_path.glob("*.json"))


def test_gan_race_runs(tmp_path):
    run("gan_race.py", tmp_path)
    assert list(tmp_path.glob("*.json"))


def test_adam_beta1_dry_run_trains_the_toy_recipes_and_writes_its_table(tmp_path):
    proc = run("adam_beta1.py", tmp_path)
    result = json.loads((tmp_path / "adam_beta1.json").read_text())
    assert [(r["recipe"], r["beta1"]) for r in result["rows"]] == [("sn_hinge", 0.0), ("sn_hinge", 0.5)]
    assert all(0 <= r["modes"] <= 8 and 0 <= r["quality"] <= 1 and r["steps"] == 20 for r in result["rows"])
    assert "| sn_hinge | 0.5 |" in (tmp_path / "adam_beta1.md").read_text() and "| sn_hinge | 0.5 |" in proc.stdout


def test_adam_beta1_names_a_bad_setting(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "adam_beta1.py"), "--betas1", "0,1.5", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--betas1: expected numbers in [0, 1), got '0,1.5'" in proc.stderr


def test_gan_reuse_trains_both_ways_and_scores_them(tmp_path):
    run("gan_reuse.py", tmp_path)
    result = json.loads((tmp_path / "gan_reuse.json").read_text())
    assert [r["reuse_fakes"] for r in result["rows"]] == [True, False]
    assert all(len(r["fid_curve"]) == 2 and r["fid_final"] > 0 for r in result["rows"])
    assert (tmp_path / "gan_reuse.png").stat().st_size > 1000


def test_gan_reuse_names_a_bad_setting(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gan_reuse.py"), "--seeds", "a,b", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--seeds: expected comma-separated whole numbers, got 'a,b'" in proc.stderr


def test_step_traffic_counts_flops_bytes_and_ops_of_each_step(tmp_path):
    run("step_traffic.py", tmp_path)
    steps = json.loads((tmp_path / "step_traffic.json").read_text())["steps"]
    reuse, fresh = steps["course (reuses D's fakes, the default)"], steps["course (fresh codes)"]
    assert reuse["gflop_per_img"] == 2.237  # device-independent counts: exact
    assert reuse["gflop_per_img"] < fresh["gflop_per_img"] and reuse["mb_per_img"] < fresh["mb_per_img"]
    assert reuse["ops"] < fresh["ops"] and reuse["top"]
    reference = steps.get("reference resident loop")  # there when ../shared/bench or .bench_ref is
    if reference is not None:
        assert reference["gflop_per_img"] == 2.44  # what the reference prints for itself
        assert reuse["gflop_per_img"] < reference["gflop_per_img"]


def test_step_traffic_names_a_bad_setting(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_traffic.py"), "--reference", "nowhere.py",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "got 'nowhere.py' (no such file)" in proc.stderr


def test_gan_toy_claims_dry_run_trains_every_setting_and_writes_its_table(tmp_path):
    proc = run("gan_toy_claims.py", tmp_path)
    result = json.loads((tmp_path / "gan_toy_claims.json").read_text())
    assert result["info"]["tiny"] and result["info"]["seeds"] == [1]
    assert [r["setting"] for r in result["rows"]] == ["slow D (lr_d = lr_g / 10)", "balanced (lr_d = lr_g)",
                                                      "slow D, n_critic = 10", "slow D, spectral norm", "both lr 1e-4"]
    assert all(0 <= r["modes"] <= 8 and isinstance(r["holds"], bool) for r in result["rows"])
    assert "claim (held in)" in proc.stdout


def test_gan_toy_claims_names_a_bad_setting(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gan_toy_claims.py"), "--only", "nothing",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--only 'nothing' matches none of the settings" in proc.stderr
