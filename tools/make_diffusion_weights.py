"""Reproduce the shipped diffusion models of lesson 10: genimg_course/weights/diffusion_<which>.pt.

Lesson 10 trains a small diffusion model live for a few hundred steps; these files show what longer
training of the *same* design gives (``diffusion.load_diffusion``):

* ``ddpm``: a class-conditional noise predictor ``UNet(1, 1, width, depth=2, time_dim=128,
  num_classes=10)`` trained by ``diffusion.DiffusionTask`` (the simple loss of Ho et al. 2020) on the
  cosine schedule (Nichol & Dhariwal 2021), T = 1000, labels dropped to the null class with
  probability 0.1 (classifier-free guidance), EMA of the weights (decay 0.999, warm-up).
* ``flow``: the same U-Net trained by ``diffusion.FlowMatchingTask`` (rectified flow: straight paths
  from data to noise, the velocity as target), the same labels, dropout and EMA.

Both: Adam lr 1e-3 (betas 0.5, 0.999, the course's ``train.adam``), batch 64, the offline MNIST
training split (4,000 digits) in [-1, 1], seed 0, one thread. What ships is the EMA of the weights in
float16 (half the size).

Scores (``--score``, written into the file): the course's one protocol
(``metrics.evaluate_generator``, ``diffusion.DiffusionSampler``) at n = 500 against the held-out test
digits, every class in turn, with the floor at that n, one row per sampler: DDPM with all 1,000 steps,
DDIM at 250 / 100 / 50 / 20 / 10 steps, DDIM-50 of the raw (not averaged) weights, classifier-free
guidance at scales 0 (unconditional), 1, 2, 3 and 5 (DDIM-50; with the judge's accuracy on the asked
class), and for flow Euler at 50 / 20 / 10 steps and Heun at 10 steps (19 evaluations). Each row keeps
its network evaluations per sample and its sampling seconds.

    OMP_NUM_THREADS=1 python tools/make_diffusion_weights.py --which ddpm --steps 5000 --schedule linear
    OMP_NUM_THREADS=1 python tools/make_diffusion_weights.py --score ddpm --part ddpm1000 &   # two cores: 25 min
    OMP_NUM_THREADS=1 python tools/make_diffusion_weights.py --score ddpm --part rest
    python tools/make_diffusion_weights.py --which flow --smoke --out-dir /tmp/d   # a dry run in seconds

The shipped files (measured 2026-12-02 on the shared 2-core VM, one thread each, the two trainings side by side;
protocol rows of the float16 EMA weights at n = 500, floor 28.0; every DDPM / DDIM sampler steps through the
clipped estimate of x_0, ``clip_denoised``, the package's default):

    # ddpm: linear schedule, 5,000 steps, 1,228 s; final loss 0.025
    #   DDPM, 1,000 steps: FID 63.3 (2.26x the floor), precision 0.78, recall 0.87, class accuracy 0.854
    #   DDIM eta 1, 250 / 100 / 50 / 20 / 10 steps: FID 74.1 / 75.4 / 92.1 / 152.6 / 280.2
    #   DDIM eta 0, 100 / 50 / 20 / 10 steps: FID 1,570 / 1,702 / 2,088 / 2,552 (the deterministic path fails)
    #   guidance (DDIM-50, eta 1), s = 0 / 1 / 2 / 3 / 5: FID 247.1 / 92.1 / 70.4 / 96.5 / 151.4,
    #       class accuracy - / 0.860 / 0.984 / 0.996 / 0.994
    #   raw weights (not shipped), DDIM-50 eta 0: FID 3,799 (the EMA's: 1,702)
    # flow: 5,000 steps, 1,297 s; final loss 0.170
    #   Euler 50 / 20 / 10 steps, Heun 10 (19 evaluations): FID 29.4 / 30.8 / 33.1 / 29.0 (1.04-1.18x the floor)
    #   guidance (Euler 20), s = 0 / 3: FID 217.7 / 112.4 (class accuracy 1.0 at s = 3)
    #   raw weights (not shipped), Euler 20: FID 69.3 (the EMA's: 30.8)

Under the same protocol the shipped DCGAN of lesson 03 scores FID 74.3 (its file) and lesson 05's VAE 492.1 (its
cpu reference run): DDPM-1000 and every flow row beat both; stochastic DDIM only draws level with the DCGAN at 250 steps (74.1). The linear schedule was chosen over a **cosine-schedule** twin (``--schedule cosine``, the same 5,000 steps,
seed and batches), whose alpha_bar at t = 999 is 2.4e-9 (linear: 4.0e-5): its first estimates of x_0 reach
|x0_hat| ~ 5,000, its DDPM samples without clipping reached values in the thousands, and with clipping it sampled
worse than the linear model at every step count tried (stochastic DDIM, n = 200, FID 582 / 284 / 172 / 160 at
10 / 20 / 50 / 100 steps, against the linear model's 231 / 143 / 119 / 98; floor at n = 200: 54.3). Clipping is a
guard with a cost: on the shipped linear model stochastic DDIM at n = 200 scored FID 91.2 (20 steps) and 70.2 (50)
*without* it, against 143.2 (20) with it; the deterministic path fails either way (6,456 at 50 steps without it).

The trained file keeps the raw weights' DDIM-50 row only (the raw weights are not shipped). The SHA-256
changes with ``train_seconds`` and the scores: after ``--score`` put the printed SHA-256 into SHIPPED in
genimg_course/checkpoints.py.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genimg_course import diffusion as D  # noqa: E402
from genimg_course.checkpoints import WEIGHTS_DIR, load_checkpoint, save_checkpoint  # noqa: E402
from genimg_course.data import ResidentBatches, load_mnist  # noqa: E402
from genimg_course.files import sha256_file  # noqa: E402
from genimg_course.metrics import evaluate_samples, load_judge  # noqa: E402
from genimg_course.models.unet import UNet  # noqa: E402
from genimg_course.sampling import generate, labels_for  # noqa: E402
from genimg_course.train import fit, seed_everything  # noqa: E402

N_CHECK = 128  # the check row's n (tests/test_shipped_diffusion.py reproduces it)
N_EVAL = 500  # the protocol's n: 500 samples against 500 held-out test digits, the floor from the other 500
DDIM_STEPS = (250, 100, 50, 20, 10)  # eta = 1 (stochastic)
DDIM_STEPS_ETA0 = (100, 50, 20, 10)  # eta = 0 (deterministic)
GUIDANCE = (0.0, 1.0, 2.0, 3.0, 5.0)
SCHEDULES = {"linear": D.linear_schedule, "cosine": D.cosine_schedule}
FLOW_ROWS = (("euler", 50), ("euler", 20), ("euler", 10), ("heun", 10))


def config_for(width: int) -> dict:
    return {"in_channels": 1, "out_channels": 1, "width": width, "depth": 2, "up": "pixelshuffle",
            "time_dim": 128, "residual": False, "num_classes": 10}


def row(model: torch.nn.Module, method: str, steps: int | None, guidance: float, schedule, train, test, judge,
        n: int, conditional: bool = True, eta: float = 0.0) -> dict:
    """One protocol row: ``evaluate_generator`` of ``DiffusionSampler(model, method, steps, guidance)`` at ``n``,
    plus the judge's accuracy on the asked class (conditional rows)."""
    s = D.DiffusionSampler(model, method, steps or 1, schedule, guidance=guidance, conditional=conditional, eta=eta)
    y = labels_for(s, n)  # every class in turn (None: unconditional)
    t0 = time.perf_counter()
    x = generate(s, n, y=y, seed=0)  # what evaluate_generator draws, kept for the class accuracy
    seconds = time.perf_counter() - t0
    ev = evaluate_samples(x, f"{method}-{steps or ''}", family="diffusion", train=train, test=test, n=n, judge=judge,
                          sample_seconds=seconds, parameters=sum(p.numel() for p in model.parameters()))
    q = ev.quality
    r = {"method": method, "steps": steps, "guidance": guidance, "conditional": conditional, "eta": eta,
         "evaluations": s.evaluations(), "fid": round(q.fid, 3), "floor": round(q.floor, 3), "n": n,
         "kid": round(q.kid, 6), "kid_std": round(q.kid_std, 6), "precision": round(ev.precision, 4),
         "recall": round(ev.recall, 4), "near_copy_share": round(ev.memorisation["near_copy_share"], 4),
         "train_distance_ratio": round(ev.memorisation["ratio"], 4), "sample_seconds": round(seconds, 1)}
    if y is not None:
        with torch.no_grad():
            r["class_accuracy"] = round(float((judge.classifier(x).argmax(1) == y).float().mean()), 4)
    print(f"  {method:5s} steps {str(steps):>4s}{f' eta {eta:g}' if method == 'ddim' else ''} guidance {guidance:g}"
          f"{'' if conditional else ' (unconditional)'}: "
          f"{r['evaluations']} evals, FID {r['fid']:.1f} (floor {r['floor']:.1f}, x{r['fid'] / r['floor']:.2f}), "
          f"P {r['precision']:.2f} R {r['recall']:.2f}" + (f", class acc {r['class_accuracy']:.3f}" if conditional else "")
          + f", {r['sample_seconds']} s", flush=True)
    return r


