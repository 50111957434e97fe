"""Run profiles: how big a lesson's runs are on this machine.

``smoke`` is for CI (seconds per lesson on 2 CPU cores), ``cpu`` for a learner's laptop (a few
minutes per lesson), ``gpu`` for a classroom lab (the full lesson). ``auto`` picks ``gpu`` when
CUDA is available, else ``cpu``. A notebook's ``PROFILE = "auto"`` yields to the
``GENIMG_PROFILE`` environment variable, which is how nbval runs choose ``smoke``.
``GENIMG_GPU_MEM_GIB`` caps each kernel's GPU memory where students share a card.

Sizes that differ per lesson are picked with :meth:`Profile.pick`::

    steps = profile.pick(smoke=40, cpu=1_500, gpu=6_000)

The one rule for mixed precision is :func:`autocast_dtype`: bf16 autocast on a CUDA device that
supports bf16, full precision everywhere else (``Profile.amp_dtype`` and ``fit(amp_dtype="auto")``).

Importing this module does not import torch (the classroom tools read :data:`PROFILE_NAMES`
without loading it); the functions that need torch import it when called.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

__all__ = ["Profile", "PROFILE_NAMES", "resolve", "default_device", "autocast_dtype", "apply_gpu_memory_cap",
           "TimeBudget"]

PROFILE_NAMES = ("smoke", "cpu", "gpu")
T = TypeVar("T")


def __getattr__(name: str) -> Any:
    """``profiles.torch`` still works (it is imported on first use, not with this module)."""
    if name == "torch":
        import torch

        return torch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_device() -> torch.device:
    """``cuda`` when a GPU is usable, else ``cpu``; ``GENIMG_DEVICE`` overrides."""
    import torch

    forced = os.environ.get("GENIMG_DEVICE", "").strip()
    if forced:
        dev = torch.device(forced)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"GENIMG_DEVICE={forced!r} asks for CUDA, but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}). Unset GENIMG_DEVICE or install a CUDA build of torch."
            )
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The one rule for mixed precision: ``torch.bfloat16`` on a CUDA device that supports bf16
    (no gradient scaler needed, unlike fp16), else ``None`` (full precision: the CPU, and GPUs
    without bf16)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


@dataclass(frozen=True)
class Profile:
    """A named set of sizes. ``device`` is where tensors and models live."""

    name: str
    device: torch.device
    batch_size: int
    max_seconds: float  # time budget for one training run in a lesson
    eval_samples: int  # images used for a quality metric (FID/KID, accuracy)
    online_data: bool  # try torchvision downloads (full MNIST) before the offline set

    def pick(self, **values: T) -> T:
        """Return the value given for this profile, e.g. ``pick(smoke=40, cpu=1500, gpu=6000)``."""
        missing = [n for n in PROFILE_NAMES if n not in values]
        extra = [n for n in values if n not in PROFILE_NAMES]
        if missing or extra:
            raise ValueError(
                f"pick() expects exactly the keywords {PROFILE_NAMES}; "
                f"missing {missing or 'none'}, unexpected {extra or 'none'}"
            )
        return values[self.name]

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """bf16 autocast on GPUs that support it; full precision on the CPU (:func:`autocast_dtype`)."""
        return autocast_dtype(self.device)

    def describe(self) -> str:
        amp = "bf16 autocast" if self.amp_dtype is not None else "fp32"
        return (
            f"profile {self.name!r} on {self.device} ({amp}): batch {self.batch_size}, "
            f"up to {self.max_seconds:g} s per training run, {self.eval_samples} images per metric"
        )


_SIZES: dict[str, dict[str, Any]] = {
    # smoke's runs are sized by their step counts (seconds on a quiet machine); its cap only stops a
    # hung run, so a loaded CI machine gets the same figures as a quiet one, only later
    "smoke": dict(batch_size=64, max_seconds=150.0, eval_samples=500, online_data=False),
    "cpu": dict(batch_size=64, max_seconds=150.0, eval_samples=1000, online_data=True),
    "gpu": dict(batch_size=256, max_seconds=240.0, eval_samples=5000, online_data=True),
}


def resolve(name: str = "auto") -> Profile:
    """Turn ``"auto" | "smoke" | "cpu" | "gpu"`` into a :class:`Profile`.

    An explicit name wins. ``"auto"`` first honours ``GENIMG_PROFILE``, then picks ``gpu`` when
    CUDA is available and ``cpu`` otherwise.
    """
    if not isinstance(name, str):
        raise TypeError(f"profile name must be a string such as 'auto' or 'smoke', got {type(name).__name__}")
    chosen, origin = name.strip().lower(), f"profile {name!r}"
    if chosen == "auto":
        env = os.environ.get("GENIMG_PROFILE", "").strip().lower()
        if env:
            chosen, origin = env, f"GENIMG_PROFILE={env!r}"
    if chosen == "auto":
        import torch

        chosen = "gpu" if torch.cuda.is_available() else "cpu"
    if chosen not in PROFILE_NAMES:
        raise ValueError(f"unknown {origin}: expected one of 'auto', {', '.join(map(repr, PROFILE_NAMES))}")
    device = default_device()
    apply_gpu_memory_cap(device)
    return Profile(name=chosen, device=device, **_SIZES[chosen])


def apply_gpu_memory_cap(device: torch.device, total_bytes: int | None = None) -> float | None:
    """Cap this process's share of the GPU when ``GENIMG_GPU_MEM_GIB`` is set (a classroom where
    many kernels share one card): ``torch.cuda.set_per_process_memory_fraction`` with that many GiB
    of the card's total. Past the cap PyTorch raises an out-of-memory error in this kernel instead of
    starving the others. Returns the fraction set, or ``None`` (no variable, or not on CUDA)."""
    raw = os.environ.get("GENIMG_GPU_MEM_GIB", "").strip()
    if not raw or device.type != "cuda":
        return None
    try:
        gib = float(raw)
    except ValueError:
        raise ValueError(f"GENIMG_GPU_MEM_GIB must be a number of GiB such as 3 or 2.5, got {raw!r}") from None
    if not gib > 0:
        raise ValueError(f"GENIMG_GPU_MEM_GIB must be positive, got {raw!r}")
    import torch

    index = device.index if device.index is not None else torch.cuda.current_device()
    if total_bytes is None:
        total_bytes = torch.cuda.get_device_properties(index).total_memory
    fraction = min(1.0, gib * 2**30 / total_bytes)
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    return fraction


class TimeBudget:
    """A lesson's training time, shared by its runs in proportion to their planned steps, so that a
    lesson of several runs keeps its promised length on a slower machine.

    ``budget = TimeBudget(240, total_steps=6_300)``; before each run ``fit(..., steps=s,
    max_seconds=budget.seconds_for(s))``, after it ``budget.spend(history.seconds, s)``. A run gets
    what is left times its share of the steps left: a run that finishes early leaves its time to the
    next ones, a slow machine cuts every run by the same factor instead of the last one to nothing."""

    def __init__(self, total_seconds: float, total_steps: int) -> None:
        if isinstance(total_seconds, bool) or not isinstance(total_seconds, (int, float)) or not total_seconds > 0:
            raise ValueError(f"total_seconds must be a positive number, got {total_seconds!r}")
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
        self.total_seconds, self.total_steps = float(total_seconds), total_steps
        self.spent_seconds, self.spent_steps = 0.0, 0

    def seconds_for(self, steps: int) -> float:
        """The time budget of a run of ``steps`` planned steps (at least one second)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        steps_left = max(self.total_steps - self.spent_steps, steps)
        return max(1.0, (self.total_seconds - self.spent_seconds) * steps / steps_left)

    def spend(self, seconds: float, steps: int) -> None:
        """Record a finished run: how long it took and how many steps it had planned."""
        if not seconds >= 0 or isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"spend(seconds >= 0, steps >= 0 planned), got seconds={seconds!r}, steps={steps!r}")
        self.spent_seconds += float(seconds)
        self.spent_steps += steps

    def __repr__(self) -> str:
        return (f"TimeBudget({self.spent_seconds:.0f} of {self.total_seconds:.0f} s spent on {self.spent_steps} of "
                f"{self.total_steps} planned steps)")
