"""benchmarks/bench_restore.py runs end to end in --smoke mode and writes its JSON (speed is never asserted)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_restore_smoke_writes_both_ways(tmp_path):
    env = dict(os.environ, GENIMG_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_restore.py"), "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "bench_restore.json").read_text())["rows"]
    assert {r["way"] for r in rows} == {"course", "plain"}
    assert all("error" not in r and r["img_per_s"] > 0 for r in rows), rows
