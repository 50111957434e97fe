"""Checks for lesson 05 (variational autoencoders). Each runs in well under a second on a CPU.

* :func:`check_reparameterize` — ``z = mu + exp(0.5·logvar)·eps`` on fixed tensors, compared with
  :func:`genimg_course.vae.reparameterize`, and the gradients that reach ``mu`` and ``logvar``.
* :func:`check_gaussian_kl` — ``KL(N(mu, exp(logvar)) || N(0, 1))`` per dimension, compared with
  :func:`genimg_course.vae.gaussian_kl` and with a Monte Carlo estimate.
* :func:`check_elbo` — the per-image ELBO ``−BCE(logits, x) summed over pixels − KL summed over
  dimensions``, compared with :func:`genimg_course.vae.bernoulli_nll` and ``gaussian_kl``.
* :func:`check_vae_step` — one training step of the negative ELBO (encode, reparameterise, decode,
  loss, ``zero_grad``, ``backward``, ``step``) on a tiny seeded VAE with SGD, compared with
  :func:`genimg_course.vae.vae_step`: the weights after the step and the returned loss.
* :func:`check_log_mean_exp` — ``log((1/K) Σ_k exp(log_w))`` per row, stable for log-weights of
  ±1000 (the core of :func:`genimg_course.vae.iwae_nll`).
* :func:`check_beta_reading` — which β of the lesson's sweep gave the sharpest reconstructions,
  the highest rate and the most collapsed code, checked against the measured numbers.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..vae import bernoulli_nll, gaussian_kl, reparameterize
from . import Wrong, check, close, expect_signature
from ._tensors import returned_tensor, same_values

__all__ = ["check_reparameterize", "check_gaussian_kl", "check_elbo", "check_vae_step", "check_log_mean_exp",
           "check_beta_reading", "BETA_QUESTIONS"]

# ---------------------------------------------------------------- helpers


_tensor = returned_tensor  # the learner's answer as a float tensor, or a Wrong saying what came
_same = functools.partial(same_values, rtol=1e-4, atol=1e-5)  # same shape and values (NaN never matches)


def _fmt(t: torch.Tensor, n: int = 4) -> str:
    """The first ``n`` numbers of a tensor, e.g. ``[0.1234, -0.5678, …]``."""
    flat = t.detach().double().flatten()
    items = ", ".join(f"{v:.4f}" for v in flat[:n].tolist())
    return f"[{items}{', …' if flat.numel() > n else ''}]"


def _first_slip(got: torch.Tensor, slips: list[tuple[torch.Tensor, str]], **tol: float) -> str | None:
    for value, hint in slips:
        if _same(got, value, **tol):
            return hint
    return None


# ---------------------------------------------------------------- 1. the reparameterisation trick

_MU = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7], [1.5, -2.0, 0.1], [-0.4, 0.8, 1.1]])
_LOGVAR = torch.tensor([[-1.0, 0.5, -2.0], [1.2, -0.3, 0.8], [-1.6, 0.4, -0.6], [0.9, -1.3, 1.5]])
_EPS = torch.tensor([[0.3, -1.1, 0.8], [-0.5, 1.4, 0.2], [1.0, -0.2, -1.5], [0.7, 0.6, -0.9]])

_TRICK = ("the reparameterisation trick writes the sample as z = mu + sigma * eps with eps ~ N(0, I) drawn "
          "*outside*: the randomness sits in eps, so z is an ordinary differentiable function of mu and logvar "
          "and the encoder can be trained by backpropagation")


def _reparameterize_slips(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    std = torch.exp(0.5 * logvar)
    return [
        (mu + torch.exp(logvar) * eps, "you used exp(logvar), the variance sigma², instead of its square root: "
                                       "sigma = exp(0.5 * logvar)"),
        (mu + logvar * eps, "you used logvar itself as sigma: logvar is log sigma², so sigma = exp(0.5 * logvar)"),
        (mu + 0.5 * logvar * eps, "0.5 * logvar is log sigma, not sigma: exponentiate it, sigma = exp(0.5 * logvar)"),
        (mu + torch.exp(-0.5 * logvar) * eps, "exp(-0.5 * logvar) is 1 / sigma: sigma = exp(+0.5 * logvar)"),
        (mu + std, "you forgot eps: z = mu + sigma * eps (without eps every sample is the same point)"),
        (mu + eps, "you forgot sigma: scale eps by sigma = exp(0.5 * logvar) before adding mu"),
        (std * eps, "you forgot to add mu: z = mu + sigma * eps"),
        (mu * std + eps, "sigma multiplies eps, not mu: z = mu + sigma * eps"),
        (mu - std * eps, "z = mu + sigma * eps, with a plus: for a random eps a minus would be just as valid, "
                         "but here the numbers must be comparable with the given eps"),
    ]


@check
def check_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(mu, logvar, eps)`` must return ``z = mu + exp(0.5·logvar)·eps`` of shape ``(B, D)``, built
    so that gradients reach ``mu`` (∂z/∂mu = 1) and ``logvar`` (∂z/∂logvar = 0.5·sigma·eps)."""
    expect_signature(fn, "reparameterize", "(mu, logvar, eps)", _MU, _LOGVAR, _EPS)
    mu, logvar, eps = _MU.clone(), _LOGVAR.clone(), _EPS.clone()
    got = _tensor(fn(mu, logvar, eps), "reparameterize", "z = mu + sigma * eps")
    if not (torch.equal(mu, _MU) and torch.equal(logvar, _LOGVAR) and torch.equal(eps, _EPS)):
        raise Wrong("your function changed mu, logvar or eps in place (e.g. `eps.mul_(...)`, `logvar *= 0.5`): "
                    "compute z as a new tensor")
    expected = reparameterize(_MU, _LOGVAR, _EPS)
    B, D = _MU.shape
    if tuple(got.shape) != (B, D):
        raise Wrong(f"z should have the shape of mu, (B, D) = {(B, D)}, got {tuple(got.shape)}")
    if torch.isnan(got).any():
        raise Wrong("z contains NaN: logvar can be negative, so sqrt(logvar) or log(logvar) is undefined. "
                    "logvar is log sigma²: sigma = exp(0.5 * logvar)")
    if not _same(got, expected):
        again = _tensor(fn(_MU.clone(), _LOGVAR.clone(), _EPS.clone()), "reparameterize", "z")
        if not _same(again, got, rtol=1e-6, atol=1e-7):
            raise Wrong("two calls with the same mu, logvar and eps gave different z: you drew your own noise "
                        "(torch.randn / torch.normal(mu, std) / rsample). Use the eps you are given — "
                        f"{_TRICK}. (torch.normal(mu, std) would also give mu and logvar zero gradient.)")
        hint = _first_slip(got, _reparameterize_slips(_MU, _LOGVAR, _EPS))
        if hint is None:
            other = _tensor(fn(_MU.clone(), _LOGVAR.clone(), -_EPS), "reparameterize", "z")
            if _same(other, got, rtol=1e-6, atol=1e-7):
                raise Wrong("z does not change when eps changes: your function ignores eps. Use it: "
                            "z = mu + sigma * eps")
        where = f"for mu = {_fmt(_MU[0], 3)}, logvar = {_fmt(_LOGVAR[0], 3)}, eps = {_fmt(_EPS[0], 3)}: " \
                f"expected z = {_fmt(expected[0], 3)}, got {_fmt(got[0], 3)}"
        raise Wrong(f"{where}: {hint or 'z = mu + sigma * eps with sigma = exp(0.5 * logvar)'}")
    # gradients
    mu_g, logvar_g = _MU.clone().requires_grad_(True), _LOGVAR.clone().requires_grad_(True)
    try:
        z = fn(mu_g, logvar_g, _EPS.clone())
    except RuntimeError as e:
        msg = str(e)
        if "numpy" in msg.lower():
            raise Wrong("stay in torch: NumPy cannot follow gradients. " + _TRICK) from None
        if "in-place" in msg:
            raise Wrong("you changed mu or logvar in place: compute z as a new tensor") from None
        raise
    z = _tensor(z, "reparameterize", "z")
    if not z.requires_grad:
        raise Wrong("the values are right but z carries no gradient (detach(), torch.no_grad(), .item() or NumPy?): "
                    + _TRICK)
    z.sum().backward()
    want_mu = torch.ones_like(_MU)
    want_lv = 0.5 * torch.exp(0.5 * _LOGVAR) * _EPS
    for name, grad, want, formula in [("mu", mu_g.grad, want_mu, "1"),
                                      ("logvar", logvar_g.grad, want_lv, "0.5 * sigma * eps")]:
        if grad is None or not torch.any(grad != 0):
            raise Wrong(f"the values are right but no gradient reaches {name} (it was detached, or z was sampled "
                        f"with torch.normal): {_TRICK}")
        if not _same(grad, want):
            raise Wrong(f"the values are right but dz/d{name} is {_fmt(grad[0], 3)}, expected {formula} = "
                        f"{_fmt(want[0], 3)}: compute z = mu + torch.exp(0.5 * logvar) * eps directly, in torch")
    return ("z = mu + exp(0.5·logvar)·eps matches genimg_course.vae.reparameterize, and gradients reach mu "
            "(dz/dmu = 1) and logvar (dz/dlogvar = 0.5·sigma·eps): the randomness lives in eps, outside the graph")


