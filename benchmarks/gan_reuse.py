"""Does reusing D's fakes for G's update cost quality? Lesson 03's DCGAN trained both ways.

``GANTask(reuse_fakes=True)`` (the default) lets G's update score the fakes D was just trained
on, as pytorch/examples' DCGAN does (Radford's Theano code alternates G and D minibatches with fresh noise; dcgan.torch reuses D's scores from before its update); ``reuse_fakes=False`` draws fresh codes
for G's update (Goodfellow et al.'s Algorithm 1) and runs G forward once more per step. This
trains lesson 03's DCGAN (latent 64, 28x28, Adam 5e-4 / (0.5, 0.999)) both ways for the same
number of steps, for several seeds, on the offline digits, and scores each at a few points of the
run by judge FID against held-out digits (beside the real-vs-real baseline at the same n).

    python benchmarks/gan_reuse.py --tiny                         # CPU smoke, ~15 s
    python benchmarks/gan_reuse.py --steps 6000 --seeds 0,1       # the CPU comparison in docs/benchmarks.md
    python benchmarks/gan_reuse.py --width 64 --batch 512 --steps 8000 --seeds 0,1,2   # lesson 03's gpu settings

Writes ``gan_reuse.json`` and ``gan_reuse.png`` (FID against steps, both ways) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from genimg_course.data import ResidentBatches, load_mnist
from genimg_course.gan import GANTask
from genimg_course.metrics import fid, load_judge, real_vs_real, reference_split
from genimg_course.models import DCGANDiscriminator, DCGANGenerator, dcgan_init
from genimg_course.sampling import generate
from genimg_course.train import fit, seed_everything


def train_and_score(train, test, judge, device: torch.device, reuse: bool, seed: int, steps: int, width: int,
                    batch: int, lr: float, n: int, points: int) -> dict:
    seed_everything(seed)
    G, D = DCGANGenerator(latent_dim=64, width=width).to(device), DCGANDiscriminator(width=width).to(device)
    dcgan_init(G), dcgan_init(D)
    task = GANTask(G, D, loss="nonsaturating", lr_g=lr, lr_d=lr, betas=(0.5, 0.999), reuse_fakes=reuse)
    batches = ResidentBatches(train, batch, device, seed=seed)
    curve, scoring = [], [0.0]

    def score(history) -> None:  # at each log: FID of G's samples now (its time is not training time)
        t0 = time.perf_counter()
        curve.append((history.steps[-1], round(fid(reference_split(test.images, n)[0], generate(G, n, seed=seed + 1), judge), 2)))
        scoring[0] += time.perf_counter() - t0
        print(f"  {'reuse' if reuse else 'fresh'} seed {seed}: step {curve[-1][0]}/{steps}, FID {curve[-1][1]:g}",
              flush=True)  # a long run shows where it is

    t0 = time.perf_counter()
    fit(task, batches, steps=steps, log_every=max(1, steps // points), seed=seed, callbacks=[score], progress=False)
    seconds = time.perf_counter() - t0 - scoring[0]
    return dict(reuse_fakes=reuse, seed=seed, steps=steps, train_seconds=round(seconds, 1),
                img_per_s=round(steps * batch / seconds, 1), fid_curve=curve, fid_final=curve[-1][1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="CPU smoke: 20 steps, width 8, n = 200")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--n", type=int, default=500, help="images per side in every FID")
    p.add_argument("--points", type=int, default=4, help="FID evaluations along each run")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args()
    if args.tiny:
        args.steps, args.width, args.n, args.points, args.seeds = 20, 8, 200, 2, "0"
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds: expected comma-separated whole numbers, got {args.seeds!r}")
    for name, value, low in (("--steps", args.steps, 1), ("--width", args.width, 1), ("--batch", args.batch, 1),
                             ("--points", args.points, 1), ("--n", args.n, 128)):
        if value < low:
            p.error(f"{name}: expected a whole number >= {low}{' (FID needs the judge feature count per side)' if name == '--n' else ''}, "
                f"got {value}")
    if not seeds or args.points > args.steps or args.n > 500 or not args.lr > 0:
        p.error(f"expected at least one seed, --points <= --steps, --n <= 500 (the offline test split has 1,000 "
                f"digits; real-vs-real needs 2n) and --lr > 0; got seeds={args.seeds!r}, points={args.points}, "
                f"steps={args.steps}, n={args.n}, lr={args.lr}")
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    info = dict(device=torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
                torch=torch.__version__, date=time.strftime("%Y-%m-%d"), steps=args.steps, width=args.width,
                batch=args.batch, lr=args.lr, n=args.n)
    train, test = load_mnist("train", "offline"), load_mnist("test", "offline")
    judge = load_judge(device)
    info["fid_real_vs_real"] = round(real_vs_real(test.images, args.n, judge, seed=0), 2)
    print(json.dumps(info), flush=True)
    rows = []
    for seed in seeds:
        for reuse in (True, False):
            row = train_and_score(train, test, judge, device, reuse, seed, args.steps, args.width, args.batch,
                                  args.lr, args.n, args.points)
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for reuse in (True, False):
        finals = [r["fid_final"] for r in rows if r["reuse_fakes"] == reuse]
        speed = [r["img_per_s"] for r in rows if r["reuse_fakes"] == reuse]
        summary["reuse" if reuse else "fresh"] = dict(fid_final_mean=round(sum(finals) / len(finals), 1),
                                                     fid_finals=finals, img_per_s_mean=round(sum(speed) / len(speed), 1))
    print(json.dumps(summary), flush=True)
    (args.out / "gan_reuse.json").write_text(json.dumps(dict(info=info, rows=rows, summary=summary), indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for r in rows:
            steps, fids = zip(*r["fid_curve"])
            ax.plot(steps, fids, "-" if r["reuse_fakes"] else "--", marker="osD^v"[r["seed"] % 5],
                    color="tab:blue" if r["reuse_fakes"] else "tab:orange",
                    label=f"{'reuse D fakes' if r['reuse_fakes'] else 'fresh codes'}, seed {r['seed']}")
        ax.axhline(info["fid_real_vs_real"], color="grey", lw=1, label="real vs real")
        ax.set(xlabel="training step", ylabel=f"judge FID (n = {args.n})", yscale="log",
               title=f"lesson 03 DCGAN (width {args.width}, batch {args.batch}) on {info['device']}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.out / "gan_reuse.png", dpi=120)
    except Exception as e:
        print("figure skipped:", e)


if __name__ == "__main__":
    main()
