"""Checks for lesson 00 (setup): the warm-up exercise.

``check_to_unit_range(fn)``: ``fn`` turns uint8 images (0..255) into float32 images in
``[-1, 1]``, the range a ``tanh`` generator produces, so real and generated images can be compared.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import Wrong, check

__all__ = ["check_to_unit_range"]

# The values where mistakes show: both ends, both sides of the middle, and their neighbours.
_EDGE_VALUES = torch.tensor([0, 1, 127, 128, 254, 255], dtype=torch.uint8)


def _cases() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        _EDGE_VALUES.clone().reshape(1, 1, 2, 3),                                # (B, C, H, W) grey
        torch.randint(0, 256, (2, 3, 4, 5), generator=g, dtype=torch.uint8),     # a colour batch
        torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16),             # every value once
    ]


def _expected(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _diagnose(lo: float, hi: float) -> str:
    """A hint from where 0 and 255 landed: the usual slips each leave a recognisable pair."""
    near = lambda a, b: abs(a - b) < 1e-3  # noqa: E731
    got = f"your 0 maps to {_fmt(lo)} and your 255 to {_fmt(hi)} (expected -1 and 1)"
    known = [
        ((0.0, 1.0), "that is the range [0, 1]: stretch it to [-1, 1] with `* 2 - 1` (or use x / 127.5 - 1)"),
        ((0.0, 2.0), "you divided by 127.5 but did not subtract 1"),
        ((-1.0, 254.0), "did you write `x - 127.5 / 127.5`? Division happens before subtraction: "
                        "write `(x - 127.5) / 127.5` or `x / 127.5 - 1`"),
        ((-127.5, 127.5), "you subtracted 127.5 but did not divide by 127.5"),
        ((-1.0, 255 / 128 - 1), "you divided by 128: divide by 127.5 (half of 255) so that 255 lands exactly on 1"),
        ((-128 / 127.5, 127 / 127.5), "you subtracted 128: subtract 127.5 (the middle of 0..255)"),
        ((-1.0, 0.0), "you divided by 255 before subtracting 1: that gives [-1, 0]; use x / 127.5 - 1"),
        ((-0.5, 0.5), "you subtracted 0.5 from x / 255: that gives [-0.5, 0.5]; use x / 127.5 - 1"),
        ((1.0, -1.0), "your range is upside down: 0 (black) must map to -1 and 255 (white) to 1"),
        ((-1.0, 254 / 255 - 1), "uint8 arithmetic wraps around at 256 (255 * 2 = 254): convert with `x.float()` first"),
    ]
    for (a, b), hint in known:
        if near(lo, a) and near(hi, b):
            return f"{got}: {hint}."
    return f"{got}: the map is a straight line through (0, -1) and (255, 1), i.e. y = x / 127.5 - 1."


@check
def check_to_unit_range(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(x)``: uint8 ``(B, C, H, W)`` in 0..255 → float32, same shape, in ``[-1, 1]``, with
    0 → -1, 255 → 1 and everything in between on a straight line."""
    if not callable(fn):
        raise Wrong(f"pass your function itself, e.g. check_to_unit_range(to_unit_range), not a value of type {type(fn).__name__}")
    for x in _cases():
        before = x.clone()
        y = fn(x)
        if y is None:
            raise Wrong("your function returned None: did you forget the `return`?")
        if not isinstance(y, torch.Tensor):
            raise Wrong(f"expected a torch.Tensor back, got {type(y).__name__}: keep the work in torch "
                        "(x.float() / 127.5 - 1)")
        if not torch.equal(x, before):
            raise Wrong("your function changed its input in place (an operation ending in `_`, such as div_): "
                        "return a new tensor and leave the uint8 images as they were")
        if tuple(y.shape) != tuple(x.shape):
            raise Wrong(f"expected shape {tuple(x.shape)} (the input's), got {tuple(y.shape)}: "
                        "scaling must not change the shape")
        if not y.is_floating_point():
            raise Wrong(f"expected float32 values, got {y.dtype}: integers cannot hold -0.99…; "
                        "convert with x.float() before dividing (and use /, not //)")
        if y.dtype != torch.float32:
            raise Wrong(f"expected float32, got {y.dtype}: models in this course use float32; use x.float()")
        if not torch.isfinite(y).all():
            raise Wrong("your output contains NaN or inf: did you divide by zero?")
        want = _expected(x)
        if not torch.allclose(y, want, atol=1e-5, rtol=0):
            try:  # right on float input but wrong on uint8: integer arithmetic wrapped around
                on_float = fn(x.float())
                wraps = isinstance(on_float, torch.Tensor) and torch.allclose(on_float.float(), want, atol=1e-5, rtol=0)
            except Exception:
                wraps = False
            if wraps:
                raise Wrong("your function is right for float input but not for the uint8 images: uint8 arithmetic "
                            "wraps around at 256 (255 * 2 = 254). Convert first: x.float() / 127.5 - 1")
            ends = fn(_EDGE_VALUES.clone().reshape(1, 1, 2, 3)).flatten().tolist()
            lo, hi = float(ends[0]), float(ends[-1])
            if abs(lo + 1) < 1e-5 and abs(hi - 1) < 1e-5:
                i = int((y - want).abs().flatten().argmax())
                v = int(x.flatten()[i])
                raise Wrong(f"0 and 255 are right, but {v} maps to {_fmt(float(y.flatten()[i]))}, expected "
                            f"{_fmt(float(want.flatten()[i]))}: every value must lie on the straight line "
                            "y = x / 127.5 - 1 (no rounding, clamping or curves)")
            raise Wrong(_diagnose(lo, hi))
    mid = _expected(torch.tensor([127, 128], dtype=torch.uint8)).tolist()
    return (f"Correct: 0 → -1, 255 → 1, and the middle values 127 → {mid[0]:.4f}, 128 → {mid[1]:.4f} "
            "(255 is odd, so no pixel lands exactly on 0). genimg_course.data.to_float does the same.")
