"""Checkpoints that never lose work and never run code on load.

* :func:`save_checkpoint` writes to a temporary file in the same folder, flushes it to disk and
  renames it over the target, so an interrupted save leaves the previous checkpoint intact.
* :func:`load_checkpoint` uses ``torch.load(..., weights_only=True)``: only tensors and plain
  Python containers are unpickled, never arbitrary objects.
* :func:`load_shipped` verifies a shipped weight file's SHA-256 before loading it.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write, sha256_file

__all__ = ["CheckpointError", "atomic_write", "save_checkpoint", "load_checkpoint", "sha256_file", "SHIPPED", "shipped_path", "load_shipped"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# name -> (file in genimg_course/weights, sha256, the script that reproduces it)
SHIPPED: dict[str, tuple[str, str, str]] = {
    "dcgan_mnist": ("dcgan_mnist.pt", "248327c9cebf544fae9c7626c015d43524ced238c868d925131350d0becb84f4", "tools/make_gan_weights.py --which dcgan --steps 6000 --lr 5e-4"),
    "cgan_mnist": ("cgan_mnist.pt", "c5233961e867798cd0a013dbfd52f72686e715eb775159a8665691eafff2563c", "tools/make_gan_weights.py --which cgan"),
    "judge_mnist": ("judge_mnist.pt", "306e02f121db4456f2df8bbcd4e9e3e5fc03fa73285c0e0067814095dbaeb7f9", "tools/make_judge.py"),
}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, corrupted or of the wrong kind."""


_PLAIN = (int, float, bool, str, bytes, type(None), torch.dtype, torch.device)


def _check_plain(value: Any, where: str) -> None:
    """Refuse values that ``torch.load(weights_only=True)`` would refuse later."""
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if type(k) not in _PLAIN:
                raise TypeError(f"{where} has a key of type {type(k).__name__}: use str or int keys")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple, set)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    hint = " use float()/int()/.tolist()" if type(value).__module__ == "numpy" else " store tensors and plain values only"
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__name__}, which a safe (weights_only) load "
                    f"refuses:{hint}")


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Atomically write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``."""
    if not isinstance(state, dict):
        raise TypeError(f"save_checkpoint expects a dict of tensors and plain values, got {type(state).__name__}")
    _check_plain(state, "state")
    with atomic_write(path) as f:
        torch.save(state, f)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises :class:`CheckpointError` naming the file and what to do when it is missing,
    truncated or corrupted.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: train first, or check the path")
    size = path.stat().st_size
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" not in str(e).lower():  # not a refused class: the bytes are garbage
            raise CheckpointError(f"checkpoint {path} ({size:,} bytes) is truncated or corrupted and cannot be read "
                                  f"(UnpicklingError). Delete it and train again (or re-download it).") from None
        raise CheckpointError(
            f"checkpoint {path} holds Python objects other than tensors and plain values, so the safe loader "
            "(torch.load(..., weights_only=True)) refuses it. Only load such a file if you trust its source and know "
            "what it contains; checkpoints written by this course never need that."
        ) from None
    except Exception as e:
        raise CheckpointError(
            f"checkpoint {path} ({size:,} bytes) is truncated or corrupted and cannot be read "
            f"({type(e).__name__}). Delete it and train again (or re-download it); "
            "checkpoints written by this course are replaced atomically, so this usually means "
            "the file was copied incompletely or edited."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict of states")
    return state


def shipped_path(name: str) -> Path:
    if name not in SHIPPED:
        raise KeyError(f"no shipped checkpoint named {name!r}; available: {sorted(SHIPPED)}")
    return WEIGHTS_DIR / SHIPPED[name][0]


def load_shipped(name: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint shipped inside the package after checking its SHA-256."""
    path = shipped_path(name)
    fname, expected, script = SHIPPED[name]
    if not path.exists():
        raise CheckpointError(f"shipped checkpoint {fname} is missing from {WEIGHTS_DIR}; rebuild it with `python {script}`")
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"shipped checkpoint {fname} has sha256 {actual[:16]}…, expected {expected[:16]}…: "
            f"the file is damaged or was replaced. Reinstall the package or rebuild it with `python {script}` "
            "(and update SHIPPED in genimg_course/checkpoints.py)."
        )
    return load_checkpoint(path, map_location)
