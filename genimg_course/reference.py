"""Reference runs: what a lesson's key figures were on a named machine, shipped as JSON, so a
lesson prints *your run vs the reference run* from data rather than from numbers typed into its
markdown.

``genimg_course/reference/<lesson>.json`` holds, per profile, one reference run written by
``tools/make_reference.py`` from a ``genimg run --profile P`` output folder: the machine, the date,
the commit and the lesson's figures. :func:`versus_reference` prints a figure table beside it::

    from genimg_course.reference import versus_reference
    versus_reference(figures, ["fid_live", "fid_live_ratio"])

No torch here: the classroom wing and the tools read these files too.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["REFERENCE_DIR", "reference_runs", "versus_reference", "format_value"]

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def reference_runs(lesson: str, folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """``{profile: run}`` for ``lesson`` (each run: ``machine``, ``date``, ``commit``, ``figures``);
    ``{}`` when the lesson has no reference file."""
    if not isinstance(lesson, str) or not lesson or any(c in lesson for c in "/\\"):
        raise ValueError(f"lesson must be a plain name such as '03_dcgan', got {lesson!r}")
    path = Path(folder or REFERENCE_DIR) / f"{lesson}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    runs = data.get("runs")
    if not isinstance(runs, dict):
        raise ValueError(f"{path}: expected a 'runs' mapping of profile -> run, got {type(runs).__name__}")
    return runs


def format_value(value: Any) -> str:
    """A figure as a table cell: 3 significant digits for floats, ``–`` for a missing value."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def _figures_of(figures: Any) -> tuple[str, dict[str, Any]]:
    values = figures if isinstance(figures, Mapping) else getattr(figures, "values", None)
    if not isinstance(values, Mapping) or "lesson" not in values:
        raise TypeError("versus_reference expects the lesson's Figures (or its values dict with a 'lesson' key), "
                        f"got {type(figures).__name__}")
    return values["lesson"], dict(values)


def versus_reference(figures: Any, names: Iterable[str], *, folder: str | os.PathLike | None = None,
                     show: bool = True) -> list[tuple[str, Any, dict[str, Any]]]:
    """Print a table of the figures ``names``: this run's value beside each shipped reference run's.

    ``figures`` is the lesson's :class:`~genimg_course.figures.Figures`. Returns
    ``[(name, yours, {profile: reference value})]``. A figure this run has not recorded shows ``–``
    (a cell skipped, or a profile that does not measure it). Differences are expected: the
    reference is one run on one machine; your profile, seed and hardware may differ.
    """
    if isinstance(names, str):
        raise TypeError(f"names must be a list of figure names, got the single string {names!r}: wrap it in a list")
    names = list(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"names must be a non-empty list of figure names, got {names!r}")
    lesson, yours = _figures_of(figures)
    runs = reference_runs(lesson, folder)
    rows = [(n, yours.get(n), {p: r.get("figures", {}).get(n) for p, r in runs.items()}) for n in names]
    if show:
        mine = f"your run ({yours.get('profile', '?')})"
        heads = ["figure", mine] + [f"reference {p}" for p in runs]
        table = [heads] + [[n, format_value(v), *(format_value(ref[p]) for p in runs)] for n, v, ref in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(heads))]
        for i, r in enumerate(table):
            print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
            if i == 0:
                print("  ".join("-" * w for w in widths))
        if runs:
            for p, r in runs.items():
                print(f"reference {p}: {r.get('machine', '?')}, {r.get('date', '?')}, commit {str(r.get('commit', '?'))[:7]}")
        else:
            print(f"(no reference run shipped for {lesson} yet: tools/make_reference.py writes one)")
    return rows
