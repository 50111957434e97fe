"""Where the lessons are, for every classroom tool: one place that finds them.

* :data:`CHECKOUT` — the folder that holds the package (a checkout's root; ``site-packages`` when
  installed); :data:`PACKAGED` — the course's files inside an installed package (``genimg_course/course/``,
  put there by the wheel's build); :func:`course_root` — the checkout when there is one, else the packaged
  copy; :func:`lessons_dir`, its ``notebooks/`` folder; :func:`work_dir`, where tools write by default.
* :func:`available_lessons` — every ``NN_name.ipynb`` there; :func:`resolve_notebooks` — a name such
  as ``05_vae``, ``05``, ``05_vae.ipynb`` or a path, turned into notebook paths.
* :func:`prepare_out_dir` — an output folder created and checked writable before anything is written.

* :func:`check_notebooks` — every path a readable JSON notebook; :func:`check_out_dir` — an output
  folder apart from the notebooks it writes copies of.

Bad input raises :class:`BadInput` (:class:`BadType` for an argument of the wrong type) with a message
for the command line that names what was expected and what came; nothing has been written. The
small ``as_*`` checks below are what every classroom tool uses at its boundary.
Standard library only (no torch, no nbformat).
"""
from __future__ import annotations

import json
import math
import numbers
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["BadInput", "BadType", "CHECKOUT", "PACKAGED", "LESSON_GLOB", "in_checkout", "course_root", "lessons_dir",
           "work_dir", "available_lessons", "resolve_notebooks",
           "prepare_out_dir", "check_notebooks", "check_out_dir", "parse_command"]

CHECKOUT = Path(__file__).resolve().parents[2]  # genimg_course/classroom/lessons.py -> the checkout
PACKAGED = Path(__file__).resolve().parents[1] / "course"  # the wheel's copy of the course's files (setup.py)
LESSON_GLOB = "[0-9][0-9]*_*.ipynb"  # 05_vae, and 04b_conditional_gan beside 04


class BadInput(ValueError):
    """A notebook name, profile or output folder that cannot be used; nothing was executed or written."""


class BadType(BadInput, TypeError):
    """An argument of the wrong type (None or a number where a path is expected, a bool where a count is…);
    a :class:`BadInput` and a ``TypeError`` both, so either ``except`` catches it."""


# --------------------------------------------------------------------------------------------
# the boundary checks every classroom tool uses: each names what it expected and what came
# --------------------------------------------------------------------------------------------