# ---------------------------------------------------------------- 2. the KL of a diagonal Gaussian from N(0, I)

_KL_MU = torch.tensor([[0.6, -1.2, 0.3, 1.5], [0.0, 0.8, -0.4, 2.0], [-1.5, 0.2, 1.1, -0.6]])
_KL_LOGVAR = torch.tensor([[-0.5, 0.4, -1.5, 0.9], [1.3, -0.8, 0.6, -0.2], [-1.1, 0.7, -0.3, 1.6]])
MC_SAMPLES = 200_000


def _kl_slips(mu: torch.Tensor, lv: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    ref = gaussian_kl(mu, lv)
    return [
        (-ref, "wrong sign: a KL is never negative; 0.5 * (mu² + exp(logvar) - 1 - logvar)"),
        (2 * ref, "the factor 0.5 is missing: 0.5 * (mu² + exp(logvar) - 1 - logvar)"),
        (0.5 * (mu ** 2 + lv.exp() - 1 + lv), "the log-variance enters with a minus: ... - 1 - logvar"),
        (0.5 * (mu ** 2 + lv.exp() - lv), "the - 1 is missing (the KL of q = p, mu = 0 and logvar = 0, must be 0)"),
        (0.5 * (lv.exp() - 1 - lv), "mu² is missing: moving the mean away from 0 costs 0.5 * mu²"),
        (0.5 * (mu + lv.exp() - 1 - lv), "mu must be squared: 0.5 * (mu² + ...)"),
        (0.5 * (mu ** 2 + lv ** 2 - 1 - torch.log(lv ** 2)),
         "you used logvar as sigma: logvar is log sigma², so sigma² = exp(logvar) and log sigma² = logvar"),
        (0.5 * (mu ** 2 + lv ** 2 - 1 - lv),
         "you used logvar² as the variance: logvar is log sigma², so sigma² = exp(logvar)"),
        (0.5 * (mu ** 2 - 1), "you used logvar as the variance sigma² (the + logvar and - logvar cancel): "
                              "sigma² = exp(logvar)"),
        (0.5 * (mu ** 2 + torch.exp(2 * lv) - 1 - 2 * lv),
         "you treated logvar as log sigma: it is log sigma², so sigma² = exp(logvar), not exp(2 * logvar)"),
        (0.5 * (lv + (1 + mu ** 2) * torch.exp(-lv) - 1),
         "that is KL(N(0, 1) || q), the other direction: the KL is not symmetric, and the ELBO uses "
         "KL(q(z|x) || p(z)) = 0.5 * (mu² + exp(logvar) - 1 - logvar)"),
    ]


def _kl_monte_carlo(mu: torch.Tensor, logvar: torch.Tensor, n: int = MC_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """``E_q[log q(z) − log p(z)]`` of one code ``(D,)`` summed over its dimensions, from ``n`` seeded
    samples of ``q``: (estimate, standard error), in nats."""
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = mu.double(), logvar.double()
    eps = torch.randn(n, mu.numel(), generator=gen, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_ratio = (-0.5 * (eps ** 2 + logvar) + 0.5 * z ** 2).sum(1)  # log q(z) - log p(z); the 2π terms cancel
    return float(log_ratio.mean()), float(log_ratio.std() / math.sqrt(n))


@check
def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(mu, logvar)`` must return ``KL(N(mu, exp(logvar)) || N(0, 1))`` per dimension, shape
    ``(B, D)``: ``0.5·(mu² + exp(logvar) − 1 − logvar)``; checked against the closed form and a
    Monte Carlo estimate."""
    expect_signature(fn, "gaussian_kl", "(mu, logvar)", _KL_MU, _KL_LOGVAR)
    mu, logvar = _KL_MU.clone(), _KL_LOGVAR.clone()
    got = _tensor(fn(mu, logvar), "gaussian_kl", "one KL per dimension, shape (B, D)")
    if not (torch.equal(mu, _KL_MU) and torch.equal(logvar, _KL_LOGVAR)):
        raise Wrong("your function changed mu or logvar in place: compute the KL as a new tensor")
    expected = gaussian_kl(_KL_MU, _KL_LOGVAR)
    B, D = _KL_MU.shape
    if tuple(got.shape) != (B, D):
        note = ""
        if _same(got, expected.sum(1)):
            note = " (yours is the sum over the dimensions — right numbers, wrong place)"
        elif _same(got, expected.mean(1)):
            note = " (yours is the mean over the dimensions)"
        elif got.numel() == 1:
            note = " — you returned one number"
        raise Wrong(f"return one KL per dimension, shape (B, D) = {(B, D)}, got {tuple(got.shape)}{note}; "
                    "the lesson sums them over the dimensions itself")
    if torch.isnan(got).any():
        raise Wrong("the KL contains NaN: logvar can be negative, so log(logvar) or sqrt(logvar) is undefined. "
                    "logvar is already log sigma²: sigma² = exp(logvar)")
    mc, se = _kl_monte_carlo(_KL_MU[0], _KL_LOGVAR[0])
    closed = float(expected[0].sum())
    yours = float(got[0].detach().double().sum())
    if not _same(got, expected):
        hint = _first_slip(got, _kl_slips(_KL_MU, _KL_LOGVAR))
        where = (f"for mu = {_fmt(_KL_MU[0])}, logvar = {_fmt(_KL_LOGVAR[0])}: expected {_fmt(expected[0])}, "
                 f"got {_fmt(got[0])}")
        if hint:
            raise Wrong(f"{where}: {hint}")
        negative = " A KL is never negative." if bool((got < -1e-6).any()) else ""
        raise Wrong(f"{where}. The closed form is 0.5 * (mu² + exp(logvar) - 1 - logvar). Your KL of this code sums "
                    f"to {yours:.4f} nats; a Monte Carlo estimate, the mean of log q(z) - log p(z) over "
                    f"{MC_SAMPLES:,} samples z ~ q, gives {mc:.4f} ± {se:.4f}.{negative}")
    if abs(yours - mc) > 5 * se + 1e-3:  # cannot happen when the closed form matches; a guard on the reference
        raise Wrong(f"your KL of the first code sums to {yours:.4f} nats, but a Monte Carlo estimate gives "
                    f"{mc:.4f} ± {se:.4f}")
    return (f"KL per dimension matches the closed form. For the first code ({D} dimensions): closed form "
            f"{closed:.4f} nats, Monte Carlo {mc:.4f} ± {se:.4f} (mean of log q(z) - log p(z) over "
            f"{MC_SAMPLES:,} samples of q)")


# ---------------------------------------------------------------- 3. the ELBO per image


def _elbo_problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed decoder logits and binary images ``(4, 1, 28, 28)``, and a code ``(4, 8)``."""
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 1, 28, 28, generator=g) * 2.0
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3), generator=g)
    mu = torch.randn(4, 8, generator=g)
    logvar = torch.randn(4, 8, generator=g) * 0.6 - 0.3
    return logits, x, mu, logvar


