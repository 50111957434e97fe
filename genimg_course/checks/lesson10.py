"""Checks for lesson 10 (diffusion models and flow matching). Each runs in well under a second on a CPU and
depends on nothing of :mod:`genimg_course.diffusion`: the references are written out here, on a linear
schedule built here (Ho et al. 2020: T = 1000, β from 1e-4 to 0.02, in float64), so a check cannot agree with
a wrong package.

A schedule is any object with the attributes ``betas``, ``alphas``, ``alpha_bars`` (each ``(T,)``) and ``T``:
the package's :class:`~genimg_course.diffusion.Schedule`, or the check's own.

* :func:`check_q_sample` — the closed form ``x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε`` for a batch with one timestep per
  image, compared with the reference; then against iterating the forward process ``x_t = √α_t x_{t-1} + √β_t ε_t``
  step by step (the closed form must have the same mean and the same variance, measured on 4,000 draws).
* :func:`check_diffusion_loss` — the simple loss ``‖ε - ε_θ(x_t, t, y)‖²`` as a mean, on fixed tensors: a tiny
  recording model says what it was shown (``x_t``, ``t``, ``y``), so a wrong input gets its own hint.
* :func:`check_ddpm_step` — one ancestral step ``x_{t-1} = (x_t - β_t / √(1 - ᾱ_t) ε) / √α_t + σ_t z`` with
  ``σ_t² = β_t`` and no noise at ``t = 0``.
* :func:`check_ddim_step` — one DDIM step from ``t`` to ``t_prev`` (``t_prev = -1``: to ``x_0``, where
  ``ᾱ = 1``), deterministic (``eta = 0``) and stochastic (``eta = 1``).
* :func:`check_cfg_combine` — classifier-free guidance, ``ε_u + s (ε_c - ε_u)``: scale 0 unconditional, 1
  conditional, above 1 guided.

Each names the usual slips, and every check leaves torch's global random state as it found it.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import Wrong, check, expect_signature
from ._tensors import keeps_random_state as _keeps_random_state, returned_tensor, same_values

__all__ = ["check_q_sample", "check_diffusion_loss", "check_ddpm_step", "check_ddim_step", "check_cfg_combine",
           "reference_schedule"]

_same = functools.partial(same_values, rtol=1e-4, atol=1e-5)


class _Schedule(NamedTuple):
    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    T: int
    name: str


def reference_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> _Schedule:
    """The checks' own linear schedule (Ho et al. 2020), computed in float64 and stored in float32."""
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, 0)
    return _Schedule(betas.float(), alphas.float(), alpha_bars.float(), T, "linear")


