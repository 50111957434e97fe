"""The VAE's machinery (lesson 05): the ELBO's terms, the reparameterisation trick, a training task,
and the importance-sampled likelihood that measures a VAE in nats.

For an image ``x`` (784 pixels in {0, 1}) and a code ``z`` of ``latent_dim`` numbers:

    log p(x) >= ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))
                          (-reconstruction)          (rate, closed form below)

with ``q(z|x) = N(mu, diag(sigma^2))`` from the encoder, ``p(z) = N(0, I)`` and ``p(x|z)`` a product
of Bernoullis whose logits the decoder returns. Kingma & Welling (ICLR 2014); Rezende, Mohamed &
Wierstra (ICML 2014). Nothing adversarial is involved. Samples: :func:`genimg_course.sampling.generate`
(the mean images ``sigmoid(logits)``, mapped to [-1, 1] like every family's).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .models._checks import check_bool, check_int, check_module, check_positive_int, describe
from .train import StepContext, adam, evaluating

__all__ = ["reparameterize", "gaussian_kl", "bernoulli_nll", "check_unit_range", "binarize", "VAETask",
           "AETask", "vae_step", "iwae_nll", "elbo_per_image", "kl_per_dim", "encode_mean"]

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)``, ``eps ~ N(0, I)`` (drawn if not
    given): the randomness sits in ``eps``, so gradients reach ``mu`` and ``logvar``. ``(B, D)``."""
    _same_shape_floats("reparameterize", mu=mu, logvar=logvar, **({} if eps is None else {"eps": eps}))
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per dimension, ``(B, D)``, in nats:
    ``0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)``. Sum over ``D`` for the KL of the code."""
    _same_shape_floats("gaussian_kl", mu=mu, logvar=logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def _same_shape_floats(who: str, **tensors: torch.Tensor) -> None:
    """Float tensors of one shape (shape and dtype only: no host sync)."""
    shape = None
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{who}: {name} must be a float tensor (B, latent_dim), got {describe(t)}")
        if shape is not None and t.shape != shape:
            names = ", ".join(tensors)
            raise ValueError(f"{who}: {names} must have the same shape, got "
                             + " and ".join(f"{n} {tuple(v.shape)}" for n, v in tensors.items()))
        shape = t.shape


def check_unit_range(x: torch.Tensor, what: str = "x") -> None:
    """Fail with a clear message unless ``x`` is float in [0, 1] — the range of a Bernoulli decoder's
    targets. Costs one host sync: call it once, not every step."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a tensor of images in [0, 1], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{what} must be float images in [0, 1] for a Bernoulli decoder, got {x.dtype} "
                        "(uint8 0..255?): use to_float(images, value_range=(0, 1)) or ResidentBatches(..., value_range=(0, 1))")
    if x.numel() == 0:
        raise ValueError(f"{what} is empty (shape {tuple(x.shape)}): expected images in [0, 1]")
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{what} must lie in [0, 1], but it contains NaN or inf (got values from {lo} to {hi})")
    if lo < 0.0 or hi > 1.0:
        hint = ("values above 1 look like 0..255 pixels: divide by 255 (value_range=(0, 1))" if hi > 1.0 else
                "values below 0 look like [-1, 1] images, the range of a tanh GAN: use value_range=(0, 1) for a VAE")
        raise ValueError(f"{what} must lie in [0, 1] (a Bernoulli decoder's targets are pixel probabilities), "
                         f"got values from {lo:.3g} to {hi:.3g}: {hint}")


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor, check: bool = True) -> torch.Tensor:
    """``-log p(x|z)`` per image ``(B,)`` in nats: binary cross-entropy summed over the pixels (not
    averaged: the ELBO is a sum over pixels). ``logits`` and ``x`` are ``(B, 1, 28, 28)``; ``x`` in [0, 1]
    (checked unless ``check=False``, which avoids a host sync inside a training step)."""
    for name, t in (("logits", logits), ("x", x)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"bernoulli_nll: {name} must be a float tensor (B, 1, 28, 28), got {describe(t)}")
    if logits.shape != x.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and images {tuple(x.shape)} must have the same shape")
    if check:
        check_unit_range(x)
    return F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none").flatten(1).sum(1)