_ELBO_PROBLEM = _elbo_problem()


def _elbo_slips(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
                ) -> list[tuple[torch.Tensor, str]]:
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    recon, kl_d = bce.sum(1), gaussian_kl(mu, logvar)
    kl = kl_d.sum(1)
    pixels = bce.shape[1]
    per_pixel = (f"you averaged the cross-entropy over the {pixels} pixels instead of summing it (reduction='mean' "
                 f"or .mean()): your reconstruction term is {pixels}x too small. log p(x|z) is a sum over the pixels "
                 "(independent Bernoullis): use reduction='none' and .flatten(1).sum(1)")
    return [
        (recon + kl, "sign: you returned the loss, -ELBO. The ELBO is -(reconstruction) - KL, a negative number "
                     "of nats (log p(x) >= ELBO)"),
        (-recon, "you forgot the KL term: ELBO = -(reconstruction) - KL(q(z|x) || p(z)) summed over the dimensions"),
        (-recon + kl, "the KL is subtracted, not added: ELBO = -(reconstruction) - KL"),
        (-bce.mean(1) - kl, per_pixel),
        (-bce.mean() - kl, per_pixel.replace("pixels instead", "pixels (and the batch) instead")),
        (-bce.sum() - kl, "reduction='sum' sums the cross-entropy over the whole batch: sum per image, "
                          "reduction='none' then .flatten(1).sum(1)"),
        (-recon.mean() - kl, "you averaged the reconstruction over the batch: keep one value per image, shape (B,)"),
        (-recon - kl_d.mean(1), "the KL is summed over the latent dimensions, not averaged: .sum(1)"),
        (-recon - kl_d.sum(), "you summed the KL over the batch too: sum over the dimensions only, .sum(1)"),
        (-recon - kl.mean(), "you averaged the KL over the batch: keep one value per image, .sum(1) only"),
        (-F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1) - kl,
         "you applied torch.sigmoid and then binary_cross_entropy_with_logits, which applies it again: pass the "
         "raw logits"),
        (-F.binary_cross_entropy_with_logits(x, logits, reduction="none").flatten(1).sum(1) - kl,
         "you swapped the arguments: F.binary_cross_entropy_with_logits(logits, x) — the prediction first, the "
         "target images second"),
        (-F.mse_loss(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1) - kl,
         "that is the squared error: the Bernoulli decoder's -log p(x|z) is the binary cross-entropy, "
         "F.binary_cross_entropy_with_logits(logits, x, reduction='none')"),
    ]


