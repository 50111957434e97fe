"""Checks for lesson 02 (GAN basics). Each runs in well under a second on a CPU.

* :func:`check_g_loss_nonsaturating` — ``-E[log D(G(z))]`` from D's logits, ``mean(softplus(-a))``.
* :func:`check_optimal_discriminator` — ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``.
* :func:`check_modes_covered` — how many modes of a ring of Gaussians a cloud of samples covers.
* :func:`check_collapsed_runs` — which of three runs' samples (:func:`mode_clouds`) show mode collapse
  (letters, or a function of the clouds that returns them).
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F

from ..data import ring_centres
from ..gan import count_modes
from . import Wrong, check, expect_signature

__all__ = ["check_g_loss_nonsaturating", "check_optimal_discriminator", "check_modes_covered",
           "check_collapsed_runs", "mode_clouds"]

# Logits of D on fake samples. Moderate ones tell the formulas apart; the extreme ones are where a
# hand-written log(sigmoid(a)) underflows: sigmoid(-1000) is 0 in float32, and log(0) = -inf.
_MODERATE = torch.tensor([-3.0, -1.0, 0.0, 0.5, 2.0, 4.0])
_SMALL_BATCH = torch.tensor([-2.0, 1.5])
_EXTREME = torch.tensor([-1000.0, -100.0, -20.0, 0.0, 30.0, 100.0])


def _scalar_loss(out: Any, n: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise Wrong(f"return a tensor (so autograd can backpropagate through it), got {type(out).__name__} {out!r}"
                    + (": did you call .item() or float()? Keep the loss a tensor" if isinstance(out, float) else ""))
    if out.numel() != 1:
        raise Wrong(f"return one number for the whole batch (a 0-dim tensor), got shape {tuple(out.shape)} for a batch "
                    f"of {n}: take the mean over the batch")
    return out.reshape(())


@check
def check_g_loss_nonsaturating(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(fake_logits (B,))`` must return ``-mean(log sigmoid(fake_logits))``, computed stably and
    differentiably (``F.softplus(-fake_logits).mean()``)."""
    expect_signature(fn, "g_loss", "(fake_logits)", _MODERATE)
    a = _MODERATE.clone()
    got = float(_scalar_loss(fn(a.clone()), len(a)).detach())
    expected = float(F.softplus(-a).mean())
    if not math.isfinite(got):
        raise Wrong(f"your loss is {got} for the logits {a.tolist()}, expected {expected:.4f}")
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        slips = [
            (-expected, "you forgot the minus sign: log D(G(z)) is negative, so the loss -E[log D(G(z))] is positive; "
                        "G minimises it"),
            (float(-F.softplus(a).mean()), "that is the saturating loss E[log(1 - D(G(z)))] of the original minimax "
                                           "game; the non-saturating one is -E[log D(G(z))]"),
            (float(F.softplus(a).mean()), "that is -E[log(1 - D(G(z)))], D's loss term for fakes: minimising it makes "
                                          "the fakes look *more* fake. G wants D(G(z)) -> 1: -E[log D(G(z))]"),
            (float(F.softplus(-a).sum()), "you summed over the batch: take the mean, so the loss (and the step size) "
                                          "does not grow with the batch size"),
            (float(-F.softplus(-a).sum()), "you summed over the batch and forgot the minus sign"),
            (float(-torch.sigmoid(a).mean()), "use the log: -E[log D(G(z))], not a plain average of probabilities"),
        ]
        for value, hint in slips:
            if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-5):
                raise Wrong(f"for the logits {a.tolist()} expected {expected:.4f}, got {got:.4f}: {hint}")
        raise Wrong(f"for the logits {a.tolist()} expected {expected:.4f}, got {got:.4f}. The inputs are logits "
                    "(before the sigmoid): D(G(z)) = sigmoid(a), and the loss is -mean(log D(G(z)))")
    b = _SMALL_BATCH.clone()
    got_b = float(_scalar_loss(fn(b.clone()), len(b)).detach())
    if not math.isclose(got_b, float(F.softplus(-b).mean()), rel_tol=1e-4, abs_tol=1e-5):
        raise Wrong(f"for the logits {b.tolist()} expected {float(F.softplus(-b).mean()):.4f}, got {got_b:.4f}: "
                    "does your function depend on the batch size? Use .mean() over the batch")
    e = _EXTREME.clone()
    got_e = float(_scalar_loss(fn(e.clone()), len(e)).detach())
    expected_e = float(F.softplus(-e).mean())
    if not math.isfinite(got_e):
        raise Wrong(f"your loss is {got_e} for the logits {e.tolist()} (expected {expected_e:.2f}): a D that confidently "
                    "rejects a fake (logit -1000) gives sigmoid = 0 in float32, and log(0) = -inf. Compute "
                    "-log sigmoid(a) as F.softplus(-a) (or -F.logsigmoid(a)), which never takes log(0)")
    if not math.isclose(got_e, expected_e, rel_tol=1e-3):
        raise Wrong(f"for the logits {e.tolist()} expected {expected_e:.2f}, got {got_e:.2f}: an epsilon or clamp "
                    "(log(p + 1e-8), or BCE on probabilities, which clips log at -100) caps the loss exactly where D "
                    "rejects the fakes most confidently. Work from the logits: F.softplus(-a) = -log sigmoid(a)")
    g = _MODERATE.clone().requires_grad_(True)
    out = _scalar_loss(fn(g), len(g))
    if not out.requires_grad:
        raise Wrong("the loss is right but not connected to the logits (no gradient flows back): keep it a torch "
                    "computation on the input tensor, without .detach(), .item(), .numpy() or torch.tensor(...)")
    (grad,) = torch.autograd.grad(out, g)
    want = -torch.sigmoid(-_MODERATE) / len(_MODERATE)  # d/da softplus(-a) = -sigmoid(-a) = -(1 - D)
    if not torch.allclose(grad, want, atol=1e-5):
        raise Wrong(f"the value is right but the gradient is not: expected {[round(v, 4) for v in want.tolist()]}, "
                    f"got {[round(v, 4) for v in grad.tolist()]}")
    return (f"g_loss = -mean(log D(G(z))) from logits: {expected:.4f} on the test batch, finite ({expected_e:.1f}) at "
            "logit -1000, and its gradient -(1 - D)/B stays large while D rejects the fakes")


