"""Adam's beta1 on lesson 04's 2-D toy race: does beta1 = 0 (WGAN-GP's choice) matter against lesson 02's 0.5?

Lesson 04 races three recipes on the ring of 8 Gaussians (std 0.05, radius 2) with the MLPs of
lesson 02 and one optimiser for all, Adam lr 1e-3, betas (0, 0.9). This script trains each recipe
asked for, for a fixed number of G steps (not seconds: the step count must not depend on the
machine), with several values of beta1 (beta2 fixed) and several seeds, and counts what the lesson
counts: modes covered (a centre that receives at least 1 % of 2,000 samples within 5 std) and
quality (the share of the samples within 5 std of some centre; real data scores 1.00).

    python benchmarks/adam_beta1.py --tiny --out /tmp/beta1        # dry run: seconds, proves it works
    python benchmarks/adam_beta1.py                                # the table lesson 04 cites (~5 min on 1 core)
    python benchmarks/adam_beta1.py --recipes sn_hinge --betas1 0,0.3,0.5 --seeds 0,1,2,3,4

Prints a table (mean modes and quality over the seeds, and each seed's modes) and writes
``adam_beta1.json`` (every run) and ``adam_beta1.md`` (the table) to ``--out``
(default ``benchmarks/results``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genimg_course.data import PointBatches, ring_centres  # noqa: E402
from genimg_course.gan import GANTask, count_modes  # noqa: E402
from genimg_course.models import MLPDiscriminator, MLPGenerator  # noqa: E402
from genimg_course.sampling import generate  # noqa: E402
from genimg_course.train import fit, seed_everything  # noqa: E402

RECIPES = {  # name -> (loss, spectral norm in D, D steps per G step): lesson 04's TOY_RECIPES
    "nonsaturating": ("nonsaturating", False, 1),
    "wgan_gp": ("wgan-gp", False, 5),
    "sn_hinge": ("hinge", True, 1),
}


def run_one(recipe: str, beta1: float, beta2: float, seed: int, steps: int, lr: float, gp_weight: float) -> dict:
    loss, sn, n_critic = RECIPES[recipe]
    device = torch.device("cpu")
    seed_everything(seed)
    G, D = MLPGenerator().to(device), MLPDiscriminator(spectral_norm=sn).to(device)
    task = GANTask(G, D, loss=loss, lr_g=lr, lr_d=lr, betas=(beta1, beta2), n_critic=n_critic, gp_weight=gp_weight)
    data = PointBatches(256, device, seed=seed)
    t0 = time.perf_counter()
    fit(task, data, steps=steps, log_every=max(1, steps), seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    centres, radius = ring_centres(8, 2.0), 5 * data.std  # as in the lesson
    modes, quality = count_modes(generate(G, 2000, seed=seed + 1), centres, radius)
    return dict(recipe=recipe, beta1=beta1, beta2=beta2, seed=seed, steps=steps, modes=int(modes),
                quality=round(float(quality), 4), seconds=round(seconds, 1))


def table(rows: list[dict]) -> str:
    keys = sorted({(r["recipe"], r["beta1"]) for r in rows}, key=lambda k: (list(RECIPES).index(k[0]), k[1]))
    lines = ["| recipe | beta1 | mean modes (of 8) | mean quality | modes per seed | G steps |",
             "|---|---:|---:|---:|---|---:|"]
    for recipe, beta1 in keys:
        rs = [r for r in rows if r["recipe"] == recipe and r["beta1"] == beta1]
        lines.append(f"| {recipe} | {beta1:g} | {sum(r['modes'] for r in rs) / len(rs):.1f} | "
                     f"{sum(r['quality'] for r in rs) / len(rs):.2f} | {', '.join(str(r['modes']) for r in rs)} | "
                     f"{rs[0]['steps']} |")
    return "\n".join(lines)


def _floats(text: str, what: str, parser: argparse.ArgumentParser, low: float, high: float) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        parser.error(f"{what}: expected comma-separated numbers, got {text!r}")
    if not values or not all(low <= v < high for v in values):
        parser.error(f"{what}: expected numbers in [{low:g}, {high:g}), got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="dry run: 20 G steps, one seed, SN + hinge, beta1 0 and 0.5")
    p.add_argument("--steps", type=int, default=1500, help="G steps per run (default 1500)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--betas1", default="0,0.5,0.9", help="comma-separated values of Adam's beta1 (default 0,0.5,0.9)")
    p.add_argument("--beta2", type=float, default=0.9, help="Adam's beta2, the same for every run (default 0.9, the lesson's)")
    p.add_argument("--recipes", default="nonsaturating,sn_hinge", help=f"comma-separated, of {', '.join(RECIPES)}")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's lr for G and D (default 1e-3, the lesson's)")
    p.add_argument("--gp-weight", type=float, default=0.1, help="WGAN-GP's lambda (default 0.1, the lesson's toy value)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    if args.tiny:
        args.steps, args.seeds, args.betas1, args.recipes = 20, "0", "0,0.5", "sn_hinge"
    if args.steps < 1:
        p.error(f"--steps: expected a whole number >= 1, got {args.steps}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds: expected comma-separated whole numbers, got {args.seeds!r}")
    if not seeds:
        p.error("--seeds: expected at least one seed")
    betas1 = _floats(args.betas1, "--betas1", p, 0.0, 1.0)
    if not 0 <= args.beta2 < 1:
        p.error(f"--beta2: expected a number in [0, 1), got {args.beta2}")
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown or not recipes:
        p.error(f"--recipes: expected names among {', '.join(RECIPES)}, got {args.recipes!r}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out: {args.out} is a file, not a folder")

    torch.set_num_threads(1)  # networks this small run fastest on one thread (as in the lesson)
    rows = []
    for recipe in recipes:
        for beta1 in betas1:
            for seed in seeds:
                rows.append(run_one(recipe, beta1, args.beta2, seed, args.steps, args.lr, args.gp_weight))
                r = rows[-1]
                print(f"{recipe:14s} beta1 {beta1:<4g} seed {seed}: {r['modes']}/8 modes, quality {r['quality']:.2f} "
                      f"({r['seconds']:.1f} s)", flush=True)
    text = table(rows)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    info = dict(script="benchmarks/adam_beta1.py", argv=sys.argv[1:] if argv is None else argv, steps=args.steps,
                beta2=args.beta2, lr=args.lr, gp_weight=args.gp_weight, torch=torch.__version__,
                machine=f"{platform.machine()} {platform.processor() or ''}".strip(), threads=1,
                date=time.strftime("%Y-%m-%d"))
    (args.out / "adam_beta1.json").write_text(json.dumps(dict(info=info, rows=rows), indent=1) + "\n")
    header = (f"# Adam's beta1 on lesson 04's 2-D toy\n\n`python benchmarks/adam_beta1.py "
              f"{' '.join(info['argv'])}`, {info['date']}, torch {info['torch']}, one CPU thread: {args.steps} G steps "
              f"per run, Adam lr {args.lr:g}, beta2 {args.beta2:g}; modes covered of 8 and quality as in the lesson.\n\n")
    (args.out / "adam_beta1.md").write_text(header + text + "\n")
    print(f"\nwrote {args.out / 'adam_beta1.json'} and {args.out / 'adam_beta1.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