def binarize(x: torch.Tensor, seed: int | None = None) -> torch.Tensor:
    """Pixels drawn as ``Bernoulli(x)``: ``x`` float in [0, 1] → float in {0, 1}, same shape.
    With ``seed``, the same draw every time (a fixed binarised test set)."""
    check_unit_range(x)
    gen = None
    if seed is not None:
        check_int("seed", seed)
        gen = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=gen)


class VAETask:
    """One ELBO step on a batch ``x`` (float ``(B, 1, 28, 28)`` in [0, 1], e.g. from
    ``ResidentBatches(..., value_range=(0, 1))``) or ``(x, y)``.

    ``loss = reconstruction + beta * KL`` averaged over the batch (``beta=1``: the negative ELBO;
    Higgins et al. 2017 for ``beta != 1``). ``binarize=True`` draws the pixels as Bernoulli(x) every
    step (dynamic binarisation), the data on which published MNIST likelihoods are measured. The
    first batch's range is checked (one host sync); later steps never sync.
    Logs ``loss``, ``recon``, ``kl`` and ``elbo`` (nats per image).

    The network lives in ``modules["model"]`` only (``task.model`` reads it from there), so the
    training loop may put a wrapper (DistributedDataParallel) in its place."""

    def __init__(self, model: nn.Module, lr: float = 1e-3, beta: float = 1.0, binarize: bool = True,
                 conditional: bool | None = None) -> None:
        check_module("model", model, type(self).__name__)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
            raise ValueError(f"lr must be positive, got {lr!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < math.inf:
            raise ValueError(f"beta must be >= 0, got {beta!r}")
        check_bool(binarize=binarize)
        if conditional is not None:
            check_bool(conditional=conditional)
            if conditional and not getattr(model, "num_classes", None):
                raise ValueError("conditional=True but the model is not conditional (model.num_classes is "
                                 f"{getattr(model, 'num_classes', None)!r}): build it with num_classes, or leave conditional=None")
        self.beta, self.binarize = float(beta), binarize
        self.conditional = bool(getattr(model, "num_classes", None)) if conditional is None else conditional
        self.modules = {"model": model}
        self.optimizers = {"model": adam(model.parameters(), lr, device=next(model.parameters()).device)}
        self._checked = False
        self.divergence_hint = "lower the learning rate, or check that the images are in [0, 1]"

    @property
    def model(self) -> nn.Module:
        """The network being trained: ``modules["model"]`` (read-only)."""
        return self.modules["model"]

    def _batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
        if not self._checked:
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{type(self).__name__}: a batch must be x or (x, y) with x float images in [0, 1], "
                                f"got {describe(x)}")
            if x.dim() == 0 or x.shape[0] == 0:
                raise ValueError(f"{type(self).__name__}: the first batch is empty (shape {tuple(x.shape)})")
            check_unit_range(x, "the training images")
            if self.conditional and y is None:
                raise ValueError("a conditional VAE needs (x, y) batches with class labels y")
            if self.conditional:
                k = self.model.num_classes
                if (not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool
                        or tuple(y.shape) != (x.shape[0],)):
                    raise ValueError(f"labels y must be integer class indices of shape ({x.shape[0]},), got {describe(y)}")
                lo, hi = (int(v) for v in torch.aminmax(y))  # once: on a GPU a bad label in a step is a device assert
                if lo < 0 or hi >= k:
                    raise ValueError(f"labels y must be class indices from 0 to {k - 1}, got values from {lo} to {hi}")
            self._checked = True
        if self.binarize:
            x = torch.bernoulli(x)
        return x, (y if self.conditional else None)

    def losses(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        logits, mu, logvar, _ = self.model(x, y)
        recon = bernoulli_nll(logits, x, check=False).mean()
        kl = gaussian_kl(mu.float(), logvar.float()).sum(1).mean()
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl, "elbo": -(recon + kl)}

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        x, y = self._batch(batch)
        self.model.train()
        with ctx.autocast():
            out = self.losses(x, y)
        ctx.update(out["loss"], self.optimizers["model"])
        return {k: v.detach() for k, v in out.items()}