def _as_tensor(out: Any, what: str) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.detach().double()
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return torch.tensor(float(out), dtype=torch.float64)
    try:
        import numpy as np

        if isinstance(out, np.ndarray) or isinstance(out, np.floating):
            return torch.as_tensor(out).double()
    except ImportError:  # pragma: no cover
        pass
    raise Wrong(f"{what} should return a number or a tensor, got {type(out).__name__}")


@check
def check_optimal_discriminator(fn: Callable[[Any, Any], Any]) -> str:
    """``fn(p_data, p_g)`` (numbers or tensors of densities) must return ``p_data / (p_data + p_g)``."""
    expect_signature(fn, "optimal_discriminator", "(p_data, p_g)", 0.3, 0.1)
    p_data = torch.tensor([0.30, 0.05, 1.20, 0.00, 2.00, 0.40], dtype=torch.float64)
    p_g = torch.tensor([0.10, 0.15, 1.20, 0.50, 0.00, 0.10], dtype=torch.float64)
    expected = p_data / (p_data + p_g)
    got = _as_tensor(fn(p_data.clone(), p_g.clone()), "optimal_discriminator")
    if got.shape != expected.shape:
        raise Wrong(f"for tensors of densities of shape {tuple(p_data.shape)} expected one value per point, shape "
                    f"{tuple(expected.shape)}, got shape {tuple(got.shape)}: compute it elementwise")
    if not torch.allclose(got, expected, atol=1e-6, equal_nan=False):
        slips = [
            (p_g / (p_data + p_g), "you swapped the densities: D(x) is the probability that x came from the *data*, "
                                   "so p_data goes on top"),
            (p_data / p_g, "that is the density ratio p_data / p_g; D* divides by the sum, "
                                      "p_data + p_g, so it stays in [0, 1]"),
            (torch.full_like(p_data, 0.5), "D* = 1/2 everywhere only once G matches the data (p_g = p_data); "
                                           "here the two densities differ"),
        ]
        for value, hint in slips:
            if torch.allclose(got, value, atol=1e-6):
                raise Wrong(f"for p_data = {p_data.tolist()} and p_g = {p_g.tolist()} expected "
                            f"{[round(v, 4) for v in expected.tolist()]}, got {[round(v, 4) for v in got.tolist()]}: {hint}")
        i = int((got - expected).abs().nan_to_num(float("inf")).argmax())
        raise Wrong(f"for p_data = {float(p_data[i]):g}, p_g = {float(p_g[i]):g} expected {float(expected[i]):.4f}, got "
                    f"{float(got[i]):.4f}: maximise p_data log D + p_g log(1 - D) over D, pointwise")
    single = _as_tensor(fn(0.3, 0.1), "optimal_discriminator(0.3, 0.1)")
    if single.numel() != 1 or not math.isclose(float(single), 0.75, rel_tol=1e-6):
        raise Wrong(f"for plain numbers p_data = 0.3, p_g = 0.1 expected 0.75, got {single.tolist()}")
    return "D*(x) = p_data / (p_data + p_g): 1 where only data lives, 0 where only G's samples do, 1/2 where they match"


