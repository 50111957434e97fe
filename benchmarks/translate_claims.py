"""Lesson 07's claims about image-to-image translation, measured at equal steps, seeded.

1. **pix2pix, edges → digit** (:class:`~genimg_course.translate.Pix2PixTask` with
   ``paired_input=edges``): the same U-Net ``G`` (same initial weights, same batches, same steps)
   trained on L1 alone and on L1 + the conditional PatchGAN loss (``λ = 100``). Measured on the
   1,000 held-out MNIST test digits: PSNR of ``G(edges(x))`` against ``x``; the judge's accuracy on
   the outputs as a fraction of its accuracy on the true digits (the FCN-score analogue); an edge
   ratio, the mean Sobel magnitude of the outputs over that of the true digits (1: as sharp as
   real ink, below 1: blurred); and judge FID at ``n`` per side: the translations of one half of
   the test digits (:func:`metrics.reference_split`) against the other half, beside the
   real-vs-real floor (:func:`metrics.real_vs_real`) of the same halves — a perfect translator
   scores the floor.
   The lesson expects: L1 alone wins PSNR, the cGAN wins sharpness and FID.
2. **CycleGAN, MNIST ↔ scikit-learn digits** (:class:`~genimg_course.translate.CycleGANTask` on
   :class:`~genimg_course.translate.UnpairedBatches`; :func:`translate.load_sklearn_digits_28`,
   8x8 up-sampled to 20x20 in a 28x28 frame, ``--margin 4``, MNIST's framing; the judge reads 88 % of
   the real test digits so, 36 % at margin 0, digits filling the frame): with the cycle loss (``λ_cycle = 10``, identity 0.5)
   and without (``λ_cycle = 0``, which drops the identity term too). Measured on the held-out
   digits of each domain (MNIST test 1,000; sklearn test 359): label preservation through A→B
   and B→A (the judge's class of the translation against the *source* label;
   :func:`translate.label_preservation`), cycle PSNR A→B→A and B→A→B, and judge FID of the
   translations against the target domain at ``n_cycle`` per side, beside that domain's floor
   and the FID of the *untranslated* source digits (what doing nothing scores). The judge was
   trained on MNIST: on B→A outputs it reads its own domain; on A→B outputs (sklearn-style) it
   reads a foreign style, so its accuracy on the real sklearn test digits is given as that
   direction's ceiling.

Both claims train at equal steps (never equal seconds: the machine may be shared), one thread per
process; ``--jobs 2`` (the default) runs the four trainings two at a time in separate processes. Prints the
tables and writes ``translate_claims.json`` and ``translate_claims.md`` to ``--out``.

    python benchmarks/translate_claims.py --smoke              # CPU dry run: 5 steps each (16 s)
    python benchmarks/translate_claims.py                      # pix2pix 1,000 steps, CycleGAN 600 (9 min, 2 cores)
    python benchmarks/translate_claims.py --only pix2pix --p2p-steps 3000 --width 32
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genimg_course.data import ResidentBatches, load_mnist  # noqa: E402
from genimg_course.metrics import load_judge  # noqa: E402
from genimg_course.models.patchgan import PatchGAN  # noqa: E402
from genimg_course.models.unet import UNet  # noqa: E402
from genimg_course.train import fit, seed_everything  # noqa: E402
from genimg_course.translate import (CycleGANTask, Pix2PixTask, UnpairedBatches, edges, evaluate_cyclegan,  # noqa: E402
                                     evaluate_pix2pix, load_sklearn_digits_28)

# name -> (claim, settings)
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "cyclegan, cycle 10": ("cyclegan", dict(lam_cycle=10.0)),
    "cyclegan, no cycle": ("cyclegan", dict(lam_cycle=0.0)),
    "pix2pix, L1 only": ("pix2pix", dict(adversarial=False)),
    "pix2pix, L1 + cGAN": ("pix2pix", dict(adversarial=True)),
}  # the slower CycleGAN runs first, so two workers finish together


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def run_pix2pix(name: str, adversarial: bool, cfg: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    seed, steps, n = cfg["seed"], cfg["p2p_steps"], cfg["n"]
    train, test = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    seed_everything(seed)  # the same initial G for both runs
    G = UNet(1, 1, width=cfg["width"], depth=2)
    D = PatchGAN(1, width=cfg["d_width"], conditional_channels=1) if adversarial else None
    task = Pix2PixTask(G, D, lam=100.0, adversarial=adversarial, paired_input=edges)
    batches = ResidentBatches(train, cfg["batch"], value_range=(0, 1), seed=seed)
    t0 = time.perf_counter()
    fit(task, batches, steps=steps, log_every=max(1, min(100, steps)), seed=seed, amp_dtype=None, progress=False)
    seconds = time.perf_counter() - t0
    images, labels = test.images[:cfg["eval_limit"]], test.labels[:cfg["eval_limit"]]
    scores = evaluate_pix2pix(G, images, labels, load_judge(), n)
    row = dict(run=name, claim="pix2pix", adversarial=adversarial, steps=steps, batch=cfg["batch"], width=cfg["width"],
               seconds=round(seconds, 1), s_per_step=round(seconds / steps, 4), **scores)
    return _finite(row)


def run_cyclegan(name: str, lam_cycle: float, cfg: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    seed, steps, n = cfg["seed"], cfg["cycle_steps"], cfg["n_cycle"]
    a_train, a_test = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    b_train, b_test = (load_sklearn_digits_28(s, margin=cfg["margin"]) for s in ("train", "test"))
    seed_everything(seed)
    w, dw = cfg["width"], cfg["d_width"]
    G_ab, G_ba, D_a, D_b = UNet(1, 1, width=w, depth=2), UNet(1, 1, width=w, depth=2), PatchGAN(1, dw), PatchGAN(1, dw)
    task = CycleGANTask(G_ab, G_ba, D_a, D_b, lam_cycle=lam_cycle, lam_identity=0.5)
    batches = UnpairedBatches(ResidentBatches(a_train, cfg["cycle_batch"], value_range=(0, 1), seed=seed),
                              ResidentBatches(b_train, cfg["cycle_batch"], value_range=(0, 1), seed=seed + 1))
    t0 = time.perf_counter()
    fit(task, batches, steps=steps, log_every=max(1, min(100, steps)), seed=seed, amp_dtype=None, progress=False)
    seconds = time.perf_counter() - t0
    k = cfg["eval_limit"]
    scores = evaluate_cyclegan(G_ab, G_ba, a_test.images[:k], a_test.labels[:k], b_test.images[:k], b_test.labels[:k],
                               load_judge(), n)
    row = dict(run=name, claim="cyclegan", lam_cycle=lam_cycle, margin=cfg["margin"], steps=steps, batch=cfg["cycle_batch"], width=w,
               seconds=round(seconds, 1), s_per_step=round(seconds / steps, 4), **scores)
    return _finite(row)


def run_one(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    claim, kw = RUNS[name]
    return run_pix2pix(name, kw["adversarial"], cfg) if claim == "pix2pix" else run_cyclegan(name, kw["lam_cycle"], cfg)


def _held(value: bool | None) -> str:
    return "n/a" if value is None else ("held" if value else "did not hold")


def verdicts(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """(claim, what was measured, held) for each of the lesson's claims with both of its runs present."""
    by = {r["run"]: r for r in rows}
    out: list[tuple[str, str, bool | None]] = []
    l1, gan = by.get("pix2pix, L1 only"), by.get("pix2pix, L1 + cGAN")
    if l1 and gan:
        out += [("L1 alone wins PSNR", f"{l1['psnr']:.2f} vs {gan['psnr']:.2f} dB", l1["psnr"] > gan["psnr"]),
                ("the cGAN is sharper (edge ratio nearer 1)", f"{gan['edge_ratio']:.3f} vs {l1['edge_ratio']:.3f}",
                 abs(gan["edge_ratio"] - 1) < abs(l1["edge_ratio"] - 1)),
                ("the cGAN wins judge FID", f"{gan['fid']:.2f} vs {l1['fid']:.2f} (floor {gan['fid_floor']:.2f})",
                 gan["fid"] < l1["fid"]),
                ("target: cGAN FID <= 0.5x L1's", f"ratio {gan['fid'] / max(l1['fid'], 1e-9):.2f}",
                 gan["fid"] <= 0.5 * l1["fid"]),
                ("FID above the floor: cGAN's <= 0.5x L1's", f"{gan['fid'] - gan['fid_floor']:.2f} vs "
                 f"{l1['fid'] - l1['fid_floor']:.2f}", gan["fid"] - gan["fid_floor"] <= 0.5 * (l1["fid"] - l1["fid_floor"])),
                ("target: judge ratio >= 0.9 (cGAN)", f"{gan['judge_ratio']:.3f}", gan["judge_ratio"] >= 0.9),
                ("target: judge ratio >= 0.9 (L1)", f"{l1['judge_ratio']:.3f}", l1["judge_ratio"] >= 0.9)]
    cyc, nocyc = by.get("cyclegan, cycle 10"), by.get("cyclegan, no cycle")
    if cyc:
        out.append(("target: label preservation >= 0.9 with the cycle loss (both ways)",
                    f"A→B {cyc['keep_ab']:.3f}, B→A {cyc['keep_ba']:.3f}", min(cyc["keep_ab"], cyc["keep_ba"]) >= 0.9))
        out.append(("the cycle run translates (A→B FID below untranslated)",
                    f"{cyc['fid_ab']:.1f} vs {cyc['fid_ab_untranslated']:.1f}",
                    cyc["fid_ab"] < cyc["fid_ab_untranslated"]))
    if cyc and nocyc:
        out.append(("without the cycle loss labels are lost (lower preservation, both ways)",
                    f"A→B {nocyc['keep_ab']:.3f} vs {cyc['keep_ab']:.3f}, B→A {nocyc['keep_ba']:.3f} vs {cyc['keep_ba']:.3f}",
                    nocyc["keep_ab"] < cyc["keep_ab"] and nocyc["keep_ba"] < cyc["keep_ba"]))
    return out