@check
def check_elbo(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(logits, x, mu, logvar)`` must return the ELBO of each image in nats, shape ``(B,)``:
    ``−(BCE with logits summed over all pixels) − (KL summed over the latent dimensions)``."""
    logits0, x0, mu0, logvar0 = _ELBO_PROBLEM
    expect_signature(fn, "elbo", "(logits, x, mu, logvar)", logits0, x0, mu0, logvar0)
    logits, mu, logvar = (t.clone().requires_grad_(True) for t in (logits0, mu0, logvar0))
    x = x0.clone()
    try:
        got = fn(logits, x, mu, logvar)
    except (RuntimeError, ValueError) as e:
        if "between 0 and 1" in str(e):
            raise Wrong("F.binary_cross_entropy expects probabilities in [0, 1], but the decoder returns logits "
                        "(any real number): use F.binary_cross_entropy_with_logits(logits, x, reduction='none'), "
                        "which applies the sigmoid itself, stably") from None
        raise
    got = _tensor(got, "elbo", "one ELBO per image, shape (B,)")
    if not torch.equal(x, x0) or not all(torch.equal(a.detach(), b) for a, b in ((logits, logits0), (mu, mu0),
                                                                                  (logvar, logvar0))):
        raise Wrong("your function changed its inputs in place: compute the ELBO as a new tensor")
    expected = -(bernoulli_nll(logits0, x0) + gaussian_kl(mu0, logvar0).sum(1))
    B = x0.shape[0]
    tol = {"rtol": 1e-5, "atol": 1e-2}  # sums of 784 float32 terms; slips with different hints differ by > 0.5
    if tuple(got.shape) != (B,):
        if got.numel() == 1:
            note = ""
            for value, what in [(expected.mean(), "the mean over the batch"), (expected.sum(), "the sum over the batch"),
                                (-expected.mean(), "the training loss, -ELBO averaged over the batch")]:
                if _same(got.reshape(()), value, **tol):
                    note = f" (yours is {what})"
            raise Wrong(f"return one ELBO per image, shape (B,) = ({B},), not one number{note}: the training "
                        "loss averages over the batch later")
        if got.dim() > 1 and got.shape[0] == B and got[0].numel() > 1:
            raise Wrong(f"return one ELBO per image, shape (B,) = ({B},), got {tuple(got.shape)}: sum the "
                        "cross-entropy over all the pixels of each image (.flatten(1).sum(1))")
        raise Wrong(f"return one ELBO per image, shape (B,) = ({B},), got {tuple(got.shape)}")
    if torch.isnan(got).any():
        raise Wrong("the ELBO contains NaN: a log of a negative number? The decoder returns logits, not probabilities: "
                    "use F.binary_cross_entropy_with_logits(logits, x, reduction='none')")
    if not _same(got, expected, **tol):
        hint = _first_slip(got, _elbo_slips(logits0, x0, mu0, logvar0), **tol)
        recon = bernoulli_nll(logits0, x0)
        kl = gaussian_kl(mu0, logvar0).sum(1)
        where = f"expected ELBO {_fmt(expected)} nats, got {_fmt(got)}"
        if hint:
            raise Wrong(f"{where}: {hint}")
        raise Wrong(f"{where}. For the first image the reconstruction term is {float(recon[0]):.2f} nats "
                    f"(binary cross-entropy with logits, summed over the 784 pixels) and the KL {float(kl[0]):.2f} "
                    "(summed over the 8 dimensions): ELBO = -reconstruction - KL")
    if not got.requires_grad:
        raise Wrong("the values are right but the ELBO cannot be trained with: it does not depend on logits, mu and "
                    "logvar any more (.item(), NumPy or detach()?). Keep it a torch computation")
    params = (logits, mu, logvar)
    want = torch.autograd.grad(-(bernoulli_nll(logits, x0) + gaussian_kl(mu, logvar).sum(1)).sum(), params)
    have = torch.autograd.grad(got.sum(), params, allow_unused=True)
    for name, h, w in zip(("logits", "mu", "logvar"), have, want):
        if h is None or not torch.allclose(h.double(), w.double(), rtol=1e-3, atol=1e-5):
            raise Wrong(f"the values are right but the gradient with respect to {name} is not (a detached term?): "
                        "keep every term in torch, connected to its input")
    recon0, kl0 = float(bernoulli_nll(logits0, x0)[0]), float(gaussian_kl(mu0, logvar0)[0].sum())
    return (f"ELBO per image {_fmt(expected)} nats; for the first image -{recon0:.1f} (reconstruction) - "
            f"{kl0:.2f} (KL): with these random logits the reconstruction term dominates")


# ---------------------------------------------------------------- 4. log-mean-exp, the IWAE bound's core


def _log_w() -> torch.Tensor:
    return torch.randn(3, 5, generator=torch.Generator().manual_seed(6)) * 3.0


_LOG_W = _log_w()
_STABLE = ("subtract each row's max first, m + log(mean(exp(log_w - m))) with m = log_w.max(dim=1, keepdim=True), "
           "or use torch.logsumexp(log_w, dim=1) - math.log(K)")


def _log_mean_exp(log_w: torch.Tensor) -> torch.Tensor:
    """The reference, in float64: ``logsumexp(log_w, 1) − log K``."""
    return torch.logsumexp(log_w.double(), 1) - math.log(log_w.shape[1])


def _lme_slips(lw: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    lw = lw.double()
    K = lw.shape[1]
    lse = torch.logsumexp(lw, 1)
    m = lw.max(1, keepdim=True).values
    return [
        (lse, f"you returned log Σ exp(log_w), the log of the *sum*: the mean divides by K, so subtract log K "
              f"(here log {K} = {math.log(K):.4f})"),
        (lse + math.log(K), "log((1/K) Σ) = logsumexp - log K: subtract log K, don't add it"),
        (lse / K, "the 1/K is inside the log: log((1/K) Σ exp) = logsumexp - log K, not logsumexp / K"),
        (lw.mean(1), "you averaged the log-weights: the mean of the logs is <= the log of the mean (Jensen). With K "
                     "samples that is the average ELBO, the looser bound; IWAE takes the log of the mean weight"),
        (m.squeeze(1), "that is the largest log-weight: log-mean-exp is dominated by it, but the other weights "
                       "count too (and there is a - log K)"),
        (torch.logsumexp(lw - m, 1) - math.log(K), "you subtracted the max but did not add it back: "
                                                    "m + log(mean(exp(log_w - m)))"),
    ]


def _call_lme(fn: Callable[[torch.Tensor], Any], log_w: torch.Tensor) -> torch.Tensor:
    arg = log_w.clone()
    got = _tensor(fn(arg), "log_mean_exp", "one value per row, shape (B,)")
    if not torch.equal(arg, log_w):
        raise Wrong("your function changed log_w in place (e.g. `log_w -= m`): compute on a new tensor")
    B, K = log_w.shape
    if tuple(got.shape) != (B,):
        if tuple(got.shape) == (K,):
            raise Wrong(f"for log_w of shape (B, K) = {(B, K)} return shape (B,) = ({B},), got ({K},): reduce over "
                        "dim=1, the K samples of each image, not dim=0")
        if tuple(got.shape) == (B, 1):
            raise Wrong(f"return shape (B,) = ({B},), got {(B, 1)}: drop the kept dimension (keepdim=False, or "
                        ".squeeze(1))")
        if tuple(got.shape) == (B, K):
            raise Wrong(f"return shape (B,) = ({B},), got {(B, K)}: average over the K samples of each row")
        if got.numel() == 1:
            raise Wrong(f"return one value per row, shape (B,) = ({B},), not one number: reduce over dim=1 only")
        raise Wrong(f"for log_w of shape (B, K) = {(B, K)} return shape (B,) = ({B},), got {tuple(got.shape)}")
    return got


@check
def check_log_mean_exp(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(log_w)`` with ``log_w`` of shape ``(B, K)`` must return ``log((1/K) Σ_k exp(log_w))`` per row,
    shape ``(B,)``, and stay finite for log-weights around −1000 and +1000."""
    expect_signature(fn, "log_mean_exp", "(log_w)", _LOG_W)
    B, K = _LOG_W.shape
    got = _call_lme(fn, _LOG_W)
    expected = _log_mean_exp(_LOG_W)
    if torch.isnan(got).any():
        raise Wrong("the result contains NaN: a log of a negative number? log-mean-exp is "
                    "log(mean(exp(log_w))) over dim=1: exponentiate, average, then take the log")
    if not _same(got, expected):
        hint = _first_slip(got, _lme_slips(_LOG_W))
        where = f"for log_w[0] = {_fmt(_LOG_W[0], K)}: expected {float(expected[0]):.4f}, got {float(got[0]):.4f}"
        raise Wrong(f"{where}: {hint or 'log((1/K) Σ_k exp(log_w[:, k])) = torch.logsumexp(log_w, 1) - log K'}")
    # the same numbers shifted far away: only a stable implementation survives
    shifted = [(_LOG_W - 1000.0, "around -1000", "exp(-1000) underflows to 0 and log(0) = -inf"),
               (_LOG_W.double() + 1000.0, "around +1000", "exp(1000) overflows to inf")]
    for log_w, around, why in shifted:
        got = _call_lme(fn, log_w)
        want = _log_mean_exp(log_w)
        if not torch.isfinite(got).all():
            raise Wrong(f"right for ordinary values, but for log-weights {around} you get "
                        f"{_fmt(got, B)} instead of {_fmt(want, B)}: {why}. A VAE's log p(x|z) is several hundred "
                        f"nats below 0, so this happens at once in IWAE: {_STABLE}")
        if not _same(got, want, rtol=1e-6, atol=1e-3):
            raise Wrong(f"right for ordinary values, but for log-weights {around} expected {_fmt(want, B)}, "
                        f"got {_fmt(got, B)}: {_STABLE}")
    mixed = _LOG_W + torch.tensor([[-1000.0], [0.0], [1000.0]])  # rows far apart: each needs its own max
    got = _call_lme(fn, mixed)
    want = _log_mean_exp(mixed)
    if not (torch.isfinite(got).all() and _same(got, want, rtol=1e-6, atol=1e-3)):
        raise Wrong(f"right when all rows are on the same scale, but for rows around -1000, 0 and +1000 expected "
                    f"{_fmt(want, B)}, got {_fmt(got, B)}: subtract each row's own max "
                    "(log_w.max(dim=1, keepdim=True)), not one max over the whole tensor")
    low = _LOG_W[:1] - 1000.0
    naive = float(torch.log(torch.exp(low).mean(1)))
    stable = float(_log_mean_exp(low))
    return (f"log_mean_exp is right and stable: for row 0 shifted by -1000 it gives {stable:.4f}, where the naive "
            f"log(mean(exp(log_w))) gives {naive}. On row 0 the mean of the logs, {float(_LOG_W[0].mean()):.4f}, is "
            f"below log-mean-exp, {float(expected[0]):.4f} (Jensen): that gap is what IWAE gains over the ELBO")


# ---------------------------------------------------------------- 5. reading a β sweep

BETA_QUESTIONS = ("sharpest_reconstructions", "highest_rate", "most_collapsed")
_RESULT_KEYS = ("recon", "kl", "active_dims")


def _beta_results(results: Any) -> dict[float, dict[str, float]]:
    if results is None:
        raise Wrong("pass the measured results too: check_beta_reading(answers, results), with results the dict "
                    "{beta: {'recon': ..., 'kl': ..., 'active_dims': ...}} the lesson measured")
    if not isinstance(results, dict) or not results:
        raise Wrong(f"results should be the lesson's dict {{beta: {{'recon', 'kl', 'active_dims'}}}}, "
                    f"got {type(results).__name__}")
    out: dict[float, dict[str, float]] = {}
    for beta, row in results.items():
        if not isinstance(row, dict) or any(k not in row for k in _RESULT_KEYS):
            have = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise Wrong(f"results[{beta!r}] should be a dict with keys {list(_RESULT_KEYS)}, got {have}: "
                        "rerun the lesson's β sweep cell")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
            raise Wrong(f"results should be keyed by the β values measured (numbers), got the key {beta!r}")
        values = {}
        for k in _RESULT_KEYS:
            v = row[k]
            if hasattr(v, "item") and hasattr(v, "numel") and v.numel() == 1:
                v = v.item()
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise Wrong(f"results[{beta!r}][{k!r}] should be a finite number of nats (or dimensions), got "
                            f"{type(v).__name__} {v!r}: rerun the lesson's β sweep cell")
            values[k] = float(v)
        out[float(beta)] = values
    return out


def _beta_answer(value: Any, question: str, betas: list[float]) -> float:
    if hasattr(value, "item") and hasattr(value, "numel") and value.numel() == 1:
        value = value.item()
    listed = ", ".join(f"{b:g}" for b in betas)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Wrong(f"answers[{question!r}] should be one of the β values measured ({listed}), "
                    f"got {type(value).__name__} {value!r}")
    for b in betas:
        if close(value, b, rel=1e-9, abs_=1e-9):
            return b
    raise Wrong(f"answers[{question!r}] = {value!r} is not one of the β values measured: {listed}")


@check
def check_beta_reading(answers: Any, results: Any = None) -> str:
    """``answers`` (a dict, or a function returning it) names, for each of :data:`BETA_QUESTIONS`, the β of
    ``results`` — ``{beta: {"recon": nats, "kl": nats, "active_dims": int}}`` measured in the lesson — with
    the lowest reconstruction loss, the highest KL (rate), and the fewest active dimensions."""
    if callable(answers):
        answers = answers()
    if not isinstance(answers, dict):
        raise Wrong(f"answers should be a dict with keys {list(BETA_QUESTIONS)}, got {type(answers).__name__}")
    missing = [q for q in BETA_QUESTIONS if q not in answers]
    if missing:
        raise Wrong(f"answers is missing {missing}: give a β for each of {list(BETA_QUESTIONS)}")
    if any(answers[q] is Ellipsis for q in BETA_QUESTIONS):
        raise NotImplementedError
    res = _beta_results(results)
    betas = sorted(res)
    chosen = {q: _beta_answer(answers[q], q, betas) for q in BETA_QUESTIONS}

    def best(key: str, sign: float) -> list[float]:
        top = min(sign * res[b][key] for b in betas)
        return [b for b in betas if close(sign * res[b][key], top, rel=1e-9, abs_=1e-9)]

    wrong: list[str] = []
    right = best("recon", +1)
    a = chosen["sharpest_reconstructions"]
    if a not in right:
        r = right[0]
        wrong.append(f"sharpest_reconstructions: β = {a:g} has recon {res[a]['recon']:.1f} nats, but β = {r:g} has "
                     f"{res[r]['recon']:.1f}: lower reconstruction loss means sharper reconstructions")
    right = best("kl", -1)
    a = chosen["highest_rate"]
    if a not in right:
        r = right[0]
        wrong.append(f"highest_rate: β = {a:g} has KL {res[a]['kl']:.1f} nats, but β = {r:g} has {res[r]['kl']:.1f}: "
                     "the rate is the KL, the nats the code carries about each image")
    right = best("active_dims", +1)
    a = chosen["most_collapsed"]
    if a not in right:
        r = right[0]
        wrong.append(f"most_collapsed: β = {a:g} keeps {res[a]['active_dims']:g} active dimensions, but β = {r:g} only "
                     f"{res[r]['active_dims']:g}: an inactive dimension has KL ≈ 0, the encoder outputs the prior "
                     "there and the decoder ignores it")
    if wrong:
        raise Wrong(f"{len(wrong)} of {len(BETA_QUESTIONS)} wrong. " + " | ".join(wrong))
    table = "; ".join(f"β = {b:g}: recon {res[b]['recon']:.1f}, KL {res[b]['kl']:.1f} nats, "
                      f"{res[b]['active_dims']:g} active dims" for b in betas)
    return (f"all three right ({table}). β weighs the rate against the reconstruction: a larger β buys a code "
            "closer to the prior at the price of blurrier reconstructions")


# ---------------------------------------------------------------- 6. the VAE training step


class _TinyVAE(torch.nn.Module):
    """A VAE small enough for a check (784 → 24 → 3-d code → 24 → 784), with ConvVAE's interface:
    ``encode(x, y) → (mu, logvar)``, ``decode(z, y) → logits``, ``forward(x, y) → (logits, mu, logvar, z)``."""

    def __init__(self, latent_dim: int = 3, hidden: int = 24) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, None
        self.enc = torch.nn.Linear(784, hidden)
        self.mu_head = torch.nn.Linear(hidden, latent_dim)
        self.logvar_head = torch.nn.Linear(hidden, latent_dim)
        self.dec = torch.nn.Linear(latent_dim, hidden)
        self.out = torch.nn.Linear(hidden, 784)

    def encode(self, x: torch.Tensor, y: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.enc(x.flatten(1)))
        return self.mu_head(h), self.logvar_head(h)

    def decode(self, z: torch.Tensor, y: Any = None) -> torch.Tensor:
        return self.out(torch.tanh(self.dec(z))).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor, y: Any = None):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar, z


