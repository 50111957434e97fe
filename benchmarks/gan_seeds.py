"""Lesson 11's data and stability claims, measured over seeds: DiffAugment at 10 % and 100 % of the digits,
and spectral norm in D, for lesson 03's DCGAN.

The recipe is lesson 03's (and ``tools/make_gan_weights.py``'s): ``DCGANGenerator(latent_dim=64, width=32)``
against ``DCGANDiscriminator(width=32)``, ``dcgan_init``, the non-saturating loss, Adam lr 5e-4 for both with
betas (0.5, 0.999), ``reuse_fakes=True``, batch 64, ``ResidentBatches`` on the offline training digits
(``load_mnist("train", source="offline")``: 4,000 images). Two axes, each run a fixed number of steps:

- **data**: fraction {1.0, 0.1} x augment {none, ``"color,translation,cutout"``} (``GANTask(augment=...)``,
  :func:`genimg_course.gan.diff_augment` on real and fake images before every call of D, in both updates).
  The 10 % set is fixed for every run and seed: 40 digits of each class, the first 40 of that class in
  a seed-0 permutation of the training split (:func:`balanced_subset`; 400 digits, its SHA-256 is in the JSON).
- **stability**: recipe {``dcgan``, ``dcgan+sn``} at full data without augmentation. ``dcgan+sn`` changes D
  alone, as lesson 04 builds its SN discriminator: ``DCGANDiscriminator(width=32, norm="none",
  spectral_norm=True)``, same loss, learning rate and steps. The plain ``dcgan`` runs are the data grid's
  (full data, no augmentation), not trained twice.

Every run is scored by the course's protocol, ``metrics.evaluate_generator(G, ..., n=500)``: FID, KID ± std,
precision and recall against 500 held-out *test* digits (reference split 0), the real-vs-real floor at the
same n, and memorisation against the digits that run *trained on* (the 400 for the 10 % runs). Samples are
drawn with seed 0 for every run.

    python benchmarks/gan_seeds.py --smoke --out /tmp/gs                   # 5 steps, n = 128: a dry run (< 20 s)
    python benchmarks/gan_seeds.py --steps 4000 --seeds 0,1,2 --jobs 2     # the run in docs/benchmarks.md

Writes ``gan_seeds.json`` (``info``, ``rows``: one per run; ``cells``: mean and std of FID per cell;
``ratios``: FID(no aug) / FID(aug) at 10 % and at 100 %, and FID(dcgan) / FID(dcgan+sn), as a ratio of
the cell means and per seed) after every finished run, and ``gan_seeds.png`` (FID per cell, one dot per
seed, mean ± std) at the end, to ``--out``; prints the table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genimg_course.data import ImageSet, ResidentBatches, load_mnist  # noqa: E402
from genimg_course.gan import GANTask  # noqa: E402
from genimg_course.metrics import evaluate_generator, load_judge  # noqa: E402
from genimg_course.models import DCGANDiscriminator, DCGANGenerator, dcgan_init  # noqa: E402
from genimg_course.train import fit, seed_everything  # noqa: E402

POLICY = "color,translation,cutout"
PER_CLASS = 40  # 10 % of the 4,000 offline training digits, balanced: 40 of each of the 10 classes
RECIPES = {  # name -> D's normalisation, spectral norm in D
    "dcgan": dict(norm="batch", spectral_norm=False),
    "dcgan+sn": dict(norm="none", spectral_norm=True),
}


SAME_SETTINGS = ("steps", "batch", "width", "latent_dim", "lr", "betas", "loss", "n", "policy", "device", "smoke", "subset")


def _key(run: dict[str, Any]) -> tuple[str, float, str, int]:
    """What tells the runs apart: recipe, data fraction, augmentation, seed (of a config or of a row)."""
    return run["recipe"], run["fraction"], run["augment"] or "none", run["seed"]


def balanced_subset(train: ImageSet, per_class: int = PER_CLASS, seed: int = 0) -> ImageSet:
    """``per_class`` digits of each class: the first of that class in a ``seed`` permutation of ``train``
    (the same set for every run), kept in the training set's order."""
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    picked = []
    for c in range(len(train.classes)):
        of_class = perm[train.labels[perm] == c]
        if len(of_class) < per_class:
            raise ValueError(f"class {c} has {len(of_class)} training digits, fewer than the {per_class} asked for")
        picked.append(of_class[:per_class])
    idx = torch.cat(picked).sort().values
    return ImageSet(train.images[idx], train.labels[idx], train.classes, train.name,
                    f"{train.source} (class-balanced subset: {per_class} per class, seed {seed})")


