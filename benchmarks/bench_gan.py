"""GAN step throughput: the course's DCGAN training loop in img/s and peak memory.

The models are exactly the ones ``../shared/bench/examples_loop_reference.py`` times: DCGAN for
64x64, 1 channel, latent 100, width 64, no conv biases (``DCGANGenerator(latent_dim=100, width=64,
image_size=64)``, ``DCGANDiscriminator(width=64, image_size=64, bias=False)``: 3,574,656 and
2,763,520 parameters, as the reference's; a test checks), Adam 2e-4 / (0.5, 0.999), the
non-saturating loss. The course path is measured end to end:
``ResidentBatches`` (uint8 images resident on the device, scaled there), ``GANTask`` and
``fit`` (bf16 autocast and channels_last on CUDA, fused Adam, one host sync per log).
Data: MNIST-shaped random uint8 digits upsampled once to 64x64 (throughput does not depend on
content; never time on zeros).

    python benchmarks/bench_gan.py --tiny                       # CPU smoke, ~20 s
    python benchmarks/bench_gan.py --out DIR                    # all variants for this device
    python benchmarks/bench_gan.py --reference .bench_ref/examples_loop_reference.py --out $OUT
        # also runs the reference loop in the same call, on the same card, and prints both

Writes ``gan_bench.json`` and ``gan_bench.png`` to ``--out`` (default ``benchmarks/results``).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genimg_course.data import ImageSet, ResidentBatches
from genimg_course.gan import GANTask
from genimg_course.models import DCGANDiscriminator, DCGANGenerator, dcgan_init
from genimg_course.train import fit


def dataset(n: int, device: torch.device) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    small = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    big = F.interpolate(small.float(), size=64, mode="bilinear", align_corners=False).round().clamp(0, 255)
    return ImageSet(big.to(torch.uint8), torch.zeros(n, dtype=torch.long), ["x"], "random digits 64x64", "generated")


def models(device: torch.device) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=100, width=64, image_size=64).to(device)
    D = DCGANDiscriminator(width=64, image_size=64, bias=False).to(device)  # pytorch/examples' D: no conv bias
    dcgan_init(G), dcgan_init(D)
    return G, D


def reference_models(path: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The reference's own G and D (logits, no sigmoid), built by the functions in its file at ``path``
    and initialised by its ``weights_init``; only those functions are run, not the script."""
    src = path.read_text()
    scope: dict = {"nn": torch.nn}
    exec(src[src.index("def weights_init"):src.index("def sync")], scope)
    G, D = scope["generator"](), scope["discriminator"](sigmoid=False)
    G.apply(scope["weights_init"]), D.apply(scope["weights_init"])
    return G, D


def gflop_per_image_step(data: ImageSet, reuse_fakes: bool, batch_size: int = 16) -> float:
    """FLOPs of one ``GANTask`` step per image (CPU, fp32), counted as the reference counts its own."""
    from torch.utils.flop_counter import FlopCounterMode
    task = GANTask(*models(torch.device("cpu")), reuse_fakes=reuse_fakes)
    batches = ResidentBatches(data, batch_size, torch.device("cpu"))
    with FlopCounterMode(display=False) as counter:
        fit(task, batches, steps=1, progress=False, seed=0)
    return round(counter.get_total_flops() / batch_size / 1e9, 3)


