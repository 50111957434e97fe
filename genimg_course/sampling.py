"""Sampling from any of the course's generative models: one interface for every family.

    generate(model, n, *, y=None, seed=None) -> (n, C, H, W) float images in [-1, 1], on the CPU

A generative model (see :mod:`genimg_course.models`) has ``latent_dim``, ``num_classes`` (``None``
unless it is conditional) and ``render(z, y=None)``, which turns codes ``(B, latent_dim)`` into
images in [-1, 1]. A family whose model works in another range converts there: a VAE's Bernoulli
decoder gives the mean image ``sigmoid(logits)`` in [0, 1], so its ``render`` returns
``2 * sigmoid(logits) - 1``. :func:`generate` draws ``z ~ N(0, I)`` and calls ``render`` through
:func:`decode` (eval mode, batched, no gradients). ``viz``, ``widgets`` and the GAN diagnostics call
only these functions, so none of them asks which family a model is from or whether it is conditional.

:func:`interpolate` (paths between two codes, linear or spherical) is the latent-space maths the
explorers draw.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from .models._checks import check_device, check_int, check_positive_int, describe
from .train import evaluating

__all__ = ["Generative", "generate", "decode", "check_labels", "labels_for", "interpolate"]


@runtime_checkable
class Generative(Protocol):
    """What :func:`generate` needs from a model."""

    latent_dim: int
    num_classes: int | None

    def render(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` [, labels ``(B,)``] → images ``(B, C, H, W)`` in [-1, 1]."""
        ...


def check_labels(model: nn.Module, n: int, y: Any) -> torch.Tensor | None:
    """``y`` as a tensor of ``n`` labels when ``model`` is conditional, ``None`` when it is not;
    raises ``ValueError`` saying which was expected otherwise."""
    k = getattr(model, "num_classes", None)
    if not k and y is not None:
        raise ValueError(f"this model is not conditional (num_classes=None): do not pass labels y, got {describe(y)}")
    if y is not None:
        try:
            y = torch.as_tensor(y)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"labels y must be integer class indices of shape ({n},), got {describe(y)}") from None
    if k and (y is None or tuple(y.shape) != (n,)):
        raise ValueError(f"this model is conditional ({k} classes): pass labels y of shape ({n},), got "
                         f"{None if y is None else tuple(y.shape)}")
    if k:
        if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            raise TypeError(f"labels y must be integer class indices 0..{k - 1}, got {y.dtype}")
        lo, hi = int(y.min()), int(y.max())  # outside any training step: reading the labels is fine here
        if lo < 0 or hi >= k:
            raise ValueError(f"labels y must be class indices from 0 to {k - 1} (this model has {k} classes), "
                             f"got values from {lo} to {hi}")
    return y


def labels_for(model: nn.Module, n: int, label: int | None = None) -> torch.Tensor | None:
    """Labels for ``n`` samples of ``model``: ``None`` for an unconditional model (``label`` is then
    unused); for a conditional one, ``label`` ``n`` times, or every class in turn when ``label`` is
    ``None`` (``0, 1, …, K-1, 0, 1, …``)."""
    check_positive_int(n=n)
    k = getattr(model, "num_classes", None)
    if not k:
        return None
    if label is None:
        return torch.arange(n) % k
    check_int("label", label)
    if not 0 <= label < k:
        raise ValueError(f"label must be a class from 0 to {k - 1} (this model has {k} classes), got {label!r}")
    return torch.full((n,), int(label), dtype=torch.long)


def _device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return check_device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, *, y: torch.Tensor | None = None, batch_size: int = 500,
           device: torch.device | str | None = None) -> torch.Tensor:
    """``model.render(z, y)`` in eval mode (its mode restored afterwards) in batches of
    ``batch_size``: CPU float ``(B, C, H, W)`` in [-1, 1] (``(B, D)`` for a toy model of points).
    A plain module without ``render`` is taken to map ``z`` to images in [-1, 1] itself
    (``model(z)``, or ``model(z, y)`` when labels are given)."""
    if not isinstance(model, nn.Module) and not callable(getattr(model, "render", None)):
        raise TypeError(f"model must be a generative model (an nn.Module with render(z, y)), got {describe(model)}")
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be latent codes of shape (B, latent_dim), got {got}")
    if z.shape[0] == 0:
        raise ValueError(f"z is empty (shape {tuple(z.shape)}): expected at least one latent code")
    if not z.is_floating_point():
        raise TypeError(f"z must be float latent codes, got {z.dtype}: use z.float()")
    check_positive_int(batch_size=batch_size)
    y = check_labels(model, z.shape[0], y)
    device = _device(model, device)
    render = getattr(model, "render", None) or (lambda zi, yi: model(zi) if yi is None else model(zi, yi))
    out = []
    with evaluating(model):
        for i in range(0, z.shape[0], batch_size):
            yi = None if y is None else y[i:i + batch_size].to(device)
            out.append(render(z[i:i + batch_size].to(device), yi).float().cpu())
    return torch.cat(out)


