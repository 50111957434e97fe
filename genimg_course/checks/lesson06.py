"""Checks for lesson 06 (image restoration with one U-Net). Each runs in well under a second on a CPU
(check_psnr's first call also imports torchmetrics).

* :func:`check_psnr` — PSNR by hand, ``10·log10(1 / MSE)`` per image with the MSE averaged over C, H
  and W, shape ``(B,)``, compared with :func:`genimg_course.restore.psnr` (torchmetrics) on images that
  differ at every pixel (so every PSNR is finite), then on a batch where one pair is identical: there
  the MSE is 0 and the PSNR +inf (``10·log10(1/0)`` is ``inf`` in torch and in torchmetrics); a value
  of at least 60 dB from a clamped MSE is accepted as well.
* :func:`check_pixel_shuffle` — sub-pixel up-sampling with reshape and permute only, ``(B, C·r², H, W)``
  → ``(B, C, r·H, r·W)``, compared with ``torch.nn.functional.pixel_shuffle`` for r = 2 and r = 3 with
  C > 1; calling ``F.pixel_shuffle`` or ``nn.PixelShuffle`` (under any name) is refused.
* :func:`check_unet_forward` — the forward pass of :class:`genimg_course.models.unet.UNet` without time
  input, written with the net's own modules (stem, down_blocks / downs with the skips, middle, ups /
  up_blocks with the skips concatenated, head, the residual), compared with ``net(x)`` on seeded U-Nets
  of depth 2 and 3, residual and not.
* :func:`check_restoration_step` — one training step that degrades the clean batch inside the step
  (fresh noise each call), predicts, takes the MSE against the clean batch, runs ``zero_grad``,
  ``backward`` and ``step``, and returns the loss as a tensor; compared with a reference step on a tiny
  seeded model with plain SGD (the weights after the step and the loss), then called a second time to
  see that the noise is drawn afresh.
* :func:`check_l2_colour` — the single ab colour that minimises the mean squared error over the colours
  a pixel takes in the training data: their mean, which for two colours on opposite sides of grey is grey.
* :func:`check_colour_reading` — :data:`COLOUR_QUESTIONS`: why an L2-trained colouriser paints in
  desaturated, sepia-like tones, and what a classification head with the annealed mean changes.

Each names the usual slips. The U-Net and step checks run on one intra-op thread (the learner's setting is
restored after), and every check leaves torch's global random state as it found it.
"""
from __future__ import annotations

import copy
import functools
import itertools
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .. import restore
from ..models.unet import UNet
from . import Wrong, check, close, expect_signature
from ._quiz import grade_letters, print_questions
from ._tensors import returned_tensor, same_values

__all__ = ["check_psnr", "check_pixel_shuffle", "check_unet_forward", "check_restoration_step", "check_l2_colour",
           "check_colour_reading", "COLOUR_QUESTIONS", "show_colour_questions"]

# ---------------------------------------------------------------- helpers


_tensor = returned_tensor  # the learner's answer as a float tensor, or a Wrong saying what came
_same = functools.partial(same_values, rtol=1e-5, atol=1e-6)  # same shape and values (NaN never matches)


def _fmt(t: torch.Tensor, n: int = 4, digits: int = 2) -> str:
    """The first ``n`` numbers of a tensor, e.g. ``[31.25, 19.40, …]``."""
    flat = t.detach().double().flatten()
    items = ", ".join(f"{v:.{digits}f}" for v in flat[:n].tolist())
    return f"[{items}{', …' if flat.numel() > n else ''}]"


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[n].double() - b[n].double()).abs().max()) for n in a)


def _single_threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a check on one intra-op thread, then restore the learner's setting: on a busy CPU, threaded small
    convolutions and GroupNorm run many times slower than on one thread (the U-Net check took 6 s on 2 threads
    of 2 loaded cores, 0.04 s on one)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(n)

    return wrapper


# ---------------------------------------------------------------- 1. PSNR by hand


def _psnr_problem() -> tuple[torch.Tensor, torch.Tensor]:
    """Four 3×8×8 image pairs in [0, 1] that differ at every pixel, by 0.015 to 0.15 (RMS)."""
    g = torch.Generator().manual_seed(60)
    y = 0.2 + 0.6 * torch.rand(4, 3, 8, 8, generator=g)
    size = torch.tensor([0.02, 0.05, 0.1, 0.19]).view(4, 1, 1, 1)
    magnitude = 0.5 + 0.5 * torch.rand(4, 3, 8, 8, generator=g)
    sign = torch.where(torch.rand(4, 3, 8, 8, generator=g) < 0.5, -1.0, 1.0)
    return y + size * magnitude * sign, y  # x in [0.01, 0.99]


_PSNR_X, _PSNR_Y = _psnr_problem()
_PSNR_FORMULA = "PSNR = 10·log10(1 / MSE) per image, with MSE = ((x - y)**2).mean(dim=(1, 2, 3))"
_RANGE_HINT = ("you took the data range from the images' values (their max, or max - min): PSNR uses the range of "
               "the format, 1 for images in [0, 1], so that the score does not depend on the picture's contrast: "
               + _PSNR_FORMULA)


def _mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((x.double() - y.double()) ** 2).flatten(1).mean(1)