_STEP_SEED = 11  # the seed the check sets before each step: the same eps for yours and the reference
_STEP_LR = 1e-3  # plain SGD, so that the update is the gradient itself (Adam's first step is about lr * sign(g))


def _step_problem() -> tuple[_TinyVAE, torch.Tensor, dict[str, torch.Tensor]]:
    """A seeded tiny VAE, a batch of 8 binary images and, per parameter, stale gradients (as a previous
    step leaves them) of the size of a real gradient."""
    g = torch.Generator().manual_seed(7)
    torch.manual_seed(3)
    model = _TinyVAE()
    with torch.no_grad():
        model.logvar_head.bias.fill_(-1.0)  # sigma ≈ 0.6: the sampling noise matters, as in a trained VAE
    x = torch.bernoulli(torch.full((8, 1, 28, 28), 0.25), generator=g)
    stale = {n: torch.randn(p.shape, generator=g) * 5.0 for n, p in model.named_parameters()}
    return model, x, stale


def _fresh(model: _TinyVAE, stale: dict[str, torch.Tensor]) -> tuple[_TinyVAE, torch.optim.Optimizer]:
    import copy
    m = copy.deepcopy(model)
    for n, p in m.named_parameters():
        p.grad = stale[n].clone()
    return m, torch.optim.SGD(m.parameters(), lr=_STEP_LR)


