"""Checks for lesson 02 (GAN basics). Each runs in well under a second on a CPU.

* :func:`check_g_loss_nonsaturating` — ``-E[log D(G(z))]`` from D's logits, ``mean(softplus(-a))``.
* :func:`check_optimal_discriminator` — ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``.
* :func:`check_gan_step` — one GAN training step (D on detached fakes, then G's non-saturating step),
  checked by one seeded step against ``GANTask(reuse_fakes=False)`` (:func:`package_gan_step`).
* :func:`check_modes_covered` — how many modes of a ring of Gaussians a cloud of samples covers.
* :func:`check_collapsed_runs` — which of three runs' samples (:func:`mode_clouds`) show mode collapse
  (letters, or a function of the clouds that returns them).
"""
from __future__ import annotations

import contextlib
import copy
import math
import re
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from ..data import ring_centres
from ..gan import GANTask, count_modes
from ..models import MLPDiscriminator, MLPGenerator
from ..models._checks import describe
from ..train import StepContext
from . import Wrong, check, close, expect_signature

__all__ = ["check_g_loss_nonsaturating", "check_optimal_discriminator", "check_gan_step", "package_gan_step",
           "check_modes_covered", "check_collapsed_runs", "mode_clouds"]

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


def _modes_rule(points: torch.Tensor, centres: torch.Tensor, radius: float, *, share: float | None = 0.01,
                count: int | None = None, strict: bool = False, reach: Callable[[float], float] = lambda r: r,
                use_radius: bool = True) -> int:
    """The exercise's rule (the defaults: count_modes) and the slips the check names: another share, a
    fixed number of points, ``>`` for ``>=``, a misused radius, no radius at all."""
    d = torch.cdist(points.double(), centres.double())
    dist, nearest = d.min(1)
    keep = dist < reach(radius) if use_radius else torch.ones_like(dist, dtype=torch.bool)
    counts = torch.bincount(nearest[keep], minlength=len(centres))
    need = count if count is not None else share * len(points)
    return int(((counts > need) if strict else (counts >= need)).sum())


def _modes_slips() -> list[tuple[str, Callable[..., int]]]:
    def rule(**kw: Any) -> Callable[..., int]:
        return lambda p, c, r: _modes_rule(p, c, r, **kw)

    slips = [
        ("points far from every centre cover no mode: count only points within `radius` of their nearest centre",
         rule(use_radius=False)),
        ("a mode that gets only a handful of stray points (under 1 % of them) is not covered: compare each count "
         "with 0.01 * len(points), not with 0", rule(share=None, count=0, strict=True)),
        ("a mode with exactly 1 % of the points is covered (\"at least 1 %\"): use >=, not >", rule(strict=True)),
        ("you counted points up to 2 * radius from a centre: `radius` is already the distance from the centre "
         "(a radius, not a diameter)", rule(reach=lambda r: 2 * r)),
        ("you compared the *squared* distance with radius, which lets in points up to sqrt(radius) away: compare "
         "the distance with radius (or the squared distance with radius ** 2)", rule(reach=lambda r: r ** 0.5)),
        ("you counted points only up to radius / 2: `radius` is the distance from the centre, not a diameter",
         rule(reach=lambda r: r / 2)),
        ("you compared the distance with radius ** 2: compare the distance with radius (or the squared distance "
         "with radius ** 2)", rule(reach=lambda r: r ** 2)),
    ]
    for pct in (0.1, 0.2, 0.5, 0.8, 0.9):
        slips.append(("your threshold is below 1 % of the points: a mode with 0.9 % or 0.5 % of them counted as "
                      "covered. A mode is covered with at least 1 %: counts >= 0.01 * len(points)", rule(share=pct / 100)))
    for pct in (1.2, 1.5, 2, 3, 5, 10, 20, 25, 50):
        slips.append(("your threshold is above 1 % of the points: a mode with 1 % or 1.5 % of them was not counted. "
                      "A mode is covered with at least 1 %: counts >= 0.01 * len(points)", rule(share=pct / 100)))
    for k in range(2, 201):
        slips.append(("you compared each count with a fixed number of points; the rule is a share of the cloud, at "
                      "least 1 % of len(points), so it scales with the number of points (1 of 100, 20 of 2,000)",
                      rule(share=None, count=k)))
    return slips


