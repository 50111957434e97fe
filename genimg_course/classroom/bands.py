"""A lesson's bands: what its key figures must be under each profile, and the one check against them.

``notebooks/bands/<lesson>.toml`` has a ``[smoke]``, ``[cpu]`` and ``[gpu]`` section. In each, a key is

* ``key = [low, high]`` — the figure must be a number with ``low <= value <= high``, or
* ``key = "recorded"`` — recorded, not banded: the figure must be in the lesson's figures, but any
  value passes (a quantity no honest band can bound on every machine, or one that only echoes the
  configuration).

:func:`load_bands` reads one profile's section; :func:`check` compares a figures dict with it and
returns the misses (a key missing from the figures, a value that is not a number, a value outside its
band) and the recorded keys. ``genimg run --profile P`` and tests/test_notebooks.py both use them.
A band file that is not of that form raises :class:`BandFileError` naming the file and the key.

Standard library only (no torch).
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .lessons import BadType, as_mapping, as_path, got

__all__ = ["SECTIONS", "RECORDED", "BandFileError", "Bands", "Miss", "Result", "band_file", "load_band_file",
           "load_bands", "check", "check_lesson"]

SECTIONS = ("smoke", "cpu", "gpu")
RECORDED = "recorded"  # the value that marks a key as recorded, not banded


class BandFileError(ValueError):
    """A band file that cannot be read as bands; the message names the file and the key."""


@dataclass(frozen=True)
class Bands:
    """One profile's section of a band file: ``bands`` (key -> (low, high)) and the ``recorded`` keys."""

    path: Path
    profile: str
    bands: dict[str, tuple[float, float]]
    recorded: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.bands, *self.recorded)


@dataclass(frozen=True)
class Miss:
    """A figure that missed its band: ``reason`` is ``"missing"``, ``"not a number"`` or ``"outside"``."""

    key: str
    reason: str
    value: Any = None
    band: tuple[float, float] | None = None

    def __str__(self) -> str:
        band = "recorded" if self.band is None else f"[{_num(self.band[0])}, {_num(self.band[1])}]"
        if self.reason == "missing":
            return f"{self.key} not recorded (band {band})"
        return f"{self.key} = {_num(self.value)}, {self.reason} band {band}" if self.reason == "outside" else \
            f"{self.key} = {self.value!r}, not a number (band {band})"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "reason": self.reason, "value": self.value,
                "band": None if self.band is None else list(self.band)}


@dataclass(frozen=True)
class Result:
    """What :func:`check` found: ``misses``, the keys that met their band (``met``) and the ``recorded`` ones present."""

    bands: Bands
    misses: list[Miss] = field(default_factory=list)
    met: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.misses


def _num(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, float) and x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def band_file(notebook: str | Path, folder: str | Path | None = None) -> Path:
    """The band file of a lesson notebook (a path or a stem): ``<folder>/<stem>.toml``; by default the
    ``bands/`` folder beside the notebook, or the checkout's ``notebooks/bands/`` when that has none."""
    path = as_path(notebook, "band_file: the notebook")
    stem = path.stem if path.suffix == ".ipynb" else path.name
    if folder is not None:
        return as_path(folder, "band_file: the band folder") / f"{stem}.toml"
    beside = path.parent / "bands" / f"{stem}.toml"
    if path.suffix == ".ipynb" and beside.exists():
        return beside
    from .lessons import lessons_dir

    return lessons_dir() / "bands" / f"{stem}.toml"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _parse_section(path: Path, profile: str, table: Any) -> Bands:
    if not isinstance(table, dict):
        raise BandFileError(f"{path}: [{profile}] must be a table of key = [low, high] or key = \"{RECORDED}\", "
                            f"got {type(table).__name__}")
    bands: dict[str, tuple[float, float]] = {}
    recorded: list[str] = []
    for key, value in table.items():
        where = f"{path}: [{profile}] {key}"
        if value == RECORDED:
            recorded.append(key)
            continue
        if isinstance(value, str):
            raise BandFileError(f"{where} = {value!r}: the only string a band may be is \"{RECORDED}\"")
        if not isinstance(value, list) or len(value) != 2:
            raise BandFileError(f"{where} = {value!r}: a band must be a list [low, high] of two numbers "
                                f"(or \"{RECORDED}\")")
        low, high = value
        if not (_is_number(low) and _is_number(high)):
            raise BandFileError(f"{where} = {value!r}: low and high must be finite numbers")
        if low > high:
            raise BandFileError(f"{where} = {value!r}: low {low!r} is above high {high!r}")
        bands[key] = (low, high)
    return Bands(path, profile, bands, tuple(recorded))