def got(value: Any) -> str:
    """``int 5``, ``str 'x'``, ``None``: what came, for a message."""
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def as_path(value: Any, what: str) -> Path:
    """``value`` as a :class:`~pathlib.Path` (``~`` expanded); :class:`BadType` unless a str or os.PathLike,
    :class:`BadInput` for an empty string."""
    if not isinstance(value, (str, os.PathLike)):
        raise BadType(f"{what}: expected a path (str or os.PathLike), got {got(value)}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise BadType(f"{what}: expected a path as text, got {got(text)}")
    if not text.strip():
        raise BadInput(f"{what}: expected a path, got an empty string")
    return Path(text).expanduser()


def as_list(value: Any, what: str, of: str = "paths") -> list[Any]:
    """``value`` (a list, tuple or other iterable of ``of``) as a list; :class:`BadType` for a lone str, path,
    mapping or non-iterable."""
    if isinstance(value, (str, bytes, os.PathLike, Mapping)) or not isinstance(value, Iterable):
        raise BadType(f"{what}: expected a list of {of}, got {got(value)}")
    return list(value)


def as_count(value: Any, what: str, minimum: int = 1) -> int:
    """A whole number ``>= minimum`` (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadType(f"{what}: expected a whole number of {minimum} or more, got {got(value)}")
    if value < minimum:
        raise BadInput(f"{what}: expected a whole number of {minimum} or more, got {value}")
    return int(value)


def as_seconds(value: Any, what: str, zero: bool = False) -> float:
    """A finite number of seconds, ``> 0`` (``>= 0`` when ``zero``); a bool is not one."""
    want = "a finite number of seconds, 0 or more" if zero else "a positive, finite number of seconds"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadType(f"{what}: expected {want}, got {got(value)}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise BadInput(f"{what}: expected {want}, got {value!r}")
    return float(value)


def as_flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadType(f"{what}: expected True or False, got {got(value)}")
    return value


def as_callable(value: Any, what: str) -> Callable[..., Any]:
    if not callable(value):
        raise BadType(f"{what}: expected a function (such as print), got {got(value)}")
    return value


def as_mapping(value: Any, what: str, of: str = "a dict") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadType(f"{what}: expected {of}, got {got(value)}")
    return value


def as_instances(value: Any, cls: type | tuple[type, ...], what: str, of: str) -> list[Any]:
    """A list whose every element is a ``cls``; the message names the first that is not."""
    items = as_list(value, what, of)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise BadType(f"{what}: expected a list of {of}, got {got(item)} at position {i}")
    return items


def as_argv(argv: Any) -> list[str] | None:
    """``None`` (sys.argv) or a list of str, for a command's ``main``; :class:`BadType` otherwise."""
    if argv is None:
        return None
    if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        raise BadType(f"argv: expected a list of str (or None for sys.argv), got {got(argv)}")
    return list(argv)


def parse_command(parser: Any, argv: Any, prog: str) -> Any:
    """``parser.parse_args`` for a command's ``main`` given ``argv`` (``None``: sys.argv); an argv that
    is not a list of str prints one line naming it and returns ``None`` (the caller exits 2)."""
    try:
        argv = as_argv(argv)
    except BadType as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None
    return parser.parse_args(argv)


def _json_shape(data: Any) -> str:
    if isinstance(data, dict):
        keys = ", ".join(map(repr, list(data)[:5])) + (", …" if len(data) > 5 else "")
        return f"an object with the keys {keys}" if data else "an empty object"
    return f"a JSON {type(data).__name__}"


def check_notebooks(paths: Sequence[Path]) -> None:
    """Raise :class:`BadInput` naming the first path that is not a readable JSON notebook (an object with a
    ``cells`` list, or nbformat 3's ``worksheets``, and an ``nbformat`` number). Reads each file once; writes nothing."""
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BadInput(f"{path} is not a notebook: expected UTF-8 JSON text, got bytes that are not UTF-8") from None
        except OSError as e:
            raise BadInput(f"cannot read the notebook {path}: {e.strerror or e}") from None
        try:
            data = json.loads(text)
        except ValueError as e:
            where = f"line {e.lineno} column {e.colno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else str(e)
            raise BadInput(f"{path} is not a notebook: expected JSON, got invalid JSON ({where})") from None
        body = data.get("cells", data.get("worksheets")) if isinstance(data, dict) else None
        version = data.get("nbformat") if isinstance(data, dict) else None
        if not isinstance(body, list) or isinstance(version, bool) or not isinstance(version, int):
            raise BadInput(f"{path} is not a Jupyter notebook: expected a JSON object with a 'cells' list and an "
                           f"'nbformat' number, got {_json_shape(data)}")


def check_out_dir(out: Path, notebooks: Sequence[Path], writes: Sequence[str] = ("",)) -> None:
    """Raise :class:`BadInput` when ``out`` (or ``out/<w>`` for each ``w`` in ``writes``, the folders a tool
    writes copies into) is the folder of one of ``notebooks``: its copies would overwrite or mix with the lessons."""
    folders = {Path(nb).resolve().parent: Path(nb) for nb in notebooks}
    for sub in writes:
        target = (Path(out) / sub).resolve()
        if target in folders:
            shown = f"{out}/{sub}" if sub else str(out)
            raise BadInput(f"output folder {shown} is the folder of the notebook {folders[target]}: expected a folder "
                           "apart from the notebooks (the copies written there would overwrite or mix with them); "
                           "choose another with --out")


def in_checkout() -> bool:
    """True when the package runs from a checkout (an editable install or the source tree), which has the lessons."""
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "notebooks").is_dir()


def course_root() -> Path:
    """The folder holding ``notebooks/``, ``docs/``, ``tools/`` and ``benchmarks/``: the checkout when there is one,
    else the copy an installed wheel carries (:data:`PACKAGED`); the checkout (without lessons) when neither is."""
    if in_checkout() or not (PACKAGED / "notebooks").is_dir():
        return CHECKOUT
    return PACKAGED


def lessons_dir() -> Path:
    """The lessons the tools use by default: the checkout's ``notebooks/``, or the installed wheel's copy."""
    return course_root() / "notebooks"


def work_dir() -> Path:
    """Where tools write by default: the checkout's ``notebooks/`` folder, else the current folder (an installed
    package's own folder is not the learner's to write in)."""
    return CHECKOUT / "notebooks" if in_checkout() else Path.cwd()


def available_lessons(folder: Path | None = None) -> list[Path]:
    """Every lesson ``NN_name.ipynb`` in ``folder`` (default: :func:`lessons_dir`, none when it is missing),
    sorted. A ``folder`` given that is missing or a file raises :class:`BadInput`."""
    if folder is None:
        default = lessons_dir()
        return sorted(default.glob(LESSON_GLOB)) if default.is_dir() else []
    folder = as_path(folder, "lesson folder")
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise BadInput(f"lesson folder {folder} {what}: expected a folder of lessons named like 05_vae.ipynb")
    return sorted(folder.glob(LESSON_GLOB))


def resolve_notebooks(names: Sequence[str], folder: Path | None = None) -> list[Path]:
    """Turn ``05_vae``, ``05``, ``05_vae.ipynb`` or a path into notebook paths; no names: every lesson.

    Raises :class:`BadInput` naming the lessons there are when a name matches none."""
    names = [] if names is None else as_list(names, "notebooks", "lesson names or .ipynb paths")
    for name in names:
        as_path(name, "notebook name")
    folder = as_path(folder, "lesson folder") if folder is not None else lessons_dir()
    available = available_lessons(folder) if folder != lessons_dir() else available_lessons()
    if not names:
        if not available:
            raise BadInput(f"no lessons in {folder}: expected notebooks named like 05_vae.ipynb "
                           "(or give the paths of the notebooks to run)")
        return available
    chosen: list[Path] = []
    for name in names:
        path = Path(name).expanduser()
        name = os.fspath(name)
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
    out = as_path(out, "output folder")
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
