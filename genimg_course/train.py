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

Later lessons (GAN, VAE, image-to-image, diffusion) add a Task; the loop stays as it is.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .checkpoints import load_checkpoint, save_checkpoint
from .history import History, TrainingDiverged

__all__ = [
    "Task", "StepContext", "ClassifierTask", "History", "TrainingDiverged", "fit", "seed_everything",
    "evaluate_accuracy", "adam", "evaluating",
]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]) + [random.getstate()[0]] + [random.getstate()[2]],
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_gauss": [int(np_state[3]), float(np_state[4])],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[-2], tuple(py[:-2]), py[-1]))
    has_gauss, cached = state.get("numpy_gauss", [0, 0.0])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
    """One kind of training: its modules, optimisers and what one step does."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    # optional: ``schedulers: dict[str, LRScheduler]``, stepped by the task, saved in checkpoints

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Do one update; return detached scalar tensors to log (no ``.item()`` here)."""
        ...


def adam(params: Any, lr: float, *, betas: tuple[float, float] = (0.9, 0.999), device: torch.device | str | None = None,
         weight_decay: float = 0.0, decoupled: bool = False) -> torch.optim.Optimizer:
    """The course's one Adam builder: ``torch.optim.Adam`` (``AdamW`` with ``decoupled=True``), fused
    into one kernel on CUDA (``fused=True``; on the CPU the plain loop). ``device``: where the
    parameters live (read from them when not given)."""
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