class AETask(VAETask):
    """A plain autoencoder's step: ``loss = recon`` (binary cross-entropy summed over pixels), no KL.
    The model returns ``(logits, z)``."""

    def __init__(self, model: nn.Module, lr: float = 1e-3, binarize: bool = False) -> None:
        super().__init__(model, lr=lr, beta=0.0, binarize=binarize, conditional=False)

    def losses(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        logits, _ = self.model(x, y)
        recon = bernoulli_nll(logits, x, check=False).mean()
        return {"loss": recon, "recon": recon}


def vae_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor | None = None,
             beta: float = 1.0) -> float:
    """One plain training step on a batch ``x`` of images in {0, 1} (already binarised), written out:
    encode, reparameterise (one ``eps ~ N(0, I)`` from the global generator), decode, the negative ELBO
    (BCE with logits summed over the pixels, plus ``beta`` times the Gaussian KL summed over the code,
    both averaged over the batch — :meth:`VAETask.losses`), then ``zero_grad``, ``backward``, ``step``.
    Returns the loss as a float. Lesson 05's exercise and its check use it; :class:`VAETask` is the
    same loss inside :func:`genimg_course.train.fit` (autocast, gradient clipping, logging)."""
    mu, logvar = model.encode(x, y)
    z = reparameterize(mu, logvar)
    logits = model.decode(z, y)
    recon = bernoulli_nll(logits, x, check=False).mean()
    kl = gaussian_kl(mu.float(), logvar.float()).sum(1).mean()
    loss = recon + beta * kl
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _batches(x: torch.Tensor, y: torch.Tensor | None, batch_size: int):
    check_positive_int(batch_size=batch_size)
    for i in range(0, x.shape[0], batch_size):
        yield x[i:i + batch_size], (None if y is None else y[i:i + batch_size])


def _prepare(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.device:
    """Check the model, the images and the labels; the device the model lives on."""
    check_module("model", model)
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch of images (N, 1, 28, 28) in [0, 1], got {describe(x)}")
    check_unit_range(x, "x")
    k = getattr(model, "num_classes", None)
    if k and y is None:
        raise ValueError(f"this VAE is conditional ({k} classes): pass the labels y of shape ({x.shape[0]},)")
    if not k and y is not None:
        raise ValueError(f"this model is not conditional (num_classes=None): do not pass labels y, got {describe(y)}")
    if y is not None and (not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],)):
        raise ValueError(f"labels y must be a tensor of shape ({x.shape[0]},), one per image, got {describe(y)}")
    return next(model.parameters()).device


