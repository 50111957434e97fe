"""Checks for lesson 01 (CNN basics). Each runs in well under a second on a CPU.

* :func:`check_conv2d_by_hand` — a 2-D cross-correlation with stride and padding, by loops
  (torch's own convolutions are switched off while it runs).
* :func:`check_conv_output_size` — ``floor((n + 2p - k) / s) + 1``.
* :func:`check_conv_params` — weights and biases of a ``Conv2d``.
* :func:`check_layer_shapes` — a ``Sequential`` that maps ``(B, 1, 28, 28)`` to ``(B, 64, 7, 7)``.
* :func:`check_transposed_output_size` — ``(n - 1) s - 2p + k + output_padding``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..train import evaluating
from . import Wrong, as_int, check, expect_signature

__all__ = [
    "check_conv2d_by_hand",
    "check_conv_output_size",
    "check_conv_params",
    "check_layer_shapes",
    "check_transposed_output_size",
]

# (n, k, p, s): square input n, kernel k, padding p, stride s. Odd and even on purpose.
_CONV_CASES = [
    (28, 3, 1, 1), (28, 3, 0, 1), (28, 5, 2, 1), (28, 2, 0, 2), (28, 4, 1, 2),
    (7, 3, 0, 2), (8, 3, 0, 2), (9, 3, 1, 2), (10, 3, 1, 3), (5, 5, 0, 1),
    (64, 4, 1, 2), (32, 7, 3, 2), (11, 3, 0, 4), (224, 11, 2, 4), (1, 1, 0, 1),
]

# (n, k, p, s, output_padding)
_TRANSPOSED_CASES = [
    (4, 4, 1, 2, 0), (7, 4, 1, 2, 0), (1, 4, 0, 1, 0), (14, 3, 1, 2, 1), (14, 3, 1, 2, 0),
    (5, 3, 0, 2, 0), (8, 5, 2, 2, 1), (3, 3, 1, 1, 0), (16, 4, 1, 2, 0), (2, 7, 3, 3, 2),
]


def _diagnose(got: list[int], cases: list[tuple], tips: list[tuple[Callable[..., int], str]], default: str) -> str:
    """The tip whose wrong formula reproduces *all* of the learner's answers, else ``default``."""
    for formula, tip in tips:
        if all(g == formula(*c) for g, c in zip(got, cases)):
            return tip
    return default


