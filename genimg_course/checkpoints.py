"""Checkpoints that never lose work and never run code on load.

* :func:`save_checkpoint` writes to a temporary file in the same folder, flushes it to disk and
  renames it over the target, so an interrupted save leaves the previous checkpoint intact.
* :func:`load_checkpoint` uses ``torch.load(..., weights_only=True)``: only tensors and plain
  Python containers are unpickled, never arbitrary objects.
* :func:`load_shipped` verifies a shipped weight file's SHA-256 before loading it.
* :class:`TrainingCheckpoint` is what :func:`genimg_course.train.fit` saves and resumes: the task's
  state, the step, the history and every rank's random state.
"""
from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import distributed
from .files import atomic_write, sha256_file

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "SHIPPED", "shipped_path", "load_shipped",
           "rng_state", "set_rng_state", "task_state", "load_task_state", "TrainingCheckpoint"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# name -> (file in genimg_course/weights, sha256, the script that reproduces it)
SHIPPED: dict[str, tuple[str, str, str]] = {
    "dcgan_mnist": ("dcgan_mnist.pt", "14c4916dfa7fd266bf1357c919351c6bdcd8682bcb45c64fa40d434935d3374c", "OMP_NUM_THREADS=1 tools/make_gan_weights.py --which dcgan --steps 36000 --lr 5e-4 --batch 256 --ema 0.999,0.9995"),
    "cgan_mnist": ("cgan_mnist.pt", "c990c6de5bb45efb4c2f12efcb88cc226a17b161fc24fe120ce97126d3735733", "OMP_NUM_THREADS=1 tools/make_gan_weights.py --which cgan --steps 4000 --lr 5e-4 --ema 0.999,0.9995,0.9999 (scores: --rescore)"),
    "judge_mnist": ("judge_mnist.pt", "306e02f121db4456f2df8bbcd4e9e3e5fc03fa73285c0e0067814095dbaeb7f9", "tools/make_judge.py"),
    # lesson 06's restorers and colourisers (restore.load_restorer, colourise.load_colouriser)
    "restore_denoise25_mnist": ("restore_denoise25_mnist.pt", "de440b93d0843703651271373a20ae5fb17a40773b863ccae48a98de2b239d43", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task denoise25 --data mnist"),
    "restore_sr2_mnist": ("restore_sr2_mnist.pt", "620a8fb02a179a919f6a732244fd0fef28cea9a2d6155ca50fcc097251e92dcd", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task sr2 --data mnist"),
    "restore_sr4_mnist": ("restore_sr4_mnist.pt", "b1d946eb943fdf44668320be4a090d9e44aeec128f781190903beff1c2e2078b", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task sr4 --data mnist --steps 800 --fine 200"),
    "restore_denoise300_mnist": ("restore_denoise300_mnist.pt", "5db34699cf592c39b4a678156829b967fa0e8153db4a5d4466f360d6a16340e9", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task denoise300 --data mnist --steps 800 --fine 200"),
    "restore_inpaint_random_mnist": ("restore_inpaint_random_mnist.pt", "4f669420e64b09d822dfbf9ce3f4b461a69f60578b0e3ce358addf43af8687da", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task inpaint_random --data mnist --steps 800 --fine 200"),
    "restore_denoise25_photo": ("restore_denoise25_photo.pt", "49105cb9ae5a01ed5d70098fcf9620d111de2cd457fe4b6ec9662f6ebfee15fc", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task denoise25 --data photo --steps 800 --fine 200"),
    "restore_sr2_photo": ("restore_sr2_photo.pt", "68db710dfe279e580dd27d700b7d4d017e0dad1b2a2cf0d3dfbfd4f30d63f005", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task sr2 --data photo --augment --steps 800 --fine 200"),
    "restore_sr4_photo": ("restore_sr4_photo.pt", "e3d4cd22cd750402e788a7f9911bad4eeb5197f105108bef480f7ca706c93af9", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task sr4 --data photo --augment --steps 800 --fine 200"),
    "restore_inpaint_centre_mnist": ("restore_inpaint_centre_mnist.pt", "1b53bd1f9dab3e1899eba1a2ba69359c801074c69b256dbbc90962ca0f13019b", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --task inpaint_centre --data mnist"),
    "colourise_l2_photo": ("colourise_l2_photo.pt", "405a6285057f2efb97609d9948183f4b983080b2d52f74e38262683d8d97e9f6", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --colour l2 --width 24 --steps 400 --fine 100"),
    "colourise_class_photo": ("colourise_class_photo.pt", "f2732035885cad631e40c763a1f5157982055cd986e437dff47a1bc66913decf", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --colour class --width 24 --steps 400 --fine 100"),
    "colourise_l2_tints": ("colourise_l2_tints.pt", "aa8422cb1c488618ca42a74070f5c5e273ee260c4fd90ed628f3bdfa02aecbee", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --colour l2 --tints --width 24 --steps 250 --fine 50"),
    "colourise_class_tints": ("colourise_class_tints.pt", "10f55fbb4d154c2e19bff5a675bdcd1717896c4a42d767b08856a255e37b5189", "OMP_NUM_THREADS=1 tools/make_restore_weights.py --colour class --tints --width 24 --steps 250 --fine 50"),
    # lesson 07's translators (translate.load_translator)
    "translate_pix2pix_l1": ("translate_pix2pix_l1.pt", "2b61a6f375f8c7ec15a67f309e2652a01a7c57aa8c7c950b9ed5d10bbc23aa48", "OMP_NUM_THREADS=1 tools/make_translate_weights.py --which pix2pix_l1 --steps 2500 --fine 500"),
    "translate_pix2pix_cgan": ("translate_pix2pix_cgan.pt", "931847d104c43c190296b2fa4bda31eac35362ea7e4845aa133e7b49a0f43b77", "OMP_NUM_THREADS=1 tools/make_translate_weights.py --which pix2pix_cgan --steps 2500 --fine 500"),
    "translate_cyclegan": ("translate_cyclegan.pt", "23564cf5faf7f794d98fda2352a3ebe9d5dc19c1b9106a98423398fbf56be122", "OMP_NUM_THREADS=1 tools/make_translate_weights.py --which cyclegan --residual --steps 600 --fine 0"),
    "translate_cyclegan_nocycle": ("translate_cyclegan_nocycle.pt", "9e25bc737e30de64aea1608d9f118dc0fdf3ffbaf3afedfe3b71864169c6be87", "OMP_NUM_THREADS=1 tools/make_translate_weights.py --which cyclegan_nocycle --residual --steps 600 --fine 0"),
    # lesson 10's diffusion models (diffusion.load_diffusion)
    "diffusion_ddpm": ("diffusion_ddpm.pt", "6f05208b7bcb4625a5ac74e084794eba99d2446ef08aac5629e61afb50a37931", "OMP_NUM_THREADS=1 tools/make_diffusion_weights.py --which ddpm --steps 5000 --schedule linear (scores: --score ddpm --part ddpm1000 and --part rest, side by side)"),
    "diffusion_flow": ("diffusion_flow.pt", "76b9a1adc0214fad70f02f4ceef3166d78dc9e50b32662ab04c5eedf99df9794", "OMP_NUM_THREADS=1 tools/make_diffusion_weights.py --which flow --steps 5000 (scores: --score flow)"),
    # lesson 09's VAE-GAN, its twin VAE and the DCGAN's inversion encoder (fusion.load_fusion)
    "fusion_vaegan": ("fusion_vaegan.pt", "a021c5444cbcd2c312f34f0a4507bad3a9e1eb37c8cb85e1ea0619b6b2b599b7", "OMP_NUM_THREADS=1 tools/make_fusion_weights.py --steps-vae 3000 --steps-encoder 3000"),
    "fusion_vae_twin": ("fusion_vae_twin.pt", "e1788213e127e840b9e49301fcdd6df7788be6584982e1d8ce397ffc30acaafe", "OMP_NUM_THREADS=1 tools/make_fusion_weights.py --steps-vae 3000 --steps-encoder 3000"),
    "fusion_encoder": ("fusion_encoder.pt", "e4cb42f48c0780e40715102862d67bdf8e73a45a9481d8d6a995ccdeeae05eec", "OMP_NUM_THREADS=1 tools/make_fusion_weights.py --steps-vae 3000 --steps-encoder 3000"),
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
    if Path(path).is_dir():
        raise ValueError(f"save_checkpoint needs a file path such as runs/model.pt, got the folder {path}")
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


# ------------------------------------------------------------------------------------------------
# Training state: what fit() saves and resumes (the task's networks, optimisers and schedulers, the
# step, the history, and every rank's random-number state), so a resumed run equals an unbroken one
# ------------------------------------------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA, once used) random states, as plain values."""
    np_state = np.random.get_state()
    py = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(py[1]) + [py[0]] + [py[2]],
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_gauss": [int(np_state[3]), float(np_state[4])],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[-2], tuple(py[:-2]), py[-1]))
    has_gauss, cached = state.get("numpy_gauss", [0, 0.0])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain(m: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (its state_dict has no ``module.`` prefix)."""
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def task_state(task: Any) -> dict[str, Any]:
    """A task's ``modules``, ``optimizers`` and ``schedulers`` (if any) as state dicts."""
    return {
        "modules": {k: _plain(m).state_dict() for k, m in task.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
        "schedulers": {k: sc.state_dict() for k, sc in getattr(task, "schedulers", {}).items()},
    }


def load_task_state(task: Any, state: dict[str, Any], path: str | os.PathLike) -> None:
    """Load :func:`task_state`'s dict into ``task``; a checkpoint of another model or settings raises
    :class:`CheckpointError` naming the file and what to do."""
    asked = {k: [g["lr"] for g in o.param_groups] for k, o in task.optimizers.items()}
    try:
        for k, m in task.modules.items():
            _plain(m).load_state_dict(state["modules"][k])
        for k, o in task.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, sc in getattr(task, "schedulers", {}).items():
            sc.load_state_dict(state["schedulers"][k])
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AssertionError) as e:
        raise CheckpointError(
            f"checkpoint {path} does not fit this task (modules {sorted(task.modules)}): {(str(e).splitlines() or [type(e).__name__])[0]}. "
            "It was written by a different model or settings: pass another checkpoint path or delete it."
        ) from None
    for k, o in task.optimizers.items():
        saved = [g["lr"] for g in o.param_groups]
        if not getattr(task, "schedulers", None) and saved != asked[k]:
            print(f"[fit] note: optimiser {k!r} resumes with the checkpoint's lr {saved[0]:g}, not the {asked[k][0]:g} "
                  f"you asked for; to start over with new settings pass resume=False or delete {path}")


class TrainingCheckpoint:
    """One run's checkpoint file at ``path`` for ``task``: :meth:`restore` at the start, :meth:`save`
    during and at the end. Under ``torchrun`` every rank calls both; rank 0 alone writes, each rank's
    random state is kept, and no rank goes on before the file is complete."""

    def __init__(self, path: str | os.PathLike, task: Any) -> None:
        self.path, self.task = Path(path), task

    def restore(self, device: torch.device) -> tuple[int, dict[str, Any]] | None:
        """Load the task's state and this rank's RNG; returns ``(step, history state)``, or ``None``
        when there is no file yet."""
        if not self.path.exists():
            return None
        state = load_checkpoint(self.path, map_location=device)
        missing = [k for k in ("modules", "optimizers", "step", "rng", "history") if k not in state]
        if not isinstance(state.get("history"), dict) and "history" not in missing:
            missing.append("history (a dict)")
        if missing:
            raise CheckpointError(f"checkpoint {self.path} lacks {missing}: it was not written by fit() (or was edited). "
                                  "Pass another checkpoint path, resume=False, or delete it")
        load_task_state(self.task, state, self.path)
        try:
            history, step = state["history"], int(state["step"])
            if not {"steps", "values", "seconds", "images"} <= set(history) or step < 0:
                raise ValueError("its history or step is not what fit() writes")
            ranks_rng = state.get("rng_ranks") or []
            set_rng_state(ranks_rng[distributed.rank()] if len(ranks_rng) == distributed.world_size() else state["rng"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
            raise CheckpointError(f"checkpoint {self.path} is damaged ({type(e).__name__}: {e}): pass another checkpoint "
                                  "path, resume=False, or delete it") from None
        return step, history

    def save(self, step: int, history: dict[str, Any], together: bool = True) -> None:
        """Write the state at ``step``. ``together=False`` (an interrupted rank, which cannot wait for
        the others): no collective, rank 0 writes its own RNG state only."""
        ddp = distributed.is_distributed() and together
        rng = rng_state()
        ranks_rng = distributed.all_gather_objects(rng) if ddp else None
        if distributed.rank() == 0:
            save_checkpoint({**task_state(self.task), "step": step, "rng": rng, "rng_ranks": ranks_rng,
                             "history": history}, self.path)
        if ddp:
            distributed.barrier()  # the file is complete before any rank goes on
