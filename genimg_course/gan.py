"""Training GANs with the course loop: the losses, the :class:`GANTask`, and diagnostics.

``GANTask(G, D, loss=...)`` plugs into :func:`genimg_course.train.fit` like any task. Each step
updates the discriminator ``n_critic`` times, then the generator once, and returns losses,
D's outputs on real and fake data and both gradient norms — all as tensors, so nothing waits
for the GPU inside a step. :class:`GANDiagnostics` reads them at every log and prints a
plain-language hint when training goes wrong (and says nothing on a healthy run). Samples come
from :func:`genimg_course.sampling.generate`, the one sampler of every family (re-exported here).

The losses, each the one or two lines a lesson shows beside its equation:

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

Data-efficient training: :func:`diff_augment` is DiffAugment (Zhao, Liu, Lin, Zhu & Han, 2020),
differentiable colour / translation / cutout applied to *both* real and fake images before every
call of D; ``GANTask(..., augment="color,translation,cutout")`` does so in D's and in G's update.
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import load_shipped
from .history import History
from .models._checks import (check_bool, check_device, check_int, check_module, check_number, check_positive_int,
                             check_tensor, describe)
from .models.dcgan import DCGANGenerator, check_gan_pair
from .sampling import generate, labels_for
from .train import StepContext, adam

__all__ = [
    "d_loss_bce", "g_loss_saturating", "g_loss_nonsaturating", "d_loss_wasserstein", "g_loss_wasserstein",
    "gradient_penalty", "d_loss_hinge", "g_loss_hinge", "LOSSES", "AUGMENT_POLICIES", "diff_augment",
    "GANTask", "generate", "diversity", "GANDiagnostics", "count_modes", "load_pretrained",
]


# ---------------------------------------------------------------- the losses
def _logits(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of discriminator outputs, got "
                        f"{type(x).__name__ if not isinstance(x, torch.Tensor) else x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): expected at least one score per batch")
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
    if not callable(critic):
        raise TypeError(f"gradient_penalty: critic must be a function or module mapping images to scores, got {describe(critic)}")
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor):
        raise TypeError(f"gradient_penalty: real and fake must be tensors, got {describe(real)} and {describe(fake)}")
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
    else:  # given by the caller (a check, a test): checked once, outside any training step
        if not isinstance(eps, torch.Tensor) or not eps.is_floating_point():
            raise TypeError(f"eps must be a float tensor of shape ({b},) in [0, 1], got {describe(eps)}")
        if eps.shape != (b,):
            raise ValueError(f"eps must have shape ({b},), one number per sample, got {tuple(eps.shape)}")
        if not bool(((eps >= 0) & (eps <= 1)).all()):
            raise ValueError(f"eps must lie in [0, 1] (x̂ = eps·real + (1 - eps)·fake is between the two), got "
                             f"values from {float(eps.min()):.3g} to {float(eps.max()):.3g}")
    e = eps.view(b, *([1] * (real.dim() - 1))).to(real.dtype)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    if not isinstance(scores, torch.Tensor) or scores.numel() != b:
        raise ValueError(f"gradient_penalty: the critic must return one score per sample, shape ({b},), got {describe(scores)}")
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


# ---------------------------------------------------------------- DiffAugment
# Zhao, Liu, Lin, Zhu & Han, "Differentiable Augmentation for Data-Efficient GAN Training" (NeurIPS 2020).
# D overfits a small training set: it memorises the real images and its feedback to G stops meaning
# anything. Augmenting what D sees helps only if the augmentation T is applied to real AND fake images
# and is differentiable, so that G's gradient flows back through T: D(T(x)) vs D(T(G(z))), in both
# updates. Augmenting the real images alone teaches G to produce augmented-looking images.
AUGMENT_POLICIES = ("color", "translation", "cutout")


def _parse_policy(policy: Any, who: str = "diff_augment") -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> ``("color", "translation", "cutout")``, refusing anything else."""
    allowed = ", ".join(repr(p) for p in AUGMENT_POLICIES)
    if not isinstance(policy, str):
        raise TypeError(f"{who}: policy must be a comma-separated string of {allowed} (e.g. "
                        f"'color,translation,cutout'), got {describe(policy)}")
    names = tuple(part.strip() for part in policy.split(","))
    if not policy.strip() or not all(names):
        raise ValueError(f"{who}: policy {policy!r} names no augmentation (or has an empty item): expected a "
                         f"comma-separated choice of {allowed}, e.g. 'color,translation,cutout'")
    unknown = [n for n in names if n not in AUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"{who}: unknown policy {unknown[0]!r} in {policy!r}: expected a comma-separated choice of "
                         f"{allowed}")
    if len(set(names)) != len(names):
        raise ValueError(f"{who}: policy {policy!r} names an augmentation twice: name each of {allowed} at most once")
    return names


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``(B, 1, 1, 1)`` draws from U(0, 1), one per image, on ``x``'s device."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype, generator=generator)


