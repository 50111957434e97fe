"""Checks for lesson 03 (DCGAN). Each runs in well under a second on a CPU.

* :func:`check_transposed_sizes` — a generator's sizes layer by layer,
  ``n_out = (n - 1) s - 2p + k + output_padding`` for each transposed convolution.
* :func:`check_upsampling_stack` — three transposed convolutions that grow ``1 → 7 → 14 → 28``.
* :func:`check_seed_shape_bug` — the image side the seed's generator makes, and the one its
  discriminator expects.
* :func:`check_fixed_seed_generator` — the seed's generator with the missing upsampling layer (and
  a ``tanh``) so that :func:`genimg_course.models.check_gan_pair` accepts it with the seed's
  discriminator.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from ..models.dcgan import check_gan_pair
from ..models.seed_dcgan import SeedDiscriminator, SeedGenerator
from ..train import evaluating
from . import Wrong, as_int, check

__all__ = ["check_transposed_sizes", "check_upsampling_stack", "check_seed_shape_bug", "check_fixed_seed_generator",
           "transposed_size"]


def transposed_size(n: int, k: int, s: int, p: int, output_padding: int = 0) -> int:
    """The reference: ``(n - 1) s - 2p + k + output_padding`` (Dumoulin & Visin 2016; PyTorch's
    ``ConvTranspose2d`` with dilation 1)."""
    for name, v, low in (("n", n, 1), ("k", k, 1), ("s", s, 1), ("p", p, 0), ("output_padding", output_padding, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"transposed_size: {name} must be an integer >= {low}, got {v!r}")
    if output_padding >= s:
        raise ValueError(f"transposed_size: output_padding must be smaller than the stride (PyTorch's rule), got "
                         f"output_padding={output_padding} with s={s}")
    out = (n - 1) * s - 2 * p + k + output_padding
    if out < 1:
        raise ValueError(f"transposed_size: n={n}, k={k}, s={s}, p={p} leave no pixels ({out}): the padding crops "
                         "more than the layer makes")
    return out


# (n, layers): each layer (k, s, p, output_padding). DCGAN's stacks, and some odd ones on purpose.
_STACKS: list[tuple[int, list[tuple[int, int, int, int]]]] = [
    (1, [(7, 1, 0, 0), (4, 2, 1, 0), (4, 2, 1, 0)]),  # DCGAN 28x28: 1 -> 7 -> 14 -> 28
    (1, [(4, 1, 0, 0), (4, 2, 1, 0), (4, 2, 1, 0), (4, 2, 1, 0), (4, 2, 1, 0)]),  # DCGAN 64x64
    (4, [(4, 2, 1, 0), (4, 2, 1, 0), (4, 2, 1, 0)]),  # the seed generator: 4 -> 8 -> 16 -> 32
    (7, [(3, 2, 1, 1), (3, 2, 1, 1)]),  # 7 -> 14 -> 28 with output_padding
    (5, [(3, 2, 0, 0), (5, 1, 2, 0), (3, 3, 1, 2)]),
    (2, [(5, 2, 2, 1), (2, 2, 0, 0)]),
]


def _sizes(fn: Callable[..., Any], n: int, layers: list[tuple[int, int, int, int]]) -> list[int]:
    got = fn(n, [tuple(layer) for layer in layers])
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        raise Wrong(f"transposed_sizes({n}, ...) returned one number, {got!r}: return the list of sizes, "
                    f"from the input size {n} to the last layer's output")
    if not isinstance(got, (list, tuple)):
        raise Wrong(f"transposed_sizes should return a list of ints, got {type(got).__name__}")
    return [as_int(v, f"transposed_sizes({n}, ...)[{i}]") for i, v in enumerate(got)]


def _reference(n: int, layers: list[tuple[int, int, int, int]]) -> list[int]:
    sizes = [n]
    for k, s, p, op in layers:
        sizes.append(transposed_size(sizes[-1], k, s, p, op))
    return sizes


@check
def check_transposed_sizes(fn: Callable[[int, list], list]) -> str:
    """``fn(n, layers)`` with ``layers`` a list of ``(k, s, p, output_padding)`` must return
    ``[n, n_1, …, n_L]``, the image side before and after each transposed convolution."""
    if not callable(fn):
        raise Wrong(f"expected a function transposed_sizes(n, layers), got {type(fn).__name__}")
    try:
        inspect.signature(fn).bind(1, [])
    except TypeError as e:
        raise Wrong(f"transposed_sizes must accept (n, layers): {e}") from None
    except ValueError:
        pass
    for n, layers in _STACKS:
        expected = _reference(n, layers)
        got = _sizes(fn, n, layers)
        if got == expected:
            continue
        stack = ", ".join(f"(k={k}, s={s}, p={p}, op={op})" for k, s, p, op in layers)
        where = f"for n = {n} and layers {stack}: expected {expected}, got {got}"
        if got == expected[1:]:
            raise Wrong(f"{where}. Start the list with the input size n = {n}, then one size per layer.")
        if len(got) != len(expected):
            raise Wrong(f"{where}: the list should hold {len(expected)} sizes (the input, then one per layer)")
        tips = [
            (lambda m, k, s, p, op: (m + 2 * p - k) // s + 1,
             "that is the *forward* convolution's size; a transposed convolution runs it backwards: "
             "(n - 1)·s - 2p + k + output_padding"),
            (lambda m, k, s, p, op: (m - 1) * s - 2 * p + k,
             "output_padding is missing: add it at the end (it adds rows/columns on one side)"),
            (lambda m, k, s, p, op: (m - 1) * s - p + k + op, "padding p is removed on *both* sides: -2p"),
            (lambda m, k, s, p, op: m * s - 2 * p + k + op, "it is (n - 1)·s: n pixels leave n - 1 gaps of s between them"),
            (lambda m, k, s, p, op: (m - 1) * s + 2 * p + k + op,
             "in a transposed convolution padding *crops* the output: -2p, not +2p"),
        ]
        for formula, tip in tips:
            wrong = [n]
            for k, s, p, op in layers:
                wrong.append(formula(wrong[-1], k, s, p, op))
            if got == wrong:
                raise Wrong(f"{where}: {tip}")
        if got == [n] + [transposed_size(n, *layer) for layer in layers]:
            raise Wrong(f"{where}: each layer must start from the previous layer's output, not from n")
        first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        raise Wrong(f"{where}: the size after layer {first} of {len(layers)} is the first that differs; the formula is "
                    "(n - 1)·s - 2p + k + output_padding, applied layer after layer")
    return "transposed_sizes agrees with nn.ConvTranspose2d on DCGAN's stacks and some odd ones."


def _layer(spec: Any, i: int) -> tuple[int, int, int, int]:
    if isinstance(spec, nn.ConvTranspose2d):
        def one(v: Any) -> int:
            return v[0] if isinstance(v, tuple) else v
        return one(spec.kernel_size), one(spec.stride), one(spec.padding), one(spec.output_padding)
    if not isinstance(spec, (tuple, list)) or len(spec) not in (3, 4):
        raise Wrong(f"layer {i} should be a tuple (k, s, p, output_padding), got {spec!r}")
    vals = [as_int(v, f"layer {i}'s {name}") for v, name in zip(spec, ("k", "s", "p", "output_padding"))]
    return tuple(vals + [0] * (4 - len(vals)))  # type: ignore[return-value]


@check
def check_upsampling_stack(layers: Any) -> str:
    """``layers``: three ``(k, s, p, output_padding)`` tuples (or ``nn.ConvTranspose2d``) that grow a
    ``1 x 1`` input to ``7 → 14 → 28``, or a function returning them; checked with real
    ``nn.ConvTranspose2d`` layers."""
    if callable(layers) and not isinstance(layers, nn.Module):
        layers = layers()
    if not isinstance(layers, (list, tuple, nn.Sequential)):
        raise Wrong(f"layers should be a list of three (k, s, p, output_padding) tuples, got {type(layers).__name__}")
    specs = [_layer(spec, i) for i, spec in enumerate(layers)]
    if len(specs) != 3:
        raise Wrong(f"expected 3 layers (1 → 7 → 14 → 28), got {len(specs)}")
    x = torch.zeros(1, 1, 1, 1)
    sizes = [1]
    for i, (k, s, p, op) in enumerate(specs):
        if k < 1 or s < 1 or p < 0 or op < 0:
            raise Wrong(f"layer {i} (k={k}, s={s}, p={p}, output_padding={op}): k and s must be >= 1, p and "
                        "output_padding >= 0")
        if op >= s:
            raise Wrong(f"layer {i}: output_padding must be smaller than the stride (PyTorch's rule), got "
                        f"output_padding={op} with s={s}")
        try:
            with torch.no_grad():
                x = nn.ConvTranspose2d(1, 1, k, s, p, output_padding=op, bias=False)(x)
        except RuntimeError as e:
            raise Wrong(f"layer {i} (k={k}, s={s}, p={p}, output_padding={op}) fails on a {sizes[-1]}x{sizes[-1]} "
                        f"input: {str(e).splitlines()[0]}") from None
        sizes.append(x.shape[-1])
    chain = " → ".join(map(str, sizes))
    if sizes != [1, 7, 14, 28]:
        hint = ""
        if sizes[1] != 7:
            hint = (" From 1x1, (1 - 1)·s cancels the stride: the output is k - 2p + output_padding, so a kernel "
                    "of 7 with p = 0 makes 7x7 (DCGAN's 'project and reshape').")
        elif sizes[2] != 14 or sizes[3] != 28:
            hint = " To double n with s = 2: (n - 1)·2 - 2p + k + op = 2n, i.e. k - 2p + op = 2 (e.g. k=4, p=1)."
        raise Wrong(f"your layers grow 1x1 to {chain}, expected 1 → 7 → 14 → 28.{hint}")
    uneven = [i for i, (k, s, p, op) in enumerate(specs) if s > 1 and k % s]
    if uneven:
        return (f"1 → 7 → 14 → 28. Note: layer {uneven[0]} has a kernel not divisible by its stride, which "
                "overlaps unevenly and makes checkerboard artefacts (lesson 01; Odena et al. 2016); "
                "DCGAN's k=4, s=2, p=1 avoids that.")
    return "1 → 7 → 14 → 28: the shape plan of this lesson's DCGANGenerator."


def _side(value: Any, what: str) -> int:
    if isinstance(value, (tuple, list, torch.Size)):
        if len(value) not in (2, 3) or len({int(v) for v in value[-2:]}) != 1:
            raise Wrong(f"{what}: give the side of the square image as one int (e.g. 28), got {value!r}")
        if len(value) == 3 and value[0] != 3:
            raise Wrong(f"{what}: the seed's images have 3 channels (RGB), got {tuple(value)}")
        value = value[-1]
    return as_int(value, what)


@check
def check_seed_shape_bug(answer: Any) -> str:
    """``answer = (generator_side, discriminator_side)`` (or a function returning it): the side of the
    images the seed's generator makes and the side its discriminator is built for."""
    if callable(answer):
        answer = answer()
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong("answer with a pair (generator_side, discriminator_side), e.g. (28, 28)")
    g, d = _side(answer[0], "generator_side"), _side(answer[1], "discriminator_side")
    if g != 32:
        if g == 64:
            raise Wrong("generator_side = 64 is what the text claims, not what the code makes: start from the Dense "
                        "layer's Reshape((4, 4, 512)) and double once per stride-2 Conv2DTranspose (how many are there?)")
        if g in (4, 8, 16):
            raise Wrong(f"generator_side = {g}: that is an intermediate size; follow all three stride-2 "
                        "Conv2DTranspose layers, and the last Conv2D (stride 1, 'same') keeps the size")
        if g == 28:
            raise Wrong("generator_side = 28 is MNIST's size, but the seed code never sees MNIST: read its layers")
        raise Wrong(f"generator_side = {g}: start at 4x4 (the Reshape) and double once per stride-2 Conv2DTranspose "
                    "with padding='same'")
    if d != 64:
        if d == 8:
            raise Wrong("discriminator_side = 8 is the size *after* its three stride-2 convolutions; what is the "
                        "input_shape passed to build_discriminator?")
        if d == 32:
            raise Wrong("discriminator_side = 32 would make the pair fit — but look at input_shape in the main "
                        "program: the bug is that it differs from the generator's output")
        raise Wrong(f"discriminator_side = {d}: look at input_shape = (..., ..., 3) in the seed's main program")
    return ("The generator makes 32x32x3 images (4 → 8 → 16 → 32) but the discriminator is built for 64x64x3: "
            "Keras would refuse the very first fake batch (erratum 2).")


