"""Measuring: the course judge and FID/KID on its features (a lesson's figures JSON: :mod:`genimg_course.figures`).

The *judge* is the CNN classifier trained in lesson 01 (shipped as ``weights/judge_mnist.pt``,
SHA-256 checked, made by ``tools/make_judge.py``). Its 128-d penultimate features replace
Inception-v3's in FID and KID: Inception was trained on 299x299 colour photos, so 28x28 digits
upsampled to it land far from anything it has learned. torchmetrics computes both metrics from
any feature module.

Always read a quality number beside its *real-vs-real baseline* (two disjoint real sets of the
same size): FID is biased upward for small sample counts, so only same-size comparisons mean
anything. :func:`real_vs_real` gives that baseline.
"""
from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
from torch import nn

from .checkpoints import load_shipped
from .models import CNNClassifier

__all__ = ["JudgeFeatures", "load_judge", "fid", "kid", "real_vs_real"]


class JudgeFeatures(nn.Module):
    """Wrap a :class:`CNNClassifier` as a torchmetrics feature extractor.

    Input: images ``(B, 1, 28, 28)``, uint8 0..255 or float in ``[-1, 1]``; output ``(B, 128)``.
    """

    def __init__(self, classifier: CNNClassifier) -> None:
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.feature_dim
        for p in self.classifier.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "JudgeFeatures":  # the judge always runs in eval mode
        super().train(False)
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dev = next(self.classifier.parameters()).device
        x = x.to(dev)
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1.0
        # CPU float64: torchmetrics accumulates its sums where the metric lives (the CPU here)
        return self.classifier.features(x.float()).double().cpu()


@functools.lru_cache(maxsize=4)
def load_judge(device: torch.device | str = "cpu") -> JudgeFeatures:
    """The shipped judge (hash-verified once per device and session), ready for :func:`fid` / :func:`kid`."""
    state = load_shipped("judge_mnist")
    model = CNNClassifier(**state["config"])
    model.load_state_dict(state["model"])
    return JudgeFeatures(model.to(device))


def _as_images(x: Any, name: str, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Validate ``(N, 1, 28, 28)`` images (uint8, or float in ``value_range``); float → ``[-1, 1]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of images (N, 1, 28, 28), got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name} must have shape (N, 1, 28, 28) — the judge's input — got {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 images for a covariance, got {x.shape[0]}")
    if x.is_floating_point():
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf: the model that made them has diverged")
        lo, hi = float(x.min()), float(x.max())
        a, b = value_range
        tol = 0.01 * (b - a)
        if lo < a - tol or hi > b + tol:
            raise ValueError(f"{name} must be in [{a:g}, {b:g}] (float; pass value_range=... for another range) or "
                             f"0..255 (uint8), got values in [{lo:.3g}, {hi:.3g}]")
        if (a, b) != (-1.0, 1.0):
            x = (x - a) * (2.0 / (b - a)) - 1.0
    elif x.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8 (0..255) or float in [-1, 1], got {x.dtype}")
    return x


def _update(metric: Any, x: torch.Tensor, real: bool, batch_size: int) -> None:
    for i in range(0, x.shape[0], batch_size):
        metric.update(x[i:i + batch_size], real=real)


def fid(real: torch.Tensor, fake: torch.Tensor, judge: JudgeFeatures | None = None, batch_size: int = 500,
        value_range: tuple[float, float] = (-1.0, 1.0)) -> float:
    """Fréchet distance between judge features of ``real`` and ``fake`` ``(N, 1, 28, 28)``
    (uint8, or float in ``value_range``: ``(-1, 1)`` for tanh generators, ``(0, 1)`` for VAEs)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _as_images(real, "real", value_range), _as_images(fake, "fake", value_range)
    judge = judge or load_judge()
    metric = FrechetInceptionDistance(feature=judge, reset_real_features=True)
    _update(metric, real, True, batch_size)
    _update(metric, fake, False, batch_size)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, judge: JudgeFeatures | None = None, subsets: int = 20,
        subset_size: int | None = None, batch_size: int = 500,
        value_range: tuple[float, float] = (-1.0, 1.0)) -> tuple[float, float]:
    """Kernel inception distance (mean, std over ``subsets``) on judge features; unbiased, so it
    is comparable across sample counts, unlike FID."""
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _as_images(real, "real", value_range), _as_images(fake, "fake", value_range)
    n = min(real.shape[0], fake.shape[0])
    subset_size = subset_size or min(1000, n)
    if subset_size > n:
        raise ValueError(f"subset_size {subset_size} is larger than the smaller set ({n} images)")
    judge = judge or load_judge()
    with warnings.catch_warnings():  # "will save all extracted features": intended, the sets are small
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=judge, subsets=subsets, subset_size=subset_size)
    _update(metric, real, True, batch_size)
    _update(metric, fake, False, batch_size)
    mean, std = metric.compute()
    return float(mean), float(std)


def real_vs_real(images: torch.Tensor, n: int, judge: JudgeFeatures | None = None, seed: int = 0) -> float:
    """FID between two disjoint random halves of ``images``, each of ``n`` images: the floor
    that any generator's FID at ``n`` samples should be read against."""
    images = _as_images(images, "images")
    if 2 * n > images.shape[0]:
        raise ValueError(f"real_vs_real needs 2 x {n} = {2 * n} images, got {images.shape[0]}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(images.shape[0], generator=g)
    return fid(images[perm[:n]], images[perm[n:2 * n]], judge)
