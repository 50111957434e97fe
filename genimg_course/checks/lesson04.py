"""Checks for lesson 04 (stabilising GANs). Each runs in well under a second on a CPU.

* :func:`check_gradient_penalty` — WGAN-GP's ``E[(||∇D(x̂)||₂ − 1)²]`` on fixed tensors, compared with
  :func:`genimg_course.gan.gradient_penalty` at the same ``eps``; names the usual slips.
* :func:`check_hinge_d_loss` — ``E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]`` on fixed scores.
* :func:`check_zero_gradient` — predict which loss gives (almost) zero gradient where; verified by autograd.

Lesson 04b's checks (the conditional GAN) live in :mod:`.lesson04b`.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..gan import d_loss_hinge, d_loss_wasserstein, g_loss_hinge, g_loss_nonsaturating, g_loss_saturating, gradient_penalty
from . import Wrong, check, expect_signature

__all__ = ["check_gradient_penalty", "check_hinge_d_loss", "check_zero_gradient", "ZERO_GRADIENT_CASES"]

_EPS = torch.tensor([0.1, 0.35, 0.5, 0.65, 0.9, 0.2])  # one ε per sample, fixed so answers can be compared


def _gp_problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A fixed non-linear critic on (6, 2, 3, 3) "images" whose gradient norms at the interpolates
    range from about 0.8 to 2.0, so each slip gives a different number."""
    g = torch.Generator().manual_seed(4)
    real = torch.randn(6, 2, 3, 3, generator=g)
    fake = torch.randn(6, 2, 3, 3, generator=g) * 0.5 + 0.3
    lin1, lin2 = nn.Linear(18, 16), nn.Linear(16, 1)
    with torch.no_grad():
        lin1.weight.copy_(torch.randn(16, 18, generator=g) * 0.6)
        lin1.bias.copy_(torch.randn(16, generator=g))
        lin2.weight.copy_(torch.randn(1, 16, generator=g) * 0.3)
        lin2.bias.zero_()
    critic = nn.Sequential(nn.Flatten(), lin1, nn.Tanh(), lin2, nn.Flatten(0))  # (B, 2, 3, 3) -> (B,)
    return critic, real, fake


def _grad_at(critic: nn.Module, x_hat: torch.Tensor) -> torch.Tensor:
    x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    return grad