_SCHED = reference_schedule()


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-image number ``(B,)`` shaped to broadcast over ``(B, C, H, W)``."""
    return v.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)


def _fixed(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _no_grad_copy(*ts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t.clone() for t in ts)


def _unchanged(before: tuple[torch.Tensor, ...], after: tuple[torch.Tensor, ...], name: str, what: str) -> None:
    for a, b in zip(before, after):
        if not torch.equal(a, b):
            raise Wrong(f"{name} changed {what} in place (e.g. `x_t -= ...`, `.mul_`): compute the result as a new "
                        "tensor and leave the inputs as they came")


def _shape_hint(e: RuntimeError, name: str) -> Wrong:
    return Wrong(f"{name} raised RuntimeError: {str(e).splitlines()[0]}. A per-image number (B,) such as "
                 "alpha_bars[t] must be reshaped to (B, 1, 1, 1) before it multiplies images (B, C, H, W): "
                 "alpha_bars[t].view(-1, 1, 1, 1)")



def _call(fn: Callable[..., Any], name: str, what: str, *args: Any, **kwargs: Any) -> torch.Tensor:
    try:
        got = fn(*args, **kwargs)
    except RuntimeError as e:
        if "must match the size" in str(e) or "broadcast" in str(e):
            raise _shape_hint(e, name) from None
        raise
    return returned_tensor(got, name, what)


# ---------------------------------------------------------------- 1. the closed form q(x_t | x_0)


def _ref_q(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    a = _col(ab[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _q_slips(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, s: _Schedule) -> list[tuple[torch.Tensor, str]]:
    ab, al, be = s.alpha_bars, s.alphas, s.betas
    a = _col(ab[t], x0)
    return [
        (a * x0 + (1 - a) * noise, "you used ᾱ_t and 1 - ᾱ_t as the coefficients: they are the *variances*; the "
                                   "coefficients are their square roots, x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε"),
        (a.sqrt() * x0 + (1 - a) * noise, "the noise's coefficient is √(1 - ᾱ_t), not 1 - ᾱ_t: the variance of x_t "
                                          "must be ᾱ_t Var(x_0) + (1 - ᾱ_t)"),
        (a * x0 + (1 - a).sqrt() * noise, "the signal's coefficient is √ᾱ_t, not ᾱ_t"),
        (_ref_q(x0, t, noise, al), "that is one step of the forward process, q(x_t | x_{t-1}) with α_t = 1 - β_t: "
                                   "the closed form jumps from x_0 in one go with the product ᾱ_t = α_0 α_1 ··· α_t "
                                   "(schedule.alpha_bars), the signal left after t + 1 steps"),
        ((1 - a).sqrt() * x0 + a.sqrt() * noise, "the coefficients are swapped: the signal x_0 gets √ᾱ_t (near 1 at "
                                                 "t = 0), the noise √(1 - ᾱ_t)"),
        (_ref_q(x0, (t - 1).clamp(min=0), noise, ab), "off by one: index the schedule with t itself, "
                                                      "schedule.alpha_bars[t] (t runs from 0 to T - 1)"),
        (_ref_q(x0, (t + 1).clamp(max=s.T - 1), noise, ab), "off by one: index the schedule with t itself, "
                                                            "schedule.alpha_bars[t]"),
        (_ref_q(x0, t[:1].expand_as(t), noise, ab), "every image got the first image's timestep: t holds one step "
                                                    "per image, so use alpha_bars[t] (a (B,) tensor) reshaped to "
                                                    "(B, 1, 1, 1)"),
    ]


def _which(got: torch.Tensor, slips: list[tuple[torch.Tensor, str]]) -> str | None:
    for value, hint in slips:
        if _same(got, value):
            return hint
    return None


@check
def check_q_sample(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(x0, t, noise, schedule)`` → ``x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε``, shape of ``x0``, with ``t`` a
    ``(B,)`` long tensor (one timestep per image) and ``ᾱ = schedule.alpha_bars``. Compared with the reference
    on four images at t = 0, 10, 500 and 999, then with 200 steps of the forward process iterated one by one."""
    s = _SCHED
    x0 = _fixed(100, 4, 1, 6, 6).clamp(-1, 1)
    noise = _fixed(101, 4, 1, 6, 6)
    t = torch.tensor([0, 10, 500, 999])
    expect_signature(fn, "q_sample", "(x0, t, noise, schedule)", x0, t, noise, s)
    before = _no_grad_copy(x0, t, noise)
    got = _call(fn, "q_sample", "x_t, the same shape as x0", x0, t, noise, s)
    _unchanged(before, (x0, t, noise), "q_sample", "x0, t or noise")
    want = _ref_q(x0, t, noise, s.alpha_bars)
    if tuple(got.shape) != tuple(x0.shape):
        raise Wrong(f"x_t must have the shape of x0, {tuple(x0.shape)}; got {tuple(got.shape)}. alpha_bars[t] is "
                    "(B,): reshape it to (B, 1, 1, 1) so that it scales each image")
    if not _same(got, want):
        hint = _which(got, _q_slips(x0, t, noise, s))
        if hint:
            raise Wrong(hint)
        worst = int((got.double() - want.double()).flatten(1).abs().amax(1).argmax())
        raise Wrong(f"x_t differs from √ᾱ_t x_0 + √(1 - ᾱ_t) ε, most for image {worst} (t = {int(t[worst])}): "
                    f"expected a mean |x_t| of {float(want[worst].abs().mean()):.4f}, got "
                    f"{float(got[worst].abs().mean()):.4f}")
    # the oracle: the closed form has the statistics of iterating the forward process
    g = torch.Generator().manual_seed(102)
    n, steps = 4000, 200
    start = torch.full((n, 1), 0.8, dtype=torch.float64)
    x = start.clone()
    for k in range(steps):
        b = s.betas[k].double()
        x = (1 - b).sqrt() * x + b.sqrt() * torch.randn(n, 1, generator=g, dtype=torch.float64)
    closed = _call(fn, "q_sample", "x_t", start.float().view(n, 1, 1, 1), torch.full((n,), steps - 1),
                   torch.randn(n, 1, 1, 1, generator=g), s).double().flatten()
    m_iter, m_closed = float(x.mean()), float(closed.mean())
    v_iter, v_closed = float(x.var()), float(closed.var())
    if abs(m_iter - m_closed) > 0.05 or abs(v_iter - v_closed) > 0.06:
        raise Wrong(f"on 4,000 draws from x_0 = 0.8 at t = {steps - 1}, iterating the forward process gives mean "
                    f"{m_iter:.3f} and variance {v_iter:.3f}, your closed form {m_closed:.3f} and {v_closed:.3f}")
    a = float(s.alpha_bars[steps - 1])
    return (f"x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε. At t = 999 the linear schedule leaves √ᾱ = "
            f"{float(s.alpha_bars[-1].sqrt()):.4f} of the signal. Iterating {steps} forward steps from x_0 = 0.8 "
            f"gives mean {m_iter:.3f} and variance {v_iter:.3f} over 4,000 draws; your one-jump sample "
            f"{m_closed:.3f} and {v_closed:.3f} (exact: {0.8 * math.sqrt(a):.3f} and {1 - a:.3f})")


