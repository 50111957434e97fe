"""The course's one training loop.

A lesson describes *what* one step does in a small :class:`Task` (its models, optimisers and a
``step`` method returning losses as tensors); :func:`fit` does the rest the same way every time:

* device placement, ``channels_last`` on the GPU, bf16 autocast where it helps;
* no host sync inside a step: losses are summed on the device and read every ``log_every``
  steps (one ``.item()`` per log, not per step);
* a ``tqdm.auto`` progress bar with the losses, a step limit and a time budget (``max_seconds``);
* callbacks (e.g. :class:`genimg_course.viz.LiveLossPlot`) at every log;
* seeding, and atomic checkpoints with model, optimiser, step, history and RNG state, so an
  interrupted run (even Ctrl-C / the stop button) resumes where it stopped with the same result;
* several GPUs under ``torchrun`` (see :mod:`genimg_course.distributed`): DistributedDataParallel,
  each rank its shard of every batch, logging and checkpoints on rank 0.

Each of those jobs lives in the module whose job it is — logging and the NaN stop in
:mod:`~genimg_course.history`, saving and resuming in :mod:`~genimg_course.checkpoints`, DDP in
:mod:`~genimg_course.distributed` — so :func:`fit` reads on one screen. Later lessons (GAN, VAE,
image-to-image, diffusion) add a Task; the loop stays as it is.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .checkpoints import TrainingCheckpoint
from .history import History, Logger, TrainingDiverged
from .profiles import autocast_dtype

__all__ = [
    "Task", "Batches", "StepContext", "ClassifierTask", "History", "TrainingDiverged", "fit", "seed_everything",
    "evaluate_accuracy", "adam", "evaluating",
]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class StepContext:
    """What a Task's ``step`` needs from the loop: autocast and an optimiser update."""

    device: torch.device
    amp_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward pass (bf16 on GPUs; a no-op on the CPU)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, grad_norm: bool = False) -> torch.Tensor | None:
        """``zero_grad`` → ``backward`` → ``step`` (with loss scaling under fp16). Gradients are
        computed only for the optimiser's own parameters: a loss that also runs through another
        network (a GAN generator's loss through D) leaves that network's weights alone. With
        ``grad_norm=True`` returns the total gradient norm of those parameters as a tensor (no
        host sync)."""
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError(f"StepContext.update expects the loss as a scalar tensor (no .item()), got "
                            f"{type(loss).__name__ if not isinstance(loss, torch.Tensor) else tuple(loss.shape)}")
        optimizer.zero_grad(set_to_none=True)
        params = _trainable(optimizer)
        inputs = params or None  # nothing trainable: let backward report what it finds
        norm = None
        if self.scaler is not None:
            self.scaler.scale(loss).backward(inputs=inputs)
            if grad_norm:
                self.scaler.unscale_(optimizer)
                norm = _total_grad_norm(params)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward(inputs=inputs)
            if grad_norm:
                norm = _total_grad_norm(params)
            optimizer.step()
        return norm