def _colour(x: torch.Tensor, generator: torch.Generator | None, fill: float) -> torch.Tensor:
    x = x + (_uniform(x, generator) - 0.5)  # brightness: x + β, β ~ U(-0.5, 0.5) per image
    if x.shape[1] > 1:  # one channel has no colour: x - mean_c(x) = 0, so saturation is a no-op there, skipped
        m = x.mean(dim=1, keepdim=True)  # (B, 1, H, W): each pixel's mean over the channels
        x = (x - m) * (2 * _uniform(x, generator)) + m  # saturation: m + s·(x - m), s ~ U(0, 2)
    m = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1): each image's mean
    return (x - m) * (_uniform(x, generator) + 0.5) + m  # contrast: m + c·(x - m), c ~ U(0.5, 1.5)


def _translation(x: torch.Tensor, generator: torch.Generator | None, fill: float, ratio: float = 0.125) -> torch.Tensor:
    b, c, h, w = x.shape
    max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)  # up to 1/8 of each side: 4 pixels at 28x28
    ty = torch.randint(-max_y, max_y + 1, (b, 1), device=x.device, generator=generator)  # whole pixels, per image
    tx = torch.randint(-max_x, max_x + 1, (b, 1), device=x.device, generator=generator)
    rows = torch.arange(h, device=x.device) - ty  # (B, H): output row i shows input row i - ty
    cols = torch.arange(w, device=x.device) - tx  # (B, W)
    inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(b, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(b, c, h, w))
    return torch.where(inside, out, fill)  # out(i, j) = x(i - ty, j - tx), pixels moved in from outside = fill


def _cutout(x: torch.Tensor, generator: torch.Generator | None, fill: float, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)  # a half-size square: 14x14 at 28x28
    # its centre anywhere in the image (the square may hang over the edge), as in the paper's code
    top = torch.randint(0, h + 1 - size_y % 2, (b, 1), device=x.device, generator=generator) - size_y // 2
    left = torch.randint(0, w + 1 - size_x % 2, (b, 1), device=x.device, generator=generator) - size_x // 2
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = ((rows >= top) & (rows < top + size_y))[:, None, :, None]  # (B, 1, H, 1)
    in_cols = ((cols >= left) & (cols < left + size_x))[:, None, None, :]  # (B, 1, 1, W)
    hole = in_rows & in_cols
    return torch.where(hole, fill, x)  # x·(1 - mask) + fill·mask: no gradient reaches the cut-out pixels


