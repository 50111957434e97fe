"""A lesson's key figures, written as JSON beside its executed copy.

The tests check them against the lesson's bands (``notebooks/bands/<lesson>.toml``), ``genimg run``
copies them beside each executed lesson, and later the scoreboard reads them: nothing here
imports a model family.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write

__all__ = ["Figures"]


class Figures:
    """A lesson's key figures, written as JSON beside its executed copy.

    ``Figures("01_cnn_basics").record("test_accuracy", 0.98)`` writes
    ``$GENIMG_FIGURES_DIR/01_cnn_basics.json`` (default: ``./figures/``) atomically after every
    record, so a lesson that stops half-way still leaves what it measured.
    """

    def __init__(self, lesson: str, profile: Any = None, folder: str | os.PathLike | None = None) -> None:
        if not lesson or not isinstance(lesson, str) or any(c in lesson for c in "/\\"):
            raise ValueError(f"lesson must be a plain name such as '01_cnn_basics', got {lesson!r}")
        folder = folder or os.environ.get("GENIMG_FIGURES_DIR") or (Path.cwd() / "figures")
        self.path = Path(folder) / f"{lesson}.json"
        self.values: dict[str, Any] = {"lesson": lesson, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        if profile is not None:
            self.values["profile"] = profile.name
            self.values["device"] = str(profile.device)
            if profile.device.type == "cuda":
                self.values["gpu"] = torch.cuda.get_device_name(profile.device)
        self._t0 = time.perf_counter()
        self._write()

    def record(self, name: str, value: Any) -> Any:
        """Store one figure (a number, string, bool or a small list/dict of them); returns it."""
        if isinstance(value, torch.Tensor):
            value = value.item() if value.numel() == 1 else value.tolist()
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            raise ValueError(f"figure {name!r} is or contains NaN/inf ({value!r}): a lesson must not record that as a result") from None
        except TypeError:
            raise TypeError(f"figure {name!r} must be JSON-serialisable (number, string, list, dict), got {type(value).__name__}") from None
        self.values[name] = value
        self.values["elapsed_s"] = round(time.perf_counter() - self._t0, 2)
        self._write()
        return value

    def _write(self) -> None:
        self._record_peaks()
        with atomic_write(self.path, "w") as f:
            json.dump(self.values, f, indent=1, allow_nan=False)

    def _record_peaks(self) -> None:
        """The process's peak RAM and, once CUDA is in use, peak GPU memory (GiB) so far: the lesson's
        compute card. Kept as running maxima, so a lesson that resets torch's peak counters for its
        own measurement does not lower them."""
        try:
            import resource
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
            self.values["peak_ram_gib"] = round(max(rss, self.values.get("peak_ram_gib", 0.0)), 3)
        except (ImportError, OSError):  # pragma: no cover - not on Linux/macOS
            pass
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for key, fn in (("peak_gpu_allocated_gib", torch.cuda.max_memory_allocated),
                            ("peak_gpu_reserved_gib", torch.cuda.max_memory_reserved)):
                self.values[key] = round(max(fn() / 2**30, self.values.get(key, 0.0)), 3)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.values.items()
                         if k not in ("lesson", "started", "peak_ram_gib", "peak_gpu_allocated_gib", "peak_gpu_reserved_gib"))
        return f"Figures({self.path.name}: {body})"