def _psnr_slips(x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    mse = _mse(x, y)
    n = x[0].numel()
    lg = torch.log10
    slips = [
        (20 * lg(1 / mse), "20·log10 is for an amplitude: PSNR = 20·log10(1 / RMSE) = 10·log10(1 / MSE). The MSE is "
                           "a squared error (a power), so with the MSE use 10·log10"),
        (10 * lg(1 / mse.sqrt()), "you took 10·log10 of 1 / RMSE, half the PSNR: with the root of the MSE use "
                                  "20·log10(1 / RMSE), with the MSE itself 10·log10(1 / MSE)"),
        (10 * torch.log(1 / mse), "that is the natural log: torch.log is ln, decibels use log base 10 (torch.log10; "
                                  "ln v = 2.303·log10 v)"),
        (10 * lg(255 ** 2 / mse), "you used a peak of 255 (8-bit pixels), +48.13 dB: these images are floats in "
                                  "[0, 1], so the peak is 1: PSNR = 10·log10(1² / MSE)"),
        (10 * lg(255 / mse), "you used a peak of 255, not squared (+24.07 dB): these images are floats in [0, 1], so "
                             "the peak is 1: PSNR = 10·log10(1² / MSE)"),
        (10 * lg(4 / mse), "that is a data range of 2 (+6.02 dB), the range of images in [-1, 1] (scikit-image's "
                           "default for float images when data_range is not given): these are in [0, 1], range 1"),
        (10 * lg(1 / (mse * n)), f"you summed the squared errors over the C·H·W = {n} values of each image: the "
                                 f"MSE is their mean (the sum / {n}); with a sum, PSNR would depend on the image size"),
        (10 * lg(mse), "the sign is flipped: PSNR = 10·log10(1 / MSE) = -10·log10(MSE); a smaller error must give "
                       "a *higher* PSNR"),
        (mse, "you returned the MSE itself: PSNR is 10·log10(1 / MSE), in dB"),
        (10 * lg(1 / (x.double() - y.double()).abs().flatten(1).mean(1)),
         "you averaged the absolute differences: the MSE squares them, ((x - y)**2).mean(dim=(1, 2, 3))"),
    ]
    peaks = [y.double().max(), x.double().max(), y.double().max() - y.double().min(),
             x.double().max() - x.double().min(), y.double().flatten(1).amax(1),
             y.double().flatten(1).amax(1) - y.double().flatten(1).amin(1)]
    slips += [(10 * lg(p ** 2 / mse), _RANGE_HINT) for p in peaks]
    return slips


def _call_psnr(fn: Callable[..., Any], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xc, yc = x.clone(), y.clone()
    got = _tensor(fn(xc, yc), "psnr_by_hand", "one PSNR per image, shape (B,)")
    if not (torch.equal(xc, x) and torch.equal(yc, y)):
        raise Wrong("your function changed x or y in place (e.g. `x -= y`, `.sub_`, `.pow_`): compute the error as a "
                    "new tensor, d = x - y")
    return got


def _pooled(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(PSNR of the batch's mean MSE, mean of the per-image PSNRs), in dB."""
    mse = _mse(x, y)
    return float(10 * torch.log10(1 / mse.mean())), float((10 * torch.log10(1 / mse)).mean())


def _pooled_note(x: torch.Tensor, y: torch.Tensor) -> str:
    pooled, mean = _pooled(x, y)
    return (f"The PSNR of the batch's pooled MSE is {pooled:.2f} dB, the mean of the per-image PSNRs {mean:.2f} dB. "
            "They differ because log is concave: the mean of the logs is below the log of the mean (Jensen), so "
            "the pooled MSE, dominated by the worst image, gives the lower number. Papers and torchmetrics "
            "report one PSNR per image, then average")


@check
def check_psnr(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(x, y)`` with float batches ``(B, C, H, W)`` in [0, 1] must return the PSNR of each image in dB,
    shape ``(B,)``: ``10·log10(1 / MSE)`` with the MSE the mean over C, H and W (data range 1). Compared with
    :func:`genimg_course.restore.psnr` (torchmetrics) on four image pairs that differ at every pixel, then
    on a batch where one pair is identical (MSE 0): there +inf, or a clamped value of at least 60 dB, passes."""
    x, y = _PSNR_X, _PSNR_Y
    expect_signature(fn, "psnr_by_hand", "(x, y)", x, y)
    got = _call_psnr(fn, x, y)
    want = restore.psnr(x, y, reduction="none")
    if not _same(want, 10 * torch.log10(1 / _mse(x, y)), rtol=1e-5, atol=1e-3):
        raise RuntimeError("check_psnr's reference disagrees with restore.psnr (a bug in the check)")
    B = x.shape[0]
    tol = {"rtol": 1e-5, "atol": 1e-3}
    if tuple(got.shape) != (B,):
        if got.numel() == 1:
            pooled, mean = _pooled(x, y)
            note = ""
            if close(float(got.reshape(())), pooled, rel=1e-5, abs_=1e-3):
                note = " Yours is the PSNR of the MSE pooled over the whole batch."
            elif close(float(got.reshape(())), mean, rel=1e-5, abs_=1e-3):
                note = " Yours is the mean of the per-image PSNRs: right, once it is left to the caller."
            raise Wrong(f"return one PSNR per image, shape (B,) = ({B},), not one number: average the squared error "
                        f"over dims (1, 2, 3) only.{note} {_pooled_note(x, y)}")
        if got.dim() >= 2 and got.shape[0] == B and got[0].numel() == 1:
            raise Wrong(f"return shape (B,) = ({B},), got {tuple(got.shape)}: drop the kept dimensions "
                        "(keepdim=False, or .flatten())")
        if tuple(got.shape) == tuple(x.shape[:2]):
            raise Wrong(f"you returned one PSNR per image and channel, shape {tuple(got.shape)}: average the squared "
                        f"error over the channels too, .mean(dim=(1, 2, 3)), for shape (B,) = ({B},)")
        if tuple(got.shape) == (x.shape[1],):
            raise Wrong(f"you returned shape {tuple(got.shape)}, one value per channel: you averaged over the batch. "
                        f"Average over C, H and W of each image, dims (1, 2, 3), for shape (B,) = ({B},)")
        if got.dim() >= 2 and got.shape[0] == B:
            raise Wrong(f"you returned shape {tuple(got.shape)}: average the squared error over C, H and W of each "
                        f"image, ((x - y)**2).mean(dim=(1, 2, 3)), for one PSNR per image, shape (B,) = ({B},)")
        raise Wrong(f"for x and y of shape {tuple(x.shape)} return one PSNR per image, shape (B,) = ({B},), got "
                    f"{tuple(got.shape)}")
    if torch.isnan(got).any():
        raise Wrong(f"the PSNR contains NaN ({_fmt(got, B)}): a log of a negative number or of 0/0? "
                    + _PSNR_FORMULA)
    if torch.isinf(got).any():
        raise Wrong(f"you got {_fmt(got, B)}: an infinite PSNR means an MSE of 0, but these images differ at every "
                    "pixel. Compare x with y (not x with itself): " + _PSNR_FORMULA)
    if not _same(got, want, **tol):
        pooled = torch.full((B,), _pooled(x, y)[0], dtype=torch.float64)
        if _same(got, pooled, **tol):
            raise Wrong(f"every image got the same PSNR, {_fmt(got, 1)} dB: you pooled the MSE over the whole batch. "
                        f"Average over dims (1, 2, 3) only, one MSE per image. {_pooled_note(x, y)}")
        hint = None
        for value, h in _psnr_slips(x, y):
            if _same(got, value, **tol):
                hint = h
                break
        raise Wrong(f"expected {_fmt(want, B)} dB (torchmetrics), got {_fmt(got, B)}: {hint or _PSNR_FORMULA}")
    # one identical pair: MSE 0
    x_same = x.clone()
    x_same[1] = y[1]
    got2 = _call_psnr(fn, x_same, y)
    if tuple(got2.shape) != (B,):
        raise Wrong(f"right for images that differ, but for a batch with one identical pair the shape is "
                    f"{tuple(got2.shape)}, not (B,) = ({B},)")
    v = float(got2[1])
    if math.isnan(v):
        raise Wrong("right for images that differ, but for two identical images (MSE = 0) you get NaN: 1 / 0 is "
                    "+inf and 10·log10(inf) = +inf, the PSNR of a perfect copy; a NaN comes from 0 / 0 or log(0) "
                    "combined with a 0 factor. Use 10 * torch.log10(1 / mse) (or clamp the MSE, e.g. "
                    "mse.clamp_min(1e-10), 100 dB)")
    if not (v == math.inf or v >= 60.0):
        raise Wrong(f"right for images that differ, but two identical images (MSE = 0) get {v:.2f} dB: a perfect copy "
                    "has PSNR +inf (10·log10(1/0)). A clamp as small as mse.clamp_min(1e-10) (100 dB) is fine; this "
                    "value says the MSE used for that image is not 0 (a number added to it, a clamp that large, or "
                    "another image's error?)")
    if not _same(torch.cat([got2[:1], got2[2:]]), torch.cat([want[:1], want[2:]]), **tol):
        raise Wrong("right for one batch, but with one identical pair in the batch the other images' PSNRs changed: "
                    "compute each image's PSNR from its own MSE only")
    pooled, mean = _pooled(x, y)
    shown = "+inf" if v == math.inf else f"{v:.0f} dB (a clamped MSE)"
    return (f"PSNR by hand matches torchmetrics: {_fmt(got, B)} dB for errors of RMS "
            f"{_fmt(_mse(x, y).sqrt(), B, 3)}; identical images give {shown}. The mean of the per-image PSNRs, "
            f"{mean:.2f} dB, is above the PSNR of the pooled MSE, {pooled:.2f} dB: the worst image dominates a "
            "pooled MSE")


# ---------------------------------------------------------------- 2. PixelShuffle by reshape and permute

_SHUFFLE_CASES = [(2, 3, 2, 3, 4), (1, 2, 3, 2, 3)]  # (B, C, r, H, W): r = 2 and r = 3, C > 1, H != W
_SHUFFLE_RIGHT = "x.reshape(B, C, r, r, H, W).permute(0, 1, 4, 2, 5, 3).reshape(B, C, r * H, r * W)"
_PERMUTE_HINTS = {
    (0, 1, 2, 3, 4, 5): "you reshaped without permuting: the r·r sub-pixels of each pixel sit in the channel "
                        "axis, and a reshape alone lays them out as whole rows of the output. Move them next to H "
                        "and W first: view as (B, C, r, r, H, W), permute to (B, C, H, r, W, r)",
    (0, 1, 4, 3, 5, 2): "the two r axes are swapped (each r×r block comes out transposed): in (B, C, r, r, H, W) "
                        "the first r is the row offset inside the block and goes after H, the second is the column "
                        "offset and goes after W: permute(0, 1, 4, 2, 5, 3)",
    (0, 1, 2, 4, 3, 5): "you tiled instead of interleaving: (B, C, r, H, r, W) lays r×r whole low-resolution copies "
                        "side by side. Each input pixel must become one r×r block: (B, C, H, r, W, r), "
                        "permute(0, 1, 4, 2, 5, 3)",
    (0, 1, 3, 5, 2, 4): "you tiled instead of interleaving, with the r axes swapped as well: each input pixel must "
                        "become one r×r block, (B, C, H, r, W, r): permute(0, 1, 4, 2, 5, 3)",
    (0, 1, 4, 5, 2, 3): "(B, C, H, W, r, r) makes each output row a run of r·r sub-pixels of one input pixel: the "
                        "row offset goes right after H and the column offset right after W, (B, C, H, r, W, r): "
                        "permute(0, 1, 4, 2, 5, 3)",
}
_CHANNEL_ORDER = ("you split the channels as (r, r, C), the r² groups outer: F.pixel_shuffle makes output channel c "
                  "from the r² consecutive input channels c·r², …, c·r² + r² - 1 (C outer, r² inner): view as "
                  "(B, C, r, r, H, W), not (B, r, r, C, H, W)")


class _RefuseBuiltin(TorchFunctionMode):
    """Raise :class:`Wrong` when torch's own pixel_shuffle runs, whatever name it was called by."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.pixel_shuffle or func is F.pixel_shuffle:
            raise Wrong("this exercise is to write PixelShuffle yourself with reshape / view and permute: "
                        "F.pixel_shuffle and nn.PixelShuffle are what your function is compared with")
        return func(*args, **(kwargs or {}))


def _call_shuffle(fn: Callable[..., Any], x: torch.Tensor, r: int) -> Any:
    B, Cr2, H, W = x.shape
    C = Cr2 // r ** 2
    view = f"(B, C, r, r, H, W) = {(B, C, r, r, H, W)}"
    try:
        with _RefuseBuiltin():
            return fn(x, r)
    except RuntimeError as e:
        msg = str(e)
        if "is invalid for input of size" in msg:
            raise Wrong(f"a view or reshape failed ({_first_line(e)}): x has shape (B, C·r², H, W) = "
                        f"{tuple(x.shape)} with r = {r}, so C = x.shape[1] // r**2 = {C}; view it as {view} (with the "
                        "argument r, not a fixed number)") from None
        if "view size is not compatible with input tensor's size and stride" in msg:
            raise Wrong("`.view` after `.permute` fails: the permuted tensor is not contiguous in memory. Use "
                        "`.reshape(...)` (or `.contiguous().view(...)`) for the last step") from None
        if "don't match in permute" in msg or "number of dimensions in the tensor input does not match" in msg:
            raise Wrong(f"permute must name all six dimensions of the {view} view, e.g. permute(0, 1, 4, 2, 5, 3): "
                        f"{_first_line(e)}") from None
        raise
    except TypeError as e:
        if "float" in str(e):
            raise Wrong(f"a size is a float ({_first_line(e)}): C = x.shape[1] // r**2 with floor division `//`, "
                        "so every size passed to view / reshape is an int") from None
        raise


def _which_permute(x: torch.Tensor, r: int, got: torch.Tensor) -> str | None:
    """The view and permute that reproduce ``got``, among every order of the six axes of both ways of
    splitting the channels; ``None`` when no reshape-and-permute does."""
    B, Cr2, H, W = x.shape
    C = Cr2 // r ** 2
    views = [((B, C, r, r, H, W), "(B, C, r, r, H, W)"), ((B, r, r, C, H, W), "(B, r, r, C, H, W)")]
    for (shape, label), outer in zip(views, (False, True)):
        xv = x.reshape(shape)
        orders = list(_PERMUTE_HINTS) + list(itertools.permutations(range(6)))
        for p in orders:
            cand = xv.permute(p).reshape(B, C, r * H, r * W)
            if torch.equal(cand, got):
                if outer:
                    return f"{_CHANNEL_ORDER} (yours equals x.view{label}.permute{p})"
                if p in _PERMUTE_HINTS:
                    return _PERMUTE_HINTS[p]
                return (f"yours equals x.view{label}.permute{p}.reshape(B, C, r·H, r·W): the order must be "
                        "(B, C, H, r, W, r), permute(0, 1, 4, 2, 5, 3): H with its row offset, W with its column "
                        "offset")
    return None


@check
def check_pixel_shuffle(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> str:
    """``fn(x, r)`` with ``x (B, C·r², H, W)`` must return ``(B, C, r·H, r·W)`` with
    ``out[b, c, h·r + i, w·r + j] = x[b, c·r² + i·r + j, h, w]`` (``torch.nn.functional.pixel_shuffle``),
    using reshape / view and permute only. Checked for r = 2 and r = 3 with C > 1 and H != W."""
    B, C, r, H, W = _SHUFFLE_CASES[0]
    x0 = torch.arange(B * C * r * r * H * W, dtype=torch.float32).reshape(B, C * r * r, H, W)
    expect_signature(fn, "pixel_shuffle", "(x, r)", x0, r)
    for B, C, r, H, W in _SHUFFLE_CASES:
        x = torch.arange(B * C * r * r * H * W, dtype=torch.float32).reshape(B, C * r * r, H, W) / 10
        before = x.clone()
        where = f"for x of shape {tuple(x.shape)} and r = {r}"
        got = _tensor(_call_shuffle(fn, x, r), "pixel_shuffle", "the up-sampled images (B, C, r·H, r·W)")
        if not torch.equal(x, before):
            raise Wrong("your function changed x in place: reshape and permute return views; do not write into x")
        want = F.pixel_shuffle(x, r)
        shape = (B, C, r * H, r * W)
        if tuple(got.shape) != shape:
            if tuple(got.shape) == tuple(x.shape):
                raise Wrong(f"{where} you returned x's own shape: expected (B, C, r·H, r·W) = {shape}, each group "
                            "of r² channels becoming one channel r times taller and wider")
            if r != 2 and tuple(got.shape) == (B, C * r * r // 4, 2 * H, 2 * W):
                raise Wrong(f"{where} you returned {tuple(got.shape)}, the shape for r = 2: use the argument r, not "
                            f"a fixed 2; expected {shape}")
            if tuple(got.shape) == (B, C, r * W, r * H):
                raise Wrong(f"{where} expected (B, C, r·H, r·W) = {shape}, got {tuple(got.shape)}: H and W are "
                            "swapped (the last axes after the permute must be H, r, W, r in that order)")
            raise Wrong(f"{where} expected (B, C, r·H, r·W) = {shape}, got {tuple(got.shape)}: "
                        f"C = x.shape[1] // r**2 = {C} channels, each r = {r} times taller and wider")
        if got.dtype != x.dtype:
            raise Wrong(f"{where} you returned {got.dtype} for {x.dtype} input: reshape and permute keep the dtype")
        if torch.equal(got, want):
            continue
        hint = _which_permute(x, r, got)
        if hint is None:
            same_numbers = torch.equal(got.flatten().sort().values, x.flatten().sort().values)
            hint = ("the right numbers, in places no single reshape-and-permute gives: " + _SHUFFLE_RIGHT
                    if same_numbers else "the values changed: PixelShuffle only moves numbers (reshape, permute), it "
                                         "computes nothing")
        raise Wrong(f"{where} the shape is right, {shape}, but the values are not where F.pixel_shuffle puts them "
                    f"(out[0, 0, 0, :4] should be {_fmt(want[0, 0, 0], 4, 1)}, yours is {_fmt(got[0, 0, 0], 4, 1)}): "
                    f"{hint}")
    B, C, r, H, W = _SHUFFLE_CASES[0]
    x = torch.rand(B, C * r * r, H, W, generator=torch.Generator().manual_seed(6), requires_grad=True)
    out = _call_shuffle(fn, x, r)
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        raise Wrong("the values are right, but no gradient flows through your function (torch.tensor(...), .numpy() "
                    "or .detach()?): a network trains through its up-sampling, so stay with reshape and permute")
    return ("pixel_shuffle matches F.pixel_shuffle for r = 2 and r = 3: out[b, c, h·r + i, w·r + j] = "
            "x[b, c·r² + i·r + j, h, w]. A 1×1 (or 3×3) conv to C·r² channels followed by this rearrangement is "
            "sub-pixel convolution (Shi et al. 2016): each output pixel of an r×r block has its own filter, so "
            "nothing overlaps unevenly, unlike a stride-2 transposed convolution")


# ---------------------------------------------------------------- 3. the U-Net's forward pass


def _unet_cases() -> list[tuple[UNet, torch.Tensor]]:
    """Seeded U-Nets: depth 2 residual (pixelshuffle), depth 2 plain (transpose), depth 3 plain with 2 output
    channels (resize); the head re-initialised at random (a residual UNet starts with a zero head)."""
    cases = []
    with torch.random.fork_rng(devices=[]):
        for seed, kw, size in [(1, dict(depth=2, residual=True), 8),
                               (2, dict(depth=2, residual=False, up="transpose"), 8),
                               (3, dict(depth=3, residual=False, up="resize", out_channels=2), 16)]:
            torch.manual_seed(seed)
            net = UNet(in_channels=1, width=4, **kw)
            with torch.no_grad():
                net.head.weight.normal_(0.0, 0.5)
                net.head.bias.normal_(0.0, 0.5)
            cases.append((net, torch.rand(2, 1, size, size)))
    return cases


def _forward(net: UNet, x: torch.Tensor, slip: str = "") -> torch.Tensor | None:
    """The pass written with the net's modules, or with one named slip (``None`` where the slip cannot
    happen: no residual to forget on a net without one, none to add on a residual net)."""
    if slip == "no_residual" and not net.residual or slip == "extra_residual" and net.residual:
        return None
    h = net.stem(x)
    skips = []
    for i in range(net.depth):
        h = net.down_blocks[i](h, None)
        skips.append(h)
        h = net.downs[i](h)
    if slip != "no_middle":
        h = net.middle(h, None)
    for i in reversed(range(net.depth)):
        h = net.ups[i](h)
        pair = [skips[i], h] if slip == "cat_swapped" else [h, skips[i]]
        h = net.up_blocks[i](torch.cat(pair, 1), None)
    out = net.head(h)
    residual = net.residual != (slip in ("no_residual", "extra_residual"))
    return x + out if residual else out


_UNET_SLIPS = [
    ("no_residual", "you forgot the residual: this net has residual=True, so it returns x + out (it learns the "
                    "correction, not the image): `return x + out if net.residual else out`"),
    ("extra_residual", "you added x although this net has residual=False: `return x + out if net.residual else out` "
                       "(a colouriser, say, has 1 channel in and 3 out, where x + out means nothing)"),
    ("cat_swapped", "you concatenated [skip, h]: the package's up_blocks take torch.cat([h, skips[i]], dim=1), the "
                    "up-sampled features first. From scratch either order trains, but the modules (and any trained "
                    "weights) are built for one"),
    ("no_middle", "net.middle is missing: after the last down-sampling, h = net.middle(h, None), then the decoder"),
]
_SKIP_ORDER = ("the skips are used in the order they were stored: the decoder walks back up, so the last skip "
               "stored (the deepest) comes first; inside `for i in reversed(range(net.depth))` use skips[i] (or "
               "skips.pop())")


def _kind(name: str | None) -> tuple[str, int]:
    if name is None:
        return "", -1
    if "[" in name:
        k, i = name[:-1].split("[")
        return k, int(i)
    return name, -1


class _Tracer(TorchFunctionMode):
    """Records which of the net's modules made each tensor; names the slip at the first cat or module call
    that receives the wrong tensor (before torch's own, less telling, size error)."""

    def __init__(self, net: UNet, x: torch.Tensor) -> None:
        super().__init__()
        self.net, self.size = net, x.shape[-2]
        self.made: dict[int, str] = {id(x): "x"}
        self.keep: list[torch.Tensor] = [x]
        self.handles = []
        names = [("stem", net.stem), ("middle", net.middle), ("head", net.head)]
        for group in ("down_blocks", "downs", "ups", "up_blocks"):
            names += [(f"{group}[{i}]", m) for i, m in enumerate(getattr(net, group))]
        for name, m in names:
            self.handles.append(m.register_forward_pre_hook(self._before(name)))
            self.handles.append(m.register_forward_hook(self._after(name)))

    def close(self) -> None:
        for h in self.handles:
            h.remove()

    def _after(self, name: str):
        def hook(module, args, out):
            if isinstance(out, torch.Tensor):
                self.made[id(out)] = name
                self.keep.append(out)
        return hook

    def _before(self, name: str):
        kind, i = _kind(name)
        depth = self.net.depth

        def hook(module, args):
            if not args or not isinstance(args[0], torch.Tensor):
                return
            h = args[0]
            src, j = _kind(self.made.get(id(h)))
            if kind == "up_blocks":
                want = module.conv1.in_channels
                if h.dim() == 4 and h.shape[1] == want // 2:
                    raise Wrong(f"up_blocks[{i}] takes 2·ch[{i}] = {want} channels, the up-sampled h and its skip "
                                f"side by side, but got {h.shape[1]}: concatenate the skip, torch.cat([h, skips[{i}]], "
                                "dim=1) (adding them, h + skip, keeps the channel count: that is a ResNet's skip, not "
                                "a U-Net's)")
                if h.dim() == 4 and h.shape[1] != want:
                    raise Wrong(f"up_blocks[{i}] takes 2·ch[{i}] = {want} channels (h and skips[{i}], {want // 2} "
                                f"each), got a tensor of shape {tuple(h.shape)}")
            if kind == "ups":
                if src == "middle" and i != depth - 1 or src == "up_blocks" and j != i + 1:
                    raise Wrong(f"net.ups[{i}] got the output of {self.made[id(h)]}: the decoder runs from the deepest "
                                f"level up, `for i in reversed(range(net.depth))`, so the first up-sampling is "
                                f"net.ups[{depth - 1}] on the middle's output")
                if src == "downs" and i == depth - 1:
                    raise Wrong("net.middle is missing: after the last down-sampling, h = net.middle(h, None), then "
                                f"the decoder starts with net.ups[{depth - 1}]")
        return hook

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.cat, torch.concat, torch.concatenate) and args:
            self._on_cat(list(args[0]), args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0)))
        return func(*args, **kwargs)

    def _level(self, t: torch.Tensor) -> int:
        return round(math.log2(self.size / t.shape[-2])) if t.dim() == 4 and t.shape[-2] else -1

    def _on_cat(self, tensors: list[Any], dim: Any) -> None:
        if not all(isinstance(t, torch.Tensor) for t in tensors):
            return
        names = [self.made.get(id(t)) for t in tensors]
        if not any(n is not None for n in names):
            return
        if isinstance(dim, int) and tensors and tensors[0].dim() == 4 and dim % 4 != 1:
            raise Wrong(f"torch.cat along dim={dim}: concatenate along dim=1, the channels, so that the skip's "
                        "features sit beside h's at every pixel")
        if len(tensors) != 2 or None in names:
            return
        (ka, ia), (kb, ib) = _kind(names[0]), _kind(names[1])
        if ka == "ups":
            h, s, ks, js, swapped = tensors[0], tensors[1], kb, ib, False
        elif kb == "ups":
            h, s, ks, js, swapped = tensors[1], tensors[0], ka, ia, True
        else:
            return
        k = _kind(self.made[id(h)])[1]
        if ks == "down_blocks" and js == k:
            if swapped:
                raise Wrong(dict(_UNET_SLIPS)["cat_swapped"])
            return
        if ks == "down_blocks":
            raise Wrong(f"at level {k} the up-sampled h has shape {tuple(h.shape)} but you concatenated the skip of "
                        f"level {js}, {tuple(s.shape)}: {_SKIP_ORDER}")
        if ks == "downs" and js == k:
            raise Wrong(f"the skip was stored after the down-sampling: at level {k} it has shape {tuple(s.shape)}, "
                        f"half the size of h, {tuple(h.shape)}. Store it between the block and the down-sampling: "
                        "h = net.down_blocks[i](h, None); skips.append(h); h = net.downs[i](h)")
        if (ks == "downs" and js == k - 1) or (ks == "stem" and k == 0):
            raise Wrong(f"the skip of level {k} was stored before net.down_blocks[{k}] ran (it is the output of "
                        f"{self.made[id(s)]}): store it after the block, just before the "
                        "down-sampling: h = net.down_blocks[i](h, None); skips.append(h); h = net.downs[i](h)")
        raise Wrong(f"at level {k} you concatenated h with the output of {self.made[id(s)]}: the skip of level {k} "
                    f"is the output of net.down_blocks[{k}], stored on the way down")


def _call_unet(fn: Callable[..., Any], net: UNet, x: torch.Tensor) -> Any:
    tracer = _Tracer(net, x)

    def no_call(*args: Any, **kwargs: Any) -> None:
        raise Wrong("unet_forward must not call net(x) (or net.forward): the lesson's U-Net calls unet_forward from "
                    "its own forward, so that would call itself forever. Write the pass with net.stem, "
                    "net.down_blocks, net.downs, net.middle, net.ups, net.up_blocks and net.head")

    net.forward = no_call  # an instance attribute: net(x) would find it first
    try:
        with tracer:
            return fn(net, x)
    except TypeError as e:
        msg = str(e)
        if "missing 1 required positional argument: 'temb'" in msg:
            raise Wrong("the blocks (net.down_blocks[i], net.middle, net.up_blocks[i]) take (h, temb): this U-Net has "
                        "no time input (net.time_dim is None), so pass None, e.g. net.middle(h, None)") from None
        if "positional argument" in msg and "were given" in msg:
            raise Wrong("net.stem, net.downs[i], net.ups[i] and net.head take one tensor; only the blocks "
                        f"(down_blocks, middle, up_blocks) take (h, None): {_first_line(e)}") from None
        raise
    except RuntimeError as e:
        msg = str(e)
        if "Sizes of tensors must match" in msg:
            raise Wrong(f"torch.cat got tensors of different sizes ({_first_line(e)}): at level i the up-sampled h "
                        f"and skips[i] have the same size. {_SKIP_ORDER}") from None
        if "channels" in msg and "expected" in msg:
            raise Wrong(f"a module got the wrong number of channels ({_first_line(e)}): the order is stem, then per "
                        "level down_blocks[i] (keeps the channels), skip, downs[i]; middle; then per level from the "
                        "deepest ups[i], cat with skips[i], up_blocks[i]; head") from None
        raise
    finally:
        del net.forward
        tracer.close()


@check
@_single_threaded
def check_unet_forward(fn: Callable[[UNet, torch.Tensor], torch.Tensor]) -> str:
    """``fn(net, x)`` must compute what :meth:`genimg_course.models.unet.UNet.forward` computes for a net
    without time input, using the net's modules: ``h = net.stem(x)``; per level ``i``:
    ``h = net.down_blocks[i](h, None)``, keep the skip, ``h = net.downs[i](h)``; ``h = net.middle(h, None)``;
    per level from the deepest: ``h = net.ups[i](h)``, ``h = net.up_blocks[i](torch.cat([h, skips[i]], 1), None)``;
    ``out = net.head(h)``; ``x + out`` when ``net.residual``. Compared with ``net(x)`` on seeded U-Nets of
    depth 2 and 3, residual and not."""
    cases = _unet_cases()
    net0, x0 = cases[0]
    expect_signature(fn, "unet_forward", "(net, x)", net0, x0)
    for net, x in cases:
        want = net(x)
        if not torch.equal(_forward(net, x), want):
            raise RuntimeError("check_unet_forward's reference disagrees with UNet.forward (a bug in the check)")
        what = (f"a depth-{net.depth} U-Net with residual={net.residual}, up={net.up_mode!r} and x of shape "
                f"{tuple(x.shape)}")
        before = x.clone()
        got = _tensor(_call_unet(fn, net, x), "unet_forward", "the net's output (B, out_channels, H, W)")
        if not torch.equal(x, before):
            raise Wrong("your function changed x in place: keep x as it is (the residual adds it at the end)")
        if tuple(got.shape) != tuple(want.shape):
            width = net.head.in_channels
            if got.dim() == 4 and got.shape[1] == width and got.shape[1] != want.shape[1]:
                raise Wrong(f"for {what} you returned {tuple(got.shape)}, the last block's {width} feature channels: "
                            f"net.head(h), a 1×1 conv, maps them to the {net.out_channels} output channels")
            raise Wrong(f"for {what} expected shape {tuple(want.shape)} (the input's size, out_channels channels), "
                        f"got {tuple(got.shape)}")
        if torch.isnan(got).any():
            raise Wrong(f"for {what} the output contains NaN")
        if not _same(got, want):
            for slip, hint in _UNET_SLIPS:
                value = _forward(net, x, slip)
                if value is not None and _same(got, value):
                    raise Wrong(f"for {what}: {hint}")
            raise Wrong(f"for {what} the output differs from net(x) (largest difference "
                        f"{float((got.detach() - want.detach()).abs().max()):.3g}): use each module once, in "
                        "UNet.forward's order, and pass None as the blocks' time embedding")
        if not got.requires_grad:
            raise Wrong("the values are right, but the output carries no gradient (torch.no_grad() or .detach()?): "
                        "the lesson trains a U-Net whose forward is your function")
    return ("unet_forward matches net(x) for depth 2 and 3, residual and not: the skips carry each level's features "
            "past the bottleneck, so the decoder gets back the detail that down-sampling threw away")


# ---------------------------------------------------------------- 4. the restoration training step

_STEP_SEED = 21  # set before your step and before the reference: the same noise for both
_STEP_LR = 0.05  # plain SGD: the update is the gradient itself
_STEP_SIGMA = 0.3


class _SpyNoise(restore.AddNoise):
    """``AddNoise`` that records each call: the batch it was given, the generator, and the noisy image."""

    def __init__(self, sigma: float) -> None:
        super().__init__(sigma)
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []
        self.generators: list[Any] = []

    def degrade(self, x, generator=None):
        d = super().degrade(x, generator)
        self.inputs.append(x.detach().clone())
        self.outputs.append(d.image.detach().clone())
        self.generators.append(generator)
        return d


def _step_problem() -> tuple[nn.Module, torch.Tensor, dict[str, torch.Tensor]]:
    """A seeded two-layer conv net, 4 clean 1×8×8 images in [0, 1] and stale gradients per parameter (as a
    previous step leaves them), about the size of a real gradient."""
    g = torch.Generator().manual_seed(13)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.SiLU(), nn.Conv2d(6, 1, 3, padding=1))
    with torch.no_grad():  # the output starts near the images' mean brightness: the first update is then about the
        model[2].bias.fill_(0.5)  # pictures and the noise, and each slip moves the weights visibly differently
    clean = torch.rand(4, 1, 8, 8, generator=g)
    stale = {n: torch.randn(p.shape, generator=g) * 0.5 for n, p in model.named_parameters()}
    return model, clean, stale


def _fresh(model: nn.Module, stale: dict[str, torch.Tensor]) -> tuple[nn.Module, torch.optim.Optimizer]:
    m = copy.deepcopy(model)
    for n, p in m.named_parameters():
        p.grad = stale[n].clone()
    return m, torch.optim.SGD(m.parameters(), lr=_STEP_LR)


def _simulated_step(model: nn.Module, clean: torch.Tensor, stale: dict[str, torch.Tensor],
                    slip: str = "") -> tuple[dict[str, torch.Tensor], float]:
    """One step the right way (``slip=""``) or with one named slip: (parameters after, loss)."""
    m, opt = _fresh(model, stale)
    with torch.random.fork_rng(devices=[]):  # the learner's random state is left as it was
        torch.manual_seed(_STEP_SEED)
        noisy = restore.add_noise(clean, _STEP_SIGMA)
    pred = m(clean if slip == "clean_input" else noisy)
    target = noisy if slip == "degraded_target" else clean
    if slip == "l1":
        loss = F.l1_loss(pred, target)
    else:
        loss = F.mse_loss(pred, target, reduction="sum" if slip == "sum" else "mean")
    if slip != "no_zero_grad":
        opt.zero_grad()
    loss.backward()
    opt.step()
    return _params(m), float(loss.detach())


_STEP_SLIPS = [
    ("no_zero_grad", "the update contains the stale gradients the optimiser arrived with: loss.backward() *adds* to "
                     ".grad, so without optimizer.zero_grad() before it each step repeats the previous steps' "
                     "gradients too. Call optimizer.zero_grad() first"),
    ("degraded_target", "the loss compares the prediction with the degraded input: the target is the clean batch, "
                        "F.mse_loss(pred, clean). Against d.image the network learns to reproduce the noise"),
    ("clean_input", "you fed the clean batch to the model: it then learns the identity, which restores nothing. "
                    "The input is the degraded image, pred = model(d.image), the target the clean batch"),
    ("l1", "that is the L1 loss (mean absolute error): this step minimises the MSE, F.mse_loss(pred, clean), the loss "
           "PSNR measures (PSNR = 10·log10(1 / MSE))"),
    ("sum", "the squared errors are summed (reduction='sum'): use their mean, F.mse_loss(pred, clean), so the step "
            "size does not grow with the batch and image size"),
]
_STEP_ORDER = ("d = degrade.degrade(clean); pred = model(d.image); loss = F.mse_loss(pred, clean); "
               "optimizer.zero_grad(); loss.backward(); optimizer.step(); return loss")


def _call_step(fn: Callable[..., Any], model: nn.Module, opt: torch.optim.Optimizer, clean: torch.Tensor,
               degrade: restore.Degradation) -> Any:
    try:
        return fn(model, opt, clean, degrade)
    except TypeError as e:
        if "Degraded" in str(e):
            raise Wrong("degrade.degrade(clean) returns a Degraded record (image, missing, low): the network's input "
                        "is its .image, model(d.image)") from None
        raise
    except AttributeError as e:
        msg = str(e)
        if "'Tensor' object has no attribute 'image'" in msg:
            raise Wrong("degrade(clean), calling the transform, returns the degraded image itself; "
                        "degrade.degrade(clean) returns the Degraded record whose .image it is. Use one or the "
                        "other") from None
        if "'Degraded' object has no attribute" in msg:
            raise Wrong(f"{_first_line(e)}: a Degraded record has .image (the network's input), .missing and "
                        ".low") from None
        raise


@check
@_single_threaded
def check_restoration_step(fn: Callable[..., Any]) -> str:
    """``fn(model, optimizer, clean, degrade)`` must do one training step of a restorer: degrade the clean
    batch on its device inside the step (``d = degrade.degrade(clean)``, fresh noise every call), predict
    ``model(d.image)``, take ``F.mse_loss(pred, clean)``, then ``optimizer.zero_grad()``, ``loss.backward()``,
    ``optimizer.step()``, and return the loss as a tensor (detached or not; a float from ``.item()`` is
    refused: it makes the host wait for the device at every step). Checked by one seeded step on a tiny model
    with plain SGD and stale gradients against the reference (weights after the step, loss), through a
    degradation that records its calls; a second call must draw new noise."""
    model, clean, stale = _step_problem()
    expect_signature(fn, "restoration_step", "(model, optimizer, clean, degrade)", model, None, clean, None)
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.random.fork_rng(devices=[]):
        mine, opt = _fresh(model, stale)
        spy = _SpyNoise(_STEP_SIGMA)
        clean_in = clean.clone()
        torch.manual_seed(_STEP_SEED)
        got = _call_step(fn, mine, opt, clean_in, spy)
        if not torch.equal(clean_in, clean):
            raise Wrong("your step changed the clean batch in place (e.g. `clean += noise`): the degradation must make "
                        "a new tensor, and the clean batch stays the target")
        after = _params(mine)
        grads_zero = all(p.grad is None or not torch.any(p.grad != 0) for p in mine.parameters())
        calls_first = len(spy.inputs)
        got2 = _call_step(fn, mine, opt, clean.clone(), spy)  # not reseeded: new noise expected
        want, want_loss = _simulated_step(model, clean, stale)
        ref, _ = _fresh(model, stale)
        torch.manual_seed(_STEP_SEED)
        task_loss = float(restore.RestorationTask(ref, restore.AddNoise(_STEP_SIGMA)).losses(clean)["loss"].detach())
    if not close(task_loss, want_loss, rel=1e-6, abs_=1e-8):
        raise RuntimeError("check_restoration_step's reference disagrees with RestorationTask.losses "
                           "(a bug in the check)")
    if calls_first == 0:
        raise Wrong("the degradation you were given was never called: degrade the clean batch inside the step, "
                    "d = degrade.degrade(clean) (on clean's device, fresh noise each call), and feed d.image to the "
                    "model")
    if calls_first > 1:
        raise Wrong(f"degrade was called {calls_first} times in one step: call it once and use that one d.image (each "
                    "call draws new noise)")
    if not torch.equal(spy.inputs[0], clean):
        raise Wrong("degrade got something other than the clean batch: degrade `clean` itself, d = "
                    "degrade.degrade(clean)")
    if len(spy.inputs) == 1:
        raise Wrong("the second step did not call degrade: you reused the first step's degraded batch (cached it). "
                    "Degrade inside every step: fresh noise each time is what keeps the network from learning one "
                    "particular noise pattern, and there is no degraded copy of the dataset to keep")
    if torch.equal(spy.outputs[0], spy.outputs[1]):
        why = (" (you passed a generator to degrade)" if spy.generators[1] is not None else
               " (torch.manual_seed inside the step?)")
        raise Wrong("two steps on the same clean batch got the same noise" + why + ": a generator seeded inside the "
                    "step repeats the noise at every step. Call degrade.degrade(clean) without a generator: the noise "
                    "then comes from torch's global generator, which fit seeds once for the whole run")
    update = _max_diff(want, init)
    tol = 1e-3 * update + 1e-7
    if _max_diff(after, init) < 1e-9:
        if grads_zero:
            raise Wrong("the weights did not move and the gradients are zero: either loss.backward() is missing or "
                        "optimizer.zero_grad() came between backward() and step(). Order: " + _STEP_ORDER)
        raise Wrong("the weights did not move: optimizer.step() is missing (backward only computes the gradients; "
                    "the optimiser applies them)")
    if _max_diff(after, want) > tol:
        for slip, hint in _STEP_SLIPS:
            params, _ = _simulated_step(model, clean, stale, slip)
            if _max_diff(after, params) <= tol:
                if slip == "no_zero_grad" and grads_zero:
                    hint = ("you zero the gradients *after* optimizer.step(), so this step applied the stale gradients "
                            "the optimiser arrived with: call optimizer.zero_grad() before loss.backward()")
                raise Wrong(hint)
        raise Wrong(f"after one step the weights differ from the reference step's (largest difference "
                    f"{_max_diff(after, want):.2g}, the update itself is {update:.2g}): " + _STEP_ORDER)
    for value, which in ((got, "first"), (got2, "second")):
        if value is None:
            raise Wrong("restoration_step returned None: end it with `return loss` (the loss tensor)")
        if isinstance(value, (tuple, list, dict)):
            raise Wrong(f"restoration_step returned a {type(value).__name__}: return the loss alone, a 0-d tensor")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise Wrong(f"the step is right, but it returned the Python number {value:.4f} (loss.item()): return the "
                        "tensor itself, `return loss` (or loss.detach()). .item() copies the value to the host, which "
                        "makes the CPU wait for the GPU to finish at every step; fit keeps the losses on the device "
                        "and reads them only every few steps")
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise Wrong(f"restoration_step should return the loss as a float tensor, got {type(value).__name__}")
    if got.numel() != 1:
        raise Wrong(f"restoration_step returned a tensor of shape {tuple(got.shape)}: return the batch's loss, one "
                    "number (F.mse_loss averages over everything)")
    loss = float(got.detach().reshape(()))
    if math.isnan(loss):
        raise Wrong("the step is right but the returned loss is NaN")
    if not close(loss, want_loss, rel=1e-4, abs_=1e-7):
        raise Wrong(f"the step is right, but it returned {loss:.5f} instead of the loss it minimised, "
                    f"{want_loss:.5f}: return the loss of this batch (computed before the step)")
    psnr = 10 * math.log10(1 / want_loss)
    return (f"one step matches the reference (the same weights after the update, loss {want_loss:.4f}, a PSNR of "
            f"{psnr:.1f} dB for this untrained net), the noise was drawn inside the step and afresh at the next call, "
            "and the loss stays a tensor: no host sync")


# ---------------------------------------------------------------- 5. the best constant colour under L2

# the ab colours one pixel takes in a made-up training set: 5 × (60, 20), 3 × (-60, -20), 2 × (10, -40), so
# that the mean (14, -4), the lower median (10, -20), the middle median (35, 0), the most common colour
# (60, 20), the first and the last value, the centre of the range (0, -10) and grey (0, 0) all differ
_AB = torch.tensor([[10., -40.], [60., 20.], [60., 20.], [-60., -20.], [60., 20.], [10., -40.], [60., 20.],
                    [-60., -20.], [60., 20.], [-60., -20.]])
_AB_TWO = torch.tensor([[60., 20.], [-60., -20.]] * 4)  # half and half: the example of the success message


def _ab_slips(v: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    mode = torch.mode(v, 0).values
    return [
        (v.median(0).values, "that is the median (per channel): it minimises the mean *absolute* error (L1); the mean "
                             "squared error is minimised by the mean"),
        (v.quantile(0.5, 0), "that is the median (per channel): it minimises the mean *absolute* error (L1); the mean "
                             "squared error is minimised by the mean"),
        (mode, "that is the most common colour (the mode): it would be the best guess if only an exact hit counted "
               "(a 0/1 loss); for the mean squared error the best constant is the mean"),
        (v[0], "that is the first value: the constant that minimises the mean squared error over all N colours is "
               "their mean, values.mean(dim=0)"),
        (v[-1], "that is the last value: the constant that minimises the mean squared error over all N colours is "
                "their mean, values.mean(dim=0)"),
        ((v.amax(0) + v.amin(0)) / 2, "that is the centre of the range, (max + min) / 2, which minimises the *largest* "
                                      "error; the mean squared error is minimised by the mean"),
        (torch.zeros(2), "grey, (0, 0), is the answer only when the colours balance around grey; here they do not. "
                         "The constant that minimises the mean squared error is the mean of the colours"),
        (v.sum(0), "you summed the colours: divide by N, values.mean(dim=0)"),
    ]


def _call_ab(fn: Callable[[torch.Tensor], Any], v: torch.Tensor) -> torch.Tensor:
    arg = v.clone()
    got = _tensor(fn(arg), "best_constant", "one ab colour, shape (2,)")
    if not torch.equal(arg, v):
        raise Wrong("your function changed values in place (e.g. a sort_ or `values -= ...`): compute on a new tensor")
    N = v.shape[0]
    if tuple(got.shape) == (2,):
        return got
    if tuple(got.shape) == (N, 2):
        raise Wrong(f"you returned shape (N, 2) = {(N, 2)}, one colour per value: the exercise asks for a single "
                    "prediction (2,), the same for every one of those pixels — the colour a network predicts when "
                    "the grey input cannot tell them apart")
    if tuple(got.shape) == (1, 2):
        raise Wrong("return shape (2,), got (1, 2): drop the kept dimension (keepdim=False)")
    if tuple(got.shape) == (N,):
        raise Wrong(f"you returned shape ({N},), one number per value: reduce over the N values, dim=0, keeping a and "
                    "b apart: shape (2,)")
    if got.numel() == 1:
        raise Wrong("you returned one number: a colour is two numbers (a, b); reduce over dim=0 only, shape (2,)")
    raise Wrong(f"for values of shape {tuple(v.shape)} return one colour, shape (2,), got {tuple(got.shape)}")


@check
def check_l2_colour(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(values)`` with ``values (N, 2)``, the ab colours one pixel takes across the training data, must
    return the single colour ``(2,)`` that minimises the mean squared error to all of them: their mean.
    Checked on 10 colours where the mean, the median, the most common colour and grey all differ, then on
    half (60, 20), half (-60, -20), where the mean is grey."""
    expect_signature(fn, "best_constant", "(values)", _AB)
    got = _call_ab(fn, _AB)
    want = _AB.mean(0)
    if torch.isnan(got).any():
        raise Wrong("the colour contains NaN")
    if not _same(got, want, rtol=1e-4, atol=0.05):
        def mse(c: torch.Tensor) -> float:
            return float(((_AB.double() - c.detach().double()) ** 2).sum(1).mean())

        hint = None
        for value, h in _ab_slips(_AB):
            if _same(got, value, rtol=1e-4, atol=0.05):
                hint = h
                break
        raise Wrong(f"for these {_AB.shape[0]} colours the best constant under L2 is {_fmt(want, 2, 1)} with a mean "
                    f"squared error of {mse(want):.0f}; yours, {_fmt(got, 2, 1)}, has {mse(got):.0f}: "
                    f"{hint or 'the mean squared error Σ|c - v|² / N is smallest at c = the mean of the values'}")
    two = _call_ab(fn, _AB_TWO)
    if not _same(two, torch.zeros(2), atol=0.05):
        raise Wrong(f"right for one set, but for half (60, 20) and half (-60, -20) you get {_fmt(two, 2, 1)}; the "
                    "mean is (0, 0)")
    grey = float((_AB_TWO ** 2).sum(1).mean())
    vivid = float(((_AB_TWO - _AB_TWO[0]) ** 2).sum(1).mean())
    chroma = float(_AB_TWO[0].norm())
    return (f"the best constant under L2 is the mean. For a pixel that is (60, 20) in half the images and (-60, -20) "
            f"in the other half, it is (0, 0): grey, a colour it never has, with a mean squared error of {grey:.0f}, "
            f"while either true colour scores {vivid:.0f}. Both colours have chroma √(a² + b²) = {chroma:.1f}, the "
            "prediction 0: that is the desaturation of an L2 colouriser")


# ---------------------------------------------------------------- 6. reading: why L2 colourisation is sepia

COLOUR_QUESTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "why_sepia": (
        "A U-Net trained with an L2 (MSE) loss to predict the ab channels from L paints photos in desaturated, "
        "sepia-like tones. Why?",
        {"a": "Where the grey input leaves several colours plausible (a car may be red or blue), the prediction "
              "that minimises the MSE is the mean of those colours, and the mean of colours on different sides "
              "of grey lies close to grey: desaturated.",
         "b": "The network is too small: a larger U-Net trained with the same L2 loss would paint vivid colours.",
         "c": "The L channel carries no information about colour, so the network can only output grey.",
         "d": "The MSE on ab cannot be minimised by gradient descent, so the ab output stays near its starting "
              "value, 0."}),
    "classification_head": (
        "Zhang et al. (2016) instead classify each pixel's ab colour into quantised bins (a softmax over the "
        "bins) and turn the predicted distribution into one colour with the annealed mean. What does that change?",
        {"a": "The classification head has more parameters, and the extra capacity is what lets it represent "
              "saturated colours.",
         "b": "The head keeps the whole distribution of plausible colours of each pixel, several peaks if need be; "
              "the annealed mean sharpens it (probabilities raised to the power 1/T, T < 1, renormalised) before "
              "averaging, so the answer moves from the mean towards the most probable colour: one vivid "
              "plausible colour instead of the average of several.",
         "c": "It always gives a higher PSNR than the L2 head, because classification is more accurate than "
              "regression.",
         "d": "It takes the most probable bin of each pixel, and the most probable colour is always the true one."}),
    "temperature": (
        "The annealed mean is the mean of the distribution p(q)^(1/T) / Σ p^(1/T) over the bins q. What do T = 1 "
        "and T → 0 give?",
        {"a": "T = 1: the most probable bin (the mode); T → 0: the mean.",
         "b": "Both give the mean; T only changes how fast the network trains.",
         "c": "T = 1: the mean of the predicted distribution, the answer L2 aims at (desaturated where several "
              "colours are plausible); T → 0: the most probable bin (the mode), vivid.",
         "d": "T = 1: grey; T → 0: the most saturated bin."}),
}
_COLOUR_ANSWERS = {"why_sepia": "a", "classification_head": "b", "temperature": "c"}
_COLOUR_WHY = {
    ("why_sepia", "b"): "more capacity brings the network closer to the L2 optimum, and that optimum is the mean of "
                        "the plausible colours (best_constant showed it: grey for two opposite colours): capacity "
                        "does not change what the loss rewards",
    ("why_sepia", "c"): "L carries much colour information through what the picture shows (sky, grass, skin), and "
                        "where it settles the colour an L2 network predicts it well; the grey comes where it leaves "
                        "several colours plausible",
    ("why_sepia", "d"): "the MSE is smooth and trains well (the loss goes down); it converges to the mean of the "
                        "plausible colours, which is the trouble",
    ("classification_head", "a"): "the change is in what the head predicts, a distribution instead of one number per "
                                  "channel, not in its size",
    ("classification_head", "c"): "not necessarily: the squared error is what the L2 head minimises. Where two colours "
                                  "are equally plausible, a vivid guess costs twice the squared error of grey on "
                                  "average (best_constant's example: 8000 against 4000), which is why the lesson "
                                  "measures saturation beside PSNR",
    ("classification_head", "d"): "that would be T → 0, the mode; the annealed mean uses a T between 0 and 1 (Zhang "
                                  "et al. use 0.38), since the pure mode gives vivid but patchy colours, and even the "
                                  "most probable colour is often not the true one",
    ("temperature", "a"): "the other way round: T = 1 leaves the distribution as it is, so its mean is the mean; "
                          "T → 0 puts all the weight on the largest probability, the mode",
    ("temperature", "b"): "T reshapes the distribution before the mean is taken: p^(1/T) with T → 0 keeps only the "
                          "largest probability, so the mean becomes the mode",
    ("temperature", "d"): "T does not look at saturation, only at the probabilities: T = 1 gives the mean of the "
                          "distribution (grey only when the colours balance around grey), T → 0 the most probable "
                          "bin",
}


def show_colour_questions() -> None:
    """Print :data:`COLOUR_QUESTIONS` with their options, for the lesson's reading exercise."""
    print_questions(COLOUR_QUESTIONS)


@check
def check_colour_reading(answers: Any) -> str:
    """``answers`` (a dict, or a function returning it) gives, for each key of :data:`COLOUR_QUESTIONS`, the
    letter of the right option: why an L2 colouriser is desaturated, what a classification head with the
    annealed mean changes, and what its temperature does at T = 1 and T → 0."""
    grade_letters(answers, COLOUR_QUESTIONS, _COLOUR_ANSWERS, _COLOUR_WHY)
    return ("all three right: an L2 loss predicts the mean of the plausible colours, grey where they disagree; a "
            "distribution over colour bins keeps them apart, and the annealed mean picks between the mean (T = 1) "
            "and the mode (T → 0)")