# ---------------------------------------------------------------- 2. the training loss on fixed tensors


class _RecordingEps(nn.Module):
    """A tiny ε-predictor that records what it is shown: forward(x, t, y=None), t (B,) long, y (B,) long."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(103)
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(0.3 * torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.fill_(0.05)
        self.time_scale = nn.Parameter(torch.tensor(0.4))
        self.label = nn.Parameter(0.2 * torch.randn(11, generator=g))
        self.calls: list[tuple[torch.Tensor, Any, Any]] = []

    def forward(self, x: torch.Tensor, t: Any = None, y: Any = None) -> torch.Tensor:
        self.calls.append((x.detach().clone(), t.clone() if isinstance(t, torch.Tensor) else t,
                           y.clone() if isinstance(y, torch.Tensor) else y))
        h = self.conv(x)
        if isinstance(t, torch.Tensor):
            h = h + self.time_scale * torch.cos(t.double() / 300).float().view(-1, 1, 1, 1)
        if isinstance(y, torch.Tensor):
            h = h + self.label[y].view(-1, 1, 1, 1)
        return h


def _ref_loss(model: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, s: _Schedule,
              y: torch.Tensor | None) -> torch.Tensor:
    return F.mse_loss(model(_ref_q(x0, t, noise, s.alpha_bars), t, y), noise)


@check
@_keeps_random_state
def check_diffusion_loss(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(model, x0, t, noise, schedule, y=None)`` → the mean squared error between ``noise`` and
    ``model(x_t, t, y)`` with ``x_t`` the closed-form sample: a scalar tensor with a gradient. Run on a tiny
    recording model with labels, then without (``y=None``)."""
    s = _SCHED
    x0 = _fixed(104, 4, 1, 6, 6).clamp(-1, 1)
    noise = _fixed(105, 4, 1, 6, 6)
    t = torch.tensor([3, 250, 600, 998])
    y = torch.tensor([1, 7, 10, 4])
    model = _RecordingEps()
    expect_signature(fn, "diffusion_loss", "(model, x0, t, noise, schedule, y=None)", model, x0, t, noise, s, y=y)
    before = _no_grad_copy(x0, t, noise, y)
    got = _call(fn, "diffusion_loss", "the loss, a scalar tensor", model, x0, t, noise, s, y=y)
    _unchanged(before, (x0, t, noise, y), "diffusion_loss", "x0, t, noise or y")
    if not model.calls:
        raise Wrong("diffusion_loss never called the model: the loss compares model(x_t, t, y), the predicted noise, "
                    "with the noise that made x_t")
    seen_x, seen_t, seen_y = model.calls[-1]
    x_t = _ref_q(x0, t, noise, s.alpha_bars)
    if not _same(seen_x, x_t):
        if _same(seen_x, x0):
            raise Wrong("the model was shown the clean x0: show it the noisy x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε, whose "
                        "noise it must predict")
        if _same(seen_x, noise):
            raise Wrong("the model was shown the noise itself: show it x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε")
        hint = _which(seen_x, _q_slips(x0, t, noise, s))
        raise Wrong("the model was shown a wrong x_t" + (f": {hint}" if hint else
                                                          ": use x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε (your q_sample)"))
    if not isinstance(seen_t, torch.Tensor) or not torch.equal(seen_t.long(), t) or seen_t.is_floating_point():
        raise Wrong(f"pass the model the timesteps t themselves (the (B,) long tensor {t.tolist()}); it got "
                    f"{seen_t if not isinstance(seen_t, torch.Tensor) else seen_t.tolist()}")
    if not isinstance(seen_y, torch.Tensor) or not torch.equal(seen_y, y):
        raise Wrong("pass the labels on: model(x_t, t, y). Without them a class-conditional model learns only the "
                    "unconditional noise, and guidance has nothing to amplify")
    if got.numel() != 1:
        raise Wrong(f"return one number (a scalar tensor, the mean over every value), got shape {tuple(got.shape)}")
    if not got.requires_grad:
        raise Wrong("the loss has no gradient: do not call .item(), .detach() or torch.no_grad() inside "
                    "diffusion_loss; training back-propagates through it")
    with torch.no_grad():
        m2 = _RecordingEps()
        want = _ref_loss(m2, x0, t, noise, s, y)
        pred = m2(x_t, t, y)
        slips = [(F.mse_loss(pred, x0), "the target is the noise ε, not x0: the network predicts the noise that "
                                        "was added (Ho et al.'s ε-parameterisation)"),
                 (F.mse_loss(pred, x_t), "the target is the noise ε, not x_t"),
                 (((pred - noise) ** 2).sum(), "use the mean of the squared errors, not their sum: the sum grows "
                                               "with the batch and the image size, and so would the learning rate"),
                 (((pred - noise) ** 2).flatten(1).sum(1).mean(), "you summed over the pixels and averaged over "
                                                                  "the batch: the simple loss here is the mean over "
                                                                  "every value (F.mse_loss), a constant factor that "
                                                                  "Ho et al. also drop"),
                 ((pred - noise).abs().mean(), "that is the L1 error: the simple loss is the mean *squared* error"),
                 (F.mse_loss(pred, noise).sqrt(), "you took a root: return the mean squared error itself")]
    val = got.detach().reshape(())
    if not _same(val, want):
        hint = _which(val, [(v.reshape(()), h) for v, h in slips])
        raise Wrong(hint or f"expected the loss {float(want):.5f}, got {float(val):.5f}")
    model.calls.clear()
    got_u = _call(fn, "diffusion_loss", "the loss", model, x0, t, noise, s)
    if model.calls and model.calls[-1][2] is not None:
        raise Wrong("with y=None the model must get y=None (its null class), not labels you made up")
    want_u = _ref_loss(_RecordingEps(), x0, t, noise, s, None)
    if not _same(got_u.detach().reshape(()), want_u.detach()):
        raise Wrong(f"without labels: expected {float(want_u):.5f}, got {float(got_u.detach().reshape(())):.5f}")
    return (f"the simple loss = mean ‖ε - ε_θ(x_t, t, y)‖² = {float(val):.4f} on these tensors; up to weights per "
            "timestep it is the ELBO's sum of KL terms, each a squared error between two Gaussian means")


