"""What a training run logged, and how :func:`genimg_course.train.fit` keeps it without waiting
for the device: losses are summed as tensors on the device every step and read once per log.
A NaN or infinite mean stops the run with :class:`TrainingDiverged`, whose message says why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["History", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says what usually causes it."""


@dataclass
class History:
    """What a run logged: ``values[name][i]`` is the mean of ``name`` over the steps up to
    ``steps[i]``. ``stopped_by`` is ``"steps"``, ``"time"`` or ``"interrupted"``."""

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
        return cls(list(s["steps"]), {k: list(v) for k, v in s["values"].items()}, float(s["seconds"]), int(s["images"]))

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.values.items() if v)
        return (f"History({self.steps[-1] if self.steps else 0} steps in {self.seconds:.1f} s, "
                f"{self.images_per_second:,.0f} img/s, stopped by {self.stopped_by or '-'}; {last})")
