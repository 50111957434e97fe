"""Checks for lesson 04b (conditional GANs). Each runs in well under a second on a CPU.

* :func:`check_generator_conditioning` — G's input: the codes ``z (B, latent_dim)`` with the one-hot
  label appended, ``(B, latent_dim + num_classes)``, as the package's conditional ``DCGANGenerator`` builds it.
* :func:`check_discriminator_conditioning` — D's input: the images ``(B, C, H, W)`` with ``num_classes``
  constant one-hot planes appended, ``(B, C + num_classes, H, W)``, as the conditional ``DCGANDiscriminator`` does.

Both name the usual slips: the label not used, the wrong ``torch.cat`` dimension, ``F.one_hot`` without
``num_classes`` (its size then depends on the batch), a hard-coded 10, the label appended as one number
(a float), planes not expanded to the image's size, and labels turned into floats before ``F.one_hot``.
The lesson's live cGAN then trains with the learner's two functions.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from . import Wrong, check, expect_signature

__all__ = ["check_generator_conditioning", "check_discriminator_conditioning", "generator_input", "discriminator_input"]


def generator_input(z: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The reference: ``(B, latent_dim)`` codes, ``(B,)`` labels → ``(B, latent_dim + num_classes)``."""
    return torch.cat([z, F.one_hot(y, num_classes).to(z.dtype)], dim=1)


