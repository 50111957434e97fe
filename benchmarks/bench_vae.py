"""VAE step throughput: the course's VAE training loop in img/s and peak memory.

Two models, trained by the course path end to end: ``ResidentBatches(..., value_range=(0, 1))``
(uint8 images resident on the device, scaled there), ``VAETask`` (negative ELBO, Adam 1e-3, fused
on CUDA, no host sync inside a step) and ``fit`` (bf16 autocast with ``amp_dtype="auto"``,
channels_last on CUDA, one host sync per log):

* ``MLPVAE()``: exactly the model ``../shared/bench/examples_loop_reference.py`` times
  (pytorch/examples' 784-400-20 VAE). Its rows that compare with the reference run in fp32 (the
  reference's precision) and with ``binarize=False`` (the reference trains on the grey levels);
  one extra row draws the pixels as Bernoulli(x) every step (``binarize=True``), as the lesson does.
* ``ConvVAE(latent_dim=16)``: lesson 05's model, with ``binarize=True`` (VAETask's default, the
  lesson's setting).

Variants on CUDA: MLPVAE batch 128 and 1024 in fp32 and bf16, MLPVAE batch 1024 bf16 binarised;
ConvVAE batch 256 and 1024 in bf16 and batch 1024 in fp32 (channels_last in all CUDA rows). On the
CPU: MLPVAE batch 128 and ConvVAE batch 64, fp32. Data: random MNIST-shaped uint8 images
(throughput does not depend on content; never time on zeros), 60,000 on a GPU, 2,000 on the CPU.

    python benchmarks/bench_vae.py --tiny                       # CPU smoke, ~20 s
    python benchmarks/bench_vae.py --out DIR                    # all variants for this device
    python benchmarks/bench_vae.py --reference .bench_ref/examples_loop_reference.py --out $OUT
        # also runs the reference's VAE variants (--only vae) in the same call, on the same card

Writes ``vae_bench.json`` and ``vae_bench.png`` to ``--out`` (default ``benchmarks/results``); the
reference writes its ``dcgan_anchor.json`` to ``--out``/vae_reference/ (so a GAN run's file in
``--out`` is not overwritten). A failing variant is reported and the run goes on; the exit status
is 1 if any variant failed.
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

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a bare checkout (the package need not be installed)
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from genimg_course.data import ImageSet, ResidentBatches  # noqa: E402
from genimg_course.models.vae import ConvVAE, MLPVAE  # noqa: E402
from genimg_course.train import fit  # noqa: E402
from genimg_course.vae import VAETask  # noqa: E402

MODELS = {"MLPVAE": lambda: MLPVAE(), "ConvVAE": lambda: ConvVAE(latent_dim=16)}
REF_ANCHOR = "vae anchor (examples loop, bs128)"


def dataset(n: int) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageSet(images, torch.zeros(n, dtype=torch.long), ["x"], "random digits 28x28", "generated")


def variant_name(model: str, bs: int, amp: bool, binarize: bool, device: torch.device) -> str:
    prec = "bf16" if amp and device.type == "cuda" else "fp32"
    return f"course {model} bs{bs} {prec}{' binarized' if binarize else ''}"


def mflop_per_img_step(model_name: str, device: torch.device) -> float | None:
    """MFLOPs of one training step's forward + backward (the optimiser not counted), per image."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
        model = MODELS[model_name]().to(device)
        task = VAETask(model, binarize=False)
        x = torch.rand(16, 1, 28, 28, device=device)
        with FlopCounterMode(display=False) as fc:
            task.losses(x, None)["loss"].backward()
        return round(fc.get_total_flops() / 16 / 1e6, 3)
    except Exception:
        return None