def _bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _simulated_step(model: _TinyVAE, x: torch.Tensor, stale: dict[str, torch.Tensor], slip: str = "") -> tuple[
        dict[str, torch.Tensor], float]:
    """One step the right way (``slip=""``) or with one named slip: (parameters after, returned loss)."""
    m, opt = _fresh(model, stale)
    torch.manual_seed(_STEP_SEED)
    xb = torch.bernoulli(x) if slip == "binarise" else x
    mu, logvar = m.encode(xb)
    eps = torch.randn_like(mu)
    z = mu + torch.exp(0.5 * logvar) * eps
    if slip == "z_mu":
        z = mu
    elif slip == "z_detached":
        z = z.detach()
    elif slip == "var_not_std":
        z = mu + torch.exp(logvar) * eps
    logits = m.decode(z)
    recon = _bce(torch.sigmoid(logits) if slip == "sigmoid" else logits, xb)
    kl = gaussian_kl(mu, logvar)
    kl_img = kl.mean(1) if slip == "kl_mean_dims" else kl.sum(1)
    if slip == "pixel_mean":
        recon = recon / 784
    if slip == "pixel_mean_all":
        recon, kl_img = recon / 784, kl.mean(1)
    if slip == "kl_sign":
        loss = (recon - kl_img).mean()
    elif slip == "no_kl":
        loss = recon.mean()
    elif slip == "batch_sum":
        loss = (recon + kl_img).sum()
    elif slip == "kl_batch_sum":
        loss = recon.mean() + kl_img.sum()
    elif slip == "elbo_ascent":
        loss = -(recon + kl_img).mean()
    else:
        loss = (recon + kl_img).mean()
    if slip != "no_zero_grad":
        opt.zero_grad()
    loss.backward()
    if slip != "no_step":
        opt.step()
    return {n: p.detach().clone() for n, p in m.named_parameters()}, float(loss.detach())