@check
def check_modes_covered(fn: Callable[..., Any]) -> str:
    """``fn(points (N, 2), centres (K, 2), radius)`` must count the centres that at least 1 % of the
    points lie within ``radius`` of (each point counted for its nearest centre)."""
    expect_signature(fn, "modes_covered", "(points, centres, radius)", torch.zeros(4, 2), torch.zeros(2, 2), 0.25)
    cases = _mode_cases()
    for name, points, centres, radius in cases:
        expected = count_modes(points, centres, radius)[0]
        out = fn(points.clone(), centres.clone(), radius)
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            out = out.item()
        if isinstance(out, bool) or not isinstance(out, (int, float)) or (isinstance(out, float) and not out.is_integer()):
            raise Wrong(f"modes_covered should return a whole number of modes (int), got {type(out).__name__} {out!r}")
        got = int(out)
        if got == expected:
            continue
        if name == "in between" and got > expected:
            raise Wrong(f"for {name}: expected {expected}, got {got}: points far from every centre (here all of them) "
                        "cover no mode; count only points within `radius` of their nearest centre")
        if name == "a few strays" and got > expected:
            raise Wrong(f"for {name}: expected {expected}, got {got}: a mode that gets only a handful of stray points "
                        "(under 1 % of them) is not covered; compare each count with 0.01 * len(points)")
        if got > len(centres):
            raise Wrong(f"for {name}: expected {expected}, got {got}, more than the {len(centres)} centres: count "
                        "modes (centres), not points")
        raise Wrong(f"for {name}: expected {expected} modes, got {got}. Take each point's nearest centre "
                    "(torch.cdist(points, centres).min(1)), keep points closer than radius, count points per centre "
                    "and the centres with at least 1 % of all points")
    return f"modes_covered agrees with count_modes on {len(cases)} clouds (healthy, collapsed, in between, strays, partial)"


