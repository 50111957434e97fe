"""benchmarks/bench_translate.py runs end to end in --smoke mode and writes its JSON (speed is never asserted)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_translate_smoke_writes_every_task(tmp_path):
    env = dict(os.environ, GENIMG_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_translate.py"), "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "bench_translate.json").read_text())
    rows = report["rows"]
    assert {r["task"] for r in rows} == {"pix2pix cGAN", "pix2pix L1", "cyclegan", "cyclegan nobuf"}
    assert all("error" not in r and r["img_per_s"] > 0 and r["steps"] > 0 for r in rows), rows
    assert report["info"]["device"].startswith("cpu")  # --smoke stays on the CPU


def test_bench_translate_only_matching_nothing_is_an_error(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_translate", ROOT / "benchmarks" / "bench_translate.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(SystemExit) as e:
        bench.main(["--smoke", "--only", "nosuch", "--out", str(tmp_path)])
    assert e.value.code == 2 and "matches none of the variants" in capsys.readouterr().err
    assert not (tmp_path / "bench_translate.json").exists()
