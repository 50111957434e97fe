"""Lesson 02's claims about mode collapse on the ring of 8 Gaussians, re-run over seeds.

Lesson 02 (section 5) says, of its toy GAN (MLP G and D, hidden 128, depth 3, batch 256, Adam
betas (0.5, 0.9), lr 1e-3, the non-saturating loss):

* a D that learns 10x slower than G (``lr_d = lr_g / 10``) collapses onto a few modes;
* balanced learning rates (``lr_d = lr_g``) cover the ring;
* more D steps per G step (``n_critic = 10``, for 0.8x the steps) bring back most of the slow D's modes;
* spectral normalisation on the same slow D does not: it still collapses;
* lowering both learning rates together (``lr_g = lr_d = 1e-4``) only slows training down: after
  the same number of steps G has not found the ring.

This script trains each setting for each seed exactly as the lesson's sweep does (``fit`` with
``GANTask``, data and codes seeded by the seed) and counts the modes that 2,000 samples cover
(``count_modes``: at least 1 % of the samples within 0.25 of a centre). It prints one table, with
whether each claim held for each seed, and writes ``gan_toy_claims.json`` to ``--out``.

    python benchmarks/gan_toy_claims.py --tiny                 # CPU smoke: 20 steps, one seed (seconds)
    python benchmarks/gan_toy_claims.py                        # seeds 1-3, 1,000 steps (800 with n_critic 10)
    python benchmarks/gan_toy_claims.py --seeds 1,2,3,4,5 --steps 2000
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genimg_course.data import PointBatches  # noqa: E402
from genimg_course.gan import GANTask, count_modes  # noqa: E402
from genimg_course.models import MLPDiscriminator, MLPGenerator  # noqa: E402
from genimg_course.sampling import generate  # noqa: E402
from genimg_course.train import fit, seed_everything  # noqa: E402

LR, BATCH, STD, NEAR, MODES = 1e-3, 256, 0.05, 0.25, 8

# name -> (what the lesson claims, the test of one run's mode count, GANTask settings, D settings, step factor)
SETTINGS = {
    "slow D (lr_d = lr_g / 10)": ("collapses: at most 2 modes", lambda m: m <= 2,
                                  dict(lr_g=LR, lr_d=LR / 10), dict(), 1.0),
    "balanced (lr_d = lr_g)": ("covers the ring: at least 7 modes", lambda m: m >= 7,
                               dict(lr_g=LR, lr_d=LR), dict(), 1.0),
    "slow D, n_critic = 10": ("more D steps bring back most modes: at least 5", lambda m: m >= 5,
                              dict(lr_g=LR, lr_d=LR / 10, n_critic=10), dict(), 0.8),
    "slow D, spectral norm": ("still collapses: at most 2 modes", lambda m: m <= 2,
                              dict(lr_g=LR, lr_d=LR / 10), dict(spectral_norm=True), 1.0),
    "both lr 1e-4": ("too slow to find the ring: at most 2 modes", lambda m: m <= 2,
                     dict(lr_g=1e-4, lr_d=1e-4), dict(), 1.0),
}


def run_one(setting: str, seed: int, steps: int, device: torch.device) -> dict:
    claim, holds, task_kw, d_kw, factor = SETTINGS[setting]
    steps = max(1, round(steps * factor))
    seed_everything(seed)  # as the lesson's new_pair(seed)
    G = MLPGenerator(latent_dim=8, hidden=128, depth=3).to(device)
    D = MLPDiscriminator(hidden=128, depth=3, **d_kw).to(device)
    task = GANTask(G, D, betas=(0.5, 0.9), **task_kw)
    t0 = time.perf_counter()
    fit(task, PointBatches(BATCH, device, std=STD, seed=seed), steps=steps, log_every=max(1, min(100, steps)),
        seed=seed, amp_dtype=None, progress=False)
    seconds = time.perf_counter() - t0
    data = PointBatches(BATCH, device, std=STD, seed=seed)
    modes, quality = count_modes(generate(G, 2000, seed=seed), data.centres.cpu(), NEAR)
    return dict(setting=setting, claim=claim, seed=seed, steps=steps, modes=modes, quality=round(quality, 3),
                holds=bool(holds(modes)), seconds=round(seconds, 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", "--smoke", dest="tiny", action="store_true",
                   help="a dry run: 20 steps, seed 1 (the claims are not expected to hold)")
    p.add_argument("--steps", type=int, default=1000, help="training steps per run (n_critic = 10 runs 0.8x as many)")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    p.add_argument("--only", default="", help="comma-separated substrings of the setting names to run")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds: expected comma-separated whole numbers, got {args.seeds!r}")
    if args.tiny:
        args.steps, seeds = 20, [1]
    if not seeds:
        p.error("--seeds: give at least one seed")
    if args.steps < 1:
        p.error(f"--steps: expected a whole number >= 1, got {args.steps}")
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    settings = [s for s in SETTINGS if not wanted or any(w in s for w in wanted)]
    if not settings:
        p.error(f"--only {args.only!r} matches none of the settings: {list(SETTINGS)}")
    torch.set_num_threads(1)  # networks this small run fastest on one thread
    device = torch.device("cpu")
    rows = []
    for setting in settings:
        for seed in seeds:
            rows.append(run_one(setting, seed, args.steps, device))
            r = rows[-1]
            print(f"  {setting}, seed {seed}: {r['modes']}/{MODES} modes after {r['steps']} steps ({r['seconds']} s)",
                  flush=True)
    width = max(len(s) for s in settings)
    print(f"\nmodes covered (of {MODES}) after {args.steps} steps (n_critic = 10: "
          f"{max(1, round(args.steps * 0.8))}), 2,000 samples, radius {NEAR}, >= 1 % per mode")
    print(f"{'setting':<{width}}  " + " ".join(f"s{s:<3}" for s in seeds) + "  claim (held in)")
    for setting in settings:
        mine = [r for r in rows if r["setting"] == setting]
        print(f"{setting:<{width}}  " + " ".join(f"{r['modes']:<4}" for r in mine)
              + f"  {SETTINGS[setting][0]} ({sum(r['holds'] for r in mine)}/{len(mine)})")
    args.out.mkdir(parents=True, exist_ok=True)
    info = dict(steps=args.steps, seeds=seeds, tiny=args.tiny, torch=torch.__version__, python=platform.python_version(),
                machine=platform.machine(), threads=torch.get_num_threads(), date=time.strftime("%Y-%m-%d"))
    path = args.out / "gan_toy_claims.json"
    path.write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