def tables(rows: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    p = [r for r in rows if r["claim"] == "pix2pix"]
    if p:
        r0 = p[0]
        lines += [f"pix2pix edges → digit: UNet width {r0['width']} depth 2, batch {r0['batch']}, {r0['steps']} steps, "
                  f"{r0['test_digits']:,} MNIST test digits; FID at n = {r0['n']} per side", "",
                  "| run | PSNR dB | judge acc | ÷ acc on true | edge ratio | FID | floor | s | s/step |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['psnr']:.2f} | {r['judge_acc']:.3f} | {r['judge_ratio']:.3f} | {r['edge_ratio']:.3f} "
                  f"| {r['fid']:.2f} | {r['fid_floor']:.2f} | {r['seconds']:.0f} | {r['s_per_step']:.3f} |" for r in p]
        lines += [f"(judge accuracy on the true test digits: {r0['judge_acc_true']:.3f})", ""]
    c = [r for r in rows if r["claim"] == "cyclegan"]
    if c:
        r0 = c[0]
        lines += [f"CycleGAN MNIST (A) ↔ sklearn digits 28x28, margin {r0['margin']} (B): UNet width {r0['width']} depth 2, batch "
                  f"{r0['batch']} per domain, {r0['steps']} steps; "
                  f"held out: {r0['test_digits_a']:,} MNIST, {r0['test_digits_b']:,} sklearn; FID at n = {r0['n']} per side", "",
                  "| run | keep A→B | keep B→A | cycle PSNR A | cycle PSNR B | FID A→B (untranslated, floor) "
                  "| FID B→A (untranslated, floor) | s | s/step |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['keep_ab']:.3f} | {r['keep_ba']:.3f} | {r['cycle_psnr_a']:.2f} | "
                  f"{r['cycle_psnr_b']:.2f} | {r['fid_ab']:.1f} ({r['fid_ab_untranslated']:.1f}, {r['fid_b_floor']:.1f}) | "
                  f"{r['fid_ba']:.1f} ({r['fid_ba_untranslated']:.1f}, {r['fid_a_floor']:.1f}) | {r['seconds']:.0f} | "
                  f"{r['s_per_step']:.3f} |" for r in c]
        lines += [f"(the MNIST-trained judge's accuracy on real test digits: MNIST {r0['judge_acc_a']:.3f}, sklearn "
                  f"{r0['judge_acc_b']:.3f} — the ceiling that 'keep A→B' is read against)", ""]
    v = verdicts(rows)
    if v:
        lines += ["| claim | measured | |", "|---|---|---|"] + [f"| {c} | {m} | {_held(h)} |" for c, m, h in v]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", "--tiny", dest="smoke", action="store_true",
                   help="a dry run: 5 steps per run, width 8, FID at n = 128 (the claims are not expected to hold)")
    p.add_argument("--p2p-steps", type=int, default=1000, help="pix2pix steps per run (default 1000)")
    p.add_argument("--cycle-steps", type=int, default=600, help="CycleGAN steps per run (default 600)")
    p.add_argument("--batch", type=int, default=64, help="pix2pix batch (default 64)")
    p.add_argument("--cycle-batch", type=int, default=32, help="CycleGAN batch per domain (default 32)")
    p.add_argument("--width", type=int, default=16, help="the U-Nets' width (default 16; depth is 2)")
    p.add_argument("--d-width", type=int, default=16, help="the PatchGANs' width (default 16; 2 layers, 5x5 logits)")
    p.add_argument("--n", type=int, default=500, help="pix2pix FID images per side (default 500, of 1,000 test digits)")
    p.add_argument("--n-cycle", type=int, default=179, help="CycleGAN FID images per side (default 179, of 359 sklearn "
                                                            "test digits)")
    p.add_argument("--margin", type=int, default=4, help="the sklearn digits' zero margin in the 28x28 frame (default 4, "
                   "MNIST's 20-pixel digit: the MNIST judge reads 88 %% of them; at 0, digits filling the frame, 36 %%)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="trainings run at once, one process and one thread each")
    p.add_argument("--only", default="", help="comma-separated substrings of the run names: " + ", ".join(RUNS))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    if args.smoke:
        args.p2p_steps = args.cycle_steps = 5
        args.batch, args.cycle_batch, args.width, args.d_width, args.n, args.n_cycle = 16, 8, 8, 8, 128, 128
        args.jobs = 1  # worker start-up would cost more than the runs
    eval_limit = 2 * max(args.n, args.n_cycle) if args.smoke else None  # the smoke judges 256 digits per domain
    for flag in ("p2p_steps", "cycle_steps", "batch", "cycle_batch", "width", "d_width", "jobs"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')}: expected a whole number >= 1, got {getattr(args, flag)}")
    if not 128 <= args.n <= 500:
        p.error(f"--n: FID on the judge's 128 features needs 128 to 500 images per side (two halves of 1,000), got {args.n}")
    if not 128 <= args.n_cycle <= 179:
        p.error(f"--n-cycle: expected 128 to 179 images per side (two halves of the 359 sklearn test digits), "
                f"got {args.n_cycle}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out: {args.out} is a file, not a folder")
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    names = [n for n in RUNS if not wanted or any(w in n for w in wanted)]
    if not names:
        p.error(f"--only {args.only!r} matches none of the runs: {list(RUNS)}")
    if not 0 <= args.margin <= 10:
        p.error(f"--margin: expected 0 to 10 pixels, got {args.margin}")
    cfg = dict(seed=args.seed, margin=args.margin, eval_limit=eval_limit, p2p_steps=args.p2p_steps,
               cycle_steps=args.cycle_steps, batch=args.batch,
               cycle_batch=args.cycle_batch, width=args.width, d_width=args.d_width, n=args.n, n_cycle=args.n_cycle)

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if args.jobs == 1 or len(names) == 1:
        rows = []
        for name in names:
            rows.append(run_one(name, cfg))
            print(f"  {name}: {rows[-1]['steps']} steps, {rows[-1]['seconds']} s", flush=True)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(min(args.jobs, len(names)), mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(run_one, name, cfg) for name in names]
            rows = []
            for name, f in zip(names, futures):
                rows.append(f.result())
                print(f"  {name}: {rows[-1]['steps']} steps, {rows[-1]['seconds']} s", flush=True)
    wall = time.perf_counter() - t0
    bad = [(r["run"], k) for r in rows for k, v in r.items() if isinstance(v, float) and not math.isfinite(v)]
    text = tables(rows)
    print("\n" + text + f"\n\nwall {wall:.0f} s for {len(rows)} runs, {args.jobs} at a time")
    args.out.mkdir(parents=True, exist_ok=True)
    info = dict(script="benchmarks/translate_claims.py", argv=sys.argv[1:] if argv is None else argv, smoke=args.smoke,
                **cfg, jobs=args.jobs, wall_seconds=round(wall, 1), torch=torch.__version__,
                python=platform.python_version(), machine=platform.machine(), threads_per_process=1,
                date=time.strftime("%Y-%m-%d"))
    claims = [dict(claim=c, measured=m, held=h) for c, m, h in verdicts(rows)]
    (args.out / "translate_claims.json").write_text(json.dumps({"info": info, "rows": rows, "claims": claims}, indent=1))
    (args.out / "translate_claims.md").write_text(
        f"# Lesson 07's translation claims\n\n`python benchmarks/translate_claims.py {' '.join(info['argv'])}` "
        f"({info['date']}, torch {info['torch']}, {args.jobs} process(es) of one thread, wall {wall:.0f} s)\n\n"
        + text + "\n")
    print(f"wrote {args.out / 'translate_claims.json'} and {args.out / 'translate_claims.md'}")
    if bad:
        print(f"non-finite values: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
