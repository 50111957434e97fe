"""What the checks of lessons 05–10 share: reading a learner's tensor answer, comparing it, and leaving the learner's
random state as it was."""
from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from . import Wrong

__all__ = ["returned_tensor", "same_values", "keeps_random_state"]


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


def keeps_random_state(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a check that builds a model or draws noise (from torch's global generator), then put the global random
    state back as the learner had it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = torch.random.get_rng_state()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.random.set_rng_state(state)

    return wrapper