_STEP_SLIPS = [
    ("no_zero_grad", "the update contains the stale gradients the optimiser arrived with: loss.backward() *adds* "
                     "to .grad, so without opt.zero_grad() before it each step also repeats the previous steps' "
                     "gradients (gradient accumulation). Call opt.zero_grad() first"),
    ("kl_sign", "the KL enters with the wrong sign: the loss is the negative ELBO, reconstruction + KL "
                "(you subtracted the KL, which rewards codes far from the prior)"),
    ("elbo_ascent", "you minimised the ELBO instead of maximising it: the loss to minimise is -ELBO = "
                    "reconstruction + KL, both positive"),
    ("pixel_mean", "the reconstruction term is averaged over the 784 pixels instead of summed: -log p(x|z) is a "
                   "sum over pixels (use reduction='none', then .flatten(1).sum(1)); the mean makes the KL 784× "
                   "too heavy"),
    ("pixel_mean_all", "you averaged over the pixels and the code dimensions (F.binary_cross_entropy_with_logits's "
                       "default reduction='mean'): sum the cross-entropy over the 784 pixels and the KL over the "
                       "code's dimensions, then average over the batch"),
    ("kl_mean_dims", "the KL is averaged over the code's dimensions: the KL of the code is the *sum* over its "
                     "dimensions, .sum(1)"),
    ("no_kl", "the KL term is missing: that trains an autoencoder with noise, not a VAE; loss = reconstruction + KL"),
    ("batch_sum", "you summed over the batch: average the per-image loss over the batch, (recon + kl).mean()"),
    ("kl_batch_sum", "the KL is summed over the batch as well as the dimensions: sum over the dimensions "
                     "(.sum(1)), then average over the batch like the reconstruction"),
    ("z_mu", "you decoded z = mu, without sampling: the encoder's logvar head then gets gradient from the KL "
             "alone (the reconstruction never sees sigma, so nothing stops sigma from growing to 1). Sample "
             "z = mu + exp(0.5 * logvar) * eps, eps = torch.randn_like(mu)"),
    ("z_detached", "no reconstruction gradient reaches the encoder: z was detached (or drawn with torch.normal, "
                   "which has no gradient). Use the reparameterisation trick, z = mu + exp(0.5 * logvar) * eps"),
    ("var_not_std", "you scaled eps by exp(logvar), the variance: sigma = exp(0.5 * logvar)"),
    ("sigmoid", "you applied a sigmoid before binary_cross_entropy_with_logits, which applies its own: pass "
                "the decoder's logits as they are"),
    ("binarise", "you binarised x inside the step: x arrives already binarised (the training loop draws the "
                 "pixels), and the extra torch.bernoulli also shifts the random numbers eps is drawn from"),
]


