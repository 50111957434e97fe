"""Checks for lesson 08 (neural style transfer). Each runs in well under a second on a CPU.

* :func:`check_gram_matrix` — ``(B, C, H, W)`` → ``(B, C, C)``, ``F Fᵀ / (C·H·W)`` per image, compared
  with :func:`genimg_course.style.gram_matrix` on a batch of two with C, H and W all different; names
  the missing normalisation, a division by C, by H·W, by B·C·H·W or by C²·H·W, ``Fᵀ F`` (an
  ``(HW, HW)`` matrix), the batch merged into the channels, a covariance (means removed), and a
  detached result (no gradient reaches the pixels).
* :func:`check_style_loss` — ``Σ_l w_l · MSE(G(x_l), G(s_l))`` over a list of three layers whose
  style maps have another size than the result's; names the weights ignored, squared or applied
  to the Grams, a mean over layers, a sum of squared errors, the features compared instead of their
  Gram matrices, and the Gram matrix without its normalisation.
* :func:`check_total_variation` — the anisotropic L1 TV, ``mean|∂y| + mean|∂x|``; names the squared
  differences, one direction only, sums for means, the isotropic ``√(∂x² + ∂y²)`` and one mean over
  both directions' differences pooled.
* :func:`check_receptive_field` — the receptive field of :class:`~genimg_course.style.RandomFeatures`
  from its kernel sizes (a 2×2 average pool between blocks), compared with the package's on four
  architectures; names the pools forgotten, the pool's own width forgotten, and the strides applied
  one block too early.
* :func:`check_pixel_step` — one step on the pixels through a closure, for Adam and for L-BFGS, the
  pixels clamped to [0, 1] in place afterwards, the loss returned as a tensor; compared with a
  reference on an 8×8 image; names a missing clamp (or one that rebinds the name), a missing
  ``zero_grad``, a step without the closure, a closure that returns nothing, an in-place clamp under
  autograd, and ``.item()``.
* :func:`check_pixel_lr` — Adam's learning rate for pixels in [0, 1]: the check measures that Adam's
  first step moves every pixel by ``lr`` whatever the gradient's scale, then asks for a learning rate
  between 0.005 and 0.1 and names the network default 1e-3 and steps of half the range or more.

Each leaves torch's global random state as it found it.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .. import style as S
from . import Wrong, check, expect_signature
from ._tensors import returned_tensor, same_values

__all__ = ["check_gram_matrix", "check_style_loss", "check_total_variation", "check_receptive_field",
           "check_pixel_step", "check_pixel_lr"]

_same = functools.partial(same_values, rtol=1e-4, atol=1e-7)


def _fmt(t: torch.Tensor, n: int = 3) -> str:
    flat = t.detach().double().flatten()
    items = ", ".join(f"{v:.4g}" for v in flat[:n].tolist())
    return f"[{items}{', …' if flat.numel() > n else ''}]"


def _num(t: torch.Tensor) -> str:
    return f"{float(t.detach().double().reshape(())):.5g}"


def _first_hit(got: torch.Tensor, slips: list[tuple[torch.Tensor, str]], **tol: float) -> str | None:
    for value, hint in slips:
        if tuple(value.shape) == tuple(got.shape) and same_values(got, value, **tol):
            return hint
    return None


# ---------------------------------------------------------------- 1. the Gram matrix

def _gram_problem() -> torch.Tensor:
    g = torch.Generator().manual_seed(80)
    return torch.relu(torch.randn(2, 4, 3, 5, generator=g)) + 0.1  # B=2, C=4, H=3, W=5: every size different


_GRAM_X = _gram_problem()
_GRAM_FORMULA = "G = F Fᵀ / (C·H·W) with F = features.reshape(B, C, H*W): f @ f.transpose(1, 2) / (C * H * W)"


def _gram_slips(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    raw = f @ f.transpose(1, 2)
    centred = f - f.mean(2, keepdim=True)
    return [
        (raw, f"no normalisation: the raw sum F Fᵀ grows with the number of positions H·W, so the style loss of a "
              f"512 px image would be 16² times that of a 128 px one and one style weight cannot serve both. "
              f"Divide by C·H·W = {c * h * w}"),
        (raw / c, f"you divided by C = {c} only: divide by C·H·W = {c * h * w}, so that a Gram entry is a mean over "
                  "the H·W positions (scaled by 1/C) and does not grow with the image size"),
        (raw / (h * w), f"you divided by H·W = {h * w}: that is the mean over positions, also size-free, but the "
                        f"course's convention (and the style weight 1e5 of this lesson) is C·H·W = {c * h * w}"),
        (raw / (b * c * h * w), f"you divided by B·C·H·W = {b * c * h * w}: the PyTorch tutorial's a*b*c*d has its "
                                f"batch of one; with a batch of {b} each image's Gram would shrink with the batch "
                                f"size. Divide by C·H·W = {c * h * w}"),
        (raw / (c * c * h * w), f"you divided by C²·H·W: Gatys et al.'s 1/(4 N² M²) belongs in the *loss* (their E_l "
                                f"squares the Gram difference); the Gram itself is divided by C·H·W = {c * h * w}"),
        (centred @ centred.transpose(1, 2) / (c * h * w),
         "you removed each channel's mean first: that is a covariance. Gatys et al.'s Gram matrix keeps the means "
         "(they carry the average colour and brightness of the style): F Fᵀ / (C·H·W)"),
    ]


@check
def check_gram_matrix(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(features)`` with ``features (B, C, H, W)`` must return ``(B, C, C)``: entry ``(b, i, j)`` the
    sum over positions of channel i times channel j of image b, divided by ``C·H·W``; differentiable."""
    x = _GRAM_X
    b, c, h, w = x.shape
    expect_signature(fn, "gram_matrix", "(features)", x)
    arg = x.clone().requires_grad_(True)
    got = returned_tensor(fn(arg), "gram_matrix", "the Gram matrices, shape (B, C, C)")
    if not torch.equal(arg.detach(), x):
        raise Wrong("your function changed the features in place: compute on a new tensor")
    want = S.gram_matrix(x)
    if tuple(got.shape) != (b, c, c):
        if tuple(got.shape) == (b, h * w, h * w):
            raise Wrong(f"you returned shape {tuple(got.shape)} = (B, H·W, H·W): that is Fᵀ F, the similarity of "
                        f"positions. The Gram matrix correlates *channels*: F Fᵀ with F = (B, C, H·W), "
                        f"f @ f.transpose(1, 2), shape (B, C, C) = ({b}, {c}, {c})")
        if tuple(got.shape) == (c, c):
            raise Wrong(f"you returned one ({c}, {c}) matrix for a batch of {b}: a reshape to (C, -1) merges the "
                        f"images of the batch into one. Keep the batch: features.reshape(B, C, H * W), then a batched "
                        f"product, shape (B, C, C) = ({b}, {c}, {c})")
        if tuple(got.shape) == (b * c, b * c):
            raise Wrong(f"you returned shape {tuple(got.shape)}: the batch and the channels were merged "
                        f"(reshape(B * C, -1)). Keep them apart: features.reshape(B, C, H * W), shape (B, C, C)")
        raise Wrong(f"for features of shape {tuple(x.shape)} return (B, C, C) = ({b}, {c}, {c}), got "
                    f"{tuple(got.shape)}: {_GRAM_FORMULA}")
    if not _same(got, want):
        hint = _first_hit(got.detach(), _gram_slips(x), rtol=1e-4, atol=1e-7)
        raise Wrong(f"G[0, 0, :3] should be {_fmt(want[0, 0])}, yours is {_fmt(got[0, 0])}: {hint or _GRAM_FORMULA}")
    if not got.requires_grad:
        raise Wrong("the values are right, but no gradient flows back to the features (a .detach(), .numpy() or "
                    "torch.no_grad() inside?): style transfer differentiates the Gram matrix with respect to the pixels")
    big = x.repeat(1, 1, 2, 2)
    return (f"G = F Fᵀ / (C·H·W), shape {tuple(got.shape)}. The normalisation makes it size-free: the same maps tiled "
            f"2×2 (4× the positions) give the same Gram, {_num(S.gram_matrix(big)[0, 0, 0])} vs "
            f"{_num(want[0, 0, 0])}; without it, {_num((big.reshape(b, c, -1) @ big.reshape(b, c, -1).transpose(1, 2))[0, 0, 0])} "
            f"vs {_num((x.reshape(b, c, -1) @ x.reshape(b, c, -1).transpose(1, 2))[0, 0, 0])}")