@check
def check_modes_covered(fn: Callable[..., Any]) -> str:
    """``fn(points (N, 2), centres (K, 2), radius)`` must count the centres that at least 1 % of the
    points lie within ``radius`` of (each point counted for its nearest centre). The test clouds tell
    1 % from 0.5 %, 0.9 %, 1.5 %, 2 % and 10 %, a share from any fixed count of points, ``>=`` from
    ``>``, and a distance below ``radius`` from one below ``2 * radius`` or ``sqrt(radius)``."""
    expect_signature(fn, "modes_covered", "(points, centres, radius)", torch.zeros(4, 2), torch.zeros(2, 2), 0.25)
    with _one_thread():
        return _check_modes_covered(fn)


def _check_modes_covered(fn: Callable[..., Any]) -> str:
    cases = _mode_cases()
    expected = [count_modes(points, centres, radius)[0] for _, points, centres, radius in cases]
    got = []
    for name, points, centres, radius in cases:
        out = fn(points.clone(), centres.clone(), radius)
        if hasattr(out, "item") and getattr(out, "numel", lambda: getattr(out, "size", 1))() == 1:
            out = out.item()  # a 1-element tensor or a numpy scalar
        if isinstance(out, bool) or not isinstance(out, (int, float)) or (isinstance(out, float) and not out.is_integer()):
            raise Wrong(f"modes_covered should return a whole number of modes (int), got {type(out).__name__} {out!r}")
        got.append(int(out))
    if got == expected:
        return (f"modes_covered agrees with count_modes on {len(cases)} clouds (healthy, collapsed, strays, shares "
                "of 0.5-5 %, small and large clouds, points between radius and 2 * radius)")
    for i, (name, points, centres, radius) in enumerate(cases):
        if got[i] > len(centres):
            raise Wrong(f"for {name}: expected {expected[i]}, got {got[i]}, more than the {len(centres)} centres: "
                        "count modes (centres), not points")
    for hint, slip in _modes_slips():
        if [slip(p, c, r) for _, p, c, r in cases] == got:
            i = next(j for j in range(len(cases)) if got[j] != expected[j])
            raise Wrong(f"for {cases[i][0]}: expected {expected[i]}, got {got[i]}: {hint}")
    i = next(j for j in range(len(cases)) if got[j] != expected[j])
    raise Wrong(f"for {cases[i][0]}: expected {expected[i]} modes, got {got[i]}. Take each point's nearest centre "
                "(torch.cdist(points, centres).min(1)), keep points closer than radius, count points per centre "
                "and the centres with at least 1 % of all points")


def _around(centre: torch.Tensor, n: int, dist: float) -> torch.Tensor:
    """``n`` points at exactly ``dist`` from ``centre``, spread around it."""
    angle = torch.arange(n) * (2 * math.pi / max(n, 1)) + 0.1
    return centre + dist * torch.stack([angle.cos(), angle.sin()], 1)


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
    # 1,000 points: modes with 1.0 %, 1.1 %, 1.5 % and 5 % (covered), 0.9 % and 0.5 % (not), the rest on mode 5
    shares = torch.cat([_around(c8[i], n, 0.05) for i, n in ((0, 10), (1, 9), (2, 15), (3, 50), (4, 5), (6, 11),
                                                             (5, 900))])
    # 100 points: one point is 1 % (covered); 2,000 points: 18 = 0.9 % (not), 24 = 1.2 % (covered)
    small = torch.cat([_around(c8[0], 1, 0.05), _around(c8[4], 99, 0.05)])
    large = torch.cat([_around(c8[1], 18, 0.05), _around(c8[6], 24, 0.05), _around(c8[2], 1958, 0.05)])
    # twins: the same shares (1, 2, 4, 8, 16 and 69 %) of 100 and of 2,000 points. A share rule counts the same
    # modes in both; a fixed number of points does not
    twin_small, twin_large = (torch.cat([_around(c8[i], round(n * share), 0.05)
                                         for i, share in enumerate((0.01, 0.02, 0.04, 0.08, 0.16, 0.69))])
                              for n in (100, 2000))
    # radius 0.25: 200 points at 0.1 (inside), 200 at 0.375 and 200 at 0.45 (between radius and 2 * radius)
    annuli = torch.cat([_around(c8[0], 200, 0.1), _around(c8[2], 200, 0.375), _around(c8[5], 200, 0.45)])
    # radius 0.16: inside at 0.1; 0.28 lies between radius and 2 * radius; 0.36 between 2 * radius and sqrt(radius) = 0.4
    annuli2 = torch.cat([_around(c8[1], 200, 0.1), _around(c8[3], 200, 0.28), _around(c8[6], 200, 0.36)])
    return [("a healthy ring (8 modes)", healthy, c8, 0.25), ("a collapsed run", collapsed, c8, 0.25),
            ("in between", between, c8, 0.25), ("a few strays", strays, c8, 0.25),
            ("a partial run", partial, c8, 0.25), ("3 centres, radius 0.4", tri, c3, 0.4),
            ("1,000 points with modes at 1 %, 1.1 %, 0.9 %, 0.5 %, 1.5 % and 5 %", shares, c8, 0.25),
            ("100 points, one of them alone on a mode (1 %)", small, c8, 0.25),
            ("2,000 points with modes at 0.9 % (18 points) and 1.2 % (24)", large, c8, 0.25),
            ("100 points: 1, 2, 4, 8, 16 and 69 on six modes", twin_small, c8, 0.25),
            ("2,000 points: 20, 40, 80, 160, 320 and 1,380 on six modes", twin_large, c8, 0.25),
            ("points at 0.1, 0.375 and 0.45 from three centres, radius 0.25", annuli, c8, 0.25),
            ("points at 0.1, 0.28 and 0.36 from three centres, radius 0.16", annuli2, c8, 0.16)]


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