def _trainable(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The parameters ``optimizer`` updates (those that require gradients)."""
    return [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]


def _total_grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float())


class Task(Protocol):
    """One kind of training: its networks, their optimisers and what one step does.

    * ``modules``: the task's networks by name (``{"model": ...}``, ``{"G": ..., "D": ...}``). ``step``
      reads them from this dict every time (never from an attribute of its own), so that :func:`fit`
      can put DDP-wrapped networks there for the run and the plain ones back afterwards.
    * ``optimizers``: one per trained network, under the same key as its module.
    * optional ``schedulers``: learning-rate schedulers by name, stepped by the task, saved in checkpoints.
    * optional ``divergence_hint``: a sentence added to the message when a loss becomes NaN.
    """

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Do one update; return detached scalar tensors to log (no ``.item()`` here)."""
        ...


def adam(params: Any, lr: float, *, betas: tuple[float, float] = (0.9, 0.999), device: torch.device | str | None = None,
         weight_decay: float = 0.0, decoupled: bool = False) -> torch.optim.Optimizer:
    """The course's one Adam builder: ``torch.optim.Adam`` (``AdamW`` with ``decoupled=True``), fused
    into one kernel on CUDA (``fused=True``; on the CPU the plain loop). ``device``: where the
    parameters live (read from them when not given)."""
    if isinstance(params, nn.Module):
        raise TypeError("adam() takes the parameters to optimise, not the module: pass model.parameters()")
    params = list(params)
    if not params:
        raise ValueError("adam() got no parameters to optimise")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
    dev = torch.device(device) if device is not None else first.device
    fused = {"fused": True} if dev.type == "cuda" else {}
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    return cls(params, lr=lr, betas=betas, weight_decay=weight_decay, **fused)


@contextlib.contextmanager
def evaluating(*modules: nn.Module | None) -> Iterator[None]:
    """Eval mode (BatchNorm's running statistics, no dropout) for ``modules`` inside the block, each
    put back in the mode it had afterwards, even on an error. ``None`` entries are skipped."""
    mods = [m for m in modules if m is not None]
    bad = [type(m).__name__ for m in mods if not isinstance(m, nn.Module)]
    if bad:
        raise TypeError(f"evaluating() takes nn.Modules (or None), got {bad}")
    was = [m.training for m in mods]
    for m in mods:
        m.eval()
    try:
        yield
    finally:
        for m, w in zip(mods, was):
            m.train(w)


class ClassifierTask:
    """Cross-entropy classification: ``batch = (x (B, C, H, W), y (B,))``."""

    def __init__(self, model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.0,
                 device: torch.device | str | None = None, total_steps: int | None = None) -> None:
        """``total_steps`` set: a one-cycle learning-rate schedule peaking at ``lr`` (Smith & Topin 2019)."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"ClassifierTask expects an nn.Module, got {type(model).__name__}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(f"ClassifierTask needs a model with trainable parameters; {type(model).__name__} has none")
        dev = torch.device(device) if device is not None else next(model.parameters()).device
        self.modules = {"model": model.to(dev)}
        self.optimizers = {"model": adam(model.parameters(), lr, device=dev, weight_decay=weight_decay, decoupled=True)}
        self.schedulers = {}
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps < 1:
                raise ValueError(f"total_steps must be a positive integer (or None), got {total_steps!r}")
            self.schedulers["lr"] = torch.optim.lr_scheduler.OneCycleLR(self.optimizers["model"], max_lr=lr,
                                                                        total_steps=total_steps)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], ctx: StepContext) -> dict[str, torch.Tensor]:
        x, y = batch
        model = self.modules["model"]
        model.train()
        with ctx.autocast():
            logits = model(x)  # (B, num_classes)
        loss = F.cross_entropy(logits.float(), y)
        ctx.update(loss, self.optimizers["model"])
        sched = self.schedulers.get("lr")
        if sched is not None and sched.last_epoch < sched.total_steps - 1:  # past the end: hold the last lr
            sched.step()
        return {"loss": loss.detach(), "acc": (logits.argmax(1) == y).float().mean()}


class Batches(Protocol):
    """What :func:`fit` draws from: an iterator of batches (a tensor ``x``, or a tuple whose first
    item is ``x`` of shape ``(B, ...)``). ``ResidentBatches`` and ``PointBatches`` are the course's.

    Optional, used when present (``ResidentBatches`` has all four):

    * ``__len__()``: batches per epoch, so ``fit(epochs=...)`` works;
    * ``device``: where the batches live, checked against the model's before any step;
    * ``step``: the position in the stream, set by ``fit`` on resume so the data continues where it stopped;
    * ``shard(rank, world_size)``: under torchrun, each rank its part of every global batch.
    """

    def __next__(self) -> Any: ...


def _steps(batches: Any, steps: int | None, epochs: float | None) -> int:
    """The run's length in steps from ``steps`` or ``epochs`` (exactly one of them)."""
    if (steps is None) == (epochs is None):
        raise ValueError(f"give exactly one of steps or epochs, got steps={steps!r}, epochs={epochs!r}")
    if epochs is not None:
        if not hasattr(batches, "__len__"):
            raise ValueError("epochs needs batches with a length (batches per epoch); pass steps instead")
        if not epochs > 0:
            raise ValueError(f"epochs must be positive, got {epochs}")
        steps = max(1, math.ceil(epochs * len(batches)))
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return steps


def _check(task: Any, log_every: Any, max_seconds: Any, checkpoint: Any, checkpoint_every: Any, seed: Any,
           callbacks: Any) -> None:
    """Every argument of :func:`fit` checked before any work is done, naming what came."""
    if not isinstance(getattr(task, "modules", None), dict) or not task.modules or not callable(getattr(task, "step", None)):
        raise TypeError(f"fit expects a Task with .modules (a non-empty dict of networks), .optimizers and "
                        f".step(batch, ctx), got {type(task).__name__}")
    bad = [k for k, m in task.modules.items() if not isinstance(m, nn.Module)]
    if bad or not isinstance(getattr(task, "optimizers", None), dict):
        raise TypeError(f"a Task's modules must be nn.Modules and its optimizers a dict; modules {bad} are not "
                        f"(optimizers: {type(getattr(task, 'optimizers', None)).__name__})")
    for name, v in (("log_every", log_every), ("checkpoint_every", checkpoint_every)):
        if (v is not None or name == "log_every") and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive integer{' (or None)' if name != 'log_every' else ''}, got {v!r}")
    if max_seconds is not None and (isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float))
                                    or not max_seconds > 0):
        raise ValueError(f"max_seconds must be positive (or None for no time limit), got {max_seconds!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int (or None to leave the random state alone), got {seed!r}")
    if not all(callable(cb) for cb in callbacks):
        raise TypeError(f"callbacks must be callables taking the History, got {[type(cb).__name__ for cb in callbacks]}")
    if checkpoint is not None:
        path = Path(checkpoint)
        if path.is_dir():
            raise ValueError(f"checkpoint must be a file path such as runs/gan.pt, got the folder {path}")
        folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
        if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ValueError(f"checkpoint {path} cannot be written: {folder} is not a writable folder. "
                             "Choose a path in a folder you can write to")