def generate(model: nn.Module, n: int, *, y: Any = None, seed: int | None = None, batch_size: int = 500,
             device: torch.device | str | None = None, latent_dim: int | None = None) -> torch.Tensor:
    """``n`` samples of ``model`` for codes ``z ~ N(0, I)``: CPU float ``(n, C, H, W)`` in [-1, 1]
    (``(n, D)`` for a toy model of points), computed in eval mode on ``device`` (the model's own
    unless given).

    ``y``: ``(n,)`` labels, required by a conditional model and refused by an unconditional one.
    ``seed`` makes the codes repeatable (they are drawn on the CPU, so the same on every device).
    ``latent_dim`` is needed only for a model without a ``latent_dim`` attribute."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(model, nn.Module) and not callable(getattr(model, "render", None)):
        raise TypeError(f"model must be a generative model (an nn.Module with render(z, y)), got {describe(model)}")
    check_positive_int(latent_dim=latent_dim, batch_size=batch_size)
    if seed is not None:
        check_int("seed", seed)
    if device is not None:
        check_device(device)
    latent_dim = latent_dim or getattr(model, "latent_dim", None)
    if not latent_dim:
        raise ValueError("pass latent_dim: the model has no latent_dim attribute")
    y = check_labels(model, n, y)
    gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    z = torch.randn(n, latent_dim, generator=gen)
    return decode(model, z, y=y, batch_size=batch_size, device=device)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, t: Any, method: str = "linear") -> torch.Tensor:
    """Points between two latent codes ``z0``, ``z1`` ``(D,)`` at fractions ``t`` (a number or a
    sequence of ``T`` numbers in [0, 1]) → ``(T, D)``.

    ``"linear"``: ``z(t) = (1 - t) z0 + t z1``. ``"slerp"`` (spherical, Shoemake 1985; suggested for
    GAN latents by White 2016): ``z(t) = sin((1 - t) ω) / sin ω · z0 + sin(t ω) / sin ω · z1`` with
    ``ω`` the angle between the codes. For Gaussian codes in many dimensions, the linear midpoint is
    shorter than a typical sample (about ``1/√2`` of its length), while slerp keeps the length
    typical.
    """
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    if not (isinstance(z0, torch.Tensor) and isinstance(z1, torch.Tensor)) or z0.dim() != 1 or z0.shape != z1.shape:
        got = [tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__ for z in (z0, z1)]
        raise ValueError(f"z0 and z1 must be two latent codes of the same shape (D,), got {got[0]} and {got[1]}")
    if not z0.is_floating_point() or not z1.is_floating_point():
        raise TypeError(f"z0 and z1 must be float latent codes, got {z0.dtype} and {z1.dtype}: use .float()")
    if not bool(torch.isfinite(z0).all() and torch.isfinite(z1).all()):
        raise ValueError("z0 and z1 must be finite latent codes: they contain NaN or inf")
    try:
        ts = torch.as_tensor(t, dtype=z0.dtype, device=z0.device).reshape(-1, 1)  # (T, 1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"t must be a number or a sequence of numbers in [0, 1], got {describe(t)}") from None
    if ts.numel() == 0:
        raise ValueError(f"t must hold at least one fraction in [0, 1], got {t!r}")
    if not torch.isfinite(ts).all() or ts.min() < 0 or ts.max() > 1:
        raise ValueError(f"t must lie in [0, 1], got {t!r}")
    if method == "slerp":
        if float(z0.norm()) == 0 or float(z1.norm()) == 0:
            raise ValueError("slerp needs two non-zero codes (the angle to the zero vector is undefined): use "
                             "method='linear'")
        cos = torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1.0, 1.0)
        omega = torch.arccos(cos)
        if float(torch.sin(omega)) > 1e-6:  # (anti)parallel codes: the arc is undefined, fall back to linear
            return (torch.sin((1 - ts) * omega) * z0 + torch.sin(ts * omega) * z1) / torch.sin(omega)
    return (1 - ts) * z0 + ts * z1