def _slips(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> list[tuple[float, str]]:
    """The value each common mistake gives on the fixed problem, with its hint."""
    e = eps.view(-1, 1, 1, 1)
    right = _grad_at(critic, e * real + (1 - e) * fake)
    norms = right.flatten(1).norm(dim=1)
    slips = [
        (float((right.norm() - 1) ** 2),
         "you took one norm over the whole batch: take it per sample, "
         "`grad.flatten(1).norm(2, dim=1)` → shape (B,), then penalise each and average"),
        (float(((right.norm(2, dim=1) - 1) ** 2).mean()),
         "you took the norm over dim=1 only (the channels): flatten each sample first, `grad.flatten(1).norm(2, dim=1)`"),
        (float((norms ** 2).mean()),
         "you penalised ||g||² (pushing the gradient towards 0): WGAN-GP's target is 1, penalise (||g|| − 1)²"),
        (float(((norms ** 2 - 1) ** 2).mean()),
         "you squared the norm before subtracting 1: penalise (||g||₂ − 1)², not (||g||² − 1)²"),
        (float((norms - 1).mean()),
         "you forgot to square: penalise (||g|| − 1)², so gradients below and above 1 both cost something"),
        (float((norms - 1).abs().mean()),
         "you took |‖g‖ − 1|: WGAN-GP squares it, (||g|| − 1)²"),
        (float(((norms + 1) ** 2).mean()), "sign error: (||g|| − 1)², not (||g|| + 1)²"),
        (float(-((norms - 1) ** 2).mean()),
         "sign error: the penalty is positive, E[(||g|| − 1)²] (it is added to the critic's loss)"),
        (float(((norms - 1) ** 2).sum()), "you summed over the batch: take the mean, E[…]"),
    ]
    for wrong_eps, hint in [
        (eps[0].expand_as(eps), "every sample used the same ε (eps[0]): reshape eps to (B, 1, 1, 1) so each sample gets its own"),
        (eps.mean().expand_as(eps), "every sample used the same ε (the mean): reshape eps to (B, 1, 1, 1) so each sample gets its own"),
        (1 - eps, "you swapped ε and 1 − ε: with a random ε that is just as valid, but here use x̂ = ε·real + (1 − ε)·fake "
                  "as the package does, so the numbers can be compared"),
    ]:
        w = wrong_eps.reshape(-1, 1, 1, 1)
        n = _grad_at(critic, w * real + (1 - w) * fake).flatten(1).norm(dim=1)
        slips.append((float(((n - 1) ** 2).mean()), hint))
    n = _grad_at(critic, e * real - (1 - e) * fake).flatten(1).norm(dim=1)
    slips.append((float(((n - 1) ** 2).mean()), "sign error in the interpolate: x̂ = ε·real + (1 − ε)·fake"))
    for x, what in [(real, "the real images"), (fake, "the fake images")]:
        n = _grad_at(critic, x).flatten(1).norm(dim=1)
        slips.append((float(((n - 1) ** 2).mean()),
                      f"you took the gradient at {what}: WGAN-GP penalises it at random interpolates x̂ = ε·real + (1 − ε)·fake"))
    return slips


@check
def check_gradient_penalty(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(critic, real, fake, eps)`` must return ``E[(||∇D(x̂)||₂ − 1)²]`` with
    ``x̂ = ε·real + (1 − ε)·fake``, one ε per sample, as a differentiable scalar."""
    critic, real, fake = _gp_problem()
    expect_signature(fn, "gradient_penalty_by_hand", "(critic, real, fake, eps)", critic, real, fake, _EPS)
    r, f, eps = real.clone(), fake.clone(), _EPS.clone()
    try:
        got = fn(critic, r, f, eps)
    except RuntimeError as e:
        msg = str(e)
        if "does not require grad" in msg or "does not have a grad_fn" in msg:
            raise Wrong("autograd cannot differentiate the critic's score with respect to x̂: make x̂ a leaf that "
                        "tracks gradients, `x_hat = (...).detach().requires_grad_(True)`, before calling the critic") from None
        if "must match the size" in msg or "shape" in msg:
            raise Wrong(f"a shape error ({msg.splitlines()[0]}): eps has shape (B,); reshape it to (B, 1, 1, 1) "
                        "(`eps.view(-1, 1, 1, 1)`) so it scales each sample") from None
        raise
    if not torch.equal(r, real) or not torch.equal(f, fake):
        raise Wrong("your function changed real or fake in place: build x̂ as a new tensor")
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"return a tensor (the penalty must stay differentiable: no .item()), got {type(got).__name__} {got!r}")
    if got.numel() != 1:
        raise Wrong(f"return one number, the mean over the batch, got a tensor of shape {tuple(got.shape)}: "
                    "did you forget `.mean()`?")
    expected = gradient_penalty(critic, real, fake, eps=_EPS)
    value, want_value = float(got.detach()), float(expected.detach())
    if abs(value - want_value) > 1e-4 * max(1.0, abs(want_value)):
        for slip, hint in _slips(critic, real, fake, _EPS):
            if abs(value - slip) <= 1e-4 * max(1.0, abs(slip)):
                raise Wrong(f"your penalty is {value:.4f}, expected {want_value:.4f}: {hint}")
        raise Wrong(f"your penalty is {value:.4f}, expected {want_value:.4f} on these 6 samples. Check each step: "
                    "x̂ = ε·real + (1 − ε)·fake with eps reshaped to (B, 1, 1, 1); grad of critic(x̂).sum() w.r.t. x̂; "
                    "one L2 norm per sample; mean of (norm − 1)²")
    if not got.requires_grad:
        raise Wrong(f"the value is right ({value:.4f}) but the penalty cannot be minimised: it does not depend on the "
                    "critic's weights. Pass `create_graph=True` to torch.autograd.grad so the gradient itself can be "
                    "differentiated")
    params = list(critic.parameters())
    want = torch.autograd.grad(expected, params, allow_unused=True)  # the last bias does not change ∇_x D: unused
    have = torch.autograd.grad(got.reshape(()), params, allow_unused=True)
    zero = torch.zeros(())
    if any(not torch.allclose(zero if h is None else h, zero if w is None else w, rtol=1e-3, atol=1e-6)
           for h, w in zip(have, want)):
        raise Wrong(f"the value is right ({value:.4f}) but its gradient with respect to the critic's weights is not: "
                    "keep the graph (`create_graph=True`) and do not detach the gradient or its norm")
    return (f"your penalty is {value:.4f}, equal to gradient_penalty(...) with the same ε, and its gradient reaches "
            "the critic's weights")


_REAL = torch.tensor([2.0, 0.5, -0.3, 1.4, 3.0, 0.7])  # critic scores on a real batch
_FAKE = torch.tensor([-2.5, -0.5, 0.4, -0.8, 1.5, -1.2])  # ... and on a fake batch


@check
def check_hinge_d_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(real_scores, fake_scores)`` must return ``E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]``."""
    expect_signature(fn, "d_loss_hinge_by_hand", "(real_scores, fake_scores)", _REAL, _FAKE)
    r, f = _REAL.clone().requires_grad_(True), _FAKE.clone().requires_grad_(True)
    got = fn(r, f)
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"return a tensor so D can be trained with it (no .item()), got {type(got).__name__} {got!r}")
    if got.numel() != 1:
        raise Wrong(f"return one number (the mean over each batch), got a tensor of shape {tuple(got.shape)}")
    expected = float(d_loss_hinge(_REAL, _FAKE))
    value = float(got.detach())
    if abs(value - expected) > 1e-5:
        relu, R, Fk = F.relu, _REAL, _FAKE
        slips = [
            ((1 - R).mean() + (1 + Fk).mean(), "you left out the max(0, ·): without it the hinge is a straight line "
                                               "(the Wasserstein loss plus 2) and never stops pushing"),
            (Fk.mean() - R.mean(), "that is the Wasserstein critic loss: the hinge adds a margin of 1 and clips at 0, "
                                   "max(0, 1 − D(x)) and max(0, 1 + D(G(z)))"),
            (relu(1 + R).mean() + relu(1 - Fk).mean(), "the signs are swapped: real scores should be pushed *above* +1 "
                                                       "(max(0, 1 − D(x))) and fake scores *below* −1 (max(0, 1 + D(G(z))))"),
            (relu(-R).mean() + relu(Fk).mean(), "you left out the margin of 1: max(0, 1 − D(x)), not max(0, −D(x))"),
            (relu(1 - R).sum() + relu(1 + Fk).sum(), "you summed over each batch: take the mean, E[…]"),
            (relu(1 - R + Fk).mean(), "apply max(0, ·) to the real and fake terms separately, then add the means"),
            (relu(1 - R).mean() - relu(1 + Fk).mean(), "sign error: the two hinge terms are *added*"),
            (relu(1 - R).mean(), "you left out the fake term, E[max(0, 1 + D(G(z)))]"),
            (relu(1 + Fk).mean(), "you left out the real term, E[max(0, 1 − D(x))]"),
            (-Fk.mean(), "that is the generator's hinge loss, −E[D(G(z))]; here write the discriminator's"),
            (F.softplus(-R).mean() + F.softplus(Fk).mean(), "that is the binary cross-entropy D loss; the hinge uses "
                                                            "max(0, 1 − D(x)) + max(0, 1 + D(G(z)))"),
            (torch.clamp(1 - R, max=0).mean() + torch.clamp(1 + Fk, max=0).mean(),
             "clamp from below, max(0, ·) = clamp(min=0), not clamp(max=0)"),
        ]
        for slip, hint in slips:
            if abs(value - float(slip)) <= 1e-5:
                raise Wrong(f"your loss is {value:.4f}, expected {expected:.4f}: {hint}")
        raise Wrong(f"your loss is {value:.4f}, expected {expected:.4f} for real scores {_REAL.tolist()} and fake "
                    f"scores {_FAKE.tolist()}: E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]")
    if not got.requires_grad:
        raise Wrong("the value is right but it does not depend on the scores any more: keep it a tensor computation "
                    "(torch.relu / clamp), no .item() or NumPy")
    got.reshape(()).backward()
    flat = int((r.grad == 0).sum() + (f.grad == 0).sum())
    return (f"hinge D loss = {value:.4f}. {flat} of the {r.numel() + f.numel()} scores get zero gradient: reals scored "
            "≥ 1 and fakes scored ≤ −1 are already beyond the margin, so D stops pushing on them")


ZERO_GRADIENT_CASES = (
    "saturating G loss, fake logit -10",
    "non-saturating G loss, fake logit -10",
    "hinge D loss, real score 3",
    "hinge D loss, fake score 0.5",
    "Wasserstein critic loss, real score 3",
    "hinge G loss, fake score -10",
)

_WHY = {
    "saturating G loss, fake logit -10": "log(1 − sigmoid(a)) is flat where D confidently rejects a fake: its "
                                         "derivative is −sigmoid(a) ≈ −4.5e-5 at a = −10 — the original minimax loss "
                                         "gives G almost nothing to learn from exactly when G is worst",
    "non-saturating G loss, fake logit -10": "the derivative of −log sigmoid(a) is −(1 − sigmoid(a)) ≈ −1 at a = −10: "
                                             "the strongest push where G is worst (why Goodfellow et al. recommend it)",
    "hinge D loss, real score 3": "max(0, 1 − 3) = 0 and the hinge is flat there: a real sample scored above the "
                                  "margin of 1 no longer moves D",
    "hinge D loss, fake score 0.5": "max(0, 1 + 0.5) = 1.5 is on the sloped side of the hinge: gradient +1/B, D keeps "
                                    "pushing this fake's score down towards −1",
    "Wasserstein critic loss, real score 3": "E[D(G(z))] − E[D(x)] is linear: every real score gets gradient −1/B "
                                             "however high it already is (only the Lipschitz constraint bounds it)",
    "hinge G loss, fake score -10": "−E[D(G(z))] is linear: the generator always gets gradient −1/B, no saturation",
}


def _case_gradient(case: str) -> float:
    """d loss / d score for the one sample of each case (batch of 1), by autograd."""
    s = {"-10": -10.0, "3": 3.0, "0.5": 0.5}[case.rsplit(" ", 1)[1]]
    a = torch.tensor([s], requires_grad=True)
    other = torch.zeros(1)
    loss = {
        "saturating G loss, fake logit -10": lambda: g_loss_saturating(a),
        "non-saturating G loss, fake logit -10": lambda: g_loss_nonsaturating(a),
        "hinge D loss, real score 3": lambda: d_loss_hinge(a, other),
        "hinge D loss, fake score 0.5": lambda: d_loss_hinge(other, a),
        "Wasserstein critic loss, real score 3": lambda: d_loss_wasserstein(a, other),
        "hinge G loss, fake score -10": lambda: g_loss_hinge(a),
    }[case]()
    loss.backward()
    return float(a.grad)


@check
def check_zero_gradient(fn: Callable[[], dict[str, bool]]) -> str:
    """``fn()`` returns ``{case: True if that loss's gradient w.r.t. that score is (almost) zero}``
    for every case in :data:`ZERO_GRADIENT_CASES`."""
    if not callable(fn):
        raise Wrong(f"expected a function returning a dict, got {type(fn).__name__}")
    answers = fn()
    if not isinstance(answers, dict):
        raise Wrong(f"return a dict {{case: True/False}}, got {type(answers).__name__}")
    missing = [c for c in ZERO_GRADIENT_CASES if c not in answers]
    extra = [c for c in answers if c not in ZERO_GRADIENT_CASES]
    if missing or extra:
        raise Wrong(f"the dict must have exactly the {len(ZERO_GRADIENT_CASES)} cases; missing {missing or 'none'}, "
                    f"unexpected {extra or 'none'}")
    if any(v is Ellipsis for v in answers.values()):
        raise NotImplementedError
    bad = [c for c, v in answers.items() if not isinstance(v, bool)]
    if bad:
        raise Wrong(f"answer True (gradient ≈ 0) or False for each case; {bad[0]!r} is {answers[bad[0]]!r}")
    grads = {c: _case_gradient(c) for c in ZERO_GRADIENT_CASES}
    truth = {c: abs(g) < 1e-3 for c, g in grads.items()}
    wrong = [c for c in ZERO_GRADIENT_CASES if answers[c] != truth[c]]
    if wrong:
        lines = [f"{c!r}: the gradient is {grads[c]:+.2g}, {'≈ 0' if truth[c] else 'not 0'} — {_WHY[c]}" for c in wrong]
        raise Wrong(f"{len(wrong)} of {len(ZERO_GRADIENT_CASES)} wrong. " + " | ".join(lines))
    return "all six right: " + "; ".join(f"{c} → {g:+.2g}" for c, g in grads.items())