class _Epochs:
    """An iterable that is not an iterator (a DataLoader, a list of batches) as endless batches:
    one pass after another. Exact resume is not promised for these (a DataLoader's shuffling is its own)."""

    def __init__(self, iterable: Any) -> None:
        self.iterable, self._it = iterable, iter(iterable)

    def __next__(self) -> Any:
        try:
            return next(self._it)
        except StopIteration:  # the end of one pass: start the next (an empty iterable stops fit)
            self._it = iter(self.iterable)
            return next(self._it)


def _as_batches(batches: Any) -> Any:
    if hasattr(batches, "__next__"):
        return batches
    if hasattr(batches, "__iter__") and not isinstance(batches, (torch.Tensor, str, bytes, dict)):
        return _Epochs(batches)
    raise TypeError(f"fit draws batches with next(): pass an iterator such as ResidentBatches(...) (or an iterable such "
                    f"as a DataLoader), got {type(batches).__name__}")


def _context(task: Task, batches: Any, amp_dtype: Any, channels_last: bool | None) -> StepContext:
    """Where the task trains (its first module's device; the batches must agree), in which precision
    (``"auto"``: :func:`genimg_course.profiles.autocast_dtype`) and memory format."""
    params = list(next(iter(task.modules.values())).parameters())
    device = params[0].device if params else torch.device("cpu")
    data_device = getattr(batches, "device", device)
    if torch.device(data_device).type != device.type:
        raise ValueError(f"the batches are on {data_device} but the model is on {device}: put both on the same device")
    if amp_dtype == "auto":
        amp_dtype = autocast_dtype(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels once
    if channels_last if channels_last is not None else device.type == "cuda":
        for m in task.modules.values():
            m.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    return StepContext(device, amp_dtype, scaler)


def _images(batch: Any) -> int:
    """Images in a batch: ``x``, ``(x, y)`` or, for two-domain tasks, ``((x_a, y_a), (x_b, y_b))`` (domain A's count)."""
    while isinstance(batch, (tuple, list)):
        batch = batch[0]
    return int(batch.shape[0])


def fit(task: Task, batches: Batches, *, steps: int | None = None, epochs: float | None = None,
        max_seconds: float | None = None, log_every: int = 50, checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None, resume: bool = True, seed: int | None = 0,
        amp_dtype: torch.dtype | None | str = "auto", channels_last: bool | None = None,
        callbacks: Sequence[Callable[[History], None]] = (), progress: bool = True, desc: str = "training",
        sync_batchnorm: bool = True) -> History:
    """Run ``task.step`` on ``batches`` until ``steps`` (or ``epochs``) or ``max_seconds``.

    Logs the means of the step's values every ``log_every`` steps (:class:`~genimg_course.history.Logger`:
    one host sync per log) and calls ``callbacks`` with the :class:`History` then. With
    ``checkpoint`` set the run saves there every ``checkpoint_every`` steps, at the end and when
    interrupted (:class:`~genimg_course.checkpoints.TrainingCheckpoint`); with ``resume=True`` an
    existing checkpoint is continued, and the result equals an uninterrupted run.

    Under ``torchrun`` (:func:`genimg_course.distributed.setup` called): the task's modules train in
    DistributedDataParallel (:func:`~genimg_course.distributed.wrapped`; BatchNorm synchronised on GPUs
    with ``sync_batchnorm``), each rank draws its shard of every batch, logged values are averaged
    over the ranks, rank 0 alone shows progress, runs callbacks and writes the checkpoint, and
    ``max_seconds`` is checked at log steps so that every rank stops after the same step.
    """
    steps = _steps(batches, steps, epochs)
    _check(task, log_every, max_seconds, checkpoint, checkpoint_every, seed, callbacks)
    batches = _as_batches(batches)
    ctx = _context(task, batches, amp_dtype, channels_last)
    ddp, rank, world = distributed.is_distributed(), distributed.rank(), distributed.world_size()
    progress = progress and rank == 0
    distributed.shard(batches)
    ckpt = TrainingCheckpoint(checkpoint, task) if checkpoint is not None else None
    resumed = ckpt.restore(ctx.device) if ckpt is not None and resume else None
    start, history = (resumed[0], History.from_state(resumed[1])) if resumed else (0, History())
    if resumed and progress:
        print(f"[fit] resumed from {ckpt.path} at step {start}")
    elif not resumed and seed is not None:
        seed_everything(seed + rank)  # each rank its own noise (codes, dropout); DDP copies rank 0's weights
    if hasattr(batches, "step"):
        batches.step = start
    if start > steps:
        raise ValueError(f"the checkpoint {ckpt.path} is at step {start}, past steps={steps}: continuing cannot give a "
                         f"{steps}-step model. Pass steps >= {start}, resume=False to start again, or another checkpoint")
    if start == steps:
        history.stopped_by = "steps"
        return history

    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress, leave=True, dynamic_ncols=True)
    log = Logger(history, bar=bar, callbacks=callbacks if rank == 0 else (), reduce=distributed.all_mean if ddp else None,
                 hint=getattr(task, "divergence_hint", ""), checkpoint=ckpt.path if ckpt else None)
    step, stopped_by = start, "steps"
    with distributed.wrapped(task.modules, sync_batchnorm):
        try:
            while step < steps:
                batch = next(batches, None)
                if batch is None:
                    stopped_by = "data"
                    break
                log.add(task.step(batch, ctx), _images(batch) * world)
                step += 1
                bar.update(1)
                if step % log_every == 0 or step == steps:
                    log.log(step)
                if ckpt is not None and checkpoint_every and step % checkpoint_every == 0:
                    log.log(step)  # the saved history covers every step up to here
                    ckpt.save(step, history.to_state())
                if max_seconds is not None:
                    over = log.elapsed > max_seconds
                    if ddp:  # all ranks must stop after the same step: they agree at log steps only
                        over = step % log_every == 0 and distributed.any_rank(over)
                    if over:
                        stopped_by = "time"
                        break
        except KeyboardInterrupt:
            stopped_by = "interrupted"
            if progress:
                print(f"[fit] interrupted at step {step}" + (f"; saved to {ckpt.path}, run again to resume" if ckpt else ""))
        finally:
            bar.close()
    together = stopped_by != "interrupted"  # an interrupted rank cannot wait for the others
    log.log(step, together)
    history.stopped_by = stopped_by
    if ckpt is not None:
        ckpt.save(step, history.to_state(), together)
    if stopped_by == "time" and progress:
        print(f"[fit] time budget of {max_seconds:g} s reached at step {step} of {steps}")
    if stopped_by == "data":
        print(f"[fit] the batches ran out at step {step} of {steps}: pass endless batches (ResidentBatches) or fewer steps")
    return history


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on float images ``(N, C, H, W)`` and labels ``(N,)``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"evaluate_accuracy expects an nn.Module classifier, got {type(model).__name__}")
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise ValueError(f"evaluate_accuracy expects images (N, C, H, W) and labels (N,) as tensors, got "
                         f"{getattr(images, 'shape', type(images).__name__)} and {getattr(labels, 'shape', type(labels).__name__)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"images and labels must be non-empty and of equal length, got {images.shape[0]} and {labels.shape[0]}")
    correct = torch.zeros((), device=images.device)
    with evaluating(model):
        for i in range(0, images.shape[0], batch_size):
            correct += (model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum()
    return float(correct.item()) / images.shape[0]