def load_band_file(path: str | Path) -> dict[str, Bands]:
    """Every section of a band file, checked: profile -> :class:`Bands`. Raises :class:`BandFileError`."""
    path = as_path(path, "the band file")
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise BandFileError(f"{path}: cannot read the band file ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise BandFileError(f"{path}: not valid TOML ({e})") from None
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        raise BandFileError(f"{path}: unknown section or key {', '.join(map(repr, unknown))}: "
                            f"bands live in the sections {', '.join(f'[{s}]' for s in SECTIONS)}")
    return {profile: _parse_section(path, profile, data[profile]) for profile in SECTIONS if profile in data}


def load_bands(path: str | Path, profile: str) -> Bands | None:
    """The ``[profile]`` section of a band file; ``None`` when the file has no such section.
    The whole file is checked. Raises :class:`BandFileError` (also when the file does not exist)."""
    if profile not in SECTIONS:
        raise ValueError(f"unknown profile {profile!r}: band files have the sections {', '.join(SECTIONS)}")
    return load_band_file(path).get(profile)


def check(figures: Mapping[str, Any], bands: Bands) -> Result:
    """Compare a lesson's figures with one profile's bands.

    A banded key misses when it is not in ``figures``, is not a number (a bool counts as 0/1, as it
    always has), or lies outside ``[low, high]``; a recorded key misses only when it is not in ``figures``."""
    as_mapping(figures, "check: figures", "a dict of the lesson's figures (key -> value)")
    if not isinstance(bands, Bands):
        raise BadType(f"check: expected the Bands that load_bands() returns, got {got(bands)}")
    result = Result(bands)
    for key, band in bands.bands.items():
        if key not in figures:
            result.misses.append(Miss(key, "missing", band=band))
            continue
        value = figures[key]
        if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
            result.misses.append(Miss(key, "not a number", value, band))
        elif not band[0] <= value <= band[1]:
            result.misses.append(Miss(key, "outside", value, band))
        else:
            result.met.append(key)
    for key in bands.recorded:
        if key in figures:
            result.recorded.append(key)
        else:
            result.misses.append(Miss(key, "missing"))
    return result


def check_lesson(figures: Mapping[str, Any], notebook: str | Path, profile: str,
                 folder: str | Path | None = None) -> dict[str, Any]:
    """The band report a compute card carries, for a lesson's ``figures`` under ``profile``:

    ``{"profile", "file", "status", "met", "recorded", "misses", "error"}`` where ``status`` is ``"met"``,
    ``"missed"``, ``"no bands"`` (no band file, or no ``[profile]`` section in it) or ``"error"``
    (a band file that cannot be read: ``error`` says why). Never raises for a bad band file; raises
    ``ValueError``/``TypeError`` for an unknown profile or figures that are not a dict."""
    as_mapping(figures, "check_lesson: figures", "a dict of the lesson's figures (key -> value)")
    if profile not in SECTIONS:
        raise ValueError(f"unknown profile {profile!r}: band files have the sections {', '.join(SECTIONS)}")
    path = band_file(notebook, folder)
    report: dict[str, Any] = {"profile": profile, "file": str(path), "status": "no bands", "met": 0,
                              "recorded": [], "misses": [], "error": None}
    if not path.exists():
        report["error"] = f"no band file {path.name}"
        return report
    try:
        bands = load_bands(path, profile)
    except (BandFileError, ValueError) as e:
        report.update(status="error", error=str(e))
        return report
    if bands is None:
        report["error"] = f"{path.name} has no [{profile}] section"
        return report
    result = check(figures, bands)
    report.update(status="met" if result.ok else "missed", met=len(result.met), recorded=result.recorded,
                  misses=[m.to_dict() | {"text": str(m)} for m in result.misses])
    return report
