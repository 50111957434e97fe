"""What a training run logged, and how :func:`genimg_course.train.fit` keeps it without waiting
for the device: losses are summed as tensors on the device every step and read once per log.
A NaN or infinite mean stops the run with :class:`TrainingDiverged`, whose message says why.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

__all__ = ["History", "TrainingDiverged", "Logger"]

_HINT_NAN = (
    "The usual causes: a learning rate that is too high, images outside the range the loss expects, "
    "or log(0) in a hand-written loss. Lower lr, check the data range, and restart from the last checkpoint."
)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says what usually causes it."""


@dataclass
class History:
    """What a run logged: ``values[name][i]`` is the mean of ``name`` over the steps up to
    ``steps[i]``. ``stopped_by`` is ``"steps"``, ``"time"``, ``"interrupted"`` or ``"data"`` (the batches ran out)."""

    steps: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    images: int = 0
    stopped_by: str = ""

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def last(self, name: str) -> float:
        if name not in self.values or not self.values[name]:
            raise KeyError(f"no logged values for {name!r}; logged: {sorted(self.values)}")
        return self.values[name][-1]

    def to_state(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "values": {k: list(v) for k, v in self.values.items()},
                "seconds": float(self.seconds), "images": int(self.images)}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> "History":
        missing = [k for k in ("steps", "values", "seconds", "images") if not isinstance(s, dict) or k not in s]
        if missing:
            raise ValueError(f"a History state needs steps, values, seconds and images; this one lacks {missing}")
        return cls(list(s["steps"]), {k: list(v) for k, v in s["values"].items()}, float(s["seconds"]), int(s["images"]))

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.values.items() if v)
        return (f"History({self.steps[-1] if self.steps else 0} steps in {self.seconds:.1f} s, "
                f"{self.images_per_second:,.0f} img/s, stopped by {self.stopped_by or '-'}; {last})")


class Logger:
    """Keeps a run's :class:`History` without a host sync per step.

    :meth:`add` sums each step's losses as tensors on the device; :meth:`log` turns the sums into
    means with one ``.tolist()`` (the one sync per log), averages them over the ranks with
    ``reduce`` (``distributed.all_mean`` under torchrun), appends them to the history, shows them on
    the progress ``bar`` and calls each callback with the history. A NaN or infinite mean raises
    :class:`TrainingDiverged`, its message naming the loss, the step, the task's ``hint`` and where the
    last good checkpoint is."""

    def __init__(self, history: History, *, bar: Any = None, callbacks: Sequence[Callable[[History], None]] = (),
                 reduce: Callable[[torch.Tensor], torch.Tensor] | None = None, hint: str = "",
                 checkpoint: Any = None) -> None:
        self.history, self.bar, self.callbacks, self.reduce = history, bar, list(callbacks), reduce
        self.hint, self.checkpoint = hint, checkpoint
        self.sums: dict[str, torch.Tensor] = {}
        self.pending = 0  # steps summed since the last log
        self._t0, self._seconds0 = time.perf_counter(), history.seconds

    @property
    def elapsed(self) -> float:
        """Seconds since this logger started (this session of the run)."""
        return time.perf_counter() - self._t0

    def add(self, out: dict[str, torch.Tensor], images: int) -> None:
        """One step's logged values (detached scalar tensors) and how many images it trained on."""
        for k, v in out.items():
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.pending += 1
        self.history.images += images

    def log(self, step: int, together: bool = True) -> None:
        """Log the means of the steps summed since the last log (nothing to do when there are none).
        ``together=False``: no collective (an interrupted rank cannot wait for the others)."""
        self.history.seconds = self._seconds0 + self.elapsed
        if not self.pending:
            return
        device = next(iter(self.sums.values())).device
        values = torch.stack([v.reshape(()).to(device) for v in self.sums.values()]) / self.pending
        if self.reduce is not None and together:
            values = self.reduce(values)  # the same means on every rank
        means = dict(zip(self.sums, values.tolist()))  # the one host sync per log
        self.sums, self.pending = {}, 0
        self.history.steps.append(step)
        for k, v in means.items():
            self.history.values.setdefault(k, []).append(v)
        self._stop_if_diverged(means, step)
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()}, refresh=False)
        for cb in self.callbacks:
            cb(self.history)

    def _stop_if_diverged(self, means: dict[str, float], step: int) -> None:
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        if not bad:
            return
        if self.checkpoint is not None and self.checkpoint.exists():
            save_note = f" The last good checkpoint is {self.checkpoint}: fit() resumes from it."
        else:
            save_note = " Pass checkpoint=... and checkpoint_every=... to keep the last good state next time."
        hint = f"{self.hint} " if self.hint else ""
        raise TrainingDiverged(f"{', '.join(bad)} became {means[bad[0]]} by step {step}. {hint}{_HINT_NAN}{save_note}")