@check
def check_conv_output_size(fn: Callable[[int, int, int, int], int]) -> str:
    """``fn(n, k, p, s)`` must return ``floor((n + 2p - k) / s) + 1`` for all test cases."""
    expect_signature(fn, "conv_output_size", "(n, k, p, s)", 28, 3, 1, 1)
    got = [as_int(fn(n, k, p, s), f"conv_output_size({n}, {k}, {p}, {s})") for n, k, p, s in _CONV_CASES]
    expected = [(n + 2 * p - k) // s + 1 for n, k, p, s in _CONV_CASES]
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    if not wrong:
        return f"conv_output_size matches floor((n + 2p - k) / s) + 1 on all {len(_CONV_CASES)} cases"
    tip = _diagnose(got, _CONV_CASES, [
        (lambda n, k, p, s: (n + p - k) // s + 1, "padding adds p pixels on *each* side, so the padded size is n + 2p"),
        (lambda n, k, p, s: (n + 2 * p - k) // s, "you forgot the + 1 (the window's first position)"),
        (lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1, "you rounded up: the last window must fit entirely, so take the floor"),
        (lambda n, k, p, s: (n + 2 * p - k + 1) // s, "add the 1 after the division, not before it"),
        (lambda n, k, p, s: (n - k) // s + 1, "you left out the padding: the padded size is n + 2p"),
        (lambda n, k, p, s: n + 2 * p - k + 1, "you left out the stride: divide by s (with floor) before adding 1"),
    ], "check the floor and the padding: size = floor((n + 2p - k) / s) + 1")
    n, k, p, s = _CONV_CASES[wrong[0]]
    return _fail(f"for n={n}, k={k}, p={p}, s={s} expected {expected[wrong[0]]}, got {got[wrong[0]]}: {tip}")


def _fail(message: str) -> str:
    raise Wrong(message)


def _to_tensor(out: Any, what: str) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.detach().float().cpu()
    try:
        import numpy as np

        if isinstance(out, np.ndarray):
            return torch.from_numpy(out).float()
    except ImportError:  # pragma: no cover
        pass
    raise Wrong(f"{what} should return a tensor (or NumPy array), got {type(out).__name__}")


class _LibraryConvUsed(Exception):
    """Raised inside the learner's ``conv2d_by_hand`` when it calls one of torch's own convolutions."""


# torch's ready-made convolutions (and im2col): what exercise 1 asks the learner to write instead.
# ``Tensor.unfold`` (a strided view of windows) stays allowed: with it the learner still multiplies
# each window by the kernel and sums.
_LIBRARY_CONVS = [
    (torch.nn.functional, "conv2d", "F.conv2d"), (torch, "conv2d", "torch.conv2d"),
    (torch.nn.functional, "conv1d", "F.conv1d"), (torch, "conv1d", "torch.conv1d"),
    (torch.nn.functional, "conv3d", "F.conv3d"), (torch, "conv3d", "torch.conv3d"),
    (torch.nn.functional, "conv_transpose2d", "F.conv_transpose2d"),
    (torch, "conv_transpose2d", "torch.conv_transpose2d"), (torch, "convolution", "torch.convolution"),
    (torch.nn.functional, "unfold", "F.unfold"),
]


class _NoLibraryConv:
    """While active, calling any of torch's convolutions raises :class:`_LibraryConvUsed` naming it
    (``nn.Conv2d`` included: its forward calls ``F.conv2d``). Restores them on exit, always."""

    def __enter__(self) -> "_NoLibraryConv":
        self.saved = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in _LIBRARY_CONVS if hasattr(mod, attr)]
        for mod, attr, name in _LIBRARY_CONVS:
            if hasattr(mod, attr):
                setattr(mod, attr, self._refuse(name))
        return self

    @staticmethod
    def _refuse(name: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise _LibraryConvUsed(name)
        return refused

    def __exit__(self, *exc: Any) -> None:
        for mod, attr, fn in self.saved:
            setattr(mod, attr, fn)


def _call_by_hand(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The learner's answer, run with torch's convolutions switched off."""
    try:
        with _NoLibraryConv():
            return fn(*args, **kwargs)
    except _LibraryConvUsed as used:
        name = str(used)
        what = ("torch's im2col, which cuts out the windows for you" if "unfold" in name else
                "torch's own convolution; an nn.Conv2d layer calls it too")
        raise Wrong(f"use loops and sums, not {name}: your conv2d_by_hand calls {name} ({what}), and the exercise "
                    "is to compute the convolution yourself. Loop over the output positions, cut out each window by "
                    "slicing and sum window * w (F.pad for the padding is fine)") from None


@check
def check_conv2d_by_hand(fn: Callable[..., Any]) -> str:
    """``fn(x, w, stride=1, padding=0)`` on a 2-D image ``x (H, W)`` and kernel ``w (kh, kw)``
    must equal ``F.conv2d`` (a cross-correlation) with zero padding, computed without torch's
    convolutions (``F.conv2d``, ``nn.Conv2d``, ``F.unfold`` … are refused with a hint)."""
    expect_signature(fn, "conv2d_by_hand", "(x, w, stride=1, padding=0)", torch.zeros(3, 3), torch.zeros(3, 3), stride=1, padding=0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, 8, generator=g)
    w = torch.randn(3, 3, generator=g)
    w_rect = torch.randn(2, 3, generator=g)
    cases = [(x, w, 1, 0), (x, w, 1, 1), (x, w, 2, 0), (x, w, 2, 1), (x, w_rect, 1, 0), (x, w, 3, 2)]
    for xi, wi, s, p in cases:
        case = f"x {tuple(xi.shape)}, w {tuple(wi.shape)}, stride={s}, padding={p}"
        expected = F.conv2d(xi[None, None], wi[None, None], stride=s, padding=p)[0, 0]
        got = _to_tensor(_call_by_hand(fn, xi.clone(), wi.clone(), stride=s, padding=p), "conv2d_by_hand")
        if got.shape != expected.shape:
            raise Wrong(f"for {case} expected an output of shape {tuple(expected.shape)}, got {tuple(got.shape)}: "
                        "each side is (n + 2p - k) // s + 1; pad both sides and step the window by the stride")
        if torch.allclose(got, expected, atol=1e-4):
            continue
        flipped = F.conv2d(xi[None, None], wi.flip(0, 1)[None, None], stride=s, padding=p)[0, 0]
        if torch.allclose(got, flipped, atol=1e-4):
            raise Wrong(f"for {case} your output is the *flipped-kernel* convolution of textbook maths. "
                        "PyTorch's conv2d is a cross-correlation: slide w as it is, without flipping it")
        if torch.allclose(got, expected.t().reshape(got.shape), atol=1e-4) or (
                got.shape[0] == got.shape[1] and torch.allclose(got.t(), expected, atol=1e-4)):
            raise Wrong(f"for {case} the values are transposed: out[i, j] uses rows i*s… and columns j*s…")
        bad = (got - expected).abs()
        i, j = divmod(int(bad.argmax()), bad.shape[1])
        raise Wrong(f"for {case} out[{i}, {j}] should be {float(expected[i, j]):.4f}, got {float(got[i, j]):.4f} "
                    f"(max abs difference {float(bad.max()):.3g}): the window for out[i, j] starts at "
                    "row i*stride, column j*stride of the zero-padded image")
    return "conv2d_by_hand agrees with F.conv2d (stride 1–3, padding 0–2, square and rectangular kernels), computed by hand"


@check
def check_conv_params(fn: Callable[..., int]) -> str:
    """``fn(c_in, c_out, k, bias=True)`` must count the parameters of ``nn.Conv2d(c_in, c_out, k, bias=bias)``."""
    expect_signature(fn, "conv_params", "(c_in, c_out, k, bias=True)", 1, 16, 3, bias=True)
    cases = [(1, 16, 3, True), (16, 16, 3, False), (3, 64, 5, True), (64, 128, 1, True), (32, 8, 4, False)]
    got = [as_int(fn(ci, co, k, bias=b), f"conv_params({ci}, {co}, {k}, bias={b})") for ci, co, k, b in cases]
    expected = [sum(p.numel() for p in nn.Conv2d(ci, co, k, bias=b).parameters()) for ci, co, k, b in cases]
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    if not wrong:
        return "conv_params matches nn.Conv2d's parameter count on all cases"
    tip = _diagnose(got, cases, [
        (lambda ci, co, k, b: co * ci * k * k, "you left out the biases: one per output channel (when bias=True)"),
        (lambda ci, co, k, b: co * ci * k * k + co, "with bias=False there are no biases to count"),
        (lambda ci, co, k, b: co * k * k + co * b, "each filter spans *all* input channels: c_in * k * k weights per output channel"),
        (lambda ci, co, k, b: co * k * k + co, "each filter spans *all* input channels: c_in * k * k weights per output channel"),
        (lambda ci, co, k, b: co * ci * k + co * b, "a k x k kernel has k * k weights per channel pair, not k"),
    ], "weights: c_out * c_in * k * k; biases: c_out (only if bias)")
    ci, co, k, b = cases[wrong[0]]
    return _fail(f"for Conv2d({ci}, {co}, {k}, bias={b}) expected {expected[wrong[0]]:,} parameters, "
                 f"got {got[wrong[0]]:,}: {tip}")


def _shape(t: torch.Tensor) -> str:
    return "(B, " + ", ".join(str(d) for d in t.shape[1:]) + ")"


@check
def check_layer_shapes(model: Any, expected: tuple[int, int, int] = (64, 7, 7)) -> str:
    """``model``: an ``nn.Module`` (or a function returning one) mapping ``(B, 1, 28, 28)`` to
    ``(B, 64, 7, 7)`` with at least two ``Conv2d`` layers."""
    if callable(model) and not isinstance(model, nn.Module):
        model = model()
    if not isinstance(model, nn.Module):
        raise Wrong(f"expected an nn.Module such as nn.Sequential(...), got {type(model).__name__}")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) < 2:
        raise Wrong(f"use at least two nn.Conv2d layers (found {len(convs)}): the point is to shape the "
                    "tensor with convolutions, padding, stride and pooling")
    x = torch.zeros(2, 1, 28, 28)
    trace: list[str] = []
    layers = list(model) if isinstance(model, nn.Sequential) else [model]
    with evaluating(model), torch.no_grad():
        for i, layer in enumerate(layers):
            name = type(layer).__name__
            try:
                x = layer(x)
            except Exception as e:  # a mismatch between layers: name the layer and what it received
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise Wrong(f"layer {i} ({layer}) failed on an input of shape {_shape(x)}: {msg}. "
                            f"Shapes so far: {' → '.join(['(B, 1, 28, 28)'] + trace)}") from None
            if not isinstance(x, torch.Tensor):
                raise Wrong(f"layer {i} ({name}) returned {type(x).__name__}, not a tensor")
            trace.append(f"{name} {_shape(x)}")
    want = "(B, " + ", ".join(map(str, expected)) + ")"
    if tuple(x.shape[1:]) != tuple(expected):
        tip = ""
        if x.dim() == 4 and x.shape[1] != expected[0]:
            tip = f" the last conv should have out_channels={expected[0]};"
        if x.dim() == 4 and x.shape[2:] != expected[1:]:
            tip += " a 3x3 conv keeps the size only with padding=1, and each 2x2 pool or stride-2 conv halves it;"
        raise Wrong(f"expected output shape {want}, got {_shape(x)}:{tip} shapes: "
                    f"(B, 1, 28, 28) → {' → '.join(trace)}")
    n_params = sum(p.numel() for p in model.parameters())
    return f"(B, 1, 28, 28) → {want} with {len(convs)} conv layers and {n_params:,} parameters"


@check
def check_transposed_output_size(fn: Callable[..., int]) -> str:
    """``fn(n, k, p, s, output_padding=0)`` must return ``(n - 1) s - 2p + k + output_padding``."""
    expect_signature(fn, "transposed_output_size", "(n, k, p, s, output_padding=0)", 4, 4, 1, 2, output_padding=0)
    cases = _TRANSPOSED_CASES
    got = [as_int(fn(n, k, p, s, output_padding=op), f"transposed_output_size({n}, {k}, {p}, {s}, output_padding={op})")
           for n, k, p, s, op in cases]
    expected = [(n - 1) * s - 2 * p + k + op for n, k, p, s, op in cases]
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    if not wrong:
        return f"transposed_output_size matches nn.ConvTranspose2d on all {len(cases)} cases"
    tip = _diagnose(got, cases, [
        (lambda n, k, p, s, op: (n + 2 * p - k) // s + 1,
         "that is the forward convolution's size; a transposed conv goes the other way: (n - 1) s - 2p + k"),
        (lambda n, k, p, s, op: (n - 1) * s - 2 * p + k, "add output_padding (extra rows/columns on one side)"),
        (lambda n, k, p, s, op: n * s - 2 * p + k + op,
         "the first input pixel places its kernel at 0, the last at (n - 1) * s: use n - 1"),
        (lambda n, k, p, s, op: (n - 1) * s + 2 * p + k + op,
         "in a transposed conv, padding p *removes* p pixels from each side: subtract 2p"),
        (lambda n, k, p, s, op: (n - 1) * s - p + k + op, "padding crops p pixels from *each* side: subtract 2p"),
        (lambda n, k, p, s, op: n * s, "n * s is right only for k = s + 2p; use (n - 1) s - 2p + k"),
    ], "size = (n - 1) * s - 2p + k + output_padding")
    n, k, p, s, op = cases[wrong[0]]
    return _fail(f"for n={n}, k={k}, p={p}, s={s}, output_padding={op} expected {expected[wrong[0]]}, "
                 f"got {got[wrong[0]]}: {tip}")
