"""How the course's FID, KID and their real-vs-real floor move with n and with the sample seed (for lesson 11).

The protocol states every FID with its n and its floor at that n, because FID is biased upwards at small n and
the floor (two halves of the real test digits) is not zero. This script measures both on two shipped models of the
course, the DCGAN of lesson 03 and the flow-matching model of lesson 10 (Euler, 10 steps), on the offline test
digits: n in (128, 250, 500) samples against n held-out digits (``metrics.evaluate_samples``, reference split 0),
each with several sample seeds, so the spread from the seed alone sits beside the change with n.

    GENIMG_OFFLINE=1 python benchmarks/fid_vs_n.py --out /tmp/fidn          # about a minute on 2 CPU cores
    python benchmarks/fid_vs_n.py --smoke --out /tmp/fidn                    # seconds: n = 128, one seed, DCGAN only

Writes OUT/fid_vs_n.json (one row per model, n and seed) and OUT/fid_vs_n.png, and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genimg_course import diffusion as D  # noqa: E402
from genimg_course.data import load_mnist  # noqa: E402
from genimg_course.gan import load_pretrained  # noqa: E402
from genimg_course.metrics import evaluate_samples, load_judge  # noqa: E402
from genimg_course.sampling import generate, labels_for  # noqa: E402


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for fid_vs_n.json and fid_vs_n.png")
    ap.add_argument("--seeds", type=int, default=3, help="sample seeds per model and n (default 3)")
    ap.add_argument("--smoke", action="store_true", help="n = 128, one seed, the DCGAN only")
    a = ap.parse_args(argv)
    if a.seeds < 1:
        ap.error(f"--seeds: expected a whole number >= 1, got {a.seeds}")
    a.out.mkdir(parents=True, exist_ok=True)
    train, test = load_mnist("train", "offline", verbose=False), load_mnist("test", "offline", verbose=False)
    judge = load_judge("cpu")
    ns = (128,) if a.smoke else (128, 250, 500)
    seeds = range(1 if a.smoke else a.seeds)
    models = {"shipped DCGAN": load_pretrained("dcgan_mnist")}
    if not a.smoke:
        models["shipped flow, Euler-10"] = D.DiffusionSampler(D.load_diffusion("flow"), "euler", 10)
    rows = []
    for name, model in models.items():
        for seed in seeds:
            t0 = time.perf_counter()
            samples = generate(model, max(ns), y=labels_for(model, max(ns)), seed=seed)
            seconds = time.perf_counter() - t0
            for n in ns:
                ev = evaluate_samples(samples[:n], name, family="x", train=train, test=test, n=n, judge=judge)
                q = ev.quality
                rows.append({"model": name, "n": n, "seed": seed, "fid": round(q.fid, 2), "floor": round(q.floor, 2),
                             "ratio": round(q.ratio, 3), "kid": round(q.kid, 3), "kid_std": round(q.kid_std, 3),
                             "floor_kid": round(ev.floor_kid, 3), "precision": round(ev.precision, 3),
                             "recall": round(ev.recall, 3), "sample_seconds": round(seconds, 1)})
                r = rows[-1]
                print(f"{name:24s} n = {n:3d} seed {seed}: FID {r['fid']:6.1f} (floor {r['floor']:6.1f}, x{r['ratio']:.2f}), "
                      f"KID {r['kid']:7.2f} ± {r['kid_std']:.2f} (floor {r['floor_kid']:.2f}), P {r['precision']:.2f} "
                      f"R {r['recall']:.2f}", flush=True)
    (a.out / "fid_vs_n.json").write_text(json.dumps({"rows": rows, "torch": torch.__version__}, indent=1))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name in models:
        for seed in seeds:
            rr = [r for r in rows if r["model"] == name and r["seed"] == seed]
            ax.plot([r["n"] for r in rr], [r["fid"] for r in rr], "o-", alpha=0.7,
                    label=name if seed == 0 else None, color="C0" if "DCGAN" in name else "C1")
    floor = [r for r in rows if r["model"] == next(iter(models)) and r["seed"] == 0]
    ax.plot([r["n"] for r in floor], [r["floor"] for r in floor], "k--", label="real vs real (the floor)")
    ax.set(xscale="log", yscale="log", xlabel="n (samples, and held-out digits, per side)", ylabel="FID on the judge",
           title="FID and its floor against n; one line per sample seed")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out / "fid_vs_n.png", dpi=120)
    print(f"wrote {a.out / 'fid_vs_n.json'} and {a.out / 'fid_vs_n.png'}")
    return rows


if __name__ == "__main__":
    main()
