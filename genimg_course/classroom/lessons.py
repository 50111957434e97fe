"""Where the lessons are, for every classroom tool: one place that finds them.

* :data:`CHECKOUT` — the folder that holds the package (a checkout's root; ``site-packages`` when
  installed), and :func:`lessons_dir`, its ``notebooks/`` folder.
* :func:`available_lessons` — every ``NN_name.ipynb`` there; :func:`resolve_notebooks` — a name such
  as ``05_vae``, ``05``, ``05_vae.ipynb`` or a path, turned into notebook paths.
* :func:`prepare_out_dir` — an output folder created and checked writable before anything is written.

Bad input raises :class:`BadInput` with a message for the command line; nothing has been written.
Standard library only (no torch, no nbformat).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

__all__ = ["BadInput", "CHECKOUT", "LESSON_GLOB", "lessons_dir", "available_lessons", "resolve_notebooks",
           "prepare_out_dir"]

CHECKOUT = Path(__file__).resolve().parents[2]  # genimg_course/classroom/lessons.py -> the checkout
LESSON_GLOB = "[0-9][0-9]_*.ipynb"


class BadInput(ValueError):
    """A notebook name, profile or output folder that cannot be used; nothing was executed or written."""


def lessons_dir() -> Path:
    """The checkout's ``notebooks/`` folder (the lessons the tools use by default)."""
    return CHECKOUT / "notebooks"


def available_lessons(folder: Path | None = None) -> list[Path]:
    """Every lesson ``NN_name.ipynb`` in ``folder`` (default: :func:`lessons_dir`), sorted."""
    folder = Path(folder) if folder else lessons_dir()
    return sorted(folder.glob(LESSON_GLOB)) if folder.is_dir() else []


def resolve_notebooks(names: Sequence[str], folder: Path | None = None) -> list[Path]:
    """Turn ``05_vae``, ``05``, ``05_vae.ipynb`` or a path into notebook paths; no names: every lesson.

    Raises :class:`BadInput` naming the lessons there are when a name matches none."""
    folder = Path(folder) if folder else lessons_dir()
    available = available_lessons(folder)
    if not names:
        if not available:
            raise BadInput(f"no lessons in {folder}: expected notebooks named like 05_vae.ipynb "
                           "(or give the paths of the notebooks to run)")
        return available
    chosen: list[Path] = []
    for name in names:
        path = Path(name).expanduser()
        if path.is_file():
            if path.suffix != ".ipynb":
                raise BadInput(f"{name} is not a notebook: expected a .ipynb file or a lesson name such as 05_vae")
            chosen.append(path.resolve())
            continue
        if path.is_dir():
            raise BadInput(f"{name} is a folder: expected a lesson name such as 05_vae or the path of a .ipynb file")
        key = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
        if key.isdigit():
            key = key.zfill(2)
        matches = [p for p in available if p.stem == key or p.stem.startswith(f"{key}_")] if "/" not in key else []
        if len(matches) != 1:
            listed = ", ".join(p.stem for p in available) or f"none (no lessons in {folder})"
            raise BadInput(f"unknown notebook {name!r}: expected a lesson name (the number alone also works, "
                           f"e.g. 05), a lesson file name or the path of a .ipynb file; lessons: {listed}")
        chosen.append(matches[0])
    unique: dict[Path, None] = dict.fromkeys(chosen)
    stems = [p.stem for p in unique]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise BadInput(f"two notebooks named {', '.join(twice)}: their executed copies would overwrite each other")
    return list(unique)


def prepare_out_dir(out: str | os.PathLike) -> Path:
    """Create ``out`` if needed and make sure files can be written there; raise :class:`BadInput` if not."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise BadInput(f"output folder {out} is a file, not a folder: choose another with --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"cannot create the output folder {out}: {e.strerror or e}; choose another with --out") from None
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise BadInput(f"output folder {out} is not writable ({e.strerror or e}); choose another with --out") from None
    return out.resolve()
