"""Reproduce the shipped restorers of lesson 06: genimg_course/weights/restore_<task>_<data>.pt.

Lesson 06 trains small restorers live for a few seconds each; these files show what longer training
of the *same* design gives, for every task of the lesson's table (the lesson says which one you are
looking at). Each restorer is a residual ``UNet(C, C, width=32, depth=2)`` (``x + net(x)``: it learns the
correction; C = 1 for digits, 3 for photo patches) trained by ``restore.RestorationTask`` + ``fit``
with the L2 loss, Adam lr 1e-3, batch 64, seed 0, then ``--fine`` more steps at lr 1e-4; the
degradation is drawn afresh on the device inside every step.

Data: digits from the offline MNIST training split (4,000 digits; ``load_mnist("train", "offline")``),
photo patches 32x32 every 8 px from the seven other bundled colour photos
(``load_photo_patches("train", stride=8, train=PHOTO_TRAIN)``, 5,887 patches: scikit-image's astronaut,
coffee, rocket, immunohistochemistry, hubble_deep_field and scikit-learn's china and flower). Held out for the scores: the first 500
offline test digits, and the 64 non-overlapping 32x32 patches of chelsea (another photo).

Each file records ``task``, ``data``, ``steps``, ``train_seconds``, ``recipe``, the denoisers'
parameters tuned on 200 training images (``baseline_params``; never on test images), the rows of
``restore.evaluate_restorer`` on the held-out images (input, every baseline, the model), the
``restore.summary`` figures (``T_psnr_model``, ``T_psnr_baseline``, ``T_ssim_*``) and, for digits,
``judge_accuracy``: the judge classifier's accuracy on the clean, degraded, best-baseline and
restored test digits. Weights are stored in float16 (half the size; the scores are of the float16
weights, exactly what ``restore.load_restorer`` returns).

The photo super-resolvers add ``--augment`` (each batch turned by a random quarter turn and flipped at
random): without it, SR x2 trained on three photos scored 35.8 dB on chelsea (bicubic 37.03), on the
seven photos 36.6 dB, and with the augmentation 38.1 dB.

The shipped files (measured 2026-12-02 on the shared 2-core VM, two trainings side by side; held-out PSNR
of the model vs the best classical method, and the judge's accuracy on restored digits):

    # digits (first 500 test digits)                         model   best classical    judge model / classical
    --task sr2              (1,200 + 300 steps, 1,077 s)     29.44   bicubic 20.53     0.988 / 0.978
    --task sr4              (800 + 200 steps, 510 s)         21.78   bicubic 14.66     0.952 / 0.402
    --task denoise25        (1,200 + 300 steps, 1,067 s)     31.11   NL-means 27.19    0.992 / 0.984
    --task denoise300       (800 + 200 steps, 732 s)         24.25   TV 18.86          0.984 / 0.640
    --task inpaint_centre   (1,200 + 300 steps, 774 s)       19.79   biharmonic 14.92  0.928 / 0.674
    --task inpaint_random   (800 + 200 steps, 691 s)         26.10   biharmonic 22.26  0.986 / 0.978
    # photos (chelsea's 64 patches)
    --task denoise25 --data photo (800 + 200 steps, 464 s)           31.86   TV 29.64
    --task sr2 --data photo --augment (800 + 200 steps, 482 s)       38.11   bicubic 37.03
    --task sr4 --data photo --augment (800 + 200 steps, 470 s)       31.45   bicubic 31.10
    # colourisers (UNet width 24; saturation ratio on chelsea's patches, tinted for --tints)
    --colour l2 --tints (250 + 50 steps, 87 s)        0.43 (the L2 optimum: 0.4)
    --colour class --tints (250 + 50 steps, 90 s)     0.81 at T = 0.38 (predicted 0.81)
    --colour l2 (400 + 100 steps, 147 s)              24.46 dB, saturation 1.40
    --colour class (400 + 100 steps, 201 s)           21.80 dB, saturation 1.69

Deterministic on the CPU with ``OMP_NUM_THREADS=1``; the SHA-256 changes with ``train_seconds``:
after rebuilding put the printed SHA-256 into SHIPPED in genimg_course/checkpoints.py (the exact
command of each file is there too).

    OMP_NUM_THREADS=1 python tools/make_restore_weights.py --task sr2 --data mnist
    OMP_NUM_THREADS=1 python tools/make_restore_weights.py --task sr4 --data mnist --steps 800 --fine 200
    OMP_NUM_THREADS=1 python tools/make_restore_weights.py --colour class --width 24 --steps 400 --fine 100
    OMP_NUM_THREADS=1 python tools/make_restore_weights.py --colour l2 --tints --width 24 --steps 250 --fine 50
    python tools/make_restore_weights.py --rescore restore_sr2_mnist   # re-score a shipped file
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genimg_course import restore as R
from genimg_course.checkpoints import WEIGHTS_DIR, load_checkpoint, save_checkpoint
from genimg_course.data import ResidentBatches, load_mnist, load_photo_patches, to_float
from genimg_course.files import sha256_file
from genimg_course.metrics import load_judge
from genimg_course.models.unet import UNet
from genimg_course.train import fit

N_TEST_DIGITS = 500
# every bundled colour photo but the test photo, chelsea. Three photos alone (astronaut, coffee, rocket) over-fit:
# SR x2 trained on them reached 45.7 dB on their own patches and 35.8 on chelsea's, below bicubic's 37.0
PHOTO_TRAIN = R.PHOTO_TRAIN
N_TUNE = 200


def held_out(data: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The held-out clean images (float [0, 1]) and, for digits, their labels."""
    if data == "mnist":
        test = load_mnist("test", "offline", verbose=False)
        return to_float(test.images[:N_TEST_DIGITS], (0, 1)), test.labels[:N_TEST_DIGITS]
    return to_float(load_photo_patches("test", verbose=False).images, (0, 1)), None