def cell_name(recipe: str, fraction: float, augment: str | None) -> str:
    return f"{recipe}, {fraction:.0%} data, {'DiffAugment' if augment else 'no aug'}"


def run_one(cfg: dict[str, Any]) -> dict[str, Any]:
    """Train one GAN and score it (a worker process calls this too: everything comes in ``cfg``)."""
    torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    train, test = load_mnist("train", source="offline", verbose=False), load_mnist("test", source="offline", verbose=False)
    data = train if cfg["fraction"] == 1.0 else balanced_subset(train)
    seed, recipe = cfg["seed"], RECIPES[cfg["recipe"]]
    seed_everything(seed)
    G = DCGANGenerator(latent_dim=64, width=cfg["width"]).to(device)
    D = DCGANDiscriminator(width=cfg["width"], **recipe).to(device)
    dcgan_init(G), dcgan_init(D)
    task = GANTask(G, D, loss="nonsaturating", lr_g=cfg["lr"], lr_d=cfg["lr"], betas=(0.5, 0.999),
                   augment=cfg["augment"])
    history = fit(task, ResidentBatches(data, cfg["batch"], device, seed=seed), steps=cfg["steps"],
                  log_every=max(1, min(100, cfg["steps"])), seed=seed, progress=False)
    t0 = time.perf_counter()
    torch.manual_seed(0)  # the same global RNG state before every scoring, whatever the metrics draw from it
    ev = evaluate_generator(G, cell_name(cfg["recipe"], cfg["fraction"], cfg["augment"]), family="gan", train=data,
                            test=test, n=cfg["n"], judge=load_judge(device), seed=0, train_seconds=history.seconds)
    q, m = ev.quality, ev.memorisation
    row = dict(cell=q.model, recipe=cfg["recipe"], fraction=cfg["fraction"], train_images=len(data),
               augment=cfg["augment"] or "none", seed=seed, steps=history.steps[-1], batch=cfg["batch"],
               seconds=round(history.seconds, 1), s_per_step=round(history.seconds / history.steps[-1], 4),
               eval_seconds=round(time.perf_counter() - t0, 1), n=q.n, fid=round(q.fid, 2), floor=round(q.floor, 2),
               fid_over_floor=round(q.ratio, 3), kid=round(q.kid, 4), kid_std=round(q.kid_std, 4),
               precision=round(ev.precision, 4), recall=round(ev.recall, 4),
               floor_precision=round(ev.floor_precision, 4), floor_recall=round(ev.floor_recall, 4),
               train_distance_ratio=round(m["ratio"], 4), near_copy_share=round(m["near_copy_share"], 4),
               sample_to_train=round(m["sample_to_train"], 3), heldout_to_train=round(m["heldout_to_train"], 3),
               d_real_final=round(history.last("d_real"), 4), d_fake_final=round(history.last("d_fake"), 4))
    return row


def _spread(values: list[float]) -> dict[str, Any]:
    return dict(mean=round(statistics.fmean(values), 2),
                std=round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
                min=round(min(values), 2), max=round(max(values), 2))