def _mode_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    g = torch.Generator().manual_seed(2)
    c8 = ring_centres(8, 2.0)
    k = torch.randint(0, 8, (800,), generator=g)
    healthy = c8[k] + 0.05 * torch.randn(800, 2, generator=g)
    collapsed = c8[3] + 0.03 * torch.randn(800, 2, generator=g)
    between = 0.5 * (c8[0] + c8[1]) + 0.05 * torch.randn(800, 2, generator=g)
    strays = torch.cat([c8[5] + 0.05 * torch.randn(795, 2, generator=g), c8[[0, 1, 2, 6, 7]]])  # 5 strays: under 1 %
    partial = c8[torch.tensor([0, 2, 4])[torch.randint(0, 3, (600,), generator=g)]] + 0.05 * torch.randn(600, 2, generator=g)
    c3 = ring_centres(3, 1.0)
    tri = c3[torch.randint(0, 2, (300,), generator=g)] + 0.1 * torch.randn(300, 2, generator=g)
    return [("a healthy ring (8 modes)", healthy, c8, 0.25), ("a collapsed run", collapsed, c8, 0.25),
            ("in between", between, c8, 0.25), ("a few strays", strays, c8, 0.25),
            ("a partial run", partial, c8, 0.25), ("3 centres, radius 0.4", tri, c3, 0.4)]


def mode_clouds() -> dict[str, torch.Tensor]:
    """Three clouds of 1,000 points (fixed, built to look like three typical outcomes on the ring of
    8 Gaussians with std 0.05; not samples of a trained G): ``{"A": ..., "B": ..., "C": ...}``."""
    g = torch.Generator().manual_seed(7)
    c = ring_centres(8, 2.0)
    a = c[torch.randint(0, 8, (1000,), generator=g)] + 0.30 * torch.randn(1000, 2, generator=g)  # all modes, blurry
    b = c[torch.randint(0, 8, (1000,), generator=g)] + 0.06 * torch.randn(1000, 2, generator=g)  # healthy
    pair = c[torch.tensor([6, 7])[torch.randint(0, 2, (1000,), generator=g)]]
    cc = pair + 0.04 * torch.randn(1000, 2, generator=g)  # collapsed onto 2 neighbouring modes
    return {"A": a, "B": b, "C": cc}


def _letters(answer: Any) -> set[str]:
    if isinstance(answer, torch.Tensor):
        raise Wrong(f"answer with the letters of the collapsed runs, e.g. {{'A'}} or ['B', 'C'], got a tensor {answer!r}"[:300])
    if isinstance(answer, str):
        tokens = re.findall(r"[A-Za-z0-9_]+", answer)
        items: list[Any] = [ch for t in tokens for ch in (t if t.upper().strip("ABC") == "" else [t])]
    elif isinstance(answer, Iterable):
        items = list(answer)
    else:
        raise Wrong(f"answer with the letters of the collapsed runs, e.g. {{'A'}} or ['B', 'C'], got {type(answer).__name__}")
    out = set()
    for x in items:
        if not isinstance(x, str) or x.strip().upper() not in ("A", "B", "C"):
            raise Wrong(f"the runs are named 'A', 'B' and 'C'; got {x!r}")
        out.add(x.strip().upper())
    return out


@check
def check_collapsed_runs(answer: Any) -> str:
    """``answer``: the letters of the runs in :func:`mode_clouds` that show mode collapse (here: ``{"C"}``),
    or a function ``answer(clouds) -> letters`` that works them out from the clouds."""
    if callable(answer):
        expect_signature(answer, "collapsed_runs", "(clouds)", {})
        answer = answer(mode_clouds())
    got = _letters(answer)
    if got == {"C"}:
        return ("C collapsed: its samples sit on 2 of the 8 modes. A covers all 8 (blurry: low quality, not collapse); "
                "B is healthy")
    if "A" in got:
        raise Wrong("A is not collapsed: its samples reach all 8 modes. They are spread far around each centre — low "
                    "*quality* (few points near a mode), but full *diversity*. Mode collapse means missing modes")
    if "B" in got:
        raise Wrong("B covers all 8 modes with tight clusters: that is what a healthy run looks like. Count the modes each "
                    "run covers with your modes_covered")
    return _fail("one run is collapsed: count the modes each cloud covers (modes_covered) and look at the scatter plots")


def _fail(message: str) -> str:
    raise Wrong(message)
