"""Checks for lesson 03 (DCGAN). Each runs in well under a second on a CPU.

* :func:`check_transposed_sizes` — a generator's sizes layer by layer,
  ``n_out = (n - 1) s - 2p + k + output_padding`` for each transposed convolution.
* :func:`check_upsampling_stack` — three transposed convolutions that grow ``1 → 7 → 14 → 28``.
* :func:`check_seed_shape_bug` — the image side the seed's generator makes, and the one its
  discriminator expects.
* :func:`check_fixed_seed_generator` — the seed's generator with the missing upsampling layer (and
  a ``tanh``) so that :func:`genimg_course.models.check_gan_pair` accepts it with the seed's
  discriminator.
* :func:`check_frechet_distance` and :func:`check_fid_from_features` — FID written from features:
  means, covariances (normalised by n - 1), the matrix square root and the trace formula, compared
  with torchmetrics' own Fréchet distance in float64 on random and real judge features.
"""
from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Callable

import torch
from torch import nn

from ..models.dcgan import check_gan_pair
from ..models.seed_dcgan import SeedDiscriminator, SeedGenerator
from ..train import evaluating
from . import Wrong, as_int, check, expect_signature

__all__ = ["check_transposed_sizes", "check_upsampling_stack", "check_seed_shape_bug", "check_fixed_seed_generator",
           "check_frechet_distance", "check_fid_from_features", "frechet_reference", "transposed_size"]


