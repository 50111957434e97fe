"""The PatchGAN discriminator of pix2pix (Isola, Zhu, Zhou & Efros, CVPR 2017), scaled down to digits,
and the receptive-field arithmetic that explains its name.

A PatchGAN does not say "real" or "fake" once per image: it outputs a *map* of logits, one per
overlapping patch, each computed from one ``r×r`` window of the input only (``r`` its receptive
field). L1 already gets the low frequencies right; the patch discriminator only has to judge local
texture and sharpness, with fewer weights, on any image size. For ``layers=2`` (the default) on
28x28 digits, ``width=32``::

    [condition ⊕] x                (B, C [+ c], 28, 28)
    conv 4x4 s2, LeakyReLU 0.2     (B,  32, 14, 14)      no norm on the first layer (as pix2pix)
    conv 4x4 s2, norm, LReLU       (B,  64,  7,  7)
    conv 4x4 s1, norm, LReLU       (B, 128,  6,  6)
    conv 4x4 s1                    (B,   1,  5,  5)      one logit per patch

``layers`` counts the stride-2 convs (pix2pix's ``n_layers``); channels double at each one, up to
``8·width``. The receptive field of a stack, from :func:`receptive_field`
(``r_out = r_in + (k - 1)·j_in``, ``j_out = j_in·s``, starting at ``r = 1, j = 1``):

=======================  ======  ====  ===============================
configuration            r       jump  logits on the input
=======================  ======  ====  ===============================
``layers=1``             16      2     12x12 on 28x28
``layers=2`` (default)   34      4     5x5 on 28x28
``layers=3`` (the paper) 70      8     30x30 on 256x256 (the "70x70 PatchGAN")
=======================  ======  ====  ===============================

So with the default each logit's window (34 px, padding included) is wider than a 28x28 digit,
but windows start 4 px apart and the border ones see mostly padding: the 25 logits judge 25
shifted views. ``layers=1`` gives 16-pixel patches, about a stroke and its neighbourhood; on
32x32 photo patches ``layers=2`` gives 6x6 logits of 34 px windows. The receptive field is a
property of the convolutions: ``norm="instance"`` (the default, as pix2pix) and ``"batch"`` in
training mode normalise with statistics of the whole map, so through them every logit depends a
little on every pixel; with ``norm="none"`` (or BatchNorm in eval mode) the gradient of one logit
is non-zero exactly on its ``r×r`` window (the tests check both).

``conditional_channels=c``: ``D(x, condition)`` concatenates the condition ``(B, c, H, W)`` (the
translation's input) before ``x`` (the real or generated output), as pix2pix's D judges the pair.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
from torch import nn

from ._checks import check_int, check_model_input, describe

__all__ = ["PatchGAN", "receptive_field", "ReceptiveField", "NORMS"]

NORMS = ("instance", "batch", "none")


class ReceptiveField(NamedTuple):
    """``size``: the side ``r`` of the input window one output sees; ``jump``: the input distance
    between two neighbouring outputs (the product of the strides)."""

    size: int
    jump: int


def _layer_geometry(layers: Any) -> list[tuple[int, int, int]]:
    """``(kernel, stride, dilation)`` per spatial layer, from a module (its convolutions and
    poolings in registration order) or a sequence of ``(kernel, stride)`` / ``(kernel, stride, dilation)``."""
    if isinstance(layers, nn.Module):
        out = []
        for m in layers.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                if isinstance(m, nn.ConvTranspose2d):
                    raise ValueError("receptive_field: transposed convolutions up-sample; this arithmetic is for "
                                     "down-sampling stacks (convs and poolings)")
                k, s, d = m.kernel_size, m.stride, m.dilation
                if k[0] != k[1] or s[0] != s[1] or d[0] != d[1]:
                    raise ValueError(f"receptive_field handles square kernels and strides, got {m}")
                out.append((k[0], s[0], d[0]))
            elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                s = m.stride if isinstance(m.stride, int) else m.stride[0]
                d = getattr(m, "dilation", 1)
                out.append((k, s, d if isinstance(d, int) else d[0]))
        if not out:
            raise ValueError(f"receptive_field: {type(layers).__name__} has no Conv2d or pooling layer")
        return out
    if not isinstance(layers, Sequence) or isinstance(layers, str) or not layers:
        raise TypeError("receptive_field expects a network (nn.Module) or a non-empty list of (kernel, stride) pairs, "
                        f"got {describe(layers)}")
    out = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3):
            raise TypeError(f"receptive_field: layer {i} must be (kernel, stride) or (kernel, stride, dilation), "
                            f"got {describe(layer)}")
        k, s, *d = layer
        out.append((check_int(f"layer {i} kernel", k, 1), check_int(f"layer {i} stride", s, 1),
                    check_int(f"layer {i} dilation", d[0], 1) if d else 1))
    return out


def receptive_field(module_or_layers: nn.Module | Sequence[tuple[int, ...]]) -> ReceptiveField:
    """The receptive field of a stack of convolutions / poolings, computed layer by layer from the
    input: ``r_out = r_in + (k - 1)·d·j_in`` and ``j_out = j_in·s`` (kernel ``k``, stride ``s``,
    dilation ``d``; ``r = j = 1`` for the input pixels). Padding shifts the windows, never their size.

    ``module_or_layers``: a network (its ``Conv2d`` / pooling layers in order; activations and norms
    count for nothing) or a list such as ``[(4, 2), (4, 2), (4, 1), (4, 1)]``.

    >>> receptive_field([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)])  # pix2pix's 70x70 PatchGAN
    ReceptiveField(size=70, jump=8)
    """
    r, j = 1, 1
    for k, s, d in _layer_geometry(module_or_layers):
        r = r + (k - 1) * d * j  # each step of the kernel moves j_in input pixels
        j = j * s
    return ReceptiveField(r, j)


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(c)  # per image and channel, no learned affine (pix2pix's default)
    if kind == "batch":
        return nn.BatchNorm2d(c)
    return nn.Identity()


class PatchGAN(nn.Module):
    """pix2pix's patch discriminator: ``x (B, in_channels, H, W)`` [, ``condition (B, c, H, W)``] →
    logits ``(B, 1, h, w)``, one per patch (see the module docstring for the layers and the
    receptive field). ``layers``: stride-2 convs (1 to 5); ``norm``: ``"instance"``, ``"batch"``
    or ``"none"``; ``conditional_channels``: channels of the condition (0: unconditional)."""

    def __init__(self, in_channels: int, width: int = 32, layers: int = 2, norm: str = "instance",
                 conditional_channels: int = 0) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        width = check_int("width", width, minimum=1)
        layers = check_int("layers", layers, minimum=1)
        if layers > 5:
            raise ValueError(f"layers must be from 1 to 5 (each halves the image: 2 fits 28x28 digits, 3 is the paper's "
                             f"256x256 config), got {layers}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        conditional_channels = check_int("conditional_channels", conditional_channels, minimum=0)
        self.in_channels, self.conditional_channels, self.layers, self.norm = in_channels, conditional_channels, layers, norm
        bias = norm != "batch"  # BatchNorm's shift replaces the conv's bias
        ch = [width * min(2 ** i, 8) for i in range(layers + 1)]
        seq: list[nn.Module] = [nn.Conv2d(in_channels + conditional_channels, ch[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, layers):  # the other stride-2 convs, normalised
            seq += [nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=bias), _norm(norm, ch[i]), nn.LeakyReLU(0.2)]
        seq += [nn.Conv2d(ch[layers - 1], ch[layers], 4, 1, 1, bias=bias), _norm(norm, ch[layers]), nn.LeakyReLU(0.2),
                nn.Conv2d(ch[layers], 1, 4, 1, 1)]  # stride 1: wider patches, no further down-sampling; 1 logit each
        self.net = nn.Sequential(*seq)

    @property
    def receptive_field(self) -> ReceptiveField:
        """The patch size ``r`` each logit sees and the stride ``jump`` between patches."""
        return receptive_field(self.net)

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """The ``(h, w)`` of the logit map for ``H×W`` inputs: each 4x4 stride-2 conv (padding 1) maps
        ``n → n // 2``, each stride-1 one ``n → n - 1``."""
        for _ in range(self.layers):
            h, w = h // 2, w // 2
        return h - 2, w - 2

    def _check_size(self, h: int, w: int) -> None:
        oh, ow = self.output_size(h, w)
        # InstanceNorm needs more than one pixel per map: the last normalised map is (oh + 1, ow + 1)
        small = oh < 1 or ow < 1 or (self.norm == "instance" and (oh + 1) * (ow + 1) < 2)
        if small:
            fits = 2 ** self.layers * 3
            raise ValueError(f"PatchGAN(layers={self.layers}) needs images of at least {fits}x{fits} (each stride-2 conv "
                             f"halves them, then two 4x4 convs take 1 pixel each), got {h}x{w}: use fewer layers")

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        check_model_input(self, x, (self.in_channels, "H", "W"), "PatchGAN", "images")
        if self.conditional_channels:
            if condition is None:
                raise ValueError(f"this PatchGAN is conditional (conditional_channels={self.conditional_channels}): call "
                                 f"D(x, condition) with the translation's input of shape ({x.shape[0]}, "
                                 f"{self.conditional_channels}, {x.shape[2]}, {x.shape[3]})")
            check_model_input(self, condition, (self.conditional_channels, x.shape[2], x.shape[3]), "PatchGAN", "condition")
            if condition.shape[0] != x.shape[0]:
                raise ValueError(f"PatchGAN: condition has {condition.shape[0]} images but x has {x.shape[0]}: one "
                                 "condition per image")
            x = torch.cat([condition.to(x.dtype), x], dim=1)  # the pair (input, output) on channels
        elif condition is not None:
            raise ValueError(f"this PatchGAN is not conditional (conditional_channels=0): call D(x), got a condition "
                             f"{describe(condition)}; build PatchGAN(..., conditional_channels=c) to judge pairs")
        self._check_size(x.shape[2], x.shape[3])
        return self.net(x)