_AUGMENTS = {"color": _colour, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout", generator: torch.Generator | None = None,
                 *, fill: float = 0.0) -> torch.Tensor:
    """DiffAugment (Zhao et al., 2020): random, differentiable augmentation of images ``(B, C, H, W)``
    in [-1, 1], each image with its own draw, applied in the order the comma-separated ``policy`` names:

    - ``"color"``: brightness ``x + β``, ``β ~ U(-0.5, 0.5)``; saturation ``m + s·(x - m)`` about each
      pixel's channel mean, ``s ~ U(0, 2)`` (a no-op for 1 channel, where ``x = m``: skipped there);
      contrast ``m + c·(x - m)`` about the image's mean, ``c ~ U(0.5, 1.5)``. As in the paper, nothing is
      clipped: values may leave [-1, 1] (for 1 channel by at most: ``|y| <= 3``); D reads them as they come.
    - ``"translation"``: a shift by a whole number of pixels from ``-round(H/8)`` to ``round(H/8)`` (4 at
      28x28) in each direction; what moves in from outside is ``fill``.
    - ``"cutout"``: a square of half the side (14x14 at 28x28), centred anywhere in the image (it may
      hang over the edge), set to ``fill``.

    ``fill`` defaults to 0, the paper's choice (its code pads and cuts with zeros in the same [-1, 1]
    convention): mid-grey here, not the digits' black background (-1). Real and fake images get the same
    kind of fill, so D cannot tell them apart by it; pass ``fill=-1.0`` for black.

    Everything is drawn on ``x``'s device (from ``generator`` when given, which must live there too),
    with no host sync, so it can run inside a training step; gradients flow through to ``x``, which is
    what lets G learn through D's view of augmented fakes. Returns a new tensor; ``x`` is not changed.
    """
    names = _parse_policy(policy)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 4:
        raise TypeError(f"diff_augment: x must be float images (B, C, H, W) in [-1, 1], got {describe(x)}")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"diff_augment: generator must be a torch.Generator or None, got {describe(generator)}")
        if generator.device.type != x.device.type or (x.device.type != "cpu" and generator.device != x.device):
            raise ValueError(f"diff_augment: the generator lives on {generator.device} but the images on {x.device}: "
                             f"make it there, torch.Generator(device={str(x.device)!r}).manual_seed(...)")
    fill = check_number("fill", fill)
    for name in names:
        x = _AUGMENTS[name](x, generator, fill)
    return x


def _unchanged(x: torch.Tensor) -> torch.Tensor:
    return x


# ---------------------------------------------------------------- the task