def _whole(value: Any, what: str) -> int:
    """A size read off (not computed): an int, a numpy integer, a 1-element tensor or a whole float
    such as 32.0 all count; anything else is a hint."""
    if hasattr(value, "numel") and hasattr(value, "item") and value.numel() == 1:
        value = value.item()
    elif hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # a numpy scalar
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise Wrong(f"{what} should be a whole number of pixels, got {type(value).__name__} {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if float(value).is_integer():
        return int(value)
    raise Wrong(f"{what} is {value!r}, not a whole number of pixels")


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
    vals = [_whole(v, f"layer {i}'s {name}") for v, name in zip(spec, ("k", "s", "p", "output_padding"))]
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
    # Uneven overlap needs overlap: a 1x1 input is one stamp of the kernel, whatever the stride.
    uneven = [i for i, (k, s, p, op) in enumerate(specs) if sizes[i] > 1 and s > 1 and k % s]
    if uneven:
        i = uneven[0]
        return (f"1 → 7 → 14 → 28. Note: layer {i} (on a {sizes[i]}x{sizes[i]} input) has a kernel not divisible "
                "by its stride, so neighbouring stamps overlap unevenly and can make checkerboard artefacts "
                "(lesson 01; Odena et al. 2016); DCGAN's k=4, s=2, p=1 avoids that.")
    return "1 → 7 → 14 → 28: the shape plan of this lesson's DCGANGenerator."


def _side(value: Any, what: str, notes: list[str] | None = None) -> int:
    if isinstance(value, (tuple, list, torch.Size)):
        dims = [_whole(v, what) for v in value]
        if len(dims) == 3 and dims[-1] == 3 and dims[0] == dims[1] and dims[0] != 3:  # Keras' (H, W, C)
            if notes is not None:
                notes.append(f"{what} {tuple(dims)} is Keras' channels-last (H, W, C); PyTorch is channels-first, "
                             f"(C, H, W) = (3, {dims[0]}, {dims[1]})")
            return dims[0]
        if len(dims) not in (2, 3) or len(set(dims[-2:])) != 1:
            raise Wrong(f"{what}: give the side of the square image as one int (e.g. 28), got {value!r}")
        if len(dims) == 3 and dims[0] != 3:
            raise Wrong(f"{what}: the seed's images have 3 channels (RGB), got {tuple(dims)}")
        return dims[-1]
    return _whole(value, what)


@check
def check_seed_shape_bug(answer: Any) -> str:
    """``answer = (generator_side, discriminator_side)`` (or a function returning it): the side of the
    images the seed's generator makes and the side its discriminator is built for."""
    if callable(answer):
        answer = answer()
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong("answer with a pair (generator_side, discriminator_side), e.g. (28, 28)")
    notes: list[str] = []
    g, d = _side(answer[0], "generator_side", notes), _side(answer[1], "discriminator_side", notes)
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
    note = f" (Accepted; note: {'; '.join(notes)}.)" if notes else ""
    return ("The generator makes 32x32x3 images (4 → 8 → 16 → 32) but the discriminator is built for 64x64x3: "
            f"Keras would refuse the very first fake batch (erratum 2).{note}")


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


def _last_module(G: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, nn.Module | None]:
    """G(z), and the leaf module whose output *is* G's output (``None`` when a function such as
    ``torch.tanh`` in a custom ``forward`` made it)."""
    produced: dict[int, tuple[nn.Module, Any]] = {}  # the outputs are kept alive, so no id is reused
    hooks = [m.register_forward_hook(lambda m, i, o: produced.__setitem__(id(o), (m, o)))
             for m in G.modules() if not list(m.children())]
    try:
        x = G(z)
    finally:
        for h in hooks:
            h.remove()
    return x, produced.get(id(x), (None, None))[0]


_SEED_PARAMETERS = sum(p.numel() for p in SeedGenerator(latent_dim=100).parameters())


@check
def check_fixed_seed_generator(G: Any) -> str:
    """``G``: the seed's generator with one more *learned* upsampling step (32 → 64) and a final
    ``tanh`` — or a function that makes those changes to the ``SeedGenerator`` it is given and
    returns it: :func:`check_gan_pair` must accept it with ``SeedDiscriminator()`` (64x64x3), its
    images must lie in [-1, 1] and reach close to ±1, and its last layer must be ``nn.Tanh``."""
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
        # huge codes: only a squashing output stays bounded, and a tanh then reaches +-1
        x, last = _last_module(G, torch.randn(4, latent_dim, device=p.device, generator=None) * 1e3)
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= -1.0 - 1e-6 and hi <= 1.0 + 1e-6):
        raise Wrong(f"the shapes fit now ({shape}), but nothing bounds the output (it reached [{lo:.3g}, {hi:.3g}] "
                    "for large codes): end with nn.Tanh() so fakes lie in [-1, 1] like the scaled real images (erratum 5)")
    if lo >= -1e-6:
        raise Wrong(f"the shapes fit now ({shape}), but the output never goes below 0 (a sigmoid?): real images "
                    "are scaled to [-1, 1], so end with nn.Tanh()")
    if isinstance(last, nn.Hardtanh):  # nn.ReLU6 is a Hardtanh too
        raise Wrong(f"the output ends in {type(last).__name__}: it clips at ±1 and its gradient is 0 wherever it "
                    "clips, so a saturated pixel stops learning; the fix for bug 5 (and DCGAN) is nn.Tanh()")
    if hi < 0.9 or lo > -0.9:
        ends = "" if last is None or isinstance(last, nn.Tanh) else f" (yours ends in {type(last).__name__})"
        raise Wrong(f"the shapes fit and the output is bounded, but even for huge codes it only reaches "
                    f"[{lo:.3g}, {hi:.3g}]: real images span [-1, 1], so fakes must be able to reach ±1 too — end "
                    f"with a plain nn.Tanh(), not a scaled one{ends}")
    if last is not None and not isinstance(last, nn.Tanh):
        raise Wrong(f"the output's last layer is {type(last).__name__}, not nn.Tanh(): end G.out with nn.Tanh() "
                    "(bug 5: the generator's images must lie in [-1, 1] like the scaled real images)")
    if sum(q.numel() for q in G.parameters()) <= _SEED_PARAMETERS:
        raise Wrong(f"the shapes fit ({shape}), but your generator has no more weights than the seed's: the step "
                    "32 → 64 is a fixed resize (nn.Upsample?) that learns nothing. The seed's design learns every "
                    "upsampling step: a stride-2 nn.ConvTranspose2d (or nn.Upsample followed by a learned nn.Conv2d)")
    return f"check_gan_pair accepts it: the generator makes {shape} images in [-1, 1], what the discriminator expects."


# ------------------------------------------------------------------------------------------------
# FID from features
# ------------------------------------------------------------------------------------------------

def frechet_reference(mu1: torch.Tensor, S1: torch.Tensor, mu2: torch.Tensor, S2: torch.Tensor) -> float:
    """The Fréchet distance of N(mu1, S1) and N(mu2, S2) as torchmetrics computes it
    (``torchmetrics.image.fid._compute_fid``, float64), with a fallback to the same formula."""
    mu1, S1, mu2, S2 = (torch.as_tensor(t, dtype=torch.float64) for t in (mu1, S1, mu2, S2))
    try:
        from torchmetrics.image.fid import _compute_fid
    except ImportError:  # another torchmetrics: the same formula (the trace of a matrix square root of S1 S2)
        tr = torch.linalg.eigvals(S1 @ S2).sqrt().real.sum()
        return float((mu1 - mu2).square().sum() + S1.trace() + S2.trace() - 2 * tr)
    return float(_compute_fid(mu1, S1, mu2, S2))


