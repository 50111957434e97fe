"""Restoration step throughput (lesson 06): img/s and peak memory of the U-Net denoising step.

Two ways of training the same ``UNet(1, 1, width=32, depth=2, residual=True)`` on σ = 0.3 denoising
of MNIST-shaped images, Adam 1e-3, MSE:

* **course**: ``ResidentBatches(..., value_range=(0, 1))`` → ``RestorationTask`` (noise drawn on the
  device inside the step) → ``fit`` (bf16 autocast and channels_last on CUDA, one host sync per log);
* **plain**: a hand-written PyTorch loop on the same device: index a resident float tensor, add
  noise, forward, ``mse_loss``, ``backward``, ``step`` (same autocast and memory format on CUDA;
  no ``.item()`` per step, a sync at the end only).

Data: random uint8 images (throughput does not depend on content). CPU: batch 64, fp32. CUDA:
batch 256 and 1024, bf16 autocast, channels_last.

    python benchmarks/bench_restore.py --smoke          # a few steps, CPU ~10 s
    python benchmarks/bench_restore.py --out DIR        # the full timing for this device

Prints a table and writes ``bench_restore.json`` to ``--out`` (default ``benchmarks/results``).
A failing variant is reported and the run goes on; the exit status is 1 if any variant failed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a bare checkout (the package need not be installed)
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from genimg_course.data import ImageSet, ResidentBatches  # noqa: E402
from genimg_course.models import UNet  # noqa: E402
from genimg_course.restore import AddNoise, RestorationTask  # noqa: E402
from genimg_course.train import adam, fit  # noqa: E402

SIGMA = 0.3


def dataset(n: int) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageSet(images, torch.zeros(n, dtype=torch.long), ["x"], "random digits 28x28", "generated")


def model(device: torch.device) -> UNet:
    torch.manual_seed(0)
    return UNet(1, 1, width=32, depth=2, residual=True).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.type == "cuda" else None


def run_course(data: ImageSet, device: torch.device, bs: int, steps: int, seconds: float) -> dict:
    task = RestorationTask(model(device), AddNoise(SIGMA), lr=1e-3)
    batches = ResidentBatches(data, bs, device, value_range=(0, 1))
    fit(task, batches, steps=3, log_every=3, progress=False)  # warm-up: cuDNN autotuning, allocator, range check
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    h = fit(task, batches, steps=steps, log_every=max(5, steps // 4), max_seconds=seconds, progress=False)
    _sync(device)
    wall = time.perf_counter() - t0
    n = h.steps[-1] if h.steps else 0
    return dict(steps=n, img_per_s=round(n * bs / wall, 1), peak_gib=_peak(device), wall_s=round(wall, 2),
                psnr=round(h.last("psnr"), 2) if h.steps else None)


def run_plain(data: ImageSet, device: torch.device, bs: int, steps: int, seconds: float) -> dict:
    net = model(device)
    cuda = device.type == "cuda"
    if cuda:
        net = net.to(memory_format=torch.channels_last)
    opt = adam(net.parameters(), 1e-3)
    x_all = data.images.to(device).float().div_(255)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    g = torch.Generator(device=device).manual_seed(0)

    def step() -> torch.Tensor:
        idx = torch.randint(0, x_all.shape[0], (bs,), device=device, generator=g)
        x = x_all[idx]
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        noisy = x + SIGMA * torch.randn_like(x)
        with amp:
            loss = F.mse_loss(net(noisy).float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    for _ in range(3):
        step()
    _sync(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0, n = time.perf_counter(), 0
    while n < steps and time.perf_counter() - t0 < seconds:
        last = step()
        n += 1
    last.item()
    _sync(device)
    wall = time.perf_counter() - t0
    return dict(steps=n, img_per_s=round(n * bs / wall, 1), peak_gib=_peak(device), wall_s=round(wall, 2),
                psnr=round(-10 * torch.log10(last).item(), 2))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", "--tiny", action="store_true", help="a few steps (CPU smoke)")
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per variant (at most)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    net = model(device)
    info = dict(device=torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
                torch=torch.__version__, date=time.strftime("%Y-%m-%d"), data="random uint8 (N, 1, 28, 28)",
                model="UNet(1, 1, width=32, depth=2, residual=True)", params=sum(q.numel() for q in net.parameters()),
                task=f"denoise sigma={SIGMA}, MSE, Adam 1e-3", threads=torch.get_num_threads())
    print(json.dumps(info), flush=True)
    batch_sizes = [256, 1024] if device.type == "cuda" else [64]
    n = 60_000 if device.type == "cuda" else 2_000
    steps = 4 if args.smoke else 100_000
    seconds = 3.0 if args.smoke else args.seconds
    data = dataset(n)
    rows = []
    for bs in batch_sizes:
        for way, run in (("course", run_course), ("plain", run_plain)):
            try:
                row = run(data, device, bs, steps, seconds)
            except Exception as e:  # report and go on
                row = dict(error=repr(e)[:300])
            row.update(variant=f"{way} bs{bs} {'bf16 channels_last' if device.type == 'cuda' else 'fp32'}",
                       way=way, batch=bs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for r in rows:
        plain = next((q for q in rows if q["way"] == "plain" and q["batch"] == r["batch"] and "img_per_s" in q), None)
        if r["way"] == "course" and plain and "img_per_s" in r:
            r["x_plain"] = round(r["img_per_s"] / plain["img_per_s"], 2)
    (args.out / "bench_restore.json").write_text(json.dumps(dict(info=info, rows=rows), indent=1))
    print(f"\n{'variant':<36} {'img/s':>10} {'peak GiB':>9} {'x plain':>8}")
    for r in rows:
        ips = f"{r['img_per_s']:,.0f}" if "img_per_s" in r else "ERROR " + r["error"][:30]
        print(f"{r['variant']:<36} {ips:>10} {str(r.get('peak_gib') or '-'):>9} {str(r.get('x_plain', '-')):>8}")
    print(f"\nwrote {args.out / 'bench_restore.json'}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
