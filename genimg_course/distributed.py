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
``python -m genimg_course.distributed demo`` is a small run to try it on (see ``--help``).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "setup", "cleanup", "info", "is_distributed", "is_main", "rank", "world_size", "wrap",
           "all_mean", "any_rank", "all_gather_objects", "barrier", "demo", "main", "run_torchrun"]


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
    if not any(p.requires_grad for p in module.parameters()):
        return module
    device = next(module.parameters()).device
    if sync_batchnorm and device.type == "cuda" and _has_batchnorm(module):
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)  # same Parameter objects: optimisers still fit
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def _comm_device() -> torch.device:
    """Where a tensor must be for a collective: this rank's GPU under nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over all ranks (every rank gets it); ``t`` itself when not distributed."""
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


# ------------------------------------------------------------------------------------------------
# A small run to try it on: `python -m genimg_course.distributed demo`, alone or under torchrun
# ------------------------------------------------------------------------------------------------

def demo(steps: int = 30, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
         out: str | os.PathLike | None = None, verbose: bool = True) -> dict[str, Any]:
    """Train a small CNN on scikit-learn's 8x8 digits for ``steps`` steps of ``batch_size`` images
    (the *global* batch: under torchrun each of N ranks takes ``batch_size / N`` of it) with
    :func:`genimg_course.train.fit`. Returns (and with ``out``, rank 0 saves with ``torch.save``)
    ``{"params": final parameters (CPU), "world_size", "steps", "batch_size", "log_steps", "loss": the
    logged losses, "seconds"}``. The same call alone and under torchrun gives the same parameters up to rounding."""
    from .data import ResidentBatches, load_digits8
    from .train import ClassifierTask, fit, seed_everything

    here = setup()
    seed_everything(seed)  # the same initial weights on every rank (DDP also copies rank 0's to the others)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 4, 4)
                          nn.Flatten(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 10)).to(here.device)
    batches = ResidentBatches(load_digits8(verbose=False), batch_size, here.device, seed=seed)
    history = fit(ClassifierTask(model, lr=lr), batches, steps=steps, log_every=max(1, steps // 5), seed=seed,
                  progress=False)
    result = {"params": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
              "world_size": here.world_size, "steps": steps, "batch_size": batch_size,
              "log_steps": history.steps, "loss": history.values["loss"], "seconds": history.seconds}
    if is_main():
        if out is not None:
            torch.save(result, out)
        if verbose:
            how = (f"{here.world_size} processes ({here.backend}), {batch_size // here.world_size} images each"
                   if here.world_size > 1 else "1 process")
            print(f"[demo] {steps} steps of {batch_size} images on {here.device}, {how}: loss "
                  f"{history.values['loss'][0]:.4f} -> {history.values['loss'][-1]:.4f} in {history.seconds:.2f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m genimg_course.distributed demo [--steps N] [--batch-size B] [--out FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m genimg_course.distributed",
        description="Try the course's multi-GPU training: `demo` trains a small CNN on 8x8 digits with fit(). "
                    "Run it alone, then as `torchrun --standalone --nproc_per_node=2 -m genimg_course.distributed "
                    "demo`: both give the same weights.")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    d = sub.add_parser("demo", help="train a small CNN alone or under torchrun and save its weights")
    d.add_argument("--steps", type=int, default=30, help="training steps (default 30)")
    d.add_argument("--batch-size", type=int, default=64, help="global batch size, divisible by the process count")
    d.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 3e-3)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", help="where rank 0 saves the result (torch.save)")
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 2
    try:
        demo(args.steps, args.batch_size, args.lr, args.seed, args.out)
    finally:
        cleanup()
    return 0


@contextlib.contextmanager
def _one_launch_at_a_time():
    """A machine-wide file lock: ``torchrun --standalone`` picks its rendezvous port by binding port 0
    and letting it go, so two launches starting at the same moment (parallel tests, several
    notebooks) can meet on one port and wreck each other. Holding this lock avoids that."""
    import fcntl

    with open(os.path.join(tempfile.gettempdir(), "genimg-torchrun.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_torchrun(args: list[str], nproc: int, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
                 timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node=nproc *args`` (``torchrun``),
    one launch at a time on this machine; ``nproc=1`` runs ``python *args`` without torchrun.
    Returns the completed process (stdout/stderr captured as text)."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else []
    with _one_launch_at_a_time() if nproc > 1 else contextlib.nullcontext():
        return subprocess.run([sys.executable, *launch, *args], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)


if __name__ == "__main__":
    sys.exit(main())