def _tr_sqrt(S1: torch.Tensor, S2: torch.Tensor) -> torch.Tensor:
    return torch.linalg.eigvals(S1 @ S2).sqrt().real.sum()


def _gaussian_slips(mu1: torch.Tensor, S1: torch.Tensor, mu2: torch.Tensor, S2: torch.Tensor) -> list[tuple[float, str]]:
    """(value, hint) for the plausible mistakes in the formula given the Gaussians' parameters."""
    d2 = (mu1 - mu2).square().sum()
    tr, tr_sqrt = S1.trace() + S2.trace(), _tr_sqrt(S1, S2)
    sqrt_entries = torch.sqrt(S1 * S2).diagonal().sum()  # the trace reads only the (positive) diagonal
    with torch.no_grad():
        prod_entries = torch.sqrt((S1 @ S2).diagonal()).sum()
    return [
        (d2 + tr - tr_sqrt, "the cross term is -2·Tr((S1 S2)^½): the factor 2 is missing"),
        (d2 + tr - 2 * sqrt_entries, "that takes the square root entry by entry (torch.sqrt(S1 * S2)); FID needs "
                                     "the *matrix* square root of the product S1 @ S2, e.g. through its eigenvalues"),
        (d2 + tr - 2 * prod_entries, "that is the entry-by-entry square root of S1 @ S2; FID needs the *matrix* "
                                     "square root (Tr((S1 S2)^½) = the sum of the square roots of its eigenvalues)"),
        (d2 + tr - 2 * (S1 @ S2).trace(), "that uses Tr(S1 S2) without the square root: the cross term is "
                                          "-2·Tr((S1 S2)^½), the trace of the matrix square root"),
        (tr - 2 * tr_sqrt, "the mean term is missing: FID = ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½)"),
        ((mu1 - mu2).norm() + tr - 2 * tr_sqrt, "the mean term is the *squared* distance ||mu1 - mu2||², not the "
                                                "distance ||mu1 - mu2||"),
        ((mu1 - mu2).sum().square() + tr - 2 * tr_sqrt, "the mean term is the sum of the squared differences, "
                                                        "((mu1 - mu2)**2).sum(), not the square of their sum"),
        ((mu1 - mu2).abs().sum() + tr - 2 * tr_sqrt, "the mean term is the squared distance, ((mu1 - mu2)**2).sum(), "
                                                     "not the sum of absolute differences"),
        (d2 + tr + 2 * tr_sqrt, "the cross term is subtracted: + Tr(S1) + Tr(S2) - 2·Tr((S1 S2)^½)"),
    ]


_NAN_SINGULAR = ("Covariances of real features are often singular (a judge feature that is always 0 has variance 0), "
                 "so rounding leaves eigenvalues like -1e-15, and their square root is NaN: clamp them at 0 "
                 "(.clamp(min=0)) or use the real part of a complex square root")
_NAN_ENTRIES = ("These covariances are not singular, so a NaN means the square root of a negative number: some "
                "*entries* of S1 @ S2 (or S1 * S2) are negative, and torch.sqrt works entry by entry — that is not the "
                "matrix square root. Take the square roots of the eigenvalues of S1 @ S2 (their sum is Tr((S1 S2)^½))")


def _as_number(got: Any, what: str, nan_hint: str = _NAN_SINGULAR) -> float:
    """The learner's distance as a float: a Python or numpy number or a one-element tensor."""
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise Wrong(f"{what} returned a tensor of shape {tuple(got.shape)}: return one number (the distance); "
                        "sum the mean term and take the trace of the matrices")
        if got.is_complex():
            raise Wrong(f"{what} returned a complex number ({got.item():.6g}): the matrix square root of S1 S2 can "
                        "come out complex from rounding; keep its real part (.real) before adding it up")
        got = got.item()
    elif hasattr(got, "dtype") and hasattr(got, "shape"):  # numpy
        if getattr(got, "size", 1) != 1:
            raise Wrong(f"{what} returned an array of shape {got.shape}: return one number (the distance)")
        if getattr(got.dtype, "kind", "") == "c":
            raise Wrong(f"{what} returned a complex number ({complex(got.item()):.6g}): scipy.linalg.sqrtm (or "
                        "eigvals) can give a complex result from rounding; keep the real part (.real)")
        got = got.item()
    if isinstance(got, complex):
        raise Wrong(f"{what} returned a complex number ({got:.6g}): keep the real part of the matrix square root")
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        raise Wrong(f"{what} should return a number, got {type(got).__name__}")
    got = float(got)
    if math.isnan(got):
        raise Wrong(f"{what} returned NaN. {nan_hint}")
    if math.isinf(got):
        raise Wrong(f"{what} returned {got}: something overflowed or divided by zero")
    return got