class GANTask:
    """Adversarial training of ``G`` against ``D``.

    ``loss``: ``"nonsaturating"`` (default), ``"saturating"`` (the original minimax G loss, to see
    why it fails), ``"wgan-gp"`` (Wasserstein critic + gradient penalty of weight ``gp_weight``;
    use ``n_critic=5`` and a D without BatchNorm; ``penalty`` replaces :func:`gradient_penalty`, e.g.
    by a learner's own, with the same ``(critic, real, fake)`` call) or ``"hinge"``. Batches are ``x`` or ``(x, y)``;
    with a conditional G (``G.num_classes``) the labels ``y`` condition both networks.

    ``reuse_fakes=True`` (default) lets the just-updated D score again the fakes it was just
    trained on (the same codes ``z``, as pytorch/examples' DCGAN does), so G runs forward once per
    step; ``False`` draws fresh codes for G's update, as in Goodfellow et al.'s Algorithm 1, at the
    cost of a second forward pass through G (lesson 02's ``gan_step`` exercise is checked against
    it). Other implementations differ again: Chintala's dcgan.torch reuses the scores D gave those
    fakes *before* its update, and Radford's Theano code (Newmu/dcgan_code) updates either G or D
    on each minibatch, each time with fresh noise. With either setting G's backward pass stops at G's own
    weights (``StepContext.update`` computes gradients for the optimiser's parameters only): D's
    weight gradients there would be thrown away, so they are never computed.

    ``augment`` (default ``None``: D sees the images as they are): a :func:`diff_augment` policy such as
    ``"color,translation,cutout"``, or any function ``images -> images`` that gradients flow through. It
    is applied, with a fresh draw each time, to the real and to the fake images before *every* call of D:
    in D's update (``D(T(x))``, ``D(T(G(z)))``; WGAN-GP's penalty then interpolates between those two)
    and in G's (``D(T(G(z)))``), which is DiffAugment's point (Zhao et al., 2020): augmenting only the
    real images would teach G to make augmented-looking images.

    The first batch is checked once (one host sync; later steps never sync): float, finite, images
    in about [-1, 1] (not 0..255 or [0, 1] data) and, for a conditional G, labels in range.
    """

    def __init__(self, G: nn.Module, D: nn.Module, loss: str = "nonsaturating", lr_g: float = 2e-4,
                 lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), n_critic: int = 1,
                 gp_weight: float = 10.0, latent_dim: int | None = None, reuse_fakes: bool = True,
                 penalty: Callable[..., torch.Tensor] | None = None,
                 augment: str | Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        check_module("G", G, "GANTask")
        if isinstance(augment, str):
            self.augment_policy: str | None = ",".join(_parse_policy(augment, "GANTask(augment=...)"))
            self.augment: Callable[[torch.Tensor], torch.Tensor] | None = functools.partial(
                diff_augment, policy=self.augment_policy)
        elif augment is None or (callable(augment) and not isinstance(augment, type)):
            self.augment_policy, self.augment = None, augment
        else:
            allowed = ", ".join(repr(p) for p in AUGMENT_POLICIES)
            raise TypeError(f"GANTask: augment must be None (no augmentation), a DiffAugment policy, a comma-separated "
                            f"choice of {allowed} such as 'color,translation,cutout', or a function images -> images"
                            f"{' (an instance, not a class)' if isinstance(augment, type) else ''}, got {describe(augment)}")
        if penalty is not None and not callable(penalty):
            raise TypeError(f"penalty must be a function (critic, real, fake) -> a 0-dim tensor, like gradient_penalty, "
                            f"got {describe(penalty)}")
        if penalty is not None and loss != "wgan-gp":
            raise ValueError(f"penalty is WGAN-GP's gradient penalty: it needs loss='wgan-gp', got loss={loss!r}")
        self.penalty = penalty or gradient_penalty
        check_module("D", D, "GANTask")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}: expected one of {sorted(LOSSES)}")
        if isinstance(n_critic, bool) or not isinstance(n_critic, int) or n_critic < 1:
            raise ValueError(f"n_critic must be a positive integer, got {n_critic!r}")
        check_bool(reuse_fakes=reuse_fakes)
        for name, lr in (("lr_g", lr_g), ("lr_d", lr_d)):
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
                raise ValueError(f"learning rates must be positive, got lr_g={lr_g!r}, lr_d={lr_d!r}")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be Adam's pair (beta1, beta2), e.g. (0.5, 0.999), got {describe(betas)}")
        for i, b in enumerate(betas):
            check_number(f"betas[{i}]", b, low=0.0, high=1.0, high_open=True)
        gp_weight = check_number("gp_weight", gp_weight, low=0.0)
        if latent_dim is not None:
            check_positive_int(latent_dim=latent_dim)
        self.latent_dim = latent_dim or getattr(G, "latent_dim", None)
        if not self.latent_dim:
            raise ValueError("pass latent_dim: the generator has no latent_dim attribute")
        g_classes, d_classes = getattr(G, "num_classes", None), getattr(D, "num_classes", None)
        if g_classes != d_classes and hasattr(D, "num_classes"):
            raise ValueError(f"the generator has num_classes={g_classes} but the discriminator has num_classes={d_classes}: "
                             "a conditional GAN needs both conditioned on the same classes")
        bn = [type(m).__name__ for m in D.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if loss == "wgan-gp" and bn:
            raise ValueError("WGAN-GP penalises each sample's gradient, which BatchNorm in D mixes across the batch: "
                             f"build D with norm='layer' or norm='none' (got a D with {len(bn)} {bn[0]} layers)")
        self.num_classes = getattr(G, "num_classes", None)
        if hasattr(D, "image_shape"):
            check_gan_pair(G, D, self.latent_dim)  # fails before any step, naming both shapes
        device = next(G.parameters()).device
        self.loss, self.n_critic, self.gp_weight, self.reuse_fakes = loss, n_critic, gp_weight, reuse_fakes
        self.d_loss_fn, self.g_loss_fn = LOSSES[loss]
        self.modules = {"G": G, "D": D.to(device)}
        self.optimizers = {"G": adam(G.parameters(), lr_g, betas=betas, device=device),
                           "D": adam(D.parameters(), lr_d, betas=betas, device=device)}
        self.divergence_hint = ("GANs diverge when D overpowers G or the learning rate is too high: try a lower lr, "
                                "spectral normalisation or the WGAN-GP / hinge losses (lesson 04).")
        self._checked = False  # the first batch's dtype and range are checked once (one host sync)

    def sample_z(self, n: int, device: torch.device | None = None) -> torch.Tensor:
        """``(n, latent_dim)`` standard normal codes."""
        check_positive_int(n=n)
        device = check_device(device) if device is not None else next(self.modules["G"].parameters()).device
        return torch.randn(n, self.latent_dim, device=device)

    def _check_first_batch(self, x: Any, y: Any) -> None:
        """The first batch, once: a float tensor of real samples, finite, images in about [-1, 1] (the
        range of G's tanh), labels for a conditional G. One host sync, then never again."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"GANTask: a batch must be x or (x, y) with x a float tensor of real samples, got {describe(x)}")
        if not x.is_floating_point():
            raise TypeError(f"GANTask: real samples must be float, got {x.dtype}"
                            + (" (uint8 0..255 images): use ResidentBatches(..., value_range=(-1, 1)) or "
                               "data.to_float(images)" if x.dtype == torch.uint8 else ""))
        check_tensor("the batch", x, "GANTask")
        if self.num_classes and y is None:
            raise ValueError(f"GANTask: G is conditional ({self.num_classes} classes), so batches must be (x, y) with "
                             "labels y; got x alone")
        if self.num_classes and (not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool
                                 or tuple(y.shape) != (x.shape[0],)):
            raise ValueError(f"GANTask: labels y must be integer class indices of shape ({x.shape[0]},), got {describe(y)}")
        stats = [x.min().float(), x.max().float(), torch.isfinite(x).all().float()]
        if self.num_classes:  # checked here, once: on a GPU an out-of-range label in a step is a device-side assert
            stats += [y.min().float().to(x.device), y.max().float().to(x.device)]
        lo, hi, finite, *label_range = torch.stack(stats).tolist()  # the one host sync
        if label_range and not (label_range[0] >= 0 and label_range[1] < self.num_classes):
            raise ValueError(f"GANTask: labels y must be class indices from 0 to {self.num_classes - 1}, got values from "
                             f"{label_range[0]:g} to {label_range[1]:g} in the first batch")
        if not finite:
            raise ValueError(f"GANTask: the first batch of real samples contains NaN or inf (shape {tuple(x.shape)})")
        if x.dim() == 4 and (lo < -1.05 or hi > 1.05 or lo >= 0):
            what = ("0..255 pixels" if hi > 2 else "[0, 1] images" if lo >= 0 else "images outside [-1, 1]")
            raise ValueError(f"GANTask: real images must lie in [-1, 1], the range of G's tanh, but the first batch "
                             f"holds values from {lo:.3g} to {hi:.3g} ({what}): draw batches with "
                             "ResidentBatches(..., value_range=(-1, 1)) or scale uint8 images with data.to_float(images)")

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        if isinstance(batch, (tuple, list)):
            x, y = (batch[0] if len(batch) > 0 else None), (batch[1] if len(batch) > 1 else None)
        else:
            x, y = batch, None
        if not self._checked:
            if not callable(getattr(ctx, "autocast", None)) or not callable(getattr(ctx, "update", None)):
                raise TypeError(f"GANTask.step needs the loop's StepContext (fit passes it), got {describe(ctx)}")
            self._check_first_batch(x, y)
            self._checked = True
        y = y if self.num_classes else None  # labels condition the networks only when G is conditional
        G, D = self.modules["G"], self.modules["D"]
        G.train(), D.train()
        T = _unchanged if self.augment is None else self.augment  # D only ever sees T(x) and T(G(z)), fresh draws
        b = x.shape[0]
        for i in range(self.n_critic):
            z = self.sample_z(b, x.device)
            keep_graph = self.reuse_fakes and i == self.n_critic - 1  # G's update below reuses these fakes
            with ctx.autocast():
                with contextlib.nullcontext() if keep_graph else torch.no_grad():
                    fake = G(z, y)
                real_seen, fake_seen = T(x), T(fake.detach())  # detach: D's update must not reach G
                real_out = D(real_seen, y).float()  # (B,) logits / critic scores
                fake_out = D(fake_seen, y).float()
            d_loss = self.d_loss_fn(real_out, fake_out)
            if self.loss == "wgan-gp":
                real_gp, fake_gp = (x, fake) if self.augment is None else (real_seen, fake_seen)
                d_loss = d_loss + self.gp_weight * self.penalty(lambda t: D(t, y), real_gp, fake_gp.float())
            grad_d = ctx.update(d_loss, self.optimizers["D"], grad_norm=True)
        with ctx.autocast():
            if not self.reuse_fakes:
                fake = G(self.sample_z(b, x.device), y)
            with _local_only(D):  # D is not updated here: under DDP, nothing of D's to all-reduce
                g_out = D(T(fake), y).float()  # G learns through T: the augmentation is differentiable
        g_loss = self.g_loss_fn(g_out)
        grad_g = ctx.update(g_loss, self.optimizers["G"], grad_norm=True)  # backward into G's weights only
        if self.loss in ("nonsaturating", "saturating"):
            d_real, d_fake = torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()  # D's probabilities
        else:
            d_real, d_fake = real_out.mean(), fake_out.mean()  # critic scores
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": d_real.detach(),
                "d_fake": d_fake.detach(), "grad_d": grad_d, "grad_g": grad_g}


def _local_only(module: nn.Module) -> contextlib.AbstractContextManager:
    """``no_sync()`` for a DDP-wrapped module (its forward then expects no gradient reduction)."""
    return module.no_sync() if isinstance(module, nn.parallel.DistributedDataParallel) else contextlib.nullcontext()


def diversity(x: torch.Tensor, max_n: int = 256) -> float:
    """Mean pairwise Euclidean distance within a batch ``(N, …)`` (first ``max_n`` items):
    close to 0 when a generator makes (nearly) the same output for every code."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(f"diversity needs a tensor of at least 2 samples (N, ...), got {describe(x)}")
    check_int("max_n", max_n, minimum=2)
    f = x[:max_n].flatten(1).float()
    d = torch.cdist(f, f)
    n = f.shape[0]
    value = float(d.sum() / (n * (n - 1)))
    if not math.isfinite(value):
        raise ValueError(f"diversity: the samples contain NaN or inf (shape {tuple(x.shape)}): the model that made "
                         "them has diverged")
    return value


def count_modes(points: torch.Tensor, centres: torch.Tensor, radius: float, min_share: float = 0.01) -> tuple[int, float]:
    """For 2-D toy data: how many of the mixture's ``centres`` ``(K, 2)`` receive at least
    ``min_share`` of the ``points`` ``(N, 2)`` within ``radius``, and the share of points that
    land near any centre (quality)."""
    for name, t in (("points", points), ("centres", centres)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            raise ValueError(f"count_modes: {name} must be a 2-D tensor ({'N' if name == 'points' else 'K'}, D), got {describe(t)}")
    if points.shape[1] != centres.shape[1]:
        raise ValueError(f"points (N, D) and centres (K, D) must agree in D, got {tuple(points.shape)} and {tuple(centres.shape)}")
    if points.shape[0] == 0:
        raise ValueError(f"count_modes got an empty cloud of points {tuple(points.shape)}: no points cover no modes; "
                         "pass the generator's samples, e.g. generate(G, 2000)")
    if centres.shape[0] == 0:
        raise ValueError(f"count_modes got no centres {tuple(centres.shape)}: pass the mixture's centres (K, D), e.g. ring_centres(8)")
    check_number("radius", radius, low=0.0, low_open=True)
    check_number("min_share", min_share, low=0.0, high=1.0, low_open=True)
    if not bool(torch.isfinite(points).all()):
        raise ValueError(f"count_modes: the points contain NaN or inf ({int((~torch.isfinite(points)).any(1).sum())} of "
                         f"{points.shape[0]}): the generator has diverged")
    d = torch.cdist(points.float(), centres.float())  # (N, K)
    nearest = d.argmin(1)
    close = d.min(1).values < radius
    counts = torch.bincount(nearest[close], minlength=centres.shape[0])
    covered = int((counts >= min_share * points.shape[0]).sum())
    return covered, float(close.float().mean())


class GANDiagnostics:
    """A :func:`fit` callback that watches a GAN run and explains what goes wrong.

    At each log it checks: D winning outright (D's loss near 0 while G's loss keeps rising),
    exploding gradient norms, and — every ``sample_every`` logs, when ``G`` is given — collapsing
    sample diversity compared with ``real`` data. Each problem is reported once, with a hint and
    the lesson section that explains it; :attr:`alarms` lists what fired.

    The diversity check waits ``warmup_steps`` training steps (and ``warmup_logs`` logs): a fresh
    generator maps every code to nearly the same grey blob, which is not collapse. Measured for
    lesson 04's width-32 DCGANs on the digits (batch 64): samples 5 % as diverse as the data at
    step 20, 15 % at 40, 38 % at 100 and 70 % at 200; WGAN-GP's stayed near 23 % for 80 steps.
    """

    def __init__(self, G: nn.Module | None = None, real: torch.Tensor | None = None, latent_dim: int | None = None,
                 window: int = 4, grad_limit: float = 1e3, diversity_floor: float = 0.25, sample_every: int = 2,
                 warmup_logs: int = 2, warmup_steps: int = 200, print_fn: Callable[[str], None] = print) -> None:
        if G is not None:
            check_module("G", G, "GANDiagnostics")
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window must be a whole number of logs >= 2, got {window!r}")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a whole number of steps >= 0, got {warmup_steps!r}")
        check_int("warmup_logs", warmup_logs, minimum=0)
        check_positive_int(sample_every=sample_every, latent_dim=latent_dim)
        check_number("grad_limit", grad_limit, low=0.0, low_open=True)
        check_number("diversity_floor", diversity_floor, low=0.0, high=1.0)
        if not callable(print_fn):
            raise TypeError(f"print_fn must be a function such as print, got {describe(print_fn)}")
        if real is not None and not isinstance(real, torch.Tensor):
            raise TypeError(f"real must be a tensor of real samples (N, ...), got {describe(real)}")
        self.G, self.latent_dim = G, latent_dim or getattr(G, "latent_dim", None)
        self.window, self.grad_limit, self.diversity_floor, self.sample_every = window, grad_limit, diversity_floor, sample_every
        self.warmup_logs, self.warmup_steps = warmup_logs, warmup_steps  # no collapse alarm before both have passed
        self.real_diversity = diversity(real) if real is not None else None
        self.alarms: list[str] = []
        self._print = print_fn
        self._calls = 0

    def _alarm(self, kind: str, message: str) -> None:
        if kind not in self.alarms:
            self.alarms.append(kind)
            self._print(f"[diagnostics] {message}")

    def __call__(self, history: History) -> None:
        if not isinstance(history, History):
            raise TypeError(f"GANDiagnostics is a fit callback: it expects the run's History, got {describe(history)}")
        self._calls += 1
        v, w = history.values, self.window
        d, g = v.get("d_loss", []), v.get("g_loss", [])
        if len(d) >= w and all(0 <= x < 0.05 for x in d[-w:]) and g[-1] > g[-w] + 0.5:
            self._alarm("d_wins", f"D's loss has been near 0 for {w} logs while G's loss rose from {g[-w]:.2f} to "
                                  f"{g[-1]:.2f}: the discriminator wins outright and G cannot keep up. Try a "
                                  "lower D learning rate, fewer D steps, spectral norm or the hinge loss "
                                  "(lesson 04, 'Stabilising GANs').")
        gg, df = v.get("grad_g", []), v.get("d_fake", [])
        if len(gg) >= w and len(df) >= w and all(a < 1e-2 for a in gg[-w:]) and all(0 <= p < 0.05 for p in df[-w:]):
            self._alarm("g_vanishing", f"G's gradient norm has stayed below 0.01 for {w} logs while D rejects its "
                                       "samples: G's loss has saturated and G stops learning. Use the non-saturating "
                                       "loss -log D(G(z)) (lesson 02, 'Why the original G loss saturates').")
        for name in ("grad_d", "grad_g"):
            vals = v.get(name, [])
            if vals and (not math.isfinite(vals[-1]) or vals[-1] > self.grad_limit):
                self._alarm(f"{name}_explodes", f"{'D' if name == 'grad_d' else 'G'}'s gradient norm reached "
                                               f"{vals[-1]:.3g} (limit {self.grad_limit:g}): updates this large throw "
                                               "training off. Lower the learning rate, or constrain D with spectral "
                                               "norm or a gradient penalty (lesson 04).")
        if (self.G is not None and self.real_diversity and self._calls > self.warmup_logs
                and history.steps and history.steps[-1] >= self.warmup_steps and self._calls % self.sample_every == 0):
            x = generate(self.G, 64, y=labels_for(self.G, 64), seed=0, latent_dim=self.latent_dim)
            ratio = diversity(x) / self.real_diversity
            if ratio < self.diversity_floor:
                self._alarm("collapse", f"G's samples are {ratio:.0%} as diverse as real data: mode collapse — G "
                                        "produces (nearly) the same output for different codes. See lesson 02's "
                                        "mode-collapse section; minibatch diversity, WGAN-GP or spectral norm help.")


def load_pretrained(name: str = "dcgan_mnist", device: torch.device | str = "cpu") -> DCGANGenerator:
    """A shipped generator (SHA-256 checked): ``"dcgan_mnist"`` or ``"cgan_mnist"`` (conditional).

    Both are DCGANs (width 32, latent 64) trained longer than a lesson can on a CPU, by
    ``tools/make_gan_weights.py``. ``G.info`` holds its training steps and its scores under the
    course's protocol (``metrics.evaluate_generator`` at n = 500): FID beside the real-vs-real
    floor at that n, KID ± std, precision, recall, the near-copy share (and, for the cGAN, the
    judge's accuracy on the asked class).
    """
    if name not in ("dcgan_mnist", "cgan_mnist"):
        raise ValueError(f"unknown pretrained generator {name!r}: expected 'dcgan_mnist' or 'cgan_mnist'")
    device = check_device(device)
    state = load_shipped(name)
    G = DCGANGenerator(**state["config"])
    G.load_state_dict(state["G"])
    G.info = {k: state[k] for k in ("steps", "fid", "fid_real_vs_real", "fid_samples", "data", "kid", "kid_std",
                                  "precision", "recall", "near_copy_share", "class_accuracy", "protocol", "recipe",
                                  "train_seconds") if k in state}
    return G.to(device).eval()