# ---------------------------------------------------------------- 2. the style loss over layers

def _style_problem() -> tuple[list[torch.Tensor], list[torch.Tensor], list[float]]:
    g = torch.Generator().manual_seed(81)
    fx = [torch.relu(torch.randn(1, c, s, s, generator=g)) for c, s in ((3, 8), (5, 4), (6, 2))]
    fs = [torch.relu(torch.randn(1, c, s, s, generator=g) + 0.3) for c, s in ((3, 12), (5, 6), (6, 3))]
    return fx, fs, [1.0, 0.5, 2.0]


_SX, _SS, _SW = _style_problem()
_STYLE_FORMULA = "loss = Σ_l w_l · F.mse_loss(gram_matrix(feats_x[l]), gram_matrix(feats_style[l]))"


def _raw_gram(f: torch.Tensor) -> torch.Tensor:
    b, c = f.shape[:2]
    m = f.reshape(b, c, -1)
    return m @ m.transpose(1, 2)


def _style_slips(fx: list[torch.Tensor], fs: list[torch.Tensor], w: list[float]) -> list[tuple[torch.Tensor, str]]:
    g = S.gram_matrix
    per = [F.mse_loss(g(a), g(s)) for a, s in zip(fx, fs)]
    sse = [((g(a) - g(s)) ** 2).sum() for a, s in zip(fx, fs)]
    raw = [F.mse_loss(_raw_gram(a), _raw_gram(s)) for a, s in zip(fx, fs)]
    return [
        (sum(per), "the weights are ignored: multiply each layer's loss by its weight, w_l · MSE_l (weights=None "
                   "means 1 for every layer)"),
        (sum(wi * p for wi, p in zip(w, per)) / len(per), "you averaged over the layers: the style loss is the "
                                                          "weighted *sum* Σ_l w_l · MSE_l (the weights already say how "
                                                          "much each layer counts)"),
        (sum(wi ** 2 * p for wi, p in zip(w, per)), "the weights are squared: you multiplied the Grams (or features) "
                                                    "by the weight before the MSE. Weight the loss: w_l · MSE(G_x, G_s)"),
        (sum(wi * e for wi, e in zip(w, sse)), "you summed the squared differences: take their mean over the C×C "
                                               "entries, F.mse_loss(G_x, G_s)"),
        (sum(wi * r for wi, r in zip(w, raw)), "your Gram matrices are not normalised (is your gram_matrix the one of "
                                               "exercise 1, dividing by C·H·W?)"),
    ]