def training_set(data: str):
    if data == "mnist":
        return load_mnist("train", "offline", verbose=False)
    return load_photo_patches("train", stride=8, train=PHOTO_TRAIN, verbose=False)


def score(model: torch.nn.Module, task: str, data: str, params: dict[str, float] | None = None) -> dict:
    """Held-out scores of ``model`` (float16-rounded weights) beside the baselines tuned on training images."""
    clean, labels = held_out(data)
    train = to_float(training_set(data).subset(N_TUNE, seed=1).images, (0, 1))
    baselines, params = R.tuned_baselines(task, train, params=params)
    rows = R.evaluate_restorer(model, task, clean, baselines=baselines, seed=0)
    out = {"rows": rows, "baseline_params": params, "summary": R.summary(rows, task), "n_test": clean.shape[0]}
    if labels is not None:  # the judge's accuracy on each version of the same test digits
        judge = load_judge("cpu")
        d = R.make_degradation(task).degrade(clean, generator=torch.Generator().manual_seed(0))
        best = max((r for r in rows if r["kind"] == "baseline"), key=lambda r: r["psnr"])["method"]
        with torch.no_grad():
            restored = model(d.image).clamp(0, 1)
        shown = d.image.clamp(0, 1)
        out["judge_accuracy"] = {"clean": R.judge_accuracy(judge, clean, labels),
                                 "input": R.judge_accuracy(judge, shown, labels),
                                 best: R.judge_accuracy(judge, baselines[best](d).clamp(0, 1), labels),
                                 "model": R.judge_accuracy(judge, restored, labels)}
    return out


