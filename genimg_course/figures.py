"""A lesson's key figures, written as JSON beside its executed copy, and one quality record per model.

The tests check the figures against the lesson's bands (``notebooks/bands/<lesson>.toml``),
``genimg run`` copies them beside each executed lesson, and the scoreboard reads the
:class:`Quality` records of every lesson (:func:`read_quality`): nothing here imports a model family.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write

__all__ = ["Figures", "Quality", "read_quality"]


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
        if profile is not None and not (hasattr(profile, "name") and hasattr(profile, "device")):
            raise TypeError(f"profile must be a Profile from profiles.resolve(...), got {profile!r}")
        if profile is not None:
            self.values["profile"] = profile.name
            self.values["device"] = str(profile.device)
            if profile.device.type == "cuda":
                self.values["gpu"] = torch.cuda.get_device_name(profile.device)
        self._t0 = time.perf_counter()
        self._write()

    def record(self, name: str, value: Any) -> Any:
        """Store one figure (a number, string, bool or a small list/dict of them); returns it."""
        if not isinstance(name, str) or not name or name in ("lesson", "started", "quality"):
            raise ValueError(f"a figure's name must be a non-empty string other than the reserved 'lesson', 'started' "
                             f"and 'quality', got {name!r}")
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

    def record_quality(self, quality: "Quality") -> "Quality":
        """Store one model's :class:`Quality` under ``"quality"`` (keyed by its ``model`` name; a
        second record for the same name replaces the first); returns it."""
        if not isinstance(quality, Quality):
            raise TypeError(f"record_quality expects a Quality record, got {type(quality).__name__}")
        self.values.setdefault("quality", {})[quality.model] = quality.to_dict()
        self.values["elapsed_s"] = round(time.perf_counter() - self._t0, 2)
        self._write()
        return quality

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


_REFERENCES = ("test", "train")


@dataclass(frozen=True)
class Quality:
    """What every generative lesson records for each model it measures, so one scoreboard can read
    them all from JSON (no model code needed).

    ``fid`` and ``kid`` (± ``kid_std``) are on the judge's features, with ``n`` samples against ``n``
    real images of the ``reference`` split (``"test"``: the held-out digits). ``floor`` is the
    real-vs-real FID at the same ``n``: the best any model can score there; :attr:`ratio` (FID over
    the floor) only means something at its ``n``. ``train_seconds`` and ``sample_seconds`` (for the
    ``n`` samples), ``parameters`` (of what samples: G, or the VAE's decoder and encoder) and
    ``device`` say what the number cost."""

    model: str
    family: str
    fid: float
    kid: float
    kid_std: float
    n: int
    floor: float
    reference: str
    train_seconds: float
    sample_seconds: float
    parameters: int
    device: str

    def __post_init__(self) -> None:
        for name in ("model", "family", "device"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v:
                raise ValueError(f"Quality.{name} must be a non-empty string, got {v!r}")
        if self.reference not in _REFERENCES:
            raise ValueError(f"Quality.reference must be one of {_REFERENCES} (the real split FID is measured "
                             f"against), got {self.reference!r}")
        for name in ("n", "parameters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (2 if name == "n" else 1):
                raise ValueError(f"Quality.{name} must be a whole number {'>= 2' if name == 'n' else '>= 1'}, got {v!r}")
        for name in ("fid", "kid", "kid_std", "floor", "train_seconds", "sample_seconds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"Quality.{name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        for name in ("fid", "kid_std", "train_seconds", "sample_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"Quality.{name} cannot be negative, got {getattr(self, name)!r}")
        if not self.floor > 0:
            raise ValueError(f"Quality.floor (real-vs-real FID at n = {self.n}) must be positive, got {self.floor!r}")

    @property
    def ratio(self) -> float:
        """FID as a multiple of the real-vs-real floor at the same ``n``."""
        return self.fid / self.floor

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 4)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Quality":
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(d))
        if missing:
            raise ValueError(f"a quality record needs {sorted(names)}; this one lacks {missing}")
        return cls(**{k: d[k] for k in names})


def read_quality(*paths: str | os.PathLike) -> list[tuple[str, Quality]]:
    """Every :class:`Quality` record in the given figures JSON files (or folders of them), as
    ``(lesson, record)`` pairs in file order: what a scoreboard reads."""
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    out = []
    for f in files:
        values = json.loads(f.read_text())
        for d in values.get("quality", {}).values():
            out.append((values.get("lesson", f.stem), Quality.from_dict(d)))
    return out