def discriminator_input(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The reference: ``(B, C, H, W)`` images, ``(B,)`` labels → ``(B, C + num_classes, H, W)``."""
    planes = F.one_hot(y, num_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, planes], dim=1)


def _shape(t: Any) -> str:
    return f"shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__


def _call(fn: Callable[..., Any], name: str, *args: Any) -> Any:
    """Run the learner's function; turn the errors of the usual slips into hints (NotImplementedError passes)."""
    try:
        return fn(*args)
    except RuntimeError as e:
        msg = str(e)
        if "one_hot is only applicable to index tensor" in msg:
            raise Wrong(f"{name}: F.one_hot needs integer labels (torch.long): one-hot encode y as it is, then "
                        "convert the one-hot to floats (`.to(z.dtype)`), not the labels before it") from None
        if "Class values must be smaller than num_classes" in msg:
            raise Wrong(f"{name}: F.one_hot got a num_classes smaller than a label: pass the function's own "
                        "num_classes argument") from None
        if "Sizes of tensors must match except in dimension 0" in msg:
            raise Wrong(f"{name}: torch.cat along dim=0 stacks more samples onto the batch: concatenate along "
                        "dim=1 (each sample's features or channels)") from None
        if "Sizes of tensors must match except in dimension 1" in msg and name == "condition_discriminator_input":
            raise Wrong(f"{name}: the one-hot label is (B, num_classes) but the images are (B, C, H, W): make it "
                        "(B, num_classes, 1, 1) and expand it to (B, num_classes, H, W), one constant plane per "
                        "class, before torch.cat") from None
        if "Sizes of tensors must match except in dimension" in msg:
            raise Wrong(f"{name}: torch.cat joined along the wrong dimension: concatenate along dim=1 "
                        f"({str(e).splitlines()[0]})") from None
        if "Tensors must have same number of dimensions" in msg and name == "condition_discriminator_input":
            raise Wrong(f"{name}: torch.cat got the (B, C, H, W) images and a one-hot with fewer dimensions: make it "
                        "(B, num_classes, 1, 1) with [:, :, None, None] and expand it to (B, num_classes, H, W)") from None
        if "Tensors must have same number of dimensions" in msg:
            raise Wrong(f"{name}: torch.cat needs tensors with the same number of dimensions "
                        f"({str(e).splitlines()[0]}): shape the one-hot label like the tensor you join it to") from None
        raise


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return tuple(a.shape) == tuple(b.shape) and bool(torch.allclose(a.double(), b.double(), atol=1e-6))


# (latent_dim or image shape, labels, num_classes): labels that never reach the last class (F.one_hot without
# num_classes then gives too few columns), a num_classes other than 10, and one case with latent_dim == num_classes
# (a torch.cat along dim 0 then runs without an error and doubles the batch)
_G_CASES = [(5, [0, 2, 1, 3, 2, 0], 7), (10, [9, 0, 3, 5], 10), (3, [4, 1, 0], 12)]
_D_CASES = [((2, 4, 3), [1, 0, 3, 1, 2], 6), ((1, 5, 5), [9, 2, 7], 10)]



def _one_hot_width(name: str, out: torch.Tensor, where: str, extra: int, num_classes: int, labels: list[int],
                   unit: str, one_number: str, expected: str) -> None:
    """The slips that give the label part of the input the wrong width: the label as one number, a
    one-hot sized by the batch's largest label, a fixed 10."""
    if extra == num_classes:
        return
    head = f"{name} returned shape {tuple(out.shape)} {where}"
    if extra == 1:
        raise Wrong(f"{head}: {one_number}")
    if extra == max(labels) + 1:
        raise Wrong(f"{head}: F.one_hot(y) without num_classes makes only max(y) + 1 {unit}, so its size depends on "
                    "the batch; pass num_classes")
    if extra == 10:
        raise Wrong(f"{head}: you made 10 one-hot {unit}; use the num_classes argument, not a fixed 10")
    raise Wrong(f"{head}: {expected}")

@check
def check_generator_conditioning(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> str:
    "``fn(z, y, num_classes)``: ``z (B, latent_dim)`` and the one-hot of ``y`` side by side, ``(B, latent_dim + num_classes)``."
    name = "condition_generator_input"
    g = torch.Generator().manual_seed(7)
    z0 = torch.randn(len(_G_CASES[0][1]), _G_CASES[0][0], generator=g)
    expect_signature(fn, name, "(z, y, num_classes)", z0, torch.tensor(_G_CASES[0][1]), _G_CASES[0][2])
    note = ""
    for latent_dim, labels, num_classes in _G_CASES:
        y = torch.tensor(labels)
        b = len(labels)
        z = torch.randn(b, latent_dim, generator=g)
        z_before, y_before = z.clone(), y.clone()
        out = _call(fn, name, z, y, num_classes)
        where = f"for z of shape {tuple(z.shape)}, labels {labels} and num_classes={num_classes}"
        if out is None:
            raise Wrong(f"{name} returned None: return the tensor you built")
        if not isinstance(out, torch.Tensor):
            raise Wrong(f"{name} returned a {type(out).__name__}: return one tensor (B, latent_dim + num_classes)")
        if not torch.equal(z, z_before) or not torch.equal(y, y_before):
            raise Wrong(f"{name} changed its inputs in place: build a new tensor (torch.cat does) and leave z and y as they are")
        want = (b, latent_dim + num_classes)
        if tuple(out.shape) == tuple(z.shape):
            raise Wrong(f"{name} returned shape {tuple(out.shape)}, z's own shape, {where}: the label is not used. "
                        f"Append its one-hot, F.one_hot(y, num_classes), after z: shape {want}")
        if out.dim() == 2 and out.shape[0] == 2 * b:
            raise Wrong(f"{name} returned shape {tuple(out.shape)} {where}: torch.cat along dim=0 stacked the labels "
                        "under the codes as extra samples; concatenate along dim=1 (each sample's features)")
        if out.dim() != 2 or out.shape[0] != b:
            raise Wrong(f"{name} returned {_shape(out)} {where}: expected {want}, one row per sample (the network "
                        "adds the 1×1 spatial dimensions itself)")
        _one_hot_width(name, out, where, out.shape[1] - latent_dim, num_classes, labels, "columns",
                       "you appended the label as one number. A class is not a quantity (3 is not 'between' 2 and 4, "
                       f"and 9 is not 'more' than 1): append its one-hot, F.one_hot(y, num_classes), {num_classes} columns",
                       f"expected {want} (latent_dim {latent_dim} + num_classes {num_classes})")
        if not out.is_floating_point():
            raise Wrong(f"{name} returned a {out.dtype} tensor: convert the one-hot to z's dtype (`.to(z.dtype)`) so "
                        "the network can take it")
        right = generator_input(z, y, num_classes)
        if _same(out, right):
            continue
        swapped = torch.cat([right[:, latent_dim:], right[:, :latent_dim]], 1)
        if _same(out, swapped):
            note = (" (you put the label before z; the package appends it after z. Either trains, as long as G always "
                    "uses the same order, but the shipped weights expect z first)")
            continue
        if not _same(out[:, :latent_dim], z):
            raise Wrong(f"{name}: the first latent_dim columns {where} are not z itself: keep z unchanged and append "
                        "the label's one-hot after it")
        label_part = out[:, latent_dim:]
        other = _call(fn, name, z, (y + 1) % num_classes, num_classes)
        if isinstance(other, torch.Tensor) and tuple(other.shape) == tuple(out.shape) and _same(other, out):
            raise Wrong(f"{name}: the output does not change when the labels change: the label is not used. "
                        "Append F.one_hot(y, num_classes) after z")
        raise Wrong(f"{name}: the last num_classes columns {where} should be the one-hot of y (1 in column y[i] of row i, "
                    f"0 elsewhere); row 0 has {[round(float(v), 3) for v in label_part[0]]} for label {labels[0]}")
    return "Correct: z and the one-hot label side by side, (B, latent_dim + num_classes)" + note


@check
def check_discriminator_conditioning(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> str:
    "``fn(x, y, num_classes)``: the images and ``num_classes`` constant one-hot planes, ``(B, C + num_classes, H, W)``."
    name = "condition_discriminator_input"
    g = torch.Generator().manual_seed(8)
    shape0, labels0, nc0 = _D_CASES[0]
    x0 = torch.rand(len(labels0), *shape0, generator=g) * 2 - 1
    expect_signature(fn, name, "(x, y, num_classes)", x0, torch.tensor(labels0), nc0)
    note = ""
    for (c, h, w), labels, num_classes in _D_CASES:
        y = torch.tensor(labels)
        b = len(labels)
        x = torch.rand(b, c, h, w, generator=g) * 2 - 1
        x_before, y_before = x.clone(), y.clone()
        out = _call(fn, name, x, y, num_classes)
        where = f"for images of shape {tuple(x.shape)}, labels {labels} and num_classes={num_classes}"
        if out is None:
            raise Wrong(f"{name} returned None: return the tensor you built")
        if not isinstance(out, torch.Tensor):
            raise Wrong(f"{name} returned a {type(out).__name__}: return one tensor (B, C + num_classes, H, W)")
        if not torch.equal(x, x_before) or not torch.equal(y, y_before):
            raise Wrong(f"{name} changed its inputs in place: build a new tensor (torch.cat does) and leave x and y as they are")
        want = (b, c + num_classes, h, w)
        if tuple(out.shape) == tuple(x.shape):
            if torch.equal(out, x):
                raise Wrong(f"{name} returned the images unchanged {where}: the label is not used. Append "
                            f"num_classes one-hot planes after the image's channels: shape {want}")
            raise Wrong(f"{name} returned the images' own shape {tuple(out.shape)} {where} with changed pixels: do not "
                        "mix the label into the pixels; append num_classes constant planes as extra channels")
        if out.dim() != 4 or out.shape[0] != b or tuple(out.shape[2:]) != (h, w):
            raise Wrong(f"{name} returned {_shape(out)} {where}: expected {want}: the same batch and image size, "
                        "num_classes more channels")
        _one_hot_width(name, out, where, out.shape[1] - c, num_classes, labels, "planes",
                       "you appended the label as one plane of its value. A class is not a quantity (3 is not "
                       f"'between' 2 and 4): append its one-hot, {num_classes} planes, all ones for the sample's class "
                       "and zeros for the others",
                       f"expected {want} (C {c} + num_classes {num_classes} channels)")
        if not out.is_floating_point():
            raise Wrong(f"{name} returned a {out.dtype} tensor: convert the one-hot to the images' dtype (`.to(x.dtype)`)")
        right = discriminator_input(x, y, num_classes)
        if _same(out, right):
            continue
        swapped = torch.cat([right[:, c:], right[:, :c]], 1)
        if _same(out, swapped):
            note = (" (you put the label planes before the image; the package appends them after it. Either trains, as "
                    "long as D always uses the same order)")
            continue
        if not _same(out[:, :c], x):
            raise Wrong(f"{name}: the first C channels {where} are not the images themselves: keep x unchanged and "
                        "append the label planes after it")
        planes = out[:, c:]
        if not bool((planes == planes[:, :, :1, :1]).all()):
            raise Wrong(f"{name}: the label planes {where} are not constant over the image: each must be all ones (the "
                        "sample's class) or all zeros (the others); expand the (B, num_classes, 1, 1) one-hot to (H, W)")
        other = _call(fn, name, x, (y + 1) % num_classes, num_classes)
        if isinstance(other, torch.Tensor) and tuple(other.shape) == tuple(out.shape) and _same(other, out):
            raise Wrong(f"{name}: the output does not change when the labels change: the label is not used")
        raise Wrong(f"{name}: the planes {where} should be the one-hot of y (plane y[i] all ones for sample i, the "
                    f"others zeros); sample 0 has plane values {[round(float(v), 3) for v in planes[0, :, 0, 0]]} "
                    f"for label {labels[0]}")
    return "Correct: the images and num_classes constant one-hot planes, (B, C + num_classes, H, W)" + note