@check
def check_style_loss(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(feats_x, feats_style, weights=None)``: lists of ``(1, C_l, H_l, W_l)`` maps (the style maps of
    another size than the result's) → ``Σ_l w_l · MSE(G(x_l), G(s_l))``, a scalar tensor; ``weights=None``
    means 1 for every layer."""
    fx, fs, w = _SX, _SS, _SW
    expect_signature(fn, "style_loss", "(feats_x, feats_style, weights=None)", fx, fs, w)
    try:
        got = fn([f.clone() for f in fx], [f.clone() for f in fs], list(w))
    except RuntimeError as e:
        if "size" in str(e) or "shape" in str(e) or "match" in str(e):
            raise Wrong(f"your code raised RuntimeError ({str(e).splitlines()[0][:120]}): here the style maps are "
                        f"larger than the result's ({tuple(fs[0].shape)} vs {tuple(fx[0].shape)}), as when the style "
                        "image has another size. Compare Gram matrices (C×C whatever the size), not the feature "
                        "maps themselves") from None
        raise
    got = returned_tensor(got, "style_loss", "one number, a scalar tensor")
    if got.numel() != 1:
        raise Wrong(f"return one number (a scalar tensor), got shape {tuple(got.shape)}: sum the layers' losses")
    want = S.style_loss(fx, fs, w)
    if not _same(got.reshape(()), want):
        hint = _first_hit(got.detach().reshape(()), _style_slips(fx, fs, w), rtol=1e-4, atol=0)
        raise Wrong(f"expected {_num(want)}, got {_num(got)}: {hint or _STYLE_FORMULA}")
    try:
        unit = fn([f.clone() for f in fx], [f.clone() for f in fs])
    except TypeError as e:
        raise Wrong(f"right with weights, but calling it without weights failed ({e}): give weights a default, "
                    "weights=None, meaning 1 for every layer") from None
    unit = returned_tensor(unit, "style_loss", "one number, a scalar tensor")
    if not _same(unit.reshape(()), S.style_loss(fx, fs)):
        raise Wrong(f"right with weights, but with weights=None expected {_num(S.style_loss(fx, fs))}, got "
                    f"{_num(unit)}: no weights means 1 for every layer")
    # same-size maps: the features themselves would give another number than their Grams
    same = [f[..., : a.shape[-2], : a.shape[-1]] for f, a in zip(fs, fx)]
    direct = sum(wi * F.mse_loss(a, s) for wi, a, s in zip(w, fx, same))
    got2 = returned_tensor(fn([f.clone() for f in fx], [f.clone() for f in same], list(w)), "style_loss", "a scalar")
    if not _same(got2.reshape(()), S.style_loss(fx, same, w)):
        hint = ("you compared the feature maps, not their Gram matrices: the style loss must not care *where* a "
                "texture is, so compare G(x_l) with G(s_l)" if _same(got2.reshape(()), direct) else _STYLE_FORMULA)
        raise Wrong(f"right when the sizes differ, but for style maps of the result's size expected "
                    f"{_num(S.style_loss(fx, same, w))}, got {_num(got2)}: {hint}")
    per = [float(wi * F.mse_loss(S.gram_matrix(a), S.gram_matrix(s))) for wi, a, s in zip(w, fx, fs)]
    return (f"style loss {_num(want)} = " + " + ".join(f"{p:.3g}" for p in per)
            + f" (weights {w}); the style maps were {[tuple(f.shape[-2:]) for f in fs]}, the result's "
              f"{[tuple(f.shape[-2:]) for f in fx]}: Gram matrices compare textures of any size")


# ---------------------------------------------------------------- 3. total variation

def _tv_problem() -> torch.Tensor:
    g = torch.Generator().manual_seed(82)
    return torch.rand(2, 3, 5, 7, generator=g)


_TV_X = _tv_problem()
_TV_FORMULA = ("TV = mean |x[..., 1:, :] - x[..., :-1, :]| + mean |x[..., :, 1:] - x[..., :, :-1]| (vertical plus "
               "horizontal neighbours, each a mean)")


def _tv_slips(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    dy, dx = x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]
    return [
        (dy.pow(2).mean() + dx.pow(2).mean(), "you squared the differences (an L2 smoothness penalty, which blurs "
                                             "edges): the total variation takes their absolute value, |∂x| + |∂y|"),
        (dy.abs().mean(), "only the vertical differences: add the horizontal ones, mean |x[..., :, 1:] - x[..., :, :-1]|"),
        (dx.abs().mean(), "only the horizontal differences: add the vertical ones, mean |x[..., 1:, :] - x[..., :-1, :]|"),
        (dy.abs().sum() + dx.abs().sum(), "you summed the absolute differences: take means, so that the weight does "
                                          "not depend on the image size"),
        ((dy[..., :, :-1] ** 2 + dx[..., :-1, :] ** 2).sqrt().mean(),
         "that is the isotropic TV √(∂x² + ∂y²), whose gradient is undefined where the image is flat; the course uses "
         "the anisotropic |∂x| + |∂y|"),
        (torch.cat([dy.abs().flatten(), dx.abs().flatten()]).mean(),
         "you took one mean over the vertical and horizontal differences pooled: take each direction's mean, then add"),
        (dy.abs().mean() + dx.abs().mean() / 2, _TV_FORMULA),
    ]


@check
def check_total_variation(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(x)`` with images ``(B, C, H, W)`` must return the anisotropic L1 total variation, the mean
    absolute difference between vertical neighbours plus that between horizontal ones (a scalar tensor)."""
    x = _TV_X
    expect_signature(fn, "total_variation", "(x)", x)
    arg = x.clone()
    got = returned_tensor(fn(arg), "total_variation", "one number, a scalar tensor")
    if not torch.equal(arg, x):
        raise Wrong("your function changed the image in place: compute the differences as new tensors")
    if got.numel() != 1:
        raise Wrong(f"return one number (a scalar tensor), got shape {tuple(got.shape)}: take the means over everything")
    want = S.total_variation(x)
    if not _same(got.reshape(()), want):
        hint = _first_hit(got.detach().reshape(()), _tv_slips(x), rtol=1e-4, atol=0)
        raise Wrong(f"expected {_num(want)}, got {_num(got)}: {hint or _TV_FORMULA}")
    flat = torch.full((1, 3, 6, 6), 0.4)
    if float(fn(flat)) != 0.0:
        raise Wrong("a constant image must have a total variation of 0")
    step = torch.zeros(1, 1, 4, 5)
    step[..., 3:] = 1
    return (f"TV = {_num(want)} for these {tuple(x.shape)} random images. A vertical edge in a 4×5 image scores "
            f"{_num(S.total_variation(step))} (= 1/(W-1)), the same whether the edge is sharp or spread over a few "
            "columns: L1 TV removes speckle and keeps edges, where a squared penalty would blur them")


# ---------------------------------------------------------------- 4. the receptive field

_RF_CASES = [(3, 5, 7), (3,), (5, 5), (3, 3, 3, 3)]


def _rf_slips(ks: tuple[int, ...]) -> list[tuple[int, str]]:
    no_pool = 1 + sum(k - 1 for k in ks)
    rf_nowidth, jump = 1, 1
    for i, k in enumerate(ks):
        if i > 0:
            jump *= 2
        rf_nowidth += (k - 1) * jump
    early, jump = 1, 2
    for k in ks:
        early += (k - 1) * jump
        jump *= 2
    return [(no_pool, "you ignored the 2×2 average pools: after each pool a pixel of the map covers 2× as many "
                      "input pixels, so a later kernel's k - 1 extra taps count (k - 1)·jump input pixels, with "
                      "jump doubling at each pool"),
            (rf_nowidth, "you counted the pools' strides but not their width: a 2×2 pool itself widens the field by "
                         "(2 - 1)·jump before the jump doubles"),
            (early, "the first block works on the image itself (jump 1): double the jump only at the pools, which "
                    "come *between* blocks")]


@check
def check_receptive_field(fn: Callable[[tuple[int, ...]], int]) -> str:
    """``fn(kernel_sizes)``: the receptive field, in input pixels, of the deepest map of a
    :class:`~genimg_course.style.RandomFeatures` with those kernel sizes (block i: a ``k_i×k_i``
    convolution, stride 1; a 2×2 average pool, stride 2, between blocks). Compared with the package's
    ``receptive_field`` on four architectures."""
    from . import as_int

    expect_signature(fn, "receptive_field", "(kernel_sizes)", (3, 5, 7))
    for ks in _RF_CASES:
        got = as_int(fn(tuple(ks)), f"receptive_field({ks})")
        want = S.RandomFeatures(channels=(1,) * len(ks), kernel_sizes=ks).receptive_field
        if got != want:
            hint = next((h for v, h in _rf_slips(ks) if v == got), None)
            raise Wrong(f"for kernel sizes {ks} the deepest map sees {want} px, yours says {got}: "
                        f"{hint or 'rf = 1 + Σ (k - 1)·jump over the layers (pools are layers of width 2), jump = the product of the strides before the layer'}")
    return ("right: (3, 5, 7) sees 38 px (1 + 2 + 1 + 4·2 + 2 + 6·4 — the 7×7 kernel after two pools spans 25 px "
            "on its own). A style image smaller than that cannot fill even one deep feature: style.transfer refuses it")


# ---------------------------------------------------------------- 5. one step on the pixels

_TARGET = torch.linspace(-0.3, 1.3, 3 * 8 * 8).reshape(1, 3, 8, 8)  # partly outside [0, 1]: the clamp matters


def _loss_fn(x: torch.Tensor) -> torch.Tensor:
    return ((x - _TARGET) ** 2).sum() + 0.1 * (x ** 4).sum()


def _start() -> torch.Tensor:
    g = torch.Generator().manual_seed(83)
    return torch.rand(1, 3, 8, 8, generator=g).mul(0.8).add(0.1).requires_grad_(True)


def _opt(kind: str, x: torch.Tensor) -> torch.optim.Optimizer:
    return (torch.optim.Adam([x], lr=0.1) if kind == "adam"
            else torch.optim.LBFGS([x], lr=0.5, max_iter=1, history_size=10))


def _reference(kind: str, steps: int, slip: str = "") -> torch.Tensor:
    x = _start()
    opt = _opt(kind, x)
    for _ in range(steps):
        def closure() -> torch.Tensor:
            if slip != "no_zero_grad":
                opt.zero_grad()
            loss = _loss_fn(x)
            loss.backward()
            return loss

        opt.step(closure)
        if slip != "no_clamp":
            with torch.no_grad():
                x.clamp_(0, 1)
    return x.detach()


def _run_step(fn: Callable[..., Any], kind: str, steps: int) -> tuple[torch.Tensor, list[Any]]:
    x = _start()
    opt = _opt(kind, x)
    out = []
    for _ in range(steps):
        try:
            out.append(fn(x, opt, _loss_fn))
        except TypeError as e:
            msg = str(e)
            if "closure" in msg:
                raise Wrong("L-BFGS needs a closure: it re-evaluates the loss and its gradient itself. Define "
                            "`def closure(): optimizer.zero_grad(); loss = loss_fn(x); loss.backward(); return loss` and "
                            "call optimizer.step(closure) (Adam accepts the same call)") from None
            if "NoneType" in msg or "float()" in msg:
                raise Wrong("your closure returns nothing: L-BFGS reads the loss from the closure's return value, so "
                            "end it with `return loss`") from None
            raise
        except RuntimeError as e:
            if "leaf" in str(e) and "in-place" in str(e):
                raise Wrong("an in-place clamp of x while autograd records it: clamp under torch.no_grad(), "
                            "`with torch.no_grad(): x.clamp_(0, 1)`") from None
            if "backward through the graph a second time" in str(e):
                raise Wrong("the loss was back-propagated twice: compute it (loss_fn(x)) and call backward inside the "
                            "closure only, once per call") from None
            raise
    return x.detach(), out


@check
def check_pixel_step(fn: Callable[..., Any]) -> str:
    """``fn(x, optimizer, loss_fn)``: one step on the pixels ``x`` (a leaf with ``requires_grad``) through a
    closure (zero_grad, loss = loss_fn(x), backward, return loss) passed to ``optimizer.step``, then
    ``x`` clamped to [0, 1] in place (under ``torch.no_grad()``); returns the loss tensor. Compared with
    a reference for Adam (3 steps) and for L-BFGS (3 steps) on an 8×8 image whose target lies partly
    outside [0, 1]."""
    expect_signature(fn, "pixel_step", "(x, optimizer, loss_fn)", _start(), None, _loss_fn)
    with torch.random.fork_rng(devices=[]):
        for kind in ("adam", "lbfgs"):
            got, returned = _run_step(fn, kind, 3)
            want = _reference(kind, 3)
            if not _same(got, want):
                if float(got.min()) < -1e-6 or float(got.max()) > 1 + 1e-6:
                    if _same(got, _reference(kind, 3, "no_clamp")):
                        raise Wrong("the pixels left [0, 1] (min {:.2f}, max {:.2f}): clamp them after the step, in "
                                    "place, `with torch.no_grad(): x.clamp_(0, 1)` (`x = x.clamp(0, 1)` only rebinds "
                                    "the name inside your function; the optimiser's x is unchanged)"
                                    .format(float(got.min()), float(got.max())))
                    raise Wrong(f"the pixels left [0, 1] (min {float(got.min()):.2f}, max {float(got.max()):.2f}): "
                                "clamp them in place after the step, under torch.no_grad()")
                if _same(got, _reference(kind, 3, "no_zero_grad")):
                    raise Wrong("the gradients accumulate from step to step: call optimizer.zero_grad() at the start "
                                "of the closure (backward *adds* to x.grad)")
                if _same(_run_step(fn, kind, 1)[0], _reference(kind, 1)):
                    raise Wrong(f"one step matches, three do not ({kind}): is something kept between calls (a "
                                "gradient not zeroed, an optimiser made inside your function)?")
                raise Wrong(f"with {kind}, after 3 steps the pixels differ from the reference (max |difference| "
                            f"{float((got - want).abs().max()):.3g}): in the closure zero_grad, loss = loss_fn(x), "
                            "loss.backward(), return loss; then optimizer.step(closure) and the clamp")
            r = returned[-1]
            if r is None:
                raise Wrong("the pixels are right, but your step returns nothing: return the loss. If your closure "
                            "ends without `return loss`, optimizer.step(closure) returns None as well, and L-BFGS, "
                            "which reads the loss from the closure, cannot work")
            if isinstance(r, (float, int)) and not isinstance(r, bool):
                raise Wrong("return the loss as a tensor, not a Python number: .item() makes the CPU wait for the "
                            "GPU at every step")
            if not isinstance(r, torch.Tensor) or r.numel() != 1:
                raise Wrong(f"return the loss (a scalar tensor), got {type(r).__name__}")
    return ("your step works for Adam and L-BFGS: both call the closure (L-BFGS may call it several times per step, "
            "to measure curvature), and the clamp keeps the pixels an image")


# ---------------------------------------------------------------- 6. Adam's learning rate for pixels

def _adam_first_step(lr: float, scale: float) -> float:
    x = torch.full((1, 3, 16, 16), 0.5, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    g = torch.Generator().manual_seed(84)
    direction = torch.randn(x.shape, generator=g)
    (scale * (direction * x).sum()).backward()
    opt.step()
    return float((x.detach() - 0.5).abs().median())


@check
def check_pixel_lr(lr: Any) -> str:
    """``lr``: Adam's learning rate for optimising pixels in [0, 1]. The check measures Adam's first step
    (every pixel moves by ``lr``, whatever the gradient's scale), then accepts 0.005 ≤ lr ≤ 0.1."""
    if callable(lr):
        lr = lr()
    if isinstance(lr, torch.Tensor) and lr.numel() == 1:
        lr = float(lr)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise Wrong(f"give a positive number, the learning rate, got {lr!r}")
    moves = [_adam_first_step(float(lr), s) for s in (1e-4, 1.0, 1e4)]
    shown = ", ".join(f"{m:.3g}" for m in moves)
    if lr < 0.005:
        extra = (" That is the usual default for a network's *weights*, where a step of 0.001 in every weight "
                 "changes the output a lot; here a parameter is a pixel." if math.isclose(lr, 1e-3) else "")
        raise Wrong(f"lr = {lr:g} is too small for pixels: Adam's first step moved every pixel by {shown} for "
                    f"gradients of scale 1e-4, 1 and 1e4 — by lr, whatever the gradient. One grey level is 1/255 ≈ "
                    f"0.004, so moving a pixel by 0.3 takes at least {0.3 / lr:.0f} steps.{extra} Try 0.01 to 0.05")
    if lr > 0.1:
        raise Wrong(f"lr = {lr:g} is too large: every pixel moves by about {moves[1]:.2g} per step, "
                    f"{lr * 100:.0f} % of the whole [0, 1] range; the clamp then pins pixels at 0 and 1 and the "
                    "image fills with speckle. Try 0.01 to 0.05")
    return (f"lr = {lr:g}: Adam's first step moved every pixel by {shown} for gradients of scale 1e-4, 1 and 1e4. "
            "Adam divides by the gradient's running RMS, so lr is a step size in *pixel units*; "
            f"{lr:g} is {lr * 255:.1f} grey levels per step")