def _matches(got: float, value: Any) -> bool:
    value = float(value)
    return math.isfinite(value) and math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-8)


def _random_features(n: int, d: int, seed: int, shift: float = 0.0, rank: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(rank or d, d, generator=g, dtype=torch.float64)
    return torch.randn(n, rank or d, generator=g, dtype=torch.float64) @ mix + shift


_JUDGE_CACHE: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _judge_feature_sets() -> tuple[torch.Tensor, torch.Tensor] | None:
    """Two disjoint sets of 250 real test digits' judge features (128-d, float64, several features
    constant, so the covariances are singular), or None when the data or judge cannot be loaded."""
    if "test" not in _JUDGE_CACHE:
        try:
            from ..data import load_mnist
            from ..metrics import judge_features, load_judge
            images = load_mnist("test", "offline", verbose=False).images[:500]
            f = judge_features(images, load_judge()).to(torch.float64)
        except Exception:  # no judge or data here: the random cases still check the formula
            return None
        _JUDGE_CACHE["test"] = (f[:250], f[250:500])
    return _JUDGE_CACHE["test"]


def _cases(real: bool = True) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, f_a, f_b): feature sets of shape (n, d), in float64; the judge's features of real
    digits last (``real=False`` leaves them out: they need the judge and the test digits)."""
    cases = [
        ("random features (n = 40 and 40, d = 5)", _random_features(40, 5, 1), _random_features(40, 5, 2, shift=0.7)),
        ("random features (n = 30 and 50, d = 6)", _random_features(30, 6, 3), _random_features(50, 6, 4, shift=-0.3)),
        ("random low-rank features (n = 60 and 60, d = 8, rank 5)", _random_features(60, 8, 5, rank=5),
         _random_features(60, 8, 6, shift=0.2, rank=5)),
    ]
    return cases + (_cases_real() if real else [])


def _cases_lazily():
    """:func:`_cases`, the real digits' features made only once the cheap cases have passed (an
    unanswered stub or an early slip is reported at once)."""
    yield from _cases(real=False)
    yield from _cases_real()


def _cases_real() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    real = _judge_feature_sets()
    return [] if real is None else [("the judge's features of 250 and 250 real test digits (d = 128)", *real)]


def _stats(f: torch.Tensor, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    return f.mean(0), torch.cov(f.T, correction=1 if unbiased else 0)


def _call(fn: Callable[..., Any], name: str, *args: torch.Tensor, singular: bool = True) -> float:
    try:
        got = fn(*(a.clone() for a in args))
    except Exception as e:
        if "LinAlg" not in type(e).__name__:
            raise
        raise Wrong(f"{name} stopped in a linear-algebra routine ({type(e).__name__}: {str(e).splitlines()[0][:120]}). "
                    "Covariances of real features are often singular (a feature that is always 0 has variance 0): "
                    "rounding leaves eigenvalues like -1e-15, their square root is NaN, and the next decomposition "
                    "fails. Clamp eigenvalues at 0 (.clamp(min=0)) before the square root, or take the eigenvalues "
                    "of S1 @ S2 as complex numbers and keep the real part of their square roots") from None
    return _as_number(got, name, _NAN_SINGULAR if singular else _NAN_ENTRIES)


@check
def check_frechet_distance(fn: Callable[..., Any]) -> str:
    """``fn(mu1, S1, mu2, S2)`` (float64 tensors ``(d,)`` and ``(d, d)``) must return the Fréchet
    distance ``||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½)`` as one number, equal to torchmetrics'
    in float64, also for the singular covariances of real judge features."""
    expect_signature(fn, "frechet_distance", "(mu1, S1, mu2, S2)", 0, 0, 0, 0)
    for name, fa, fb in _cases_lazily():
        (mu1, S1), (mu2, S2) = _stats(fa), _stats(fb)
        got = _call(fn, "frechet_distance", mu1, S1, mu2, S2, singular="random features" not in name)
        expected = frechet_reference(mu1, S1, mu2, S2)  # after the learner's call: an unanswered stub stops at once
        if _matches(got, expected):
            continue
        where = f"on {name}: expected {expected:.6g}, got {got:.6g}"
        for value, hint in _gaussian_slips(mu1, S1, mu2, S2):
            if _matches(got, value):
                raise Wrong(f"{where}: {hint}")
        if _matches(got, frechet_reference(mu2, S2, mu1, S1)):
            continue  # symmetric in exact arithmetic; a different rounding is fine
        if math.isclose(got, expected, rel_tol=1e-3):
            raise Wrong(f"{where}: close, but not to float64 precision — compute in float64 (do not convert the "
                        "tensors to float32)")
        raise Wrong(f"{where}. FID = ||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2·Tr((S1 S2)^½), where Tr((S1 S2)^½) is the "
                    "sum of the square roots of the eigenvalues of S1 @ S2 (or of sqrt(S1) @ S2 @ sqrt(S1))")
    return ("frechet_distance agrees with torchmetrics' Fréchet distance to float64 precision, on random and on real "
            "judge statistics (singular covariances included).")


@check
def check_fid_from_features(fn: Callable[..., Any]) -> str:
    """``fn(f_real, f_fake)`` (float64 tensors ``(n, d)``: one row per image) must return the FID of
    the two sets: means over the images, covariances normalised by ``n - 1``, then the Fréchet
    distance — equal to torchmetrics' in float64."""
    expect_signature(fn, "fid_from_features", "(f_real, f_fake)", 0, 0)
    for name, fa, fb in _cases_lazily():
        (mu1, S1), (mu2, S2) = _stats(fa), _stats(fb)
        try:
            got = _call(fn, "fid_from_features", fa, fb, singular="random features" not in name)
        except RuntimeError as e:
            if fa.shape[0] != fb.shape[0] and "size" in str(e):
                raise Wrong(f"on {name}, your function fails ({str(e).splitlines()[0]}): the two sets may hold "
                            "different numbers of images. Rows are images and columns features: take means over "
                            "dim 0 and torch.cov(f.T) (torch.cov wants one *row per variable*), giving (d,) and "
                            "(d, d) whatever n is") from None
            raise
        expected = frechet_reference(mu1, S1, mu2, S2)  # after the learner's call: an unanswered stub stops at once
        if _matches(got, expected):
            continue
        where = f"on {name} (shapes {tuple(fa.shape)} and {tuple(fb.shape)}): expected {expected:.6g}, got {got:.6g}"
        (b1, B1), (b2, B2) = _stats(fa, unbiased=False), _stats(fb, unbiased=False)
        slips = [(frechet_reference(b1, B1, b2, B2),
                  "the covariances are normalised by n (biased); FID uses the unbiased estimate, divided by n - 1 "
                  "(torch.cov's default, np.cov's default)")]
        if fa.shape[0] == fb.shape[0]:
            (t1, T1), (t2, T2) = _stats(fa.T), _stats(fb.T)
            rows = "rows are images and columns features, so "
            slips += [(frechet_reference(t1, T1, t2, T2),
                       f"the features are transposed: {rows}the means are over dim 0 and the covariance is "
                       "torch.cov(f.T) (torch.cov and np.cov treat each *row* as a variable)"),
                      (frechet_reference(mu1, T1, mu2, T2),
                       f"the covariances are (n, n), not (d, d): {rows}use torch.cov(f.T) (torch.cov and np.cov "
                       "treat each *row* as a variable; np.cov(f, rowvar=False) also works)"),
                      (frechet_reference(t1, S1, t2, S2),
                       f"the means are over the wrong axis: {rows}the mean feature vector is f.mean(0), of shape (d,)")]
        slips += _gaussian_slips(mu1, S1, mu2, S2)
        for value, hint in slips:
            if _matches(got, value):
                raise Wrong(f"{where}: {hint}")
        if math.isclose(got, expected, rel_tol=1e-3):
            raise Wrong(f"{where}: close, but not to float64 precision — compute in float64 (do not convert to float32)")
        raise Wrong(f"{where}. Take mu = f.mean(0) and S = torch.cov(f.T) for each set, then "
                    "||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2·Tr((S1 S2)^½)")
    return ("fid_from_features agrees with torchmetrics to float64 precision, on random features and on the judge's "
            "features of real digits.")