def _as_loss(got: Any) -> float:
    if got is None:
        raise Wrong("vae_step returned None: end it with `return loss` (the loss it minimised, a number)")
    if isinstance(got, (tuple, list, dict)):
        raise Wrong(f"vae_step returned a {type(got).__name__}: return the loss alone (one number or a 0-d tensor)")
    if hasattr(got, "numel") and hasattr(got, "item"):
        if got.numel() != 1:
            raise Wrong(f"vae_step returned a tensor of shape {tuple(got.shape)}: return the batch's loss, one "
                        "number (the per-image losses averaged over the batch)")
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Wrong(f"vae_step should return the loss, a number, got {type(got).__name__}")
    if not math.isfinite(float(got)):
        raise Wrong(f"vae_step returned {got}: the loss is not finite (a log of 0? use binary_cross_entropy_with_logits)")
    return float(got)


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[n].double() - b[n].double()).abs().max()) for n in a)


@check
def check_vae_step(fn: Callable[..., Any]) -> str:
    """``fn(model, opt, x)`` must do one training step of the negative ELBO on the binary batch ``x``:
    encode, reparameterise, decode, ``loss = (BCE-with-logits summed over pixels + Gaussian KL summed over
    the code).mean()``, then ``opt.zero_grad()``, ``loss.backward()``, ``opt.step()``, and return the loss.
    Checked by one seeded step on a tiny VAE with plain SGD against :func:`genimg_course.vae.vae_step`:
    the same weights after the step and the same loss."""
    model, x, stale = _step_problem()
    expect_signature(fn, "vae_step", "(model, opt, x)", model, None, x)
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    mine, opt = _fresh(model, stale)
    x_in = x.clone()
    torch.manual_seed(_STEP_SEED)
    got = fn(mine, opt, x_in)
    if not torch.equal(x_in, x):
        raise Wrong("your step changed x in place: compute on new tensors")
    after = {n: p.detach().clone() for n, p in mine.named_parameters()}
    want, want_loss = _simulated_step(model, x, stale)
    # the package's own step, as a guard on the simulation above
    ref, ref_opt = _fresh(model, stale)
    torch.manual_seed(_STEP_SEED)
    from ..vae import vae_step as package_step
    pkg_loss = package_step(ref, ref_opt, x)
    if not (_max_diff({n: p.detach() for n, p in ref.named_parameters()}, want) < 1e-6 and close(pkg_loss, want_loss)):
        raise RuntimeError("check_vae_step's reference disagrees with genimg_course.vae.vae_step (a bug in the check)")
    update = _max_diff(want, init)
    tol = 1e-3 * update + 1e-7
    if _max_diff(after, init) < 1e-9:
        grads = [p.grad for p in mine.parameters()]
        if all(g is None or not torch.any(g != 0) for g in grads):
            raise Wrong("the weights did not move and the gradients are zero: either loss.backward() is missing "
                        "or opt.zero_grad() came between backward() and opt.step(). Order: zero_grad, backward, step")
        raise Wrong("the weights did not move: opt.step() is missing (backward only computes the gradients; "
                    "the optimiser applies them)")
    if _max_diff(after, want) > tol:
        for slip, hint in _STEP_SLIPS:
            params, _ = _simulated_step(model, x, stale, slip)
            if _max_diff(after, params) <= tol:
                if slip == "no_zero_grad" and all(p.grad is None or not torch.any(p.grad != 0) for p in mine.parameters()):
                    hint = ("you zero the gradients *after* opt.step(), so this step applied the stale gradients the "
                            "optimiser arrived with: call opt.zero_grad() before loss.backward()")
                raise Wrong(hint)
        lv = max(float((after[n] - want[n]).abs().max()) for n in ("logvar_head.weight", "logvar_head.bias"))
        dec = max(float((after[n] - want[n]).abs().max()) for n in ("out.weight", "out.bias"))
        where = "the decoder's" if dec > tol else ("the encoder's logvar head's" if lv > tol else "the encoder's")
        raise Wrong(f"after one step {where} weights differ from the reference step's (largest difference "
                    f"{_max_diff(after, want):.2g}, the update itself is {update:.2g}). Check each part: "
                    "mu, logvar = model.encode(x); z = mu + exp(0.5 * logvar) * torch.randn_like(mu) (one draw); "
                    "logits = model.decode(z); loss = (BCE with logits summed over pixels + KL summed over the "
                    "code).mean(); opt.zero_grad(); loss.backward(); opt.step()")
    loss = _as_loss(got)
    if not close(loss, want_loss, rel=1e-4, abs_=1e-4):
        if close(loss, -want_loss, rel=1e-4, abs_=1e-4):
            raise Wrong(f"the step is right, but you returned {loss:.4f}, the ELBO: return the loss you minimised, "
                        f"-ELBO = {want_loss:.4f}")
        raise Wrong(f"the step is right, but it returned {loss:.4f} instead of the loss it minimised, "
                    f"{want_loss:.4f} nats per image (reconstruction + KL averaged over the batch); "
                    "return that loss (before or after .item())")
    return (f"one step matches genimg_course.vae.vae_step: the same weights after the update and the same loss, "
            f"{want_loss:.2f} nats per image (the negative ELBO of this batch before the step)")
