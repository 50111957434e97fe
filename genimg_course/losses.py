"""GAN losses, each the one or two lines a lesson shows beside its equation.

Discriminators return *logits* (scores before any sigmoid): ``D(x) = sigmoid(logit)``. With
``softplus(a) = log(1 + e^a)``, ``-log sigmoid(a) = softplus(-a)`` and
``-log(1 - sigmoid(a)) = softplus(a)``, which is exact and never takes ``log(0)``.

=========================  ==========================================================
original GAN (Goodfellow et al., 2014)
``d_loss_bce``             ``-E[log D(x)] - E[log(1 - D(G(z)))]``
``g_loss_saturating``      ``E[log(1 - D(G(z)))]`` (minimised; vanishing gradient early)
``g_loss_nonsaturating``   ``-E[log D(G(z))]`` (same fixed point, strong gradient early)
WGAN (Arjovsky, Chintala & Bottou, 2017) with gradient penalty (Gulrajani et al., 2017)
``d_loss_wasserstein``     ``E[D(G(z))] - E[D(x)]``
``g_loss_wasserstein``     ``-E[D(G(z))]``
``gradient_penalty``       ``E[(||∇ D(x̂)||₂ - 1)²]``, ``x̂ = εx + (1-ε)G(z)``, ``ε ~ U(0, 1)`` per sample
hinge (Lim & Ye, 2017; Miyato et al., 2018)
``d_loss_hinge``           ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``
``g_loss_hinge``           ``-E[D(G(z))]``
=========================  ==========================================================
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "d_loss_bce", "g_loss_saturating", "g_loss_nonsaturating", "d_loss_wasserstein", "g_loss_wasserstein",
    "gradient_penalty", "d_loss_hinge", "g_loss_hinge", "LOSSES",
]


def _logits(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of discriminator outputs, got "
                        f"{type(x).__name__ if not isinstance(x, torch.Tensor) else x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: the batch has no samples")
    return x.float()


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-E[log D(x)] - E[log(1 - D(G(z)))]`` from logits."""
    r, f = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
    return F.softplus(-r).mean() + F.softplus(f).mean()


def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The original minimax generator loss ``E[log(1 - D(G(z)))]`` (to be minimised)."""
    return -F.softplus(_logits(fake_logits, "fake_logits")).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-E[log D(G(z))]``."""
    return F.softplus(-_logits(fake_logits, "fake_logits")).mean()


def d_loss_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss ``E[D(G(z))] - E[D(x)]`` (minimised: real scores up, fake scores down)."""
    return _logits(fake_scores, "fake_scores").mean() - _logits(real_scores, "real_scores").mean()


def g_loss_wasserstein(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss ``-E[D(G(z))]``."""
    return -_logits(fake_scores, "fake_scores").mean()


def d_loss_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    r, f = _logits(real_scores, "real_scores"), _logits(fake_scores, "fake_scores")
    return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()


def g_loss_hinge(fake_scores: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(z))]`` (the same as the Wasserstein generator loss)."""
    return -_logits(fake_scores, "fake_scores").mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty ``E[(||∇_x̂ D(x̂)||₂ - 1)²]`` on random interpolates ``x̂ = εx + (1-ε)x̃``.

    ``real``, ``fake``: ``(B, …)`` with the same shape; ``eps``: ``(B,)`` in [0, 1], drawn
    uniformly per sample when not given. The norm is taken per sample over all of its pixels.
    The graph is kept (``create_graph=True``) so the penalty itself can be minimised.
    """
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor):
        raise TypeError("real and fake must be tensors")
    for name, t in (("real", real), ("fake", fake)):
        if not t.is_floating_point():
            raise TypeError(f"{name} must be float images (scaled, e.g. with data.to_float), got {t.dtype}")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.shape[0] == 0:
        raise ValueError("gradient_penalty got an empty batch")
    b = real.shape[0]
    if eps is None:
        eps = torch.rand(b, device=real.device)
    if eps.shape != (b,):
        raise ValueError(f"eps must have shape ({b},), one number per sample, got {tuple(eps.shape)}")
    e = eps.view(b, *([1] * (real.dim() - 1))).to(real.dtype)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.float().sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # (B,): one gradient norm per sample
    return ((norms - 1.0) ** 2).mean()


# name -> (discriminator loss, generator loss)
LOSSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "nonsaturating": (d_loss_bce, g_loss_nonsaturating),
    "saturating": (d_loss_bce, g_loss_saturating),
    "wgan-gp": (d_loss_wasserstein, g_loss_wasserstein),
    "hinge": (d_loss_hinge, g_loss_hinge),
}