def half_rounded(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict in float16, and the model's weights set to those rounded values (what ships)."""
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return state


def dihedral(batches, seed: int):
    """The batches, each turned by a random quarter turn and flipped at random (one of the 8 symmetries
    of the square per batch, from its own seeded generator): the standard augmentation of super-resolution
    training (as in EDSR), which makes a few photos look like more."""
    g = torch.Generator().manual_seed(seed + 10_000)
    for x, y in batches:
        k, flip = torch.randint(0, 4, (2,), generator=g).tolist()
        x = torch.rot90(x, k, dims=(2, 3))
        yield (x.flip(3) if flip % 2 else x), y


def train(task: str, data: str, steps: int, fine: int, width: int, batch: int, seed: int, augment: bool = False,
          out_dir: Path | None = None) -> Path:
    name = f"restore_{task}_{data}"
    ch = 1 if data == "mnist" else 3
    config = {"in_channels": ch, "out_channels": ch, "width": width, "depth": 2, "up": "pixelshuffle", "residual": True}
    torch.manual_seed(seed)
    model = UNet(**config)
    job = R.RestorationTask(model, task, loss="l2", lr=1e-3)
    batches = ResidentBatches(training_set(data), batch, "cpu", value_range=(0, 1), seed=seed)
    if augment:
        batches = dihedral(batches, seed)
    t0 = time.time()
    h = fit(job, batches, steps=steps, seed=seed, log_every=100, desc=f"{name} lr 1e-3")
    for g in job.optimizers["model"].param_groups:
        g["lr"] = 1e-4
    rest = (b for b in batches)  # the same stream, continued (fit would rewind a ResidentBatches to step 0)
    h2 = fit(job, rest, steps=fine, seed=None, log_every=100, desc=f"{name} lr 1e-4")
    seconds = time.time() - t0
    model.eval()
    state = half_rounded(model)
    scores = score(model, task, data)
    recipe = (f"residual UNet width {width} depth 2 pixelshuffle; RestorationTask l2, Adam lr 1e-3 for {steps} steps then "
              f"1e-4 for {fine}, batch {batch}, seed {seed}{', random quarter turns and flips' if augment else ''}; "
              "OMP_NUM_THREADS=1")
    train_note = ("offline MNIST train split (4,000 digits)" if data == "mnist" else
                  "photo patches 32x32 every 8 px of " + ", ".join(PHOTO_TRAIN))
    test_note = (f"first {N_TEST_DIGITS} offline MNIST test digits" if data == "mnist" else
                 "the 64 non-overlapping 32x32 patches of chelsea")
    path = (out_dir or WEIGHTS_DIR) / f"{name}.pt"
    save_checkpoint({"config": config, "model": state, "task": task, "data": train_note, "test": test_note,
                     "steps": steps + fine, "train_seconds": round(seconds, 1), "recipe": recipe,
                     "final_train_psnr": round(h2.last("psnr"), 2),
                     **scores}, path)
    report(name, path)
    return path


def tinted(split: str):
    """``colourise.ambiguous_tints`` of the photo patches (train: seed 0; test: chelsea's, seed 1): one flat
    tint per patch, (20, 30) with probability 0.7 or (-20, -30) with 0.3, that the lightness cannot reveal."""
    from genimg_course.colourise import ambiguous_tints
    from genimg_course.data import ImageSet

    if split == "test":
        return ambiguous_tints(held_out("photo")[0], seed=1)
    p = training_set("photo")
    x = ambiguous_tints(to_float(p.images, (0, 1)), seed=0)
    return ImageSet((x * 255).round().to(torch.uint8), p.labels, p.classes, "tinted photo patches", "ambiguous_tints seed 0")


def train_colour(head: str, steps: int, fine: int, width: int, batch: int, seed: int, temperature: float = 0.38,
                 tints: bool = False) -> Path:
    """A colouriser ``UNet(1, K, width, depth=2)`` (K = 2 for the L2 head, Q bins for the classification
    head, bins fitted on the training patches) trained by ``colourise.ColouriseTask`` on the photo patches
    (``tints``: on their ``ambiguous_tints`` version, the class head without rebalancing)."""
    from genimg_course.colourise import ColourBins, ColouriseTask, evaluate_colouriser

    name = f"colourise_{head}_{'tints' if tints else 'photo'}"
    patches = tinted("train") if tints else training_set("photo")
    bins = ColourBins.fit(patches.images)
    rebalance = not tints
    config = {"in_channels": 1, "out_channels": 2 if head == "l2" else len(bins), "width": width, "depth": 2,
              "up": "pixelshuffle", "residual": False}
    torch.manual_seed(seed)
    model = UNet(**config)
    job = ColouriseTask(model, head, bins=bins if head == "class" else None, lr=1e-3, rebalance=rebalance,
                        temperature=temperature)
    batches = ResidentBatches(patches, batch, "cpu", value_range=(0, 1), seed=seed)
    t0 = time.time()
    fit(job, batches, steps=steps, seed=seed, log_every=100, desc=f"{name} lr 1e-3")
    for g in job.optimizers["model"].param_groups:
        g["lr"] = 1e-4
    h2 = fit(job, (b for b in batches), steps=fine, seed=None, log_every=100, desc=f"{name} lr 1e-4")
    seconds = time.time() - t0
    model.eval()
    state = half_rounded(model)
    clean = tinted("test") if tints else held_out("photo")[0]
    rows = evaluate_colouriser({"model": (model, head)}, clean, bins=bins, temperature=temperature)
    recipe = (f"UNet(1, {config['out_channels']}) width {width} depth 2 pixelshuffle; ColouriseTask head {head}"
              f"{', rebalanced (lambda 0.5, sigma 5)' if head == 'class' and rebalance else ''}"
              f"{' on ambiguous_tints' if tints else ''}, Adam lr 1e-3 for {steps} steps then "
              f"1e-4 for {fine}, batch {batch}, seed {seed}; OMP_NUM_THREADS=1")
    path = WEIGHTS_DIR / f"{name}.pt"
    save_checkpoint({"config": config, "model": state, "head": head, "bins": bins.state_dict(), "temperature": temperature,
                     "rebalance": rebalance, "task": "colourise",
                     "data": ("ambiguous_tints (seed 0) of " if tints else "") +
                             "photo patches 32x32 every 8 px of " + ", ".join(PHOTO_TRAIN),
                     "test": ("ambiguous_tints (seed 1) of " if tints else "") +
                             "the 64 non-overlapping 32x32 patches of chelsea", "steps": steps + fine,
                     "train_seconds": round(seconds, 1), "recipe": recipe, "rows": rows,
                     "final_train_loss": round(h2.last("loss"), 5)}, path)
    state = load_checkpoint(path)
    print(f"\n{name}: {state['steps']} steps, {state['train_seconds']} s; held out: {state['test']}")
    for r in rows:
        print(f"  {r['method']:>18s} PSNR {r['psnr']:6.2f} dB  SSIM {r['ssim']:.3f}  saturation ratio {r['saturation_ratio']:.3f}")
    print(f"  size {path.stat().st_size:,} bytes, sha256 {sha256_file(path)}")
    return path


def report(name: str, path: Path) -> None:
    state = load_checkpoint(path)
    print(f"\n{name}: {state['steps']} steps, {state['train_seconds']} s; held out: {state['test']}")
    for r in state["rows"]:
        print(f"  {r['method']:>12s} ({r['kind']:8s}) PSNR {r['psnr']:6.2f} dB  SSIM {r['ssim']:.3f}")
    if "judge_accuracy" in state:
        print("  judge accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in state["judge_accuracy"].items()))
    s = state["summary"]
    t = state["task"]
    print(f"  margin over the best baseline: {s[f'{t}_psnr_model'] - s[f'{t}_psnr_baseline']:+.2f} dB, "
          f"SSIM {s[f'{t}_ssim_model'] - s[f'{t}_ssim_baseline']:+.3f}")
    print(f"  size {path.stat().st_size:,} bytes, sha256 {sha256_file(path)}")


def rescore(name: str) -> None:
    model = R.load_restorer(name)
    state = load_checkpoint(WEIGHTS_DIR / f"{name}.pt")
    task, data = R.SHIPPED_RESTORERS[name]
    new = score(model, task, data, params=state["baseline_params"] or None)
    for a, b in zip(state["rows"], new["rows"]):
        print(f"  {a['method']:>12s} recorded {a['psnr']:.3f} / {a['ssim']:.4f}  now {b['psnr']:.3f} / {b['ssim']:.4f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=sorted(R.TASKS))
    ap.add_argument("--colour", choices=("l2", "class"), help="a colouriser with this head instead of a restorer")
    ap.add_argument("--augment", action="store_true", help="random quarter turns and flips of every batch")
    ap.add_argument("--tints", action="store_true", help="the colouriser learns colourise.ambiguous_tints of the patches")
    ap.add_argument("--data", choices=("mnist", "photo"), default="mnist")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--fine", type=int, default=300)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rescore", metavar="NAME", choices=sorted(R.SHIPPED_RESTORERS))
    a = ap.parse_args(argv)
    if a.rescore:
        return rescore(a.rescore)
    if a.colour:
        train_colour(a.colour, a.steps, a.fine, a.width, a.batch, a.seed, tints=a.tints)
        return
    if not a.task:
        ap.error("give --task (and --data), --colour or --rescore")
    if f"restore_{a.task}_{a.data}" not in R.SHIPPED_RESTORERS:
        ap.error(f"restore_{a.task}_{a.data} is not a shipped restorer: choose from {sorted(R.SHIPPED_RESTORERS)}")
    train(a.task, a.data, a.steps, a.fine, a.width, a.batch, a.seed, a.augment)


if __name__ == "__main__":
    main()