def half_rounded(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict in float16, and the model's weights set to those rounded values (what ships)."""
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return state


def train(which: str, steps: int, width: int, batch: int, seed: int, lr: float, out_dir: Path | None,
          n: int, schedule_name: str = "linear") -> Path:
    torch.set_num_threads(1)
    kind = "eps" if which == "ddpm" else "flow"
    mnist, test = load_mnist("train", "offline", verbose=False), load_mnist("test", "offline", verbose=False)
    config = config_for(width)
    seed_everything(seed)
    model = UNet(**config)
    schedule = SCHEDULES[schedule_name](1000) if kind == "eps" else None
    task = D.DiffusionTask(model, schedule, lr=lr) if kind == "eps" else D.FlowMatchingTask(model, lr=lr)
    batches = ResidentBatches(mnist, batch, "cpu", value_range=(-1, 1), seed=seed)
    t0 = time.time()
    h = fit(task, batches, steps=steps, seed=seed, log_every=max(1, min(100, steps)), amp_dtype=None, progress=False,
            desc=f"diffusion_{which}")
    seconds = time.time() - t0
    judge = load_judge("cpu")
    model.eval()
    if kind == "eps":
        model.schedule = schedule
    model.diffusion_kind = kind
    print(f"trained {steps} steps in {seconds:.0f} s; raw weights:")
    raw = row(model, "ddim" if kind == "eps" else "euler", 50 if kind == "eps" else 20, 1.0, schedule, mnist, test,
              judge, n)
    ema = task.ema.module
    state = half_rounded(ema)
    recipe = (f"UNet(1, 1) width {width} depth 2 pixelshuffle, time_dim 128, num_classes 10 (null class 10); "
              + (f"DiffusionTask, {schedule_name} schedule T = 1000, eps-prediction" if kind == "eps" else
                 "FlowMatchingTask (rectified flow, velocity eps - x0, t ~ U(0, 1))")
              + f", p_uncond 0.1, EMA 0.999 (warm-up), Adam lr {lr:g} betas (0.5, 0.999), batch {batch}, {steps} steps, "
              f"seed {seed}; OMP_NUM_THREADS=1")
    path = (out_dir or WEIGHTS_DIR) / f"diffusion_{which}.pt"
    save_checkpoint({"config": config, "model": state, "name": which, "kind": kind, "recipe": recipe,
                     "schedule": {"name": schedule_name, "T": 1000} if kind == "eps" else None,
                     "data": "offline MNIST train split (4,000 digits) in [-1, 1], with labels",
                     "test": f"the offline MNIST test digits; protocol n = {n}",
                     "steps": steps, "train_seconds": round(seconds, 1), "seed": seed, "width": width, "batch": batch,
                     "lr": lr, "final_train": {k: round(h.last(k), 4) for k in h.values},
                     "loss_curve": [round(float(v), 4) for v in h.values["loss"]],
                     "raw_row": raw, "scores": []}, path)
    report(path)
    return path


def _key(r: dict) -> tuple:
    return r["method"], r["steps"], r["guidance"], r["conditional"], r.get("eta", 0.0)


def score(path: Path, n: int, quick: bool = False, part: str = "all") -> None:
    """The protocol rows of a trained file, written back into it. ``part``: ``"all"``, or (to score on two cores at
    once) ``"ddpm1000"`` (DDPM's 1,000-step row alone) and ``"rest"``; each merges its rows into the file's."""
    torch.set_num_threads(1)
    state = load_checkpoint(path)
    model = UNet(**state["config"])
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval().requires_grad_(False)
    model.diffusion_kind = state["kind"]
    mnist, test = load_mnist("train", "offline", verbose=False), load_mnist("test", "offline", verbose=False)
    judge = load_judge("cpu")
    rows = []
    print(f"{path.stem}: protocol rows at n = {n}")
    sched = SCHEDULES[state["schedule"]["name"]](state["schedule"]["T"]) if state["kind"] == "eps" else None
    if state["kind"] == "eps" and part == "ddpm1000":
        rows.append(row(model, "ddpm", None, 1.0, sched, mnist, test, judge, n))
    elif state["kind"] == "eps":
        for eta, steps_list in ((1.0, (20,) if quick else DDIM_STEPS), (0.0, (20,) if quick else DDIM_STEPS_ETA0)):
            for steps in steps_list:
                rows.append(row(model, "ddim", steps, 1.0, sched, mnist, test, judge, n, eta=eta))
        for g in ((0.0, 3.0) if quick else GUIDANCE):
            if g == 1.0:
                continue  # the DDIM-50 row above
            rows.append(row(model, "ddim", 20 if quick else 50, g, sched, mnist, test, judge, n, conditional=g != 0.0,
                            eta=1.0))
        if not quick and part == "all":
            rows.append(row(model, "ddpm", None, 1.0, sched, mnist, test, judge, n))
    else:
        for method, steps in (FLOW_ROWS[2:] if quick else FLOW_ROWS):
            rows.append(row(model, method, steps, 1.0, None, mnist, test, judge, n))
        for g in ((3.0,) if quick else (0.0, 3.0)):
            rows.append(row(model, "euler", 10 if quick else 20, g, None, mnist, test, judge, n, conditional=g != 0.0))
    if part != "ddpm1000":
        # what tests/test_shipped_diffusion.py reproduces: one cheap row of the protocol at n = 128
        check = row(model, "ddim" if state["kind"] == "eps" else "euler", 10, 1.0, sched, mnist, test, judge, N_CHECK,
                    eta=1.0 if state["kind"] == "eps" else 0.0)
    state = load_checkpoint(path)  # again: the other part may have written its rows meanwhile
    mine = {_key(r) for r in rows}
    state["scores"] = [r for r in state.get("scores", []) if _key(r) not in mine] + rows
    if part != "ddpm1000":
        state["check"] = check
    state["protocol"] = (f"metrics.evaluate_generator of diffusion.DiffusionSampler (clip to [-1, 1]), n = {n}, "
                         "reference_split seed 0, sample seed 0, every class in turn; class_accuracy: the judge on the "
                         "same samples against the asked class")
    save_checkpoint(state, path)
    report(path)


def report(path: Path) -> None:
    s = load_checkpoint(path)
    print(f"\n{path.stem}: {s['steps']} steps, {s['train_seconds']} s; {s['recipe']}")
    print(f"  final training loss {s['final_train']}; raw weights: FID {s['raw_row']['fid']} "
          f"(floor {s['raw_row']['floor']}, {s['raw_row']['method']}-{s['raw_row']['steps']})")
    for r in s["scores"]:
        print(f"  {r['method']}-{r['steps']} g {r['guidance']:g}: FID {r['fid']} / floor {r['floor']} (n = {r['n']}), "
              f"{r['evaluations']} evals, class acc {r.get('class_accuracy')}")
    print(f"  size {path.stat().st_size:,} bytes, sha256 {sha256_file(path)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--which", choices=sorted(D.SHIPPED_DIFFUSION), help="train this model")
    ap.add_argument("--score", metavar="WHICH", choices=sorted(D.SHIPPED_DIFFUSION),
                    help="write the protocol rows into a trained file")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--part", choices=("all", "ddpm1000", "rest"), default="all",
                    help="with --score: all rows, or DDPM's 1,000-step row / the rest (two processes, one per core)")
    ap.add_argument("--schedule", choices=sorted(SCHEDULES), default="linear", help="the DDPM's noise schedule")
    ap.add_argument("--out-dir", type=Path, help="read and write here instead of genimg_course/weights")
    ap.add_argument("--smoke", action="store_true",
                    help="a dry run in seconds: 3 steps, width 8, n = 128, the quick rows (needs --out-dir)")
    a = ap.parse_args(argv)
    if bool(a.which) == bool(a.score):
        ap.error("give one of --which (train) or --score (score a trained file)")
    for flag, v in (("steps", a.steps), ("width", a.width), ("batch", a.batch)):
        if v < 1:
            ap.error(f"--{flag}: expected a whole number >= 1, got {v}")
    if not a.lr > 0:
        ap.error(f"--lr: expected a positive learning rate, got {a.lr}")
    if a.smoke and a.out_dir is None:
        ap.error("--smoke writes a throwaway file: give --out-dir (never over the shipped weights)")
    if a.out_dir is not None:
        a.out_dir.mkdir(parents=True, exist_ok=True)
    n = 128 if a.smoke else N_EVAL
    if a.which:
        steps, width = (3, 8) if a.smoke else (a.steps, a.width)
        train(a.which, steps, width, a.batch, a.seed, a.lr, a.out_dir, n, a.schedule)
        if a.smoke:
            score((a.out_dir) / f"diffusion_{a.which}.pt", n, quick=True)
    else:
        score((a.out_dir or WEIGHTS_DIR) / f"diffusion_{a.score}.pt", n, quick=a.smoke, part=a.part)


if __name__ == "__main__":
    main()
