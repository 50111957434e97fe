"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node 2`` (gloo on the CPU), and
imported by it for the single-process baselines.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py OUT_DIR

Each scenario trains with the course's ``fit`` and every rank saves what it saw and ended with to
``OUT_DIR/<scenario>_rank<r>.pt``; the test compares them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from genimg_course import ddp_demo, distributed
from genimg_course.data import PointBatches, ResidentBatches, load_digits8
from genimg_course.gan import GANTask
from genimg_course.models.toy_gan import MLPDiscriminator, MLPGenerator
from genimg_course.train import ClassifierTask, fit, seed_everything
from genimg_course.vae import VAETask

GLOBAL_BATCH = 32


def small_cnn() -> nn.Module:
    """A CNN without BatchNorm for 8x8 digits (BatchNorm statistics cannot be synchronised on the CPU)."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 8, 4, 4)
                         nn.Flatten(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 10))


def params(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def classifier(steps: int = 8, log_every: int = 4) -> dict:
    """Adam on 8x8 digits, batches randomly shifted by up to 1 pixel: the run the test repeats alone."""
    seed_everything(0)
    model = small_cnn()
    task = ClassifierTask(model, lr=3e-3)
    batches = ResidentBatches(load_digits8(verbose=False), GLOBAL_BATCH, seed=0, shift=1)
    calls: list[int] = []
    first_batch = next(ResidentBatches(load_digits8(verbose=False), GLOBAL_BATCH, seed=0, shift=1)
                       .shard(distributed.rank(), distributed.world_size()))
    history = fit(task, batches, steps=steps, log_every=log_every, progress=False, callbacks=[lambda h: calls.append(1)])
    return {"params": params(model), "loss": history.values["loss"], "acc": history.values["acc"],
            "images": history.images, "first_batch": first_batch[0], "callback_calls": len(calls),
            "local_batch_size": batches.local_batch_size, "shard": (batches.rank, batches.world_size),
            "module_returned": task.modules["model"] is model}


class TinyVAE(nn.Module):
    """A VAE for 8x8 images: ``x (B, 1, 8, 8)`` → ``(logits (B, 1, 8, 8), mu, logvar, z)``."""

    def __init__(self, latent_dim: int = 4) -> None:
        super().__init__()
        self.enc, self.dec = nn.Linear(64, 2 * latent_dim), nn.Linear(latent_dim, 64)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        mu, logvar = self.enc(x.flatten(1)).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.dec(z).view_as(x), mu, logvar, z


def vae(steps: int, checkpoint: Path | None = None) -> dict:
    """A VAE (random binarisation and codes: the RNG matters) for ``steps`` steps, resuming from ``checkpoint``."""
    seed_everything(0)
    model = TinyVAE()
    task = VAETask(model, lr=1e-2, binarize=True)
    batches = ResidentBatches(load_digits8(verbose=False), GLOBAL_BATCH, seed=0, value_range=(0, 1))
    history = fit(task, batches, steps=steps, log_every=2, checkpoint=checkpoint, checkpoint_every=2, progress=False)
    return {"params": params(model), "loss": history.values["loss"], "task_model_returned": task.modules["model"] is model}


def gan(loss: str = "nonsaturating", steps: int = 4) -> dict:
    """The toy GAN; PointBatches has no shard(), so each rank draws its own points (seed = rank)."""
    seed_everything(0)
    G, D = MLPGenerator(latent_dim=4, hidden=16), MLPDiscriminator(hidden=16)
    task = GANTask(G, D, loss=loss, n_critic=2 if loss == "wgan-gp" else 1)
    history = fit(task, PointBatches(16, seed=distributed.rank()), steps=steps, log_every=2, progress=False)
    return {"G": params(G), "D": params(D), "d_loss": history.values["d_loss"]}


def time_budget() -> dict:
    """A budget that is spent at once: every rank must stop after the same (log) step."""
    seed_everything(0)
    batches = ResidentBatches(load_digits8(verbose=False), GLOBAL_BATCH, seed=0)
    history = fit(ClassifierTask(small_cnn()), batches, steps=50, log_every=3, max_seconds=1e-9, progress=False)
    return {"steps": history.steps, "stopped_by": history.stopped_by}


def main(out_dir: str) -> None:
    out = Path(out_dir)
    info = distributed.setup()
    r = info.rank
    results = {
        "info": {"rank": info.rank, "world_size": info.world_size, "backend": info.backend,
                 "device": str(info.device), "distributed": distributed.is_distributed()},
        "classifier": classifier(),
        "vae_uninterrupted": vae(6),
        "vae_stopped": vae(3, out / "vae.ckpt"),
        "vae_resumed": vae(6, out / "vae.ckpt"),
        "gan": gan(),
        "gan_wgan_gp": gan("wgan-gp"),  # D's gradient penalty differentiates through D twice
        "time_budget": time_budget(),
        "demo": ddp_demo.demo(steps=10, verbose=False),
    }
    for name, value in results.items():
        torch.save(value, out / f"{name}_rank{r}.pt")
    distributed.cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