def run_variant(data: ImageSet, device: torch.device, model_name: str, batch_size: int, amp: bool,
                binarize: bool, steps: int, seconds: float) -> dict:
    torch.manual_seed(0)
    model = MODELS[model_name]().to(device)
    task = VAETask(model, lr=1e-3, binarize=binarize)
    batches = ResidentBatches(data, batch_size, device, value_range=(0, 1))
    kw = dict(amp_dtype="auto" if amp else None, progress=False, seed=0)
    fit(task, batches, steps=5, log_every=5, **kw)  # warm-up: cuDNN autotuning, allocator, range check
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    hist = fit(task, batches, steps=steps, log_every=max(10, steps // 4), max_seconds=seconds, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize()  # fit already ends on a log's .item(); this costs nothing and makes sure
    wall = time.perf_counter() - t0
    n_steps = hist.steps[-1] if hist.steps else 0
    return dict(model=model_name, batch=batch_size, amp="bf16" if amp and device.type == "cuda" else "fp32",
                binarize=binarize, channels_last=device.type == "cuda", steps=n_steps,
                img_per_s=round(n_steps * batch_size / wall, 1),
                peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.type == "cuda" else None,
                wall_s=round(wall, 2), elbo=round(hist.last("elbo"), 2) if hist.steps else None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="CPU smoke: a few steps")
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per variant (at most)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--reference", type=Path, default=None, help="path to examples_loop_reference.py to run beside")
    p.add_argument("--reference-args", default="",
                   help='extra arguments for the reference, after "--only vae", e.g. "--seconds 5"')
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    info = dict(device=torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
                torch=torch.__version__, date=time.strftime("%Y-%m-%d"), data="random uint8 (N, 1, 28, 28)")
    info["mflop_per_img_step"] = {k: mflop_per_img_step(k, device) for k in MODELS}
    print(json.dumps(info), flush=True)
    # (model, batch, bf16 autocast, binarize)
    if device.type == "cuda":
        variants = [("MLPVAE", 128, False, False), ("MLPVAE", 1024, False, False),
                    ("MLPVAE", 128, True, False), ("MLPVAE", 1024, True, False), ("MLPVAE", 1024, True, True),
                    ("ConvVAE", 256, True, True), ("ConvVAE", 1024, True, True), ("ConvVAE", 1024, False, True)]
        n = 60_000
    else:
        variants = [("MLPVAE", 128, False, False), ("ConvVAE", 64, False, True)]
        n = 2_000
    info["n_images"] = n
    steps = 4 if args.tiny else 10_000
    seconds = 3.0 if args.tiny else args.seconds
    data = dataset(n)
    rows = []
    for model_name, bs, amp, binz in variants:
        try:
            row = run_variant(data, device, model_name, bs, amp, binz, steps, seconds)
        except Exception as e:  # report and go on: one failing variant must not cost the run
            row = dict(model=model_name, batch=bs, amp="bf16" if amp and device.type == "cuda" else "fp32",
                       binarize=binz, error=repr(e)[:300])
        row["variant"] = variant_name(model_name, bs, amp, binz, device)
        rows.append(row)
        print(json.dumps(row), flush=True)
    reference = None
    if args.reference is not None:
        ref_out = args.out / "vae_reference"  # the reference always names its file dcgan_anchor.json
        ref_out.mkdir(parents=True, exist_ok=True)
        ref_file = ref_out / "dcgan_anchor.json"
        ref_file.unlink(missing_ok=True)  # never report a stale file as this run's
        cmd = [sys.executable, str(args.reference), "--out", str(ref_out), "--only", "vae"] \
            + (["--tiny"] if args.tiny else []) + shlex.split(args.reference_args)
        print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
        subprocess.run(cmd, check=False)
        if ref_file.exists():
            reference = json.loads(ref_file.read_text())
    # ratios (MLPVAE rows only: the reference's model): against the examples loop, and the
    # non-binarised rows against the reference's resident loop (fp32) at the same batch
    ref_ips = {x["variant"]: x["img_per_s"] for x in (reference or {}).get("rows", []) if "img_per_s" in x}
    for r in rows:
        if "img_per_s" not in r or r["model"] != "MLPVAE":
            continue
        if REF_ANCHOR in ref_ips:
            r["x_ref_anchor"] = round(r["img_per_s"] / ref_ips[REF_ANCHOR], 2)
        same = f"vae resident bs{r['batch']}"
        if not r["binarize"] and same in ref_ips:
            r["x_ref_resident"] = round(r["img_per_s"] / ref_ips[same], 2)
            r["ref_resident_precision_matches"] = r["amp"] == "fp32"
    (args.out / "vae_bench.json").write_text(json.dumps(dict(info=info, rows=rows, reference=reference), indent=1))

    def cell(r: dict, k: str) -> str:
        v = r.get(k)
        return "-" if v is None else f"{v:,}" if isinstance(v, (int, float)) else str(v)

    print(f"\n{'variant':<50} {'img/s':>12} {'peak GiB':>9} {'x anchor':>9} {'x ref same bs':>14}")
    for r in rows:
        ips = f"{r['img_per_s']:,.0f}" if "img_per_s" in r else "ERROR " + r["error"][:30]
        print(f"{r['variant'][:50]:<50} {ips:>12} {cell(r, 'peak_gib'):>9} {cell(r, 'x_ref_anchor'):>9} "
              f"{cell(r, 'x_ref_resident'):>14}")
    if reference:
        print(f"\n{'reference (' + reference['info'].get('device', '?') + ')':<50} {'img/s':>12} {'peak GiB':>9}")
        for x in reference["rows"]:
            ips = f"{x['img_per_s']:,.0f}" if "img_per_s" in x else "ERROR " + x.get("error", "")[:30]
            print(f"{x['variant'][:50]:<50} {ips:>12} {cell(x, 'peak_gib'):>9}")
    elif args.reference is not None:
        print(f"\nreference: no result (see its output above; expected {args.out / 'vae_reference' / 'dcgan_anchor.json'})")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
        ok = [dict(variant=r["variant"], img_per_s=r["img_per_s"], ref=False) for r in rows if "img_per_s" in r] + \
             ([dict(variant="ref: " + x["variant"], img_per_s=x["img_per_s"], ref=True)
               for x in reference["rows"] if "img_per_s" in x] if reference else [])
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(ok) + 1.2))
        ax.barh([r["variant"] for r in ok], [r["img_per_s"] for r in ok],
                color=["tab:gray" if r["ref"] else "tab:blue" for r in ok])
        for i, r in enumerate(ok):
            ax.text(r["img_per_s"], i, f" {r['img_per_s']:,.0f}", va="center", fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlim(right=max(r["img_per_s"] for r in ok) * 2)  # room for the value labels
        ax.invert_yaxis()
        ax.set_xlabel("images / s (one ELBO step per image; log scale)")
        ax.set_title(f"VAE training step on {info['device']}")
        fig.tight_layout()
        fig.savefig(args.out / "vae_bench.png", dpi=120)
    except Exception as e:
        print("figure skipped:", e)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
