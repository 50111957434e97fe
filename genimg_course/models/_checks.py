"""The argument checks the package's public helpers share, so that each refuses bad input the same
way — naming the argument, what it expected and what came — before any work is done.

Two kinds: checks of plain arguments (sizes, numbers, flags, ranges, devices), and checks of the
tensors a model's ``forward`` receives. The tensor checks look only at shape, dtype and device,
never at values: they run on every training step, where reading a value would make the host wait
for the GPU. Checks that read values (a range, NaN) are the callers' job, once, outside the step.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["check_positive_int", "check_int", "check_bool", "check_number", "check_value_range", "check_device",
           "check_module", "check_tensor", "check_model_input", "labels_one_hot", "refuse_labels", "describe"]


def describe(v: Any) -> str:
    """What came, in a few words: a tensor's ``dtype`` and shape, else the value's type and repr."""
    if isinstance(v, torch.Tensor):
        dtype = str(v.dtype).replace("torch.", "")
        return f"{'an' if dtype[0] in 'aeiou' else 'a'} {dtype} tensor of shape {tuple(v.shape)}"
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def check_positive_int(**kw: int | None) -> None:
    """Raise ``ValueError`` naming the argument unless each value is a positive ``int`` (``None``
    passes: an optional size such as ``num_classes``; ``True`` / ``False`` do not count as integers)."""
    for name, v in kw.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def check_int(name: str, v: Any, minimum: int | None = None) -> int:
    """``v`` as an ``int`` (not a bool, not a float), at least ``minimum`` when given."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(v)}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def check_bool(**kw: Any) -> None:
    """Raise ``TypeError`` unless each value is ``True`` or ``False`` (a string such as ``"no"`` is truthy)."""
    for name, v in kw.items():
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be True or False, got {v!r}"[:200])


def check_number(name: str, v: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``v`` as a finite ``float`` (an int, float or one-element tensor; not a bool, not NaN or inf)
    within ``[low, high]`` (``low_open`` / ``high_open`` exclude an end)."""
    if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.dtype == torch.bool:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number, got {describe(v)}")
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if (low is not None and (x < low or (low_open and x == low))) or (
            high is not None and (x > high or (high_open and x == high))):
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        raise ValueError(f"{name} must be a number {' and '.join(s for s in (lo, hi) if s)}, got {v!r}")
    return x


def check_value_range(value_range: Any, name: str = "value_range") -> tuple[float, float]:
    """``(low, high)``: two finite numbers with ``high > low``."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(f"{name} must be a pair (low, high) such as (-1, 1) or (0, 1), got {describe(value_range)}")
    lo, hi = (check_number(f"{name}[{i}]", v) for i, v in enumerate(value_range))
    if not hi > lo:
        raise ValueError(f"{name} must be (low, high) with high > low, got {tuple(value_range)}")
    return lo, hi


def check_device(device: Any, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``)."""
    if isinstance(device, bool) or not isinstance(device, (str, torch.device, int)):
        raise TypeError(f"{name} must be a device such as 'cpu' or 'cuda', got {describe(device)}")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{name} must be a device such as 'cpu', 'cuda' or 'cuda:0', got {device!r}") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={device!r} but this machine has no CUDA GPU that torch can use: use 'cpu' "
                             "(or profiles' device, which picks what is there)")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"{name}={device!r} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if d.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"{name}={device!r} but Apple's MPS backend is not available here: use 'cpu'")
    return d


def check_module(name: str, m: Any, who: str = "") -> nn.Module:
    """``m`` must be an ``nn.Module``."""
    if not isinstance(m, nn.Module):
        raise TypeError(f"{who + ': ' if who else ''}{name} must be a network (a torch nn.Module), got {describe(m)}")
    return m


def check_tensor(name: str, x: Any, who: str = "", *, dim: int | tuple[int, ...] | None = None,
                 floating: bool = False, nonempty: bool = True) -> torch.Tensor:
    """``x`` must be a tensor (of ``dim`` dimensions, float when ``floating``, with at least one row
    when ``nonempty``). Looks at the shape and dtype only: no host sync."""
    pre = f"{who}: " if who else ""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{pre}{name} must be a tensor, got {describe(x)}")
    dims = (dim,) if isinstance(dim, int) else dim
    if dims is not None and x.dim() not in dims:
        want = " or ".join(str(d) for d in dims)
        raise ValueError(f"{pre}{name} must have {want} dimensions, got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{pre}{name} must be a float tensor, got {x.dtype}"
                        + (" (uint8 0..255 images?): scale them with data.to_float first" if x.dtype == torch.uint8 else ""))
    if nonempty and (x.dim() == 0 or x.shape[0] == 0):
        raise ValueError(f"{pre}{name} is empty (shape {tuple(x.shape)}): expected at least one sample")
    return x


def check_model_input(module: nn.Module, x: Any, shape: tuple, who: str, what: str) -> None:
    """The checks every model's ``forward`` makes on its input ``x`` (codes, images or points), shape
    and dtype only (no host sync): a float tensor ``(B, *shape)`` with ``B >= 1`` (a name such as
    ``"H"`` in ``shape`` matches any size), on the model's device, not float64 when the model is float32."""
    expected = "(B, " + ", ".join(str(s) for s in shape) + ")"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{who} expects {what} of shape {expected}, got {describe(x)}")
    if x.dim() != 1 + len(shape) or any(not isinstance(s, str) and s != t for s, t in zip(shape, x.shape[1:])):
        raise ValueError(f"{who} expects {what} of shape {expected}, got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{who} got an empty batch of {what} (shape {tuple(x.shape)}): expected B >= 1")
    p = next(module.parameters(), None)
    if not x.is_floating_point():
        hint = ": scale uint8 images with data.to_float first" if x.dtype == torch.uint8 else ": use .float()"
        raise TypeError(f"{who} expects float {what}, got {x.dtype}{hint}")
    if p is not None:
        if x.dtype == torch.float64 and p.dtype != torch.float64:
            raise TypeError(f"{who} expects {what} in the model's dtype {p.dtype}, got float64: use .float()")
        if x.device != p.device:
            raise ValueError(f"{who}'s weights are on {p.device} but the {what} are on {x.device}: "
                             f"move them with .to({str(p.device)!r})")


def labels_one_hot(y: Any, num_classes: int, batch: int, who: str, dtype: torch.dtype) -> torch.Tensor:
    """One-hot ``(B, num_classes)`` of integer labels ``y`` ``(B,)``. Shape and dtype are checked here;
    the range is checked by ``F.one_hot`` itself (no extra host sync), whose error is reworded."""
    if y is None:
        raise ValueError(f"{who} is conditional ({num_classes} classes): pass labels y of shape ({batch},)")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{who}: labels y must be an integer tensor of shape ({batch},), got {describe(y)}")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise TypeError(f"{who}: labels y must be integer class indices 0..{num_classes - 1} (int64), got {y.dtype}")
    if tuple(y.shape) != (batch,):
        raise ValueError(f"{who}: labels y must have shape ({batch},), one per sample, got {tuple(y.shape)}")
    try:
        return F.one_hot(y.long(), num_classes).to(dtype)
    except RuntimeError as e:
        raise ValueError(f"{who}: labels y must be class indices from 0 to {num_classes - 1}: "
                         f"{str(e).splitlines()[0]}") from None


def refuse_labels(y: torch.Tensor | None, who: str) -> None:
    """An unconditional model's answer to labels: ``y`` must be ``None``."""
    if y is not None:
        raise ValueError(f"{who} is not conditional (num_classes=None): do not pass labels y, got {describe(y)}")
