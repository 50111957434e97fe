"""Training on several GPUs with ``torchrun`` and DistributedDataParallel (DDP).

``torchrun --standalone --nproc_per_node=N script.py`` starts N copies of ``script.py``, one per GPU,
and tells each its place in environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). A
script needs one extra line, :func:`setup`, before it builds its model and batches on
``setup().device``; :func:`genimg_course.train.fit` then notices the process group and

* wraps each of the task's modules in DDP, which all-reduces (averages) the gradients in backward;
* makes each rank draw its shard of every global batch (``ResidentBatches.shard``), so N ranks
  together train on exactly the batches one process would;
* logs, shows progress, runs callbacks and writes checkpoints on rank 0 only.

Without torchrun every function here is a no-op, so the same script runs on one device as well.
This module holds the collectives only; ``python -m genimg_course.ddp_demo`` is a small run to try
them on, and :func:`genimg_course.ddp_demo.run_torchrun` launches a script under torchrun.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "setup", "cleanup", "info", "is_distributed", "is_main", "rank", "world_size", "wrap",
           "wrapped", "shard", "all_mean", "any_rank", "all_gather_objects", "barrier"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, its GPU ``local_rank`` on this
    machine, the ``device`` it trains on and the communication ``backend`` (None: not distributed)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None


_device: torch.device | None = None  # set by setup(): this rank's device


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RuntimeError(f"torchrun sets {name} to a whole number; got {name}={raw!r}. Start the script with "
                           "`torchrun --nproc_per_node=N script.py`, or unset WORLD_SIZE to run one process") from None


def _rank_device(local_rank: int) -> torch.device:
    from .profiles import default_device

    device = default_device()  # cuda when there is a GPU (GENIMG_DEVICE=cpu forces the CPU)
    if device.type != "cuda":
        return device
    n = torch.cuda.device_count()
    if local_rank >= n:
        raise RuntimeError(f"LOCAL_RANK={local_rank} needs GPU {local_rank}, but {n} GPU(s) are visible: start at most "
                           f"{n} processes per machine (torchrun --nproc_per_node={n})")
    torch.cuda.set_device(local_rank)  # so that device="cuda" in the script means this rank's GPU
    return torch.device("cuda", local_rank)


def setup(backend: str | None = None) -> DistInfo:
    """Join the process group torchrun describes in the environment: this rank's GPU (``LOCAL_RANK``)
    becomes its device, the backend is ``nccl`` on GPUs and ``gloo`` on the CPU. Outside torchrun
    (no ``WORLD_SIZE``) nothing happens: one process, the default device. Safe to call twice."""
    global _device
    if backend is not None and backend not in ("nccl", "gloo", "mpi"):
        raise ValueError(f"backend must be 'nccl' (GPUs), 'gloo' (CPU) or 'mpi', or None to choose; got {backend!r}")
    if "WORLD_SIZE" in os.environ and not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE is set, but this torch build ({torch.__version__}) has no torch.distributed: "
                           "install an official torch wheel, or unset WORLD_SIZE to run one process")
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        rank_, world, local = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK", 0)
        if not 0 <= rank_ < world:
            raise RuntimeError(f"RANK must lie in 0..WORLD_SIZE-1, got RANK={rank_}, WORLD_SIZE={world}")
        _device = _rank_device(local)
        backend = backend or ("nccl" if _device.type == "cuda" else "gloo")
        dist.init_process_group(backend, rank=rank_, world_size=world)
    return info()


def info() -> DistInfo:
    """This process's :class:`DistInfo` (rank 0 of 1 when not distributed)."""
    from .profiles import default_device

    device = _device or default_device()
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo(0, 1, 0, device, None)
    return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0), device, dist.get_backend())


def cleanup() -> None:
    """Leave the process group (at the end of a torchrun script); a no-op when there is none."""
    global _device
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _device = None


def is_distributed() -> bool:
    """True inside a process group of more than one process: then :func:`fit` uses DDP."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """How many processes train together (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """True on rank 0, the process that prints, logs and writes files."""
    return rank() == 0


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def wrap(module: nn.Module, sync_batchnorm: bool = True) -> nn.Module:
    """``module`` in DistributedDataParallel (gradients averaged over the ranks in backward).

    On GPUs, ``sync_batchnorm`` turns BatchNorm layers into SyncBatchNorm, which normalises with the
    statistics of the whole global batch, as one process would. torch supports SyncBatchNorm on GPUs
    only: on the CPU (gloo) BatchNorm keeps per-rank statistics, so a model with BatchNorm trains
    slightly differently from one process there. The conversion replaces the layers inside ``module``
    itself, and they stay SyncBatchNorm afterwards (same weights and state_dict keys; in eval mode, or
    without a process group, they compute exactly what BatchNorm does). A module without trainable
    parameters is returned as it is (DDP has nothing to synchronise)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"wrap expects an nn.Module, got {type(module).__name__}")
    if not any(p.requires_grad for p in module.parameters()):
        return module
    device = next(module.parameters()).device
    if sync_batchnorm and device.type == "cuda" and _has_batchnorm(module):
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)  # same Parameter objects: optimisers still fit
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


@contextlib.contextmanager
def wrapped(modules: dict[str, nn.Module], sync_batchnorm: bool = True) -> Iterator[dict[str, nn.Module]]:
    """Inside the block, each entry of ``modules`` (a task's ``modules`` dict) is its DDP-wrapped
    self (:func:`wrap`), so a task's ``step``, which reads its networks from there, trains them
    together with the other ranks; afterwards the dict holds the plain modules again, trained. A
    no-op when not distributed. Nothing else of the task is touched."""
    if not isinstance(modules, dict) or not all(isinstance(m, nn.Module) for m in modules.values()):
        raise TypeError(f"wrapped expects a task's modules: a dict of name -> nn.Module, got {type(modules).__name__}")
    if not is_distributed():
        yield modules
        return
    plain = dict(modules)
    modules.update({k: wrap(m, sync_batchnorm) for k, m in plain.items()})
    try:
        yield modules
    finally:
        modules.update(plain)


def shard(batches: Any) -> None:
    """Under torchrun, make ``batches`` give this rank its part of every global batch (their
    ``shard(rank, world_size)``, as ``ResidentBatches`` has); batches without one are each rank's
    own, which rank 0 notes. A no-op when not distributed."""
    if not is_distributed():
        return
    if hasattr(batches, "shard"):
        batches.shard(rank(), world_size())
    elif rank() == 0:
        print(f"[fit] note: {type(batches).__name__} has no shard(rank, world_size): each of the {world_size()} "
              "ranks trains on the batches its own iterator gives")


def _comm_device() -> torch.device:
    """Where a tensor must be for a collective: this rank's GPU under nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over all ranks (every rank gets it); ``t`` itself when not distributed."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"all_mean expects a tensor, got {type(t).__name__}")
    if not is_distributed():
        return t
    out = t.detach().to(_comm_device(), copy=True)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.div_(world_size()).to(t.device)


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is True on any (all ranks must call it at the same point)."""
    if not is_distributed():
        return bool(flag)
    t = torch.tensor([int(bool(flag))], device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a file); a no-op alone."""
    if is_distributed():
        dist.barrier()
