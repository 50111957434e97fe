"""The one argument check every model constructor shares, and the one refusal of labels that an
unconditional model gives."""
from __future__ import annotations

import torch

__all__ = ["check_positive_int", "refuse_labels"]


def check_positive_int(**kw: int | None) -> None:
    """Raise ``ValueError`` naming the argument unless each value is a positive ``int`` (``None``
    passes: an optional size such as ``num_classes``; ``True`` / ``False`` do not count as integers)."""
    for name, v in kw.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def refuse_labels(y: torch.Tensor | None, who: str) -> None:
    """An unconditional model's answer to labels: ``y`` must be ``None``."""
    if y is not None:
        raise ValueError(f"{who} is not conditional (num_classes=None): do not pass labels")