def run_variant(data: ImageSet, device: torch.device, batch_size: int, amp: bool, channels_last: bool,
                steps: int, seconds: float, reuse_fakes: bool = True) -> dict:
    task = GANTask(*models(device), reuse_fakes=reuse_fakes)
    batches = ResidentBatches(data, batch_size, device, channels_last=channels_last)
    kw = dict(amp_dtype="auto" if amp else None, channels_last=channels_last, progress=False, seed=0)
    fit(task, batches, steps=5, log_every=5, **kw)  # warm-up: cuDNN autotuning, allocator
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    hist = fit(task, batches, steps=steps, log_every=max(10, steps // 4), max_seconds=seconds, **kw)  # ends with a sync
    wall = time.perf_counter() - t0
    n_steps = hist.steps[-1] if hist.steps else 0
    return dict(batch=batch_size, amp="bf16" if amp and device.type == "cuda" else "fp32",
                channels_last=channels_last, reuse_fakes=reuse_fakes, steps=n_steps,
                img_per_s=round(n_steps * batch_size / wall, 1),
                peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.type == "cuda" else None,
                wall_s=round(wall, 2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="CPU smoke: a few steps")
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per variant (at most)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--reference", type=Path, default=None, help="path to examples_loop_reference.py to run beside")
    p.add_argument("--only", default="", help='comma-separated substrings of variant names, e.g. "bs1024 bf16 channels_last"')
    p.add_argument("--reference-args", default="", help='extra arguments for the reference, e.g. "--seconds 5 --only vae"')
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    info = dict(device=torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
                torch=torch.__version__, date=time.strftime("%Y-%m-%d"))
    small = dataset(64, torch.device("cpu"))
    info["gflop_per_img_step"] = gflop_per_image_step(small, True)  # the reference prints its own: 2.44
    info["gflop_per_img_step_fresh_codes"] = gflop_per_image_step(small, False)
    print(json.dumps(info), flush=True)
    if device.type == "cuda":
        variants = [(64, True, True, True), (256, True, True, True), (1024, True, True, True),
                    (1024, True, True, False), (1024, False, False, True), (1024, True, False, True),
                    (4096, True, True, True)]
        n = 60_000
    else:
        variants = [(16, False, False, True), (16, False, False, False)] if args.tiny else \
            [(64, False, False, True), (64, False, False, False)]
        n = 2_000
    steps = 4 if args.tiny else 10_000
    seconds = 3.0 if args.tiny else args.seconds
    data = dataset(n, device)
    def name(bs: int, amp: bool, cl: bool, reuse: bool) -> str:
        return (f"course loop bs{bs} {'bf16' if amp and device.type == 'cuda' else 'fp32'}{' channels_last' if cl else ''}"
                f"{'' if reuse else ' fresh codes'}")

    if args.only:
        keys = [k for k in args.only.split(",") if k]
        chosen = [v for v in variants if any(k in name(*v) for k in keys)]
        if not chosen:
            raise SystemExit(f"--only {args.only!r} matches no variant on this device; the variants are: "
                             + "; ".join(name(*v) for v in variants))
        variants = chosen
    rows = []
    for bs, amp, cl, reuse in variants:
        try:
            row = run_variant(data, device, bs, amp, cl, steps, seconds, reuse)
        except Exception as e:  # report and go on: one failing variant must not cost the run
            row = dict(batch=bs, amp=amp, channels_last=cl, reuse_fakes=reuse, error=repr(e)[:300])
        row["variant"] = name(bs, amp, cl, reuse)
        rows.append(row)
        print(json.dumps(row), flush=True)
    reference = None
    if args.reference is not None:
        cmd = [sys.executable, str(args.reference), "--out", str(args.out)] + (["--tiny"] if args.tiny else []) \
            + shlex.split(args.reference_args)
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=False)
        ref_file = args.out / "dcgan_anchor.json"
        if ref_file.exists():
            reference = json.loads(ref_file.read_text())
    (args.out / "gan_bench.json").write_text(json.dumps(dict(info=info, rows=rows, reference=reference), indent=1))
    print(f"\n{'variant':<50} {'img/s':>10} {'peak GiB':>9}")
    for r in rows + ([dict(variant="reference: " + x["variant"], **{k: v for k, v in x.items() if k != "variant"})
                      for x in reference["rows"]] if reference else []):
        print(f"{r['variant'][:50]:<50} {r.get('img_per_s', r.get('error', '')[:30])!s:>10} {r.get('peak_gib') or '-'!s:>9}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        ok = [r for r in rows if "img_per_s" in r] + \
             ([dict(variant="ref: " + x["variant"], img_per_s=x["img_per_s"]) for x in reference["rows"] if "img_per_s" in x]
              if reference else [])
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(ok) + 1))
        ax.barh([r["variant"] for r in ok], [r["img_per_s"] for r in ok])
        ax.set_xlabel("images / s (one D step + one G step per image)")
        ax.set_title(f"DCGAN 64x64 training step on {info['device']}")
        fig.tight_layout()
        fig.savefig(args.out / "gan_bench.png", dpi=120)
    except Exception as e:
        print("figure skipped:", e)


if __name__ == "__main__":
    main()
