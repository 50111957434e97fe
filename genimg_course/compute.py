"""What a model costs on the current device (lesson 11's compute section): images per second of a training
step, samples per second of a sampler, and peak memory, measured the same way for every family.

:func:`time_training` runs a task's step through :func:`~genimg_course.train.fit` (the course's one loop, so the
number is what a lesson gets): ``warmup`` steps first (kernel selection, allocator, BatchNorm statistics), then
``steps`` timed steps. :func:`time_sampling` times a sampler the same way. On a GPU each measurement resets and
reads the device's peak allocated memory; on a CPU it reports the process's peak resident memory so far (a running
maximum that covers everything run before, so read it as an upper bound)::

    from genimg_course.compute import time_training
    t = time_training(GANTask(G, D), ResidentBatches(train, 64, device), steps=10)
    print(t)   # StepTiming(img/s, s/step, peak GiB)

A few steps of a small model are a rough figure: on a shared machine separate runs move by 10-50 %.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch

__all__ = ["StepTiming", "time_training", "time_sampling", "peak_memory_gib", "reset_peak_memory"]


@dataclass(frozen=True)
class StepTiming:
    """One measurement: ``images_per_s`` (training images, or samples, per second), ``seconds_per_step`` (per
    step, or per call of the sampler), ``steps`` timed, ``batch_size``, ``peak_gib`` (see the module's note on
    what it means on a CPU), ``device`` and ``what`` (``"train"`` or ``"sample"``)."""

    images_per_s: float
    seconds_per_step: float
    steps: int
    batch_size: int
    peak_gib: float
    device: str
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        return (f"{self.what}: {self.images_per_s:,.0f} img/s, {1000 * self.seconds_per_step:.1f} ms per "
                f"{'step' if self.what == 'train' else 'call'} of {self.batch_size}, peak {self.peak_gib:.2f} GiB "
                f"({self.device})")


def _count(name: str, v: Any, minimum: int, who: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{who}: {name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _as_device(device: Any, who: str) -> torch.device:
    try:
        return torch.device(device)
    except (TypeError, RuntimeError) as e:
        raise ValueError(f"{who}: device must be a torch.device or a name such as 'cpu' or 'cuda', got {device!r}") from e


def reset_peak_memory(device: torch.device | str = "cpu") -> None:
    """Start a new peak-memory measurement on a CUDA ``device`` (a no-op on a CPU, whose peak is the process's)."""
    device = _as_device(device, "reset_peak_memory")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device | str = "cpu") -> float:
    """Peak memory in GiB: allocated tensors on a CUDA ``device`` since :func:`reset_peak_memory`; on a CPU the
    process's peak resident set size so far (Linux and macOS; 0.0 where the OS does not say)."""
    device = _as_device(device, "peak_memory_gib")
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    try:
        import resource
        import sys
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / (2**30 if sys.platform == "darwin" else 2**20)  # bytes on macOS, KiB on Linux
    except (ImportError, OSError):  # pragma: no cover - not on Linux/macOS
        return 0.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(task: Any, batches: Any, steps: int = 10, *, warmup: int = 2, device: torch.device | str | None = None,
                  amp_dtype: Any = "auto") -> StepTiming:
    """Images per second of ``task``'s training step on ``batches`` (anything :func:`~genimg_course.train.fit`
    takes, with a ``batch_size``): ``warmup`` untimed steps, then ``steps`` timed ones, both through ``fit``
    (``amp_dtype`` is passed on). The task keeps training: time a fresh copy if its weights matter.
    ``device``: where the task runs (default: where its first module's weights are)."""
    from .train import fit

    who = "time_training"
    if not hasattr(task, "step") or not hasattr(task, "modules"):
        raise TypeError(f"{who}: task must be a course Task (with .modules and .step, e.g. gan.GANTask), got "
                        f"{type(task).__name__}")
    batch_size = getattr(batches, "batch_size", None)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise TypeError(f"{who}: batches must have an integer batch_size (data.ResidentBatches does), got "
                        f"{type(batches).__name__}")
    steps = _count("steps", steps, 1, who)
    warmup = _count("warmup", warmup, 0, who)
    if device is None:
        first = next((p for m in task.modules.values() for p in m.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = _as_device(device, who)
    if warmup:
        fit(task, batches, steps=warmup, log_every=warmup, progress=False, amp_dtype=amp_dtype)
    reset_peak_memory(device)
    _sync(device)
    t0 = time.perf_counter()
    fit(task, batches, steps=steps, log_every=steps, progress=False, amp_dtype=amp_dtype)
    _sync(device)
    seconds = time.perf_counter() - t0
    return StepTiming(steps * batch_size / seconds, seconds / steps, steps, batch_size, peak_memory_gib(device),
                      str(device), "train")


def time_sampling(sample: Callable[[int], Any], n: int, *, repeats: int = 1, warmup: bool = True,
                  device: torch.device | str = "cpu") -> StepTiming:
    """Samples per second of ``sample(n)`` (a function drawing ``n`` images, e.g. ``lambda n: generate(G, n)``):
    one untimed call when ``warmup``, then ``repeats`` timed calls, of which the fastest counts (the call least
    disturbed by other work on a shared machine); ``steps`` in the result is ``repeats``."""
    who = "time_sampling"
    if not callable(sample):
        raise TypeError(f"{who}: sample must be a function n -> n images, got {type(sample).__name__}")
    n = _count("n", n, 1, who)
    repeats = _count("repeats", repeats, 1, who)
    device = _as_device(device, who)
    if warmup:
        sample(n)
    reset_peak_memory(device)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = sample(n)
        _sync(device)
        times.append(time.perf_counter() - t0)
        if isinstance(out, torch.Tensor) and out.shape[0] != n:
            raise ValueError(f"{who}: sample({n}) returned {out.shape[0]} images, expected {n}")
    seconds = min(times)
    return StepTiming(n / seconds, seconds, repeats, n, peak_memory_gib(device), str(device), "sample")