# ---------------------------------------------------------------- 3. one DDPM reverse step


def _ref_ddpm(eps: torch.Tensor, x_t: torch.Tensor, t: int, s: _Schedule, noise: torch.Tensor,
              variance: str = "beta", noise_at_zero: bool = False) -> torch.Tensor:
    b, a, ab = s.betas[t].double(), s.alphas[t].double(), s.alpha_bars[t].double()
    mean = (x_t.double() - b / (1 - ab).sqrt() * eps.double()) / a.sqrt()
    if t == 0 and not noise_at_zero:
        return mean.to(x_t.dtype)
    if variance == "beta":
        var = b
    else:  # the posterior's variance, β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) β_t
        ab_prev = s.alpha_bars[t - 1].double() if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        var = (1 - ab_prev) / (1 - ab) * b
    return (mean + var.sqrt() * noise.double()).to(x_t.dtype)


def _ddpm_slips(eps: torch.Tensor, x_t: torch.Tensor, t: int, s: _Schedule,
                noise: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    b, a, ab = (v[t].double() for v in (s.betas, s.alphas, s.alpha_bars))
    xd, ed, nd = x_t.double(), eps.double(), noise.double()
    mean = (xd - b / (1 - ab).sqrt() * ed) / a.sqrt()
    z = 0 if t == 0 else 1
    at_zero = [(mean + b.sqrt() * nd, "at t = 0 the step returns the mean alone: the last step adds no noise (x_0 "
                                      "is the output)")] if t == 0 else []
    return at_zero + [
        (_ref_ddpm(eps, x_t, t, s, noise, "tilde"),
         "that is σ_t² = β̃_t, the posterior's variance: Ho et al. found it and σ_t² = β_t about equally good; "
         "this lesson's sampler uses σ_t² = β_t, so use noise * schedule.betas[t].sqrt()"),
        (mean + z * b * nd, "the noise's scale is σ_t = √β_t (σ_t² = β_t), not β_t"),
        ((xd - b.sqrt() / (1 - ab).sqrt() * ed) / a.sqrt() + z * b.sqrt() * nd,
         "the ε coefficient is β_t / √(1 - ᾱ_t), with β_t itself, not √β_t"),
        ((xd - b / (1 - ab) * ed) / a.sqrt() + z * b.sqrt() * nd,
         "the ε coefficient is β_t / √(1 - ᾱ_t): the root of 1 - ᾱ_t is missing"),
        ((xd - b / (1 - ab).sqrt() * ed) / ab.sqrt() + z * b.sqrt() * nd,
         "divide by √α_t (this step's factor, schedule.alphas[t]), not by √ᾱ_t"),
        (xd - b / (1 - ab).sqrt() * ed + z * b.sqrt() * nd, "the mean is divided by √α_t: (x_t - β_t / √(1 - ᾱ_t) "
                                                            "ε) / √α_t"),
        ((xd + b / (1 - ab).sqrt() * ed) / a.sqrt() + z * b.sqrt() * nd, "subtract the predicted noise, do not add it"),
    ]


@check
def check_ddpm_step(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(eps, x_t, t, schedule, noise)`` → ``x_{t-1} = (x_t - β_t / √(1 - ᾱ_t) ε) / √α_t + σ_t z`` with
    ``σ_t = √β_t`` and ``z = noise``, and the mean alone at ``t = 0``; ``t`` a Python int. Compared with the
    reference at t = 999, 500, 1 and 0."""
    s = _SCHED
    eps = _fixed(106, 3, 1, 6, 6)
    x_t = _fixed(107, 3, 1, 6, 6)
    noise = _fixed(108, 3, 1, 6, 6)
    expect_signature(fn, "ddpm_step", "(eps, x_t, t, schedule, noise)", eps, x_t, 500, s, noise)
    for t in (999, 500, 1, 0):
        before = _no_grad_copy(eps, x_t, noise)
        got = _call(fn, "ddpm_step", "x_{t-1}, the shape of x_t", eps, x_t, t, s, noise)
        _unchanged(before, (eps, x_t, noise), "ddpm_step", "eps, x_t or noise")
        want = _ref_ddpm(eps, x_t, t, s, noise)
        if tuple(got.shape) != tuple(x_t.shape):
            raise Wrong(f"x_(t-1) must have the shape of x_t, {tuple(x_t.shape)}; got {tuple(got.shape)}")
        if not _same(got, want):
            hint = _which(got, _ddpm_slips(eps, x_t, t, s, noise))
            raise Wrong(f"at t = {t}: " + (hint or f"expected a mean |x_(t-1)| of {float(want.abs().mean()):.4f}, "
                                                   f"got {float(got.abs().mean()):.4f}"))
    b999, ab999 = float(s.betas[999]), float(s.alpha_bars[999])
    return (f"one ancestral step: at t = 999 the predicted noise is removed with weight β/√(1 - ᾱ) = "
            f"{b999 / math.sqrt(1 - ab999):.4f} and fresh noise of scale √β = {math.sqrt(b999):.3f} is added; "
            "at t = 0 the mean alone is the sample")


# ---------------------------------------------------------------- 4. one DDIM step


def _ref_ddim(eps: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int, s: _Schedule, eta: float,
              noise: torch.Tensor | None, prev_index_wraps: bool = False) -> torch.Tensor:
    ab = s.alpha_bars[t].double()
    if t_prev >= 0 or prev_index_wraps:
        ab_prev = s.alpha_bars[t_prev].double()
    else:
        ab_prev = torch.tensor(1.0, dtype=torch.float64)
    xd, ed = x_t.double(), eps.double()
    x0 = (xd - (1 - ab).sqrt() * ed) / ab.sqrt()
    sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp(min=0).sqrt()
    out = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * ed
    if eta > 0 and noise is not None:
        out = out + sigma * noise.double()
    return out.to(x_t.dtype)


def _ddim_slips(eps: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int, s: _Schedule, eta: float,
                noise: torch.Tensor | None) -> list[tuple[torch.Tensor, str]]:
    ab = s.alpha_bars[t].double()
    ab_prev = s.alpha_bars[t_prev].double() if t_prev >= 0 else torch.tensor(1.0, dtype=torch.float64)
    xd, ed = x_t.double(), eps.double()
    x0 = (xd - (1 - ab).sqrt() * ed) / ab.sqrt()
    sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp(min=0).sqrt()
    nd = noise.double() if noise is not None else 0
    slips = [
        (_ref_ddim(eps, x_t, t, t_prev, s, eta, noise, prev_index_wraps=True),
         "t_prev = -1 means 'to x_0', where ᾱ_prev = 1: alpha_bars[-1] is Python's *last* element, ᾱ_{T-1} ≈ 0, "
         "the pure-noise end. Use ᾱ_prev = alpha_bars[t_prev] if t_prev >= 0 else 1"),
        (ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * ed + sigma * nd,
         "with eta > 0 the direction's coefficient shrinks to √(1 - ᾱ_prev - σ²), so that the total variance stays "
         "1 - ᾱ_prev once the fresh noise σ z is added"),
        (_ref_ddim(eps, x_t, t, t_prev, s, 0.0, None), "eta is ignored: σ = eta · √((1 - ᾱ_prev)/(1 - ᾱ_t)) · "
                                                       "√(1 - ᾱ_t/ᾱ_prev), and σ·noise is added"),
        (ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * ed + sigma ** 2 * nd,
         "the fresh noise is scaled by σ, not σ²"),
        (ab_prev.sqrt() * x0.clamp(-1, 1) + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * ed + sigma * nd,
         "you clipped the predicted x_0 to [-1, 1]: many implementations do, but this step is the plain formula "
         "(clip outside it if you want to)"),
        (ab_prev * x0 + (1 - ab_prev - sigma ** 2).clamp(min=0) * ed + sigma * nd,
         "the coefficients are the square roots: √ᾱ_prev for the predicted x_0, √(1 - ᾱ_prev - σ²) for ε"),
        ((xd - (1 - ab) * ed) / ab.sqrt() * ab_prev.sqrt() + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * ed
         + sigma * nd, "the predicted x_0 is (x_t - √(1 - ᾱ_t) ε) / √ᾱ_t: the root of 1 - ᾱ_t is missing"),
    ]
    return slips


@check
def check_ddim_step(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(eps, x_t, t, t_prev, schedule, eta=0.0, noise=None)`` → ``x_{t_prev} = √ᾱ_prev x̂_0 +
    √(1 - ᾱ_prev - σ²) ε + σ z`` with ``x̂_0 = (x_t - √(1 - ᾱ_t) ε) / √ᾱ_t``, ``σ = η √((1 - ᾱ_prev) /
    (1 - ᾱ_t)) √(1 - ᾱ_t / ᾱ_prev)`` and ``ᾱ_prev = 1`` when ``t_prev = -1``. No clipping of ``x̂_0``.
    Compared with the reference for η = 0 (999 → 949, 20 → -1) and η = 1 (500 → 450, 1 → 0)."""
    s = _SCHED
    eps = _fixed(109, 3, 1, 6, 6)
    x_t = _fixed(110, 3, 1, 6, 6)
    noise = _fixed(111, 3, 1, 6, 6)
    expect_signature(fn, "ddim_step", "(eps, x_t, t, t_prev, schedule, eta=0.0, noise=None)", eps, x_t, 500, 450, s,
                     eta=0.0, noise=None)
    for t, t_prev, eta in ((999, 949, 0.0), (20, -1, 0.0), (500, 450, 1.0), (1, 0, 1.0)):
        z = noise if eta > 0 else None
        before = _no_grad_copy(eps, x_t, noise)
        got = _call(fn, "ddim_step", "x_(t_prev), the shape of x_t", eps, x_t, t, t_prev, s, eta=eta, noise=z)
        _unchanged(before, (eps, x_t, noise), "ddim_step", "eps, x_t or noise")
        want = _ref_ddim(eps, x_t, t, t_prev, s, eta, z)
        if tuple(got.shape) != tuple(x_t.shape):
            raise Wrong(f"x_(t_prev) must have the shape of x_t, {tuple(x_t.shape)}; got {tuple(got.shape)}")
        if not _same(got, want):
            hint = _which(got, _ddim_slips(eps, x_t, t, t_prev, s, eta, z))
            raise Wrong(f"from t = {t} to t_prev = {t_prev} with eta = {eta:g}: " + (
                hint or f"expected a mean |x| of {float(want.abs().mean()):.4f}, got {float(got.abs().mean()):.4f}"))
    # eta = 1 with t_prev = t - 1 is the ancestral step with the posterior's variance β̃_t
    anc = _ref_ddpm(eps, x_t, 500, s, noise, "tilde")
    gap = float((_call(fn, "ddim_step", "x", eps, x_t, 500, 499, s, eta=1.0, noise=noise).double()
                 - anc.double()).abs().max())
    return (f"a DDIM step: η = 0 is deterministic (the same noise always gives the same image), and η = 1 from t = "
            f"500 to 499 is the ancestral DDPM step with σ² = β̃_t (largest difference from it {gap:.1e})")


# ---------------------------------------------------------------- 5. classifier-free guidance


@check
def check_cfg_combine(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(eps_cond, eps_uncond, scale)`` → ``eps_uncond + scale · (eps_cond - eps_uncond)``: scale 0 gives
    the unconditional prediction, 1 the conditional one, above 1 guided. Compared at scales 3, 7.5, 0 and 1."""
    ec = _fixed(112, 2, 1, 5, 5)
    eu = _fixed(113, 2, 1, 5, 5)
    expect_signature(fn, "cfg_combine", "(eps_cond, eps_uncond, scale)", ec, eu, 3.0)
    for scale in (3.0, 7.5, 0.0, 1.0):  # the slips differ most at large scales
        before = _no_grad_copy(ec, eu)
        got = _call(fn, "cfg_combine", "the guided ε, the shape of eps_cond", ec, eu, scale)
        _unchanged(before, (ec, eu), "cfg_combine", "eps_cond or eps_uncond")
        want = eu + scale * (ec - eu)
        if not _same(got, want):
            slips = [((1 + scale) * ec - scale * eu,
                      "that is Ho & Salimans' form (1 + w) ε_c - w ε_u with w = scale: here the scale counts from "
                      "the unconditional prediction, ε_u + s (ε_c - ε_u), so s = 1 + w (s = 1 is plain conditional)"),
                     (ec + scale * (eu - ec), "cond and uncond are swapped: move *from* ε_u *towards* (and past) ε_c"),
                     (ec + scale * (ec - eu), "start from ε_u: ε_u + s (ε_c - ε_u), so that s = 1 gives ε_c"),
                     (scale * ec, "the unconditional prediction is part of it: ε_u + s (ε_c - ε_u)"),
                     (eu + scale * ec, "the guidance direction is the difference ε_c - ε_u")]
            hint = _which(got, slips)
            raise Wrong(f"at scale {scale:g}: " + (hint or "expected eps_uncond + scale * (eps_cond - eps_uncond)"))
    return ("guided ε = ε_u + s (ε_c - ε_u): s = 0 ignores the label, s = 1 is the conditional model, s > 1 "
            "extrapolates past it (two network evaluations per step)")