def _plain(m: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (its state_dict has no ``module.`` prefix)."""
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _task_state(task: Task) -> dict[str, Any]:
    return {
        "modules": {k: _plain(m).state_dict() for k, m in task.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
        "schedulers": {k: sc.state_dict() for k, sc in getattr(task, "schedulers", {}).items()},
    }


def _load_task_state(task: Task, state: dict[str, Any], path: Path) -> None:
    asked = {k: [g["lr"] for g in o.param_groups] for k, o in task.optimizers.items()}
    try:
        for k, m in task.modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in task.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, sc in getattr(task, "schedulers", {}).items():
            sc.load_state_dict(state["schedulers"][k])
    except (KeyError, RuntimeError, ValueError) as e:
        raise RuntimeError(
            f"checkpoint {path} does not fit this task (modules {sorted(task.modules)}): {str(e).splitlines()[0]}. "
            "It was written by a different model or settings: pass another checkpoint path or delete it."
        ) from None
    for k, o in task.optimizers.items():
        saved = [g["lr"] for g in o.param_groups]
        if not getattr(task, "schedulers", None) and saved != asked[k]:
            print(f"[fit] note: optimiser {k!r} resumes with the checkpoint's lr {saved[0]:g}, not the {asked[k][0]:g} "
                  f"you asked for; to start over with new settings pass resume=False or delete {path}")


def _swap_modules(task: Task, new: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Put ``new[k]`` in place of ``task.modules[k]``, in the dict and in any attribute of the task that
    holds the same module (``VAETask.model``), so that ``task.step`` uses it. Returns the old ones."""
    old = dict(task.modules)
    by_id = {id(old[k]): new[k] for k in new}
    for name, value in list(vars(task).items()):
        if id(value) in by_id:
            setattr(task, name, by_id[id(value)])
    task.modules.update(new)
    return old


_HINT_NAN = (
    "The usual causes: a learning rate that is too high, images outside the range the loss expects, "
    "or log(0) in a hand-written loss. Lower lr, check the data range, and restart from the last checkpoint."
)


def fit(
    task: Task,
    batches: Iterator[Any],
    *,
    steps: int | None = None,
    epochs: float | None = None,
    max_seconds: float | None = None,
    log_every: int = 50,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    seed: int | None = 0,
    amp_dtype: torch.dtype | None | str = "auto",
    channels_last: bool | None = None,
    callbacks: Sequence[Callable[[History], None]] = (),
    progress: bool = True,
    desc: str = "training",
    sync_batchnorm: bool = True,
) -> History:
    """Run ``task.step`` on ``batches`` until ``steps`` (or ``epochs``) or ``max_seconds``.

    With ``checkpoint`` set, the run saves there every ``checkpoint_every`` steps, at the end,
    and when interrupted; with ``resume=True`` an existing checkpoint is continued, and the result
    equals an uninterrupted run. Returns the :class:`History` of logged losses.

    Under ``torchrun`` with more than one process (:func:`genimg_course.distributed.setup` called):
    the task's modules train in DistributedDataParallel (BatchNorm synchronised on GPUs with
    ``sync_batchnorm``); batches with a ``shard(rank, world_size)`` method (``ResidentBatches``)
    give each rank its part of every global batch, other iterators are used as each rank's own;
    the logged values are averaged over the ranks; rank 0 alone shows progress, runs callbacks and
    writes the checkpoint; ``max_seconds`` is checked at log steps so every rank stops together.
    """
    per_epoch = len(batches) if hasattr(batches, "__len__") else None  # type: ignore[arg-type]
    if (steps is None) == (epochs is None):
        raise ValueError(f"give exactly one of steps or epochs, got steps={steps!r}, epochs={epochs!r}")
    if epochs is not None:
        if per_epoch is None:
            raise ValueError("epochs needs batches with a length (batches per epoch); pass steps instead")
        if not epochs > 0:
            raise ValueError(f"epochs must be positive, got {epochs}")
        steps = max(1, math.ceil(epochs * per_epoch))
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be a positive integer, got {log_every!r}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive (or None for no time limit), got {max_seconds}")
    if not getattr(task, "modules", None) or not hasattr(task, "step"):
        raise TypeError(f"fit expects a Task with .modules, .optimizers and .step(batch, ctx), got {type(task).__name__}")

    first = next(iter(task.modules.values()))
    params = list(first.parameters())
    device = params[0].device if params else torch.device("cpu")
    data_device = getattr(batches, "device", device)
    if torch.device(data_device).type != device.type:
        raise ValueError(f"the batches are on {data_device} but the model is on {device}: put both on the same device")
    if amp_dtype == "auto":
        amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    ctx = StepContext(device, amp_dtype, scaler)  # type: ignore[arg-type]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels once
    if channels_last is None:
        channels_last = device.type == "cuda"
    if channels_last:
        for m in task.modules.values():
            m.to(memory_format=torch.channels_last)

    ddp, rank, world = distributed.is_distributed(), distributed.rank(), distributed.world_size()
    progress = progress and rank == 0
    if ddp and hasattr(batches, "shard"):
        batches.shard(rank, world)  # type: ignore[attr-defined]
    elif ddp and rank == 0:
        print(f"[fit] note: {type(batches).__name__} has no shard(rank, world_size): each of the {world} ranks trains "
              "on the batches its own iterator gives")

    history, start = History(), 0
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=device)
        _load_task_state(task, state, ckpt_path)
        ranks_rng = state.get("rng_ranks") or []
        _set_rng_state(ranks_rng[rank] if len(ranks_rng) == world else state["rng"])
        start, history = int(state["step"]), History.from_state(state["history"])
        if progress:
            print(f"[fit] resumed from {ckpt_path} at step {start}")
    elif seed is not None:
        seed_everything(seed + rank)  # each rank its own noise (codes, dropout); DDP copies rank 0's weights
    if hasattr(batches, "step"):
        batches.step = start  # type: ignore[attr-defined]

    def save(step: int, together: bool = True) -> None:
        """Rank 0 writes; with ``together`` every rank calls this and its RNG state is kept too."""
        if ckpt_path is None:
            return
        rng = _rng_state()
        ranks_rng = distributed.all_gather_objects(rng) if ddp and together else None
        if rank == 0:
            save_checkpoint({**_task_state(task), "step": step, "rng": rng, "rng_ranks": ranks_rng,
                             "history": history.to_state()}, ckpt_path)
        if ddp and together:
            distributed.barrier()  # the file is complete before any rank goes on

    if start >= steps:
        history.stopped_by = "steps"
        return history

    from tqdm.auto import tqdm

    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress, leave=True, dynamic_ncols=True)
    sums: dict[str, torch.Tensor] = {}
    n_in_sums, step, t0, seconds0 = 0, start, time.perf_counter(), history.seconds
    stopped_by = "steps"

    def flush(together: bool = True) -> None:
        nonlocal sums, n_in_sums
        if not n_in_sums:
            return
        values = torch.stack([v.reshape(()).to(device) for v in sums.values()]) / n_in_sums
        if ddp and together:
            values = distributed.all_mean(values)  # the same means on every rank
        means = dict(zip(sums, values.tolist()))  # the one sync per log
        history.steps.append(step)
        for k, v in means.items():
            history.values.setdefault(k, []).append(v)
        history.seconds = seconds0 + time.perf_counter() - t0
        sums, n_in_sums = {}, 0
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        if bad:
            if ckpt_path is not None and ckpt_path.exists():
                save_note = f" The last good checkpoint is {ckpt_path}: fit() resumes from it."
            else:
                save_note = " Pass checkpoint=... and checkpoint_every=... to keep the last good state next time."
            hint = getattr(task, "divergence_hint", "")
            raise TrainingDiverged(f"{', '.join(bad)} became {means[bad[0]]} by step {step}. {hint + ' ' if hint else ''}"
                                   f"{_HINT_NAN}{save_note}")
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()}, refresh=False)
        for cb in callbacks if rank == 0 else ():
            cb(history)

    if ddp:
        plain = _swap_modules(task, {k: distributed.wrap(m, sync_batchnorm) for k, m in task.modules.items()})
    try:
        while step < steps:
            batch = next(batches)
            out = task.step(batch, ctx)
            for k, v in out.items():
                v = v.detach().float()
                sums[k] = sums[k] + v if k in sums else v.clone()
            n_in_sums += 1
            step += 1
            first_tensor = batch[0] if isinstance(batch, (tuple, list)) else batch
            history.images += int(first_tensor.shape[0]) * world
            bar.update(1)
            if step % log_every == 0 or step == steps:
                flush()
            if ckpt_path is not None and checkpoint_every and step % checkpoint_every == 0:
                flush()  # the saved history covers every step up to here
                save(step)
            if max_seconds is not None:
                over = time.perf_counter() - t0 > max_seconds
                if ddp:  # all ranks must stop after the same step: they agree at log steps only
                    over = step % log_every == 0 and distributed.any_rank(over)
                if over:
                    stopped_by = "time"
                    break
    except KeyboardInterrupt:
        stopped_by = "interrupted"
        if progress:
            where = f"; saved to {ckpt_path}, run again to resume" if ckpt_path is not None else ""
            print(f"[fit] interrupted at step {step}{where}")
    finally:
        bar.close()
        if ddp:
            _swap_modules(task, plain)  # the task gets its own modules back, trained
    together = stopped_by != "interrupted"  # an interrupted rank cannot wait for the others
    if stopped_by != "steps" or n_in_sums:
        flush(together)
    history.seconds = seconds0 + time.perf_counter() - t0
    history.stopped_by = stopped_by
    save(step, together)
    if stopped_by == "time" and progress:
        print(f"[fit] time budget of {max_seconds:g} s reached at step {step} of {steps}")
    return history


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on float images ``(N, C, H, W)`` and labels ``(N,)``."""
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"images and labels must be non-empty and of equal length, got {images.shape[0]} and {labels.shape[0]}")
    correct = torch.zeros((), device=images.device)
    with evaluating(model):
        for i in range(0, images.shape[0], batch_size):
            correct += (model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum()
    return float(correct.item()) / images.shape[0]
