"""Try the course's multi-GPU training, and launch scripts under ``torchrun``.

``python -m genimg_course.ddp_demo demo`` trains a small CNN on scikit-learn's 8x8 digits with
:func:`genimg_course.train.fit`; run it alone, then as ``torchrun --standalone --nproc_per_node=2 -m
genimg_course.ddp_demo demo``: both give the same weights (lesson 90 and ``tests/test_distributed.py``
show it). :func:`run_torchrun` starts such a launch from Python, one at a time on a machine.
The collectives themselves are in :mod:`genimg_course.distributed`.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from typing import Any

import torch
from torch import nn

from .data import ResidentBatches, load_digits8
from .distributed import cleanup, is_main, setup
from .train import ClassifierTask, fit, seed_everything

__all__ = ["demo", "main", "run_torchrun"]


def demo(steps: int = 30, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
         out: str | os.PathLike | None = None, verbose: bool = True) -> dict[str, Any]:
    """Train a small CNN on scikit-learn's 8x8 digits for ``steps`` steps of ``batch_size`` images
    (the *global* batch: under torchrun each of N ranks takes ``batch_size / N`` of it) with
    :func:`genimg_course.train.fit`. Returns (and with ``out``, rank 0 saves with ``torch.save``)
    ``{"params": final parameters (CPU), "world_size", "steps", "batch_size", "log_steps", "loss": the
    logged losses, "seconds"}``. The same call alone and under torchrun gives the same parameters up to rounding."""
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
    """``python -m genimg_course.ddp_demo demo [--steps N] [--batch-size B] [--out FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m genimg_course.ddp_demo",
        description="Try the course's multi-GPU training: `demo` trains a small CNN on 8x8 digits with fit(). "
                    "Run it alone, then as `torchrun --standalone --nproc_per_node=2 -m genimg_course.ddp_demo "
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


EXIT_RACE = "terminate called without an active exception"  # a worker's C++ runtime aborting while it exits


def run_torchrun(args: list[str], nproc: int, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
                 timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node=nproc *args`` (``torchrun``),
    one launch at a time on this machine; ``nproc=1`` runs ``python *args`` without torchrun. A launch whose
    worker aborted while exiting (:data:`EXIT_RACE` in its stderr) is repeated once, the first failure kept at the
    top of stderr. Returns the completed process (stdout/stderr captured as text)."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    if isinstance(args, (str, bytes)) or not all(isinstance(a, (str, os.PathLike)) for a in args):
        raise TypeError(f"args must be a list of strings (the script and its arguments), got {args!r}")
    launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else []
    with _one_launch_at_a_time() if nproc > 1 else contextlib.nullcontext():
        done = subprocess.run([sys.executable, *launch, *args], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
        if nproc > 1 and done.returncode != 0 and EXIT_RACE in done.stderr:
            # a worker aborted while the process exited (gloo's threads at interpreter teardown; seen about once in
            # a few dozen CPU launches): the launch is repeated once, and the first failure is kept in stderr
            first = done.stderr
            done = subprocess.run([sys.executable, *launch, *args], env=env, cwd=cwd, capture_output=True, text=True,
                                  timeout=timeout)
            done.stderr = f"[run_torchrun: relaunched once after a worker aborted at exit]\n{first[-2000:]}\n{done.stderr}"
        return done


if __name__ == "__main__":
    sys.exit(main())