# ---------------------------------------------------------------- the training step (gan_step)
_STEP_BATCH, _STEP_LATENT, _STEP_SGD_LR = 32, 4, 0.1


def package_gan_step(G: torch.nn.Module, D: torch.nn.Module, opt_g: torch.optim.Optimizer,
                     opt_d: torch.optim.Optimizer, x: torch.Tensor, z_d: torch.Tensor,
                     z_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of :class:`~genimg_course.gan.GANTask` ``(G, D, reuse_fakes=False)`` with the given
    optimisers and codes (``z_d`` for D's update, ``z_g`` for G's): what :func:`check_gan_step`
    compares the learner's step with, and what lesson 02 runs when that step is not written yet.
    Returns ``(d_loss, g_loss)`` as 0-dim tensors."""
    task = GANTask(G, D, reuse_fakes=False)
    task.optimizers = {"G": opt_g, "D": opt_d}
    codes = iter((z_d, z_g))
    task.sample_z = lambda n, device=None: next(codes)  # D's step draws first, then G's
    out = task.step(x, StepContext(x.device, None))
    return out["d_loss"], out["g_loss"]


def _step_problem(seed: int) -> dict[str, Any]:
    """A small seeded toy: G (4-d codes -> 2-d points), D, a batch of ring points, two batches of codes,
    and gradients 'left over from a previous step' (to show a missing zero_grad)."""
    with torch.random.fork_rng(devices=[]):  # the learner's global random stream is left alone
        torch.manual_seed(seed)
        G, D = MLPGenerator(latent_dim=_STEP_LATENT, hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2)
        c = ring_centres(8, 2.0)
        x = c[torch.randint(0, 8, (_STEP_BATCH,))] + 0.05 * torch.randn(_STEP_BATCH, 2)
        z_d, z_g = torch.randn(_STEP_BATCH, _STEP_LATENT), torch.randn(_STEP_BATCH, _STEP_LATENT)
        stale = {name: [0.5 * torch.randn_like(p) for p in net.parameters()] for name, net in (("G", G), ("D", D))}
    return dict(G=G, D=D, x=x, z_d=z_d, z_g=z_g, stale=stale)


def _params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def _grads(loss: torch.Tensor, net: torch.nn.Module) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(net.parameters()), retain_graph=True))


def _same(a: list[torch.Tensor], b: list[torch.Tensor], rel: float = 1e-3) -> bool:
    va, vb = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return bool(torch.isfinite(va).all()) and float((va - vb).norm()) <= rel * float(vb.norm()) + 1e-7


def _d_step_variants(p: dict[str, Any]) -> list[tuple[str | None, Callable[[], list[torch.Tensor]]]]:
    """D's gradient for the right step (hint None) and for each common slip, at D's and G's start weights."""
    G, D, x, z_d, z_g, b = p["G"], p["D"], p["x"], p["z_d"], p["z_g"], _STEP_BATCH
    with torch.no_grad():
        fake, fake_g = G(z_d), G(z_g)
    r, f = D(x), D(fake)
    right = _grads(F.softplus(-r).mean() + F.softplus(f).mean(), D)
    return [
        (None, lambda: right),
        ("D's gradients accumulated onto the ones left from the previous step: call opt_d.zero_grad() before "
         "D's backward (PyTorch adds new gradients to .grad; it never clears them by itself)",
         lambda: [g + s for g, s in zip(right, p["stale"]["D"])]),
        ("D's labels are swapped: D must call the real points real (label 1: -log D(x)) and the fakes fake "
         "(label 0: -log(1 - D(G(z))))", lambda: _grads(F.softplus(r).mean() + F.softplus(-f).mean(), D)),
        ("D's loss is half of GANTask's: you averaged the real and the fake term; V(D, G) adds them, "
         "-E[log D(x)] - E[log(1 - D(G(z)))]", lambda: [0.5 * g for g in right]),
        ("D's loss is summed over the batch: take the mean of each term (the loss, and the step, would grow "
         "with the batch size)", lambda: [b * g for g in right]),
        ("D's loss has only its real term: add the fakes' term -E[log(1 - D(G(z_d)))]",
         lambda: _grads(F.softplus(-r).mean(), D)),
        ("D's loss has only its fake term: add the real points' term -E[log D(x)]",
         lambda: _grads(F.softplus(f).mean(), D)),
        ("D was trained on fakes made from z_g: D's step uses the codes z_d, G's step the fresh codes z_g",
         lambda: _grads(F.softplus(-r).mean() + F.softplus(D(fake_g)).mean(), D)),
    ]


def _g_step_variants(p: dict[str, Any], D_after: torch.nn.Module) -> list[tuple[str | None, Callable[[], list[torch.Tensor]]]]:
    """G's gradient for the right step (hint None, scored by D after its update) and for each common slip."""
    G, D, z_d, z_g, b = p["G"], p["D"], p["z_d"], p["z_g"], _STEP_BATCH
    f = D_after(G(z_g))
    right = _grads(F.softplus(-f).mean(), G)
    return [
        (None, lambda: right),
        ("G's gradients accumulated onto the ones left from the previous step: call opt_g.zero_grad() before "
         "G's backward", lambda: [g + s for g, s in zip(right, p["stale"]["G"])]),
        ("that is the saturating loss E[log(1 - D(G(z)))] of the minimax game: G's step uses the "
         "non-saturating -E[log D(G(z))] (exercise 2)", lambda: _grads(-F.softplus(f).mean(), G)),
        ("G's labels are swapped: G's loss -E[log(1 - D(G(z)))] (label 0, D's target for fakes) trains G to "
         "look *more* fake; G wants D to say real (label 1): -E[log D(G(z))]", lambda: _grads(F.softplus(f).mean(), G)),
        ("G's loss is summed over the batch: take the mean", lambda: [b * g for g in right]),
        ("G's step used the codes z_d, the fakes D was just trained on: draw G's fakes from the fresh codes "
         "z_g (Goodfellow et al.'s Algorithm 1, GANTask(reuse_fakes=False))",
         lambda: _grads(F.softplus(-D_after(G(z_d))).mean(), G)),
        ("G's loss was scored by D *before* D's update: compute D(G(z_g)) after opt_d.step()",
         lambda: _grads(F.softplus(-D(G(z_g))).mean(), G)),
    ]


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Networks and clouds this small run faster on one thread (and a busy machine's threads fight);
    the learner's setting is put back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)



def _match_update(delta: list, variants: list, hint_prefix: str, otherwise: str) -> None:
    """``delta`` (the gradient a network was stepped with) against ``variants``: ``[(hint, grads)]``,
    the right step first, then the named slips. Raises :class:`Wrong` with the matching slip's hint,
    or ``otherwise``, unless it equals the right step."""
    if _same(delta, variants[0][1]()):
        return
    for hint, grads in variants[1:]:
        if _same(delta, grads()):
            raise Wrong(hint_prefix + hint)
    raise Wrong(otherwise)

@check
def check_gan_step(fn: Callable[..., Any]) -> str:
    """``fn(G, D, opt_g, opt_d, x, z_d, z_g)``: one GAN training step — D's update on the real batch
    ``x`` and the *detached* fakes ``G(z_d)`` with the BCE-with-logits loss, then G's non-saturating
    update on fresh fakes ``G(z_g)`` scored by the updated D — returning ``(d_loss, g_loss)``.
    Checked by one seeded step against ``GANTask(reuse_fakes=False)`` (:func:`package_gan_step`):
    first with plain SGD (a step proportional to the gradient, so each slip shows in the weights),
    then with GANTask's own Adam."""
    with _one_thread():
        return _check_gan_step(fn)


def _check_gan_step(fn: Callable[..., Any]) -> str:
    p = _step_problem(0)
    expect_signature(fn, "gan_step", "(G, D, opt_g, opt_d, x, z_d, z_g)", p["G"], p["D"], None, None, p["x"],
                     p["z_d"], p["z_g"])
    G, D = copy.deepcopy(p["G"]), copy.deepcopy(p["D"])
    G0, D0 = _params(G), _params(D)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=_STEP_SGD_LR), torch.optim.SGD(D.parameters(), lr=_STEP_SGD_LR)
    for name, net in (("G", G), ("D", D)):
        for q, s in zip(net.parameters(), p["stale"][name]):
            q.grad = s.clone()  # left over from "the previous step"
    events: list[str] = []
    after_d: list[list[torch.Tensor]] = []
    handles = [q.register_hook(lambda g, n=name: events.append(f"{n} grad") or None)
               for name, net in (("G", G), ("D", D)) for q in net.parameters()]
    handles += [opt_d.register_step_pre_hook(lambda *a: events.append("opt_d.step")),
                opt_g.register_step_pre_hook(lambda *a: events.append("opt_g.step")),
                opt_d.register_step_post_hook(lambda *a: after_d.append(_params(D)) if len(after_d) == 0 else None)]
    try:
        out = fn(G, D, opt_g, opt_d, p["x"].clone(), p["z_d"].clone(), p["z_g"].clone())
    except RuntimeError as e:
        text = str(e)
        if "modified by an inplace operation" in text:
            raise Wrong("autograd found D's weights changed under a graph it still needed: G's loss was computed with "
                        "D before D's update. Compute D(G(z_g)) after opt_d.step()") from None
        if "backward through the graph a second time" in text:
            raise Wrong("the graph through G was already used by D's backward: make D's fakes with .detach() (or "
                        "under torch.no_grad()), and G's fakes afresh from z_g") from None
        raise
    finally:
        for h in handles:
            h.remove()
    n_d, n_g = events.count("opt_d.step"), events.count("opt_g.step")
    if n_d == 0:
        raise Wrong("D was not updated through opt_d: after D's backward, call opt_d.step() (the optimiser you are "
                    "given, not a new one)")
    if n_g == 0:
        raise Wrong("G was not updated through opt_g: after G's backward, call opt_g.step() (the optimiser you are "
                    "given, not a new one)")
    if n_g > 1:
        raise Wrong(f"opt_g.step() ran {n_g} times: one gan_step updates G once")
    first_d = events.index("opt_d.step")
    if events.index("opt_g.step") < first_d:
        raise Wrong("G was updated before D: first D's step (on the real batch and the fakes of z_d), then G's step "
                    "against the updated D")
    if "G grad" in events[:first_d]:
        raise Wrong("D's loss backpropagated into G's weights: D's step must use detached fakes, "
                    "D(G(z_d).detach()) (or make them under torch.no_grad()). Without detach, D's loss also fills G's "
                    ".grad — gradients that push G the wrong way unless a zero_grad happens to clear them — and "
                    "costs a backward pass through G")
    if n_d > 1:
        raise Wrong(f"opt_d.step() ran {n_d} times: D's weights moved again during G's step. G's backward also "
                    "fills D's .grad; only opt_g.step() may follow it")
    D_final = _params(D)
    if not _same([a - b for a, b in zip(D_final, after_d[0])], [torch.zeros_like(t) for t in D_final], rel=0.0):
        raise Wrong("D's weights moved during G's step (after opt_d.step()): G's step may update only G")
    d_delta = [(a - b) / -_STEP_SGD_LR for a, b in zip(D_final, D0)]  # the gradient D was stepped with
    _match_update(d_delta, _d_step_variants(p), "D's update differs from GANTask's: ",
                  "D's update differs from GANTask's step: D's loss is -E[log D(x)] - E[log(1 - D(G(z_d)))] on the "
                    "real batch x and the detached fakes G(z_d), from logits: F.softplus(-a) = -log sigmoid(a) and "
                    "F.softplus(a) = -log(1 - sigmoid(a)); then opt_d.zero_grad(), backward, opt_d.step()")
    D_ref = copy.deepcopy(p["D"])
    with torch.no_grad():
        for q, v in zip(D_ref.parameters(), D_final):
            q.copy_(v)
    g_delta = [(a - b) / -_STEP_SGD_LR for a, b in zip(_params(G), G0)]
    _match_update(g_delta, _g_step_variants(p, D_ref), "D's update is right; G's is not: ",
                  "D's update is right; G's differs from GANTask's: G's loss is -E[log D(G(z_g))] on fresh fakes "
                    "G(z_g), scored by the updated D (not detached: G learns through D), then opt_g.zero_grad(), "
                    "backward, opt_g.step()")
    _check_losses(out, p)
    q = _step_problem(1)  # the same step with GANTask's own optimiser, Adam, on another seed
    G1, D1, G2, D2 = copy.deepcopy(q["G"]), copy.deepcopy(q["D"]), copy.deepcopy(q["G"]), copy.deepcopy(q["D"])
    ref = GANTask(G2, D2, reuse_fakes=False)
    package_gan_step(G2, D2, ref.optimizers["G"], ref.optimizers["D"], q["x"], q["z_d"], q["z_g"])
    mine = GANTask(G1, D1, reuse_fakes=False).optimizers  # Adam with GANTask's lr and betas
    fn(G1, D1, mine["G"], mine["D"], q["x"].clone(), q["z_d"].clone(), q["z_g"].clone())
    for name, a, b in (("G", G1, G2), ("D", D1, D2)):
        if not all(torch.allclose(u, v, atol=1e-6, rtol=1e-5) for u, v in zip(a.parameters(), b.parameters())):
            raise Wrong(f"with plain SGD your step matched GANTask's, but with Adam {name}'s weights differ: use the "
                        "optimisers you are given (opt_d, opt_g), once each, and nothing else that changes the weights")
    return ("gan_step matches one GANTask(reuse_fakes=False) step: D on the detached fakes of z_d, then G's "
            "non-saturating step on the fresh fakes of z_g against the updated D, with SGD and with Adam")


def _loss_value(v: Any, what: str) -> float:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return float(v.detach())
    if hasattr(v, "item") and getattr(v, "size", 1) == 1:  # a numpy scalar
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Wrong(f"the weights are right; return the two losses (d_loss, g_loss) as numbers or 0-dim tensors, "
                    f"got {describe(v)} for {what}")
    return float(v)


def _check_losses(out: Any, p: dict[str, Any]) -> None:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Wrong(f"both updates are right; now return the two losses as a pair (d_loss, g_loss) — the lesson "
                    f"plots them — got {describe(out)}")
    d_got, g_got = _loss_value(out[0], "d_loss"), _loss_value(out[1], "g_loss")
    G, D = copy.deepcopy(p["G"]), copy.deepcopy(p["D"])
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=_STEP_SGD_LR), torch.optim.SGD(D.parameters(), lr=_STEP_SGD_LR)
    d_ref, g_ref = (float(v) for v in package_gan_step(G, D, opt_g, opt_d, p["x"], p["z_d"], p["z_g"]))
    if close(d_got, g_ref) and close(g_got, d_ref) and not close(d_ref, g_ref):
        raise Wrong(f"both updates are right, but the losses come back swapped: return (d_loss, g_loss), got "
                    f"({d_got:.4f}, {g_got:.4f}), expected ({d_ref:.4f}, {g_ref:.4f})")
    if not close(d_got, d_ref, rel=1e-3, abs_=1e-5):
        raise Wrong(f"both updates are right, but the d_loss you return is {d_got:.4f}, expected {d_ref:.4f}: return "
                    "the loss D was stepped with, -E[log D(x)] - E[log(1 - D(G(z_d)))]")
    if not close(g_got, g_ref, rel=1e-3, abs_=1e-5):
        raise Wrong(f"both updates are right, but the g_loss you return is {g_got:.4f}, expected {g_ref:.4f}: return "
                    "the loss G was stepped with, -E[log D(G(z_g))]")