def _posterior(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.encode(x, y)`` as ``(mu, logvar)``, or a clear error for a model without a posterior."""
    code = model.encode(x, y) if callable(getattr(model, "encode", None)) else None
    if not isinstance(code, tuple) or len(code) != 2:
        raise TypeError(f"{who} needs a VAE whose encode(x, y) returns (mu, logvar), got "
                        f"{'no encode method' if code is None else describe(code)} (a plain autoencoder has no posterior)")
    return code


def _to(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device)


@torch.no_grad()
def elbo_per_image(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 500,
                   seed: int = 0) -> dict[str, torch.Tensor]:
    """One-sample ELBO, reconstruction and KL per image (CPU float64 ``(N,)``, nats) of binary
    images ``x`` ``(N, 1, 28, 28)``."""
    device = _prepare(model, x, y)
    check_positive_int(batch_size=batch_size)
    check_int("seed", seed)
    torch.manual_seed(seed)
    recon, kl = [], []
    with evaluating(model):
        for xb, yb in _batches(x, y, batch_size):
            xb = xb.to(device)
            out = model(xb, _to(yb, device))
            if not isinstance(out, tuple) or len(out) != 4:
                raise TypeError(f"elbo_per_image needs a VAE whose forward returns (logits, mu, logvar, z), got "
                                f"{describe(out) if not isinstance(out, tuple) else f'{len(out)} outputs'} "
                                "(a plain autoencoder has no posterior, so no ELBO)")
            logits, mu, logvar, _ = out
            recon.append(bernoulli_nll(logits, xb, check=False).double().cpu())
            kl.append(gaussian_kl(mu.double(), logvar.double()).sum(1).cpu())
    r, k = torch.cat(recon), torch.cat(kl)
    return {"elbo": -(r + k), "recon": r, "kl": k}


@torch.no_grad()
def iwae_nll(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, K: int = 100,
             batch_size: int = 100, seed: int = 0) -> torch.Tensor:
    """Importance-sampled ``-log p(x)`` per image, CPU float64 ``(N,)`` in nats (Burda, Grosse &
    Salakhutdinov, ICLR 2016):

        log p(x) ≈ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x)

    a lower bound on ``log p(x)`` that tightens as ``K`` grows (K = 1 is the ELBO). ``x`` are
    binary images ``(N, 1, 28, 28)``."""
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K (importance samples per image) must be a positive integer, got {K!r}")
    device = _prepare(model, x, y)
    check_positive_int(batch_size=batch_size)
    check_int("seed", seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    with evaluating(model):
        for xb, yb in _batches(x, y, batch_size):
            xb, yb = xb.to(device), _to(yb, device)
            mu, logvar = _posterior(model, xb, yb, "iwae_nll")
            mu, logvar = mu.double(), logvar.double()
            std = torch.exp(0.5 * logvar)
            log_w = []
            for _ in range(K):
                eps = torch.randn(mu.shape, generator=gen, device=device, dtype=mu.dtype)
                z = mu + std * eps
                log_px_z = -bernoulli_nll(model.decode(z.float(), yb), xb, check=False).double()
                log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(1)
                log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(1)
                log_w.append(log_px_z + log_pz - log_qz)
            lw = torch.stack(log_w, 1)  # (B, K)
            out.append(-(torch.logsumexp(lw, 1) - math.log(K)).cpu())
    return torch.cat(out)


@torch.no_grad()
def encode_mean(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 500) -> torch.Tensor:
    """Posterior means ``mu`` (or an autoencoder's codes) of images ``(N, 1, 28, 28)`` in [0, 1]:
    CPU float ``(N, latent_dim)``."""
    device = _prepare(model, x, y)
    check_positive_int(batch_size=batch_size)
    out = []
    with evaluating(model):
        for xb, yb in _batches(x, y, batch_size):
            code = model.encode(xb.to(device), _to(yb, device))
            mu = code[0] if isinstance(code, tuple) else code  # a VAE's (mu, logvar); an autoencoder's z
            out.append(mu.float().cpu())
    return torch.cat(out)


@torch.no_grad()
def kl_per_dim(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 500) -> torch.Tensor:
    """Mean KL of each latent dimension over images ``x``: CPU float64 ``(latent_dim,)`` in nats.
    A dimension with KL ≈ 0 carries no information about ``x`` (posterior collapse: the encoder
    outputs the prior there and the decoder ignores it)."""
    device = _prepare(model, x, y)
    check_positive_int(batch_size=batch_size)
    total, n = None, 0
    with evaluating(model):
        for xb, yb in _batches(x, y, batch_size):
            mu, logvar = _posterior(model, xb.to(device), _to(yb, device), "kl_per_dim")
            s = gaussian_kl(mu.double(), logvar.double()).sum(0).cpu()
            total = s if total is None else total + s
            n += xb.shape[0]
    return total / n
