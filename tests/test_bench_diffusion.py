"""benchmarks/bench_diffusion.py runs end to end in --smoke mode and writes its JSON (speed is never asserted)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_diffusion", ROOT / "benchmarks" / "bench_diffusion.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_diffusion_smoke_times_every_way_and_sampler(tmp_path):
    env = dict(os.environ, GENIMG_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_diffusion.py"), "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "bench_diffusion.json").read_text())
    rows = report["rows"]
    assert all("error" not in r for r in rows), rows
    train = [r for r in rows if r["part"] == "train"]
    assert {r["what"] for r in train} == {"course", "plain", "plain noema"}
    assert all(r["img_per_s"] > 0 and r["steps"] > 0 for r in train), train
    assert all("x_plain" in r for r in train if r["what"] != "plain")
    sample = {(r["what"], r["guided"]): r for r in rows if r["part"] == "sample"}
    assert set(sample) == {(s, g) for s in ("ddpm", "ddim-50", "ddim-20", "euler-20", "heun-10") for g in (False, True)}
    assert all(r["samples_per_s"] > 0 and r["evals_per_s"] > 0 for r in sample.values())
    # the evaluations are counted by a hook on the network: one per step, twice that with guidance
    assert sample["ddpm", False]["evals_per_sample"] == sample["ddpm", False]["ddpm_T"] == 20
    assert sample["ddim-50", False]["evals_per_sample"] == 50
    assert sample["euler-20", False]["evals_per_sample"] == 20
    assert sample["heun-10", False]["evals_per_sample"] == 19  # the last step, to t = 0, is an Euler step
    assert all(r["evals_per_sample"] == r["evals_stated"] for r in sample.values()), sample  # counted = documented
    for (s, g), r in sample.items():
        if g:
            assert r["evals_per_sample"] == pytest.approx(2 * sample[s, False]["evals_per_sample"]), (s, r)
    assert report["info"]["device"].startswith("cpu")  # --smoke stays on the CPU


def test_bench_diffusion_only_matching_nothing_is_an_error(tmp_path, capsys):
    bench = _bench()
    with pytest.raises(SystemExit) as e:
        bench.main(["--smoke", "--only", "nosuch", "--out", str(tmp_path)])
    assert e.value.code == 2 and "matches none of the rows" in capsys.readouterr().err
    assert not (tmp_path / "bench_diffusion.json").exists()


def test_bench_diffusion_rows_per_device():
    import torch
    bench = _bench()
    cpu = [bench.name(v, 100) for v in bench.variants(torch.device("cpu"), smoke=False)]
    assert "train course bs64 fp32" in cpu and "train plain bs64 fp32" in cpu and "sample ddpm-100 cfg bs64 fp32" in cpu
    gpu = bench.variants(torch.device("cuda"), smoke=False)  # only listed, nothing runs
    assert {v["batch"] for v in gpu} == {64, 256, 1024}
    assert all(v["amp"] and v["channels_last"] for v in gpu if v["part"] == "sample")
