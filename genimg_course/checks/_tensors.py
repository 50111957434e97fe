"""What the checks of lessons 05 and 06 share: reading a learner's tensor answer, and comparing it."""
from __future__ import annotations

from typing import Any

import torch

from . import Wrong

__all__ = ["returned_tensor", "same_values"]


def returned_tensor(got: Any, name: str, what: str) -> torch.Tensor:
    """The learner's return value as a float tensor, or a :class:`Wrong` that says what came instead."""
    if got is None:
        raise Wrong(f"{name} returned None: end it with `return ...` ({what})")
    if isinstance(got, (tuple, list)):
        raise Wrong(f"{name} returned a {type(got).__name__} of {len(got)} items: return {what} alone, as one tensor")
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"{name} should return a tensor ({what}), got {type(got).__name__} {got!r}"[:300])
    if not got.is_floating_point():
        raise Wrong(f"{name} returned a {got.dtype} tensor: {what} is made of real numbers (float32 or float64)")
    return got


def same_values(got: torch.Tensor, want: torch.Tensor, rtol: float, atol: float) -> bool:
    """Same shape and values (compared in float64); NaN never matches, +inf matches +inf."""
    return tuple(got.shape) == tuple(want.shape) and bool(
        torch.allclose(got.detach().double(), want.detach().double(), rtol=rtol, atol=atol))