class _LogitSeedDiscriminator(nn.Module):
    """The seed's discriminator with its ``(B, 1)`` output flattened to ``(B,)``: the seed ends in a
    sigmoid probability of shape ``(B, 1)`` (Keras' ``Dense(1, activation='sigmoid')``), while
    :func:`check_gan_pair` wants the course's one score per image. Only the generator is checked here."""

    def __init__(self) -> None:
        super().__init__()
        self.d = SeedDiscriminator()
        self.image_shape = self.d.image_shape

    def forward(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        return self.d(x, y).flatten()


@check
def check_fixed_seed_generator(G: Any) -> str:
    """``G``: the seed's generator with one more upsampling step (32 → 64) and a final ``tanh`` — or a
    function that makes those changes to the ``SeedGenerator`` it is given and returns it:
    :func:`check_gan_pair` must accept it with ``SeedDiscriminator()`` (64x64x3), and its images
    must lie in [-1, 1]."""
    if callable(G) and not isinstance(G, nn.Module):
        fix = G
        G = fix(SeedGenerator(latent_dim=100))
        if G is None:
            raise Wrong(f"{getattr(fix, '__name__', 'your function')} returned None: end it with `return G`")
    if not isinstance(G, nn.Module):
        raise Wrong(f"expected a generator (nn.Module), got {type(G).__name__}")
    latent_dim = getattr(G, "latent_dim", None)
    if not latent_dim:
        raise Wrong("your generator has no latent_dim attribute: keep the seed's (SeedGenerator sets it)")
    torch.manual_seed(0)
    D = _LogitSeedDiscriminator()
    try:
        shape = check_gan_pair(G, D, latent_dim)
    except ValueError as e:
        msg = str(e)
        if "(3, 32, 32)" in msg:
            msg += " — you still have three stride-2 upsampling layers: add one more (32 → 64)"
        raise Wrong(msg) from None
    except RuntimeError as e:
        raise Wrong(f"your generator fails on a batch of codes: {str(e).splitlines()[0]}") from None
    with evaluating(G), torch.no_grad():
        p = next(G.parameters())
        x = G(torch.randn(2, latent_dim, device=p.device) * 1e3)  # huge codes: only a squashing output stays bounded
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= -1.0 - 1e-6 and hi <= 1.0 + 1e-6):
        raise Wrong(f"the shapes fit now ({shape}), but nothing bounds the output (it reached [{lo:.3g}, {hi:.3g}] "
                    "for large codes): end with nn.Tanh() so fakes lie in [-1, 1] like the scaled real images (erratum 5)")
    if lo >= -1e-6:
        raise Wrong(f"the shapes fit now ({shape}), but the output never goes below 0 (a sigmoid?): real images "
                    "are scaled to [-1, 1], so end with nn.Tanh()")
    return f"check_gan_pair accepts it: the generator makes {shape} images in [-1, 1], what the discriminator expects."