def summarise(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Mean and std of FID per cell; the ratios the claims are about, of the means and per seed."""
    cells: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault(r["cell"], []).append(r)
    cell_rows = []
    for name, rs in cells.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        fids = [r["fid"] for r in rs]
        s = _spread(fids)
        cell_rows.append(dict(cell=name, recipe=rs[0]["recipe"], fraction=rs[0]["fraction"], augment=rs[0]["augment"],
                              seeds=[r["seed"] for r in rs], fids=fids, fid_mean=s["mean"], fid_std=s["std"],
                              fid_min=s["min"], fid_max=s["max"],
                              precision_mean=round(statistics.fmean(r["precision"] for r in rs), 3),
                              recall_mean=round(statistics.fmean(r["recall"] for r in rs), 3),
                              near_copy_share_mean=round(statistics.fmean(r["near_copy_share"] for r in rs), 4),
                              train_distance_ratio_mean=round(statistics.fmean(r["train_distance_ratio"] for r in rs), 3)))
    by_cell = {c["cell"]: c for c in cell_rows}
    ratios = []
    for what, num, den in [
            ("FID(10 %, no aug) / FID(10 %, DiffAugment)", cell_name("dcgan", 0.1, None), cell_name("dcgan", 0.1, POLICY)),
            ("FID(100 %, no aug) / FID(100 %, DiffAugment)", cell_name("dcgan", 1.0, None), cell_name("dcgan", 1.0, POLICY)),
            ("FID(dcgan) / FID(dcgan+sn), 100 %, no aug", cell_name("dcgan", 1.0, None), cell_name("dcgan+sn", 1.0, None))]:
        if num not in by_cell or den not in by_cell:
            continue
        a, b = by_cell[num], by_cell[den]
        per_seed = {s: round(fa / fb, 3) for s, fa in zip(a["seeds"], a["fids"])
                    for t, fb in zip(b["seeds"], b["fids"]) if s == t}
        r = dict(ratio=what, of_means=round(a["fid_mean"] / b["fid_mean"], 3), per_seed=per_seed)
        if per_seed:
            r.update({f"per_seed_{k}": v for k, v in _spread(list(per_seed.values())).items()})
        ratios.append(r)
    return cell_rows, ratios


def table(rows: list[dict[str, Any]], cells: list[dict[str, Any]], ratios: list[dict[str, Any]]) -> str:
    head = (f"{'cell':34s} {'seeds':>6s} {'FID per seed':>24s} {'mean ± std':>15s} {'× floor':>7s} {'prec':>5s} "
            f"{'recall':>6s} {'near copies':>11s} {'train/test dist':>15s}")
    floor = rows[0]["floor"]
    lines = [head]
    for c in cells:
        lines.append(f"{c['cell']:34s} {len(c['seeds']):6d} {' / '.join(f'{f:.1f}' for f in c['fids']):>24s} "
                     f"{c['fid_mean']:7.1f} ± {c['fid_std']:<5.1f} {c['fid_mean'] / floor:7.2f} "
                     f"{c['precision_mean']:5.2f} {c['recall_mean']:6.2f} {c['near_copy_share_mean']:11.1%} "
                     f"{c['train_distance_ratio_mean']:15.2f}")
    lines.append(f"floor (real vs real, n = {rows[0]['n']}): {floor:.1f}")
    for r in ratios:
        seeds = ", ".join(f"seed {s}: {v:.2f}" for s, v in r["per_seed"].items())
        extra = f"; per seed mean {r['per_seed_mean']:.2f} ± {r['per_seed_std']:.2f} ({seeds})" if r["per_seed"] else ""
        lines.append(f"{r['ratio']}: {r['of_means']:.2f} (of the means){extra}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], cells: list[dict[str, Any]], info: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    order = [cell_name("dcgan", 1.0, None), cell_name("dcgan", 1.0, POLICY), cell_name("dcgan", 0.1, None),
             cell_name("dcgan", 0.1, POLICY), cell_name("dcgan+sn", 1.0, None)]
    shown = [c for name in order for c in cells if c["cell"] == name]
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, c in enumerate(shown):
        colour = "tab:orange" if c["augment"] != "none" else ("tab:green" if c["recipe"] == "dcgan+sn" else "tab:blue")
        ax.errorbar([i], [c["fid_mean"]], yerr=[c["fid_std"]], fmt="_", ms=24, capsize=8, color=colour, lw=1.5)
        ax.scatter([i + 0.12 * (k - (len(c["fids"]) - 1) / 2) for k in range(len(c["fids"]))], c["fids"], color=colour,
                   s=18, zorder=3)
    ax.axhline(rows[0]["floor"], color="grey", lw=1, ls="--", label=f"real vs real ({rows[0]['floor']:.1f})")
    labels = [c["cell"].replace(", ", "\n", 1) for c in shown]
    ax.set_xticks(range(len(shown)), labels, fontsize=8)
    ax.set(ylabel=f"judge FID (n = {info['n']}, test digits)", xlim=(-0.5, len(shown) - 0.5),
           title=f"lesson 03 DCGAN, {info['steps']} steps of batch {info['batch']}; dots: seeds, bar: mean ± std")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4000, help="training steps per run (fixed, never a time budget)")
    p.add_argument("--seeds", default="0,1,2", help="seeds of the data grid (fraction x augment), comma-separated")
    p.add_argument("--sn-seeds", default=None, help="seeds of the dcgan+sn runs at full data (default: --seeds; '' for none)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once, each in its own process")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (torch.set_num_threads)")
    p.add_argument("--n", type=int, default=500, help="images per side in the protocol (at most 500: 1,000 test digits)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--smoke", action="store_true", help="a dry run: 5 steps, n = 128, seed 0 (< 20 s)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gan_seeds")
    p.add_argument("--resume", action="store_true", help="keep the finished runs of an earlier call's gan_seeds.json in "
                   "--out (same settings), train only the missing ones")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.n, args.seeds, args.sn_seeds = 5, 128, "0", "0"
    seeds, sn_seeds = [], []
    for flag, text, into in (("--seeds", args.seeds, seeds), ("--sn-seeds", args.seeds if args.sn_seeds is None
                                                               else args.sn_seeds, sn_seeds)):
        try:
            into.extend(int(s) for s in text.split(",") if s.strip())
        except ValueError:
            p.error(f"{flag}: expected comma-separated whole numbers such as 0,1,2, got {text!r}")
        if len(set(into)) != len(into):
            p.error(f"{flag}: each seed at most once, got {text!r}")
    if not seeds:
        p.error("--seeds: expected at least one seed for the data grid, got none")
    for flag, value in (("--steps", args.steps), ("--jobs", args.jobs), ("--threads", args.threads),
                        ("--batch", args.batch), ("--width", args.width)):
        if value < 1:
            p.error(f"{flag}: expected a whole number >= 1, got {value}")
    if not 128 <= args.n <= 500:
        p.error(f"--n: expected 128 to 500 images per side (FID needs at least the judge's 128 features; the floor "
                f"needs 2n of the 1,000 test digits), got {args.n}")
    if args.batch > PER_CLASS * 10:
        p.error(f"--batch: at most {PER_CLASS * 10} (the 10 % set's size), got {args.batch}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        p.error(f"--lr: expected a positive learning rate, got {args.lr}")
    torch.set_num_threads(args.threads)

    base = dict(steps=args.steps, batch=args.batch, width=args.width, lr=args.lr, n=args.n, threads=args.threads,
                device=args.device)
    configs = [dict(base, recipe="dcgan", fraction=fraction, augment=augment, seed=seed)
               for seed in seeds for fraction in (1.0, 0.1) for augment in (None, POLICY)]
    configs += [dict(base, recipe="dcgan+sn", fraction=1.0, augment=None, seed=seed) for seed in sn_seeds]
    subset = balanced_subset(load_mnist("train", source="offline", verbose=False))
    info = dict(date=time.strftime("%Y-%m-%d %H:%M"), machine=f"{platform.machine()}, {os.cpu_count()} cores",
                device=args.device, torch=torch.__version__, steps=args.steps, batch=args.batch, width=args.width,
                latent_dim=64, lr=args.lr, betas=[0.5, 0.999], loss="nonsaturating", n=args.n, threads=args.threads,
                jobs=args.jobs, smoke=args.smoke, policy=POLICY, seeds=seeds, sn_seeds=sn_seeds, runs=len(configs),
                subset=dict(images=len(subset), per_class=PER_CLASS, seed=0, sha256=subset.sha256),
                command="python benchmarks/gan_seeds.py " + " ".join(sys.argv[1:] if argv is None else argv))
    order = {_key(c): i for i, c in enumerate(configs)}
    rows: list[dict[str, Any]] = []
    earlier = args.out / "gan_seeds.json"
    if args.resume and earlier.exists():  # runs are deterministic given their settings: a finished one is reused
        old = json.loads(earlier.read_text())
        before = old["info"]
        differ = [f"{k}: {before.get(k)!r} there, {info[k]!r} here" for k in SAME_SETTINGS if before.get(k) != info[k]]
        if differ:
            p.error(f"--resume: {earlier} was made with other settings ({'; '.join(differ)}): resume with those, or "
                    "write to another --out")
        rows = [r for r in old["rows"] if _key(r) in order]
        info["resumed_runs"] = len(rows)
        info["earlier_wall_seconds"] = before.get("wall_seconds", 0.0) + before.get("earlier_wall_seconds", 0.0)
    finished = {_key(r) for r in rows}
    todo = [c for c in configs if _key(c) not in finished]
    args.out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(info), flush=True)
    if rows:
        print(f"{len(rows)} finished runs kept from {earlier}, {len(todo)} to train", flush=True)
    t0 = time.perf_counter()

    def done(row: dict[str, Any]) -> None:
        rows.append(row)
        print(f"[{len(rows)}/{len(configs)}, {time.perf_counter() - t0:.0f} s] {row['cell']}, seed {row['seed']}: "
              f"FID {row['fid']:.1f} (floor {row['floor']:.1f}), {row['steps']} steps in {row['seconds']:.0f} s "
              f"({1000 * row['s_per_step']:.0f} ms/step)", flush=True)
        cells, ratios = summarise(rows)
        info["wall_seconds"] = round(time.perf_counter() - t0, 1)
        (args.out / "gan_seeds.json").write_text(json.dumps(dict(info=info, rows=rows, cells=cells, ratios=ratios),
                                                            indent=1))

    if args.jobs == 1:
        for cfg in todo:
            done(run_one(cfg))
    elif todo:
        import multiprocessing as mp
        with ProcessPoolExecutor(min(args.jobs, len(todo)), mp_context=mp.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(run_one, cfg) for cfg in todo]):
                done(future.result())
    rows.sort(key=lambda r: order[_key(r)])
    cells, ratios = summarise(rows)
    info["wall_seconds"] = round(time.perf_counter() - t0, 1)
    (args.out / "gan_seeds.json").write_text(json.dumps(dict(info=info, rows=rows, cells=cells, ratios=ratios), indent=1))
    plot(rows, cells, info, args.out / "gan_seeds.png")
    print("\n" + table(rows, cells, ratios))
    earlier_wall = (f" (+ {info['earlier_wall_seconds']:.0f} s for the {info['resumed_runs']} kept)"
                    if info.get("resumed_runs") else "")
    print(f"\nwall {info['wall_seconds']:.0f} s for {len(todo)} runs, {args.jobs} at a time{earlier_wall}; wrote "
          f"{args.out / 'gan_seeds.json'} and {args.out / 'gan_seeds.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
