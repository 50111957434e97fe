"""Checks for lesson 07 (image-to-image translation: pix2pix and CycleGAN). Each runs in well under a
second on a CPU.

* :func:`check_receptive_field` — the receptive field of a stack of ``(kernel, stride)`` layers by hand,
  ``r ← r + (k - 1)·j`` then ``j ← j·s`` from ``r = j = 1``, returned as ``(r, jump)``; compared with
  :func:`genimg_course.models.patchgan.receptive_field` on the default PatchGAN, the paper's 70x70 one and
  a mixed stack.
* :func:`check_pix2pix_g_loss` — pix2pix's generator loss from D's patch logits on the fakes, the fakes
  and the targets: ``-E log D(x, G(x)) + λ·E|y - G(x)|`` (non-saturating BCE with target "real", plus
  λ times the mean absolute error), one scalar tensor that gradients flow through; compared with
  :func:`genimg_course.translate.pix2pix_g_loss`.
* :func:`check_pix2pix_d_loss` — pix2pix's discriminator loss ``½ (-E log D(x, y) - E log(1 - D(x, G(x))))``
  from the real pairs' and the fake pairs' logits; compared with :func:`genimg_course.translate.pix2pix_d_loss`.
* :func:`check_cycle_loss` — CycleGAN's cycle-consistency loss through both round trips,
  ``E|G_ba(G_ab(a)) - a| + E|G_ab(G_ba(b)) - b|`` (unweighted), with gradients reaching both generators
  through both directions; compared with :func:`genimg_course.translate.cycle_loss` on two small seeded
  generators.
* :func:`check_image_buffer` — a class with ``query(images)`` that keeps CycleGAN's history of fakes with
  the contract of :class:`genimg_course.translate.ImageBuffer`: while not full, store and return each
  image; once full, per image, with probability ½ return a stored image and store the new one in its
  slot, otherwise return the new one and store nothing. Checked by tracking every image through a few
  hundred queries (each image carries its own number).
* :func:`check_translation_reading` — :data:`TRANSLATION_QUESTIONS`: what the lesson's measurements say.

Each names the usual slips, runs on one intra-op thread (the learner's setting is restored after) and
leaves torch's global random state as it found it.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import translate
from ..models.patchgan import receptive_field
from . import Wrong, as_int, check, close, expect_signature
from ._quiz import grade_letters, print_questions
from ._tensors import returned_tensor

__all__ = ["check_receptive_field", "check_pix2pix_g_loss", "check_pix2pix_d_loss", "check_cycle_loss",
           "check_image_buffer", "check_translation_reading", "TRANSLATION_QUESTIONS", "show_translation_questions"]


def _single_threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One intra-op thread and the learner's random state kept: small convolutions run many times faster on
    one thread of a busy CPU, and a check must not move the learner's seeds."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(n)

    return wrapper


def _num(t: torch.Tensor) -> float:
    return float(t.detach().double())


def _scalar(got: Any, name: str, what: str) -> torch.Tensor:
    """The learner's loss as a float scalar tensor, or a Wrong that says what came instead."""
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        raise Wrong(f"{name} returned the number {got!r}: return the loss as a tensor (no .item() or float()), so "
                    "that loss.backward() can train the network with it")
    if isinstance(got, dict):
        raise Wrong(f"{name} returned a dict (keys {list(got)[:4]}): return {what} alone, one scalar tensor")
    got = returned_tensor(got, name, what)
    if got.numel() != 1:
        raise Wrong(f"{name} returned a tensor of shape {tuple(got.shape)}: a loss is one number, the mean over the "
                    "batch (and over the patches and pixels), shape ()")
    if not torch.isfinite(got).all():
        raise Wrong(f"{name} returned {_num(got)}: not a finite number. On logits use F.softplus or "
                    "F.binary_cross_entropy_with_logits rather than log(sigmoid(...)), which can reach log(0)")
    return got.reshape(())


def _first_match(got: float, slips: list[tuple[float, str]], rel: float = 1e-4, abs_: float = 1e-5) -> str | None:
    for value, hint in slips:
        if close(got, value, rel=rel, abs_=abs_):
            return hint
    return None


# ---------------------------------------------------------------- 1. the receptive field by hand

_RF_CASES: list[list[tuple[int, int]]] = [
    [(4, 2), (4, 2), (4, 1), (4, 1)],  # PatchGAN(layers=2), the lesson's default
    [(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],  # pix2pix's 70x70 PatchGAN (layers=3)
    [(3, 1), (5, 2), (3, 2), (3, 1)],  # a mixed stack
]
_RF_FORMULA = "from r = 1, j = 1 at the input, for each layer in order: r = r + (k - 1)·j, then j = j·s"


def _rf(layers: list[tuple[int, int]], slip: str = "") -> tuple[int, int]:
    """The receptive field (r, jump) the right way, or with one named slip."""
    r, j = 1, 1
    for k, s in layers:
        if slip == "sum_kernels":
            r = r + k  # replaced by the plain sum below
        elif slip == "no_strides":
            r = r + (k - 1)
        elif slip == "jump_first":
            j = j * s
            r = r + (k - 1) * j
            continue
        elif slip == "k_not_k_minus_1":
            r = r + k * j
        elif slip == "this_stride":
            r = r + (k - 1) * s
        elif slip == "product_kernels":
            r = r * k
        elif slip == "backward_wrong_order":  # the output-to-input rule r = (r - 1)·s + k, applied from the input
            r = (r - 1) * s + k
        else:
            r = r + (k - 1) * j  # each of the kernel's k - 1 steps moves j input pixels
        j = j * s
    if slip == "sum_kernels":
        r = sum(k for k, _ in layers)
    return r, j


_RF_SLIPS = [
    ("sum_kernels", "you added the kernel sizes: each layer widens the window by (k - 1) steps of the layer *below*, "
                    "and after a stride-2 layer one step there is 2 input pixels, after two of them 4: the strides "
                    "multiply. " + _RF_FORMULA),
    ("no_strides", "you added (k - 1) per layer but left out the strides: that is right only for stride-1 stacks. "
                   "After a stride-2 layer neighbouring outputs are 2 input pixels apart, so the next kernel's "
                   "(k - 1) steps span (k - 1)·2 pixels: " + _RF_FORMULA),
    ("jump_first", "you multiplied the jump by this layer's stride *before* widening r: a layer's stride spaces its "
                   "own outputs, it does not stretch its own kernel. Widen with the jump of the layers below, "
                   "r = r + (k - 1)·j, then j = j·s"),
    ("k_not_k_minus_1", "you widened r by k·j per layer: a kernel of k taps adds k - 1 steps to the window (one tap "
                        "is the centre you already had), r = r + (k - 1)·j"),
    ("this_stride", "you multiplied (k - 1) by this layer's own stride: the step between the taps is the distance "
                    "between the *inputs* of this layer, the product of the strides below it, j. " + _RF_FORMULA),
    ("product_kernels", "you multiplied the kernel sizes: windows grow by addition, r = r + (k - 1)·j; only the "
                        "jump is a product (of the strides)"),
    ("backward_wrong_order", "that is the output-to-input rule r = (r - 1)·s + k applied from the first layer: it "
                             "is right only when you walk from the *last* layer back to the first (the output's "
                             "window of 1 grows as it goes down). From the input: " + _RF_FORMULA),
]


def _pair(got: Any, name: str) -> tuple[int, int]:
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        raise Wrong(f"{name} returned one number, {got!r}: return the pair (r, jump), the window's side and the "
                    "distance between neighbouring outputs (the product of the strides)")
    if isinstance(got, torch.Tensor) and got.numel() == 2:
        got = got.tolist()
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Wrong(f"{name} should return the pair (r, jump), got {type(got).__name__} {got!r}"[:300])
    return as_int(got[0], "r (the receptive field)"), as_int(got[1], "jump (the product of the strides)")


@check
def check_receptive_field(fn: Callable[[list[tuple[int, int]]], Any]) -> str:
    """``fn(layers)`` with ``layers`` a list of ``(kernel, stride)`` pairs, input side first, must return
    ``(r, jump)``: the side of the input window one output sees and the input distance between two
    neighbouring outputs, as :func:`genimg_course.models.patchgan.receptive_field` computes them.
    Checked on ``[(4, 2), (4, 2), (4, 1), (4, 1)]`` (the default PatchGAN), the paper's 70x70 stack and
    ``[(3, 1), (5, 2), (3, 2), (3, 1)]``."""
    expect_signature(fn, "receptive_field_by_hand", "(layers)", list(_RF_CASES[0]))
    for layers in _RF_CASES:
        want = tuple(receptive_field(layers))
        arg = list(layers)
        r, j = _pair(fn(arg), "receptive_field_by_hand")
        if arg != layers:
            raise Wrong("your function changed the list of layers: read it, do not pop or reverse it in place")
        where = f"for layers {layers}"
        if (r, j) == want:
            continue
        if (j, r) == want:
            raise Wrong(f"{where} you returned (jump, r) = {(r, j)}: return (r, jump) = {want}")
        if r != want[0]:
            hint = next((h for slip, h in _RF_SLIPS if _slip_everywhere(fn, slip)), None)
            raise Wrong(f"{where} the receptive field is r = {want[0]}, yours is {r}: {hint or _RF_FORMULA}")
        if j == 1 + sum(s - 1 for _, s in layers) or j == sum(s for _, s in layers):
            raise Wrong(f"{where} r = {r} is right but the jump is {j}: the distance between neighbouring outputs is "
                        f"the *product* of the strides, {want[1]}, not their sum")
        raise Wrong(f"{where} r = {r} is right but the jump is {j}: it is the product of the strides, {want[1]}")
    default, paper = (tuple(receptive_field(c)) for c in _RF_CASES[:2])
    return (f"receptive fields by hand match the package's: {default[0]} px with a jump of {default[1]} for the "
            f"default PatchGAN (two stride-2 convs, two stride-1), {paper[0]} px with a jump of {paper[1]} for "
            "pix2pix's (three stride-2 convs): the '70x70 PatchGAN'. The strides multiply the jump, the kernels add "
            "to the window")


def _slip_everywhere(fn: Callable[..., Any], slip: str) -> bool:
    """Whether the learner's function gives the slip's r on every case (so the hint is the right one)."""
    for layers in _RF_CASES:
        try:
            r = _pair(fn(list(layers)), "receptive_field_by_hand")[0]
        except Wrong:
            return False
        if r != _rf(layers, slip)[0]:
            return False
    return True


# ---------------------------------------------------------------- 2. pix2pix's generator loss


def _g_problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Patch logits (4, 1, 3, 3) of both signs, fakes and targets (4, 1, 8, 8) in [0, 1], and λ = 7 (not the
    default 100, so that a hard-coded λ shows)."""
    g = torch.Generator().manual_seed(70)
    logits = torch.randn(4, 1, 3, 3, generator=g) * 1.5 + 0.3
    fake = torch.rand(4, 1, 8, 8, generator=g)
    target = (torch.rand(4, 1, 8, 8, generator=g) > 0.6).float() * 0.9 + 0.05
    return logits, fake, target, 7.0


_G_FORMULA = ("L_G = -E log D(x, G(x)) + λ·E|y - G(x)| = F.softplus(-fake_logits).mean() + "
              "lam * (fake - target).abs().mean()")


def _g_slips(f: torch.Tensor, fake: torch.Tensor, y: torch.Tensor, lam: float) -> list[tuple[float, str]]:
    f, fake, y = f.double(), fake.double(), y.double()
    adv, l1 = F.softplus(-f).mean(), (fake - y).abs().mean()
    return [(_num(v), h) for v, h in [
        (F.softplus(f).mean() + lam * l1,
         "your adversarial term labels the fakes 'fake' (BCE with target 0): that is D's goal. G wants D to call "
         "(x, G(x)) real, target 1: -E log D(x, G(x)) = F.softplus(-fake_logits).mean(), or "
         "F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))"),
        (-F.softplus(f).mean() + lam * l1,
         "that is the minimax form, G minimising E log(1 - D(x, G(x))): it saturates (almost no gradient while D "
         "rejects the fakes, which is early in training). pix2pix uses the non-saturating -E log D(x, G(x)) = "
         "F.softplus(-fake_logits).mean() (lesson 02)"),
        (-f.mean() + lam * l1, "that is WGAN's generator loss, -E D(x, G(x)) on raw scores: pix2pix's D is a "
                               "classifier of patches, and G's loss is the BCE -E log σ(logit) = F.softplus(-logits)"),
        (adv + l1, "you left out λ: the loss is adv + lam · L1 (pix2pix uses λ = 100, which makes L1 the "
                   "main term and the adversarial one the sharpener)"),
        (adv + 100 * l1, "you used λ = 100 whatever lam is: use the argument lam (this check passes lam = 7)"),
        (lam * adv + l1, "λ multiplies the wrong term: L = adv + lam · L1, the weight is on the L1 to the target"),
        (adv + lam * (fake - y).square().mean(),
         "your reconstruction term is the squared error (L2): pix2pix uses L1, E|y - G(x)|, which the paper "
         "found to blur less, and which this lesson measures"),
        (adv + lam * (fake - y).abs().sum(), "you summed the absolute errors: take their mean, (fake - target)"
                                             ".abs().mean(), so λ does not depend on the image size"),
        (adv + lam * (fake - y).abs().flatten(1).sum(1).mean(),
         "you summed the absolute errors over each image's pixels: take the mean over all of them, "
         "(fake - target).abs().mean()"),
        (F.softplus(-f).sum() + lam * l1, "you summed the adversarial term over the patches: take its mean over "
                                          "the batch and the patches, F.softplus(-fake_logits).mean()"),
        (adv, "that is the adversarial term alone: add lam · E|target - fake|, the L1 that keeps G's output on the "
              "true digit"),
        (lam * l1, "that is the L1 term alone (the L1-only baseline): add the adversarial term -E log D(x, G(x)) = "
                   "F.softplus(-fake_logits).mean()"),
        (adv - lam * l1, "the L1 term has the wrong sign: G *minimises* its distance to the target, + lam · L1"),
        (-(adv + lam * l1), "the sign of the whole loss is flipped: G minimises adv + lam · L1"),
    ]]


@check
@_single_threaded
def check_pix2pix_g_loss(fn: Callable[..., Any]) -> str:
    """``fn(fake_logits, fake, target, lam)`` — D's logits on the fake pairs ``(B, 1, h, w)``, the fakes and
    the targets ``(B, C, H, W)`` in [0, 1], the weight λ — must return pix2pix's generator loss as one scalar
    tensor: ``F.softplus(-fake_logits).mean() + lam * (fake - target).abs().mean()``. Checked with λ = 7 on
    logits of both signs; gradients must reach the logits and the fakes."""
    f0, fake0, y0, lam = _g_problem()
    expect_signature(fn, "pix2pix_generator_loss", "(fake_logits, fake, target, lam)", f0, fake0, y0, lam)
    f, fake = f0.clone().requires_grad_(True), fake0.clone().requires_grad_(True)
    y = y0.clone()
    got = _scalar(fn(f, fake, y, lam), "pix2pix_generator_loss", "the generator's loss")
    if not torch.equal(y, y0) or not torch.equal(f.detach(), f0) or not torch.equal(fake.detach(), fake0):
        raise Wrong("your function changed one of its inputs in place: compute the loss on new tensors")
    want = translate.pix2pix_g_loss(f0, fake0, y0, lam)["loss"]
    if not close(_num(got), _num(want), rel=1e-4, abs_=1e-5):
        hint = _first_match(_num(got), _g_slips(f0, fake0, y0, lam))
        raise Wrong(f"expected {_num(want):.4f}, got {_num(got):.4f}: {hint or _G_FORMULA}")
    if not got.requires_grad:
        raise Wrong("the value is right, but no gradient flows through it (.detach(), torch.no_grad(), "
                    "torch.tensor(...) or a float?): G learns from this loss, so it must stay in the graph")
    got.backward()
    missing = [n for n, t in (("fake_logits", f), ("fake", fake)) if t.grad is None or not t.grad.abs().sum() > 0]
    if missing:
        raise Wrong(f"the value is right, but no gradient reaches {' and '.join(missing)}: G learns both through D's "
                    "verdict on its fakes and through the L1 to the target, so neither term may be detached")
    second = _scalar(fn(f0, fake0, y0, 100.0), "pix2pix_generator_loss", "the generator's loss")
    want100 = translate.pix2pix_g_loss(f0, fake0, y0, 100.0)
    if not close(_num(second), _num(want100["loss"]), rel=1e-4, abs_=1e-5):
        raise Wrong(f"right for lam = 7, but for lam = 100 expected {_num(want100['loss']):.4f}, got {_num(second):.4f}")
    adv, l1 = _num(want100["adv"]), _num(want100["l1"])
    return (f"pix2pix's generator loss matches translate.pix2pix_g_loss: adversarial {adv:.3f} + λ·L1 = 100 × {l1:.4f} "
            f"here. With λ = 100 the L1 term sets the digit; the adversarial term, small beside it, pushes each "
            "patch towards what D accepts as real ink")


# ---------------------------------------------------------------- 3. pix2pix's discriminator loss


def _d_problem() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(71)
    real = torch.randn(4, 1, 3, 3, generator=g) * 1.5 + 1.5
    fake = torch.randn(4, 1, 3, 3, generator=g) * 1.0 - 0.3
    return real, fake


_D_FORMULA = ("L_D = ½ (-E log D(x, y) - E log(1 - D(x, G(x)))) = 0.5 * (F.softplus(-real_logits).mean() + "
              "F.softplus(fake_logits).mean())")


def _d_slips(r: torch.Tensor, f: torch.Tensor) -> list[tuple[float, str]]:
    r, f = r.double(), f.double()
    sp = F.softplus
    return [(_num(v), h) for v, h in [
        (sp(-r).mean() + sp(f).mean(), "you left out the ½: pix2pix divides D's objective by 2, which slows D "
                                       "relative to G. L_D = 0.5 * (F.softplus(-real_logits).mean() + "
                                       "F.softplus(fake_logits).mean())"),
        (0.5 * (sp(r).mean() + sp(-f).mean()), "the labels are swapped: D should call the real pairs real (target 1, "
                                               "softplus(-real_logits)) and the fake pairs fake (target 0, "
                                               "softplus(fake_logits))"),
        (0.5 * (sp(-r).mean() + sp(-f).mean()), "you labelled the fake pairs 'real' too (that is G's target for them): "
                                                "D's target for fakes is 0, -log(1 - D) = F.softplus(fake_logits)"),
        (-0.5 * (sp(-r).mean() + sp(f).mean()), "the sign is flipped: D *minimises* the BCE, "
                                                "½ (softplus(-real_logits) + softplus(fake_logits)), averaged"),
        (0.5 * sp(-r).mean(), "only the real pairs' term: add the fake pairs', F.softplus(fake_logits).mean()"),
        (0.5 * sp(f).mean(), "only the fake pairs' term: add the real pairs', F.softplus(-real_logits).mean()"),
        (sp(-r).mean(), "only the real pairs' term, without the ½: L_D = ½ (real term + fake term)"),
        (sp(f).mean(), "only the fake pairs' term, without the ½: L_D = ½ (real term + fake term)"),
        (0.5 * ((r - 1).square().mean() + f.square().mean()),
         "that is the least-squares (LSGAN) loss CycleGAN uses: pix2pix's D is trained with the BCE on its logits, "
         "½ (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())"),
        (f.mean() - r.mean(), "that is WGAN's critic loss on raw scores: pix2pix's D is a patch classifier trained "
                              "with the BCE, ½ (softplus(-real_logits) + softplus(fake_logits)), averaged"),
        (0.5 * (sp(-r).sum() + sp(f).sum()), "you summed over the patches: take the means (one mean per term)"),
        (0.5 * (sp(-r) + sp(f)).mean() * 2, "you left out the ½: pix2pix divides D's objective by 2"),
    ]]


@check
@_single_threaded
def check_pix2pix_d_loss(fn: Callable[..., Any]) -> str:
    """``fn(real_logits, fake_logits)`` — D's patch logits on the real pairs ``(x, y)`` and on the fake pairs
    ``(x, G(x))`` — must return pix2pix's discriminator loss as one scalar tensor:
    ``0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())``; gradients must reach both."""
    r0, f0 = _d_problem()
    expect_signature(fn, "pix2pix_discriminator_loss", "(real_logits, fake_logits)", r0, f0)
    r, f = r0.clone().requires_grad_(True), f0.clone().requires_grad_(True)
    got = _scalar(fn(r, f), "pix2pix_discriminator_loss", "D's loss")
    if not torch.equal(r.detach(), r0) or not torch.equal(f.detach(), f0):
        raise Wrong("your function changed the logits in place: compute the loss on new tensors")
    want = translate.pix2pix_d_loss(r0, f0)
    if not close(_num(got), _num(want), rel=1e-4, abs_=1e-5):
        hint = _first_match(_num(got), _d_slips(r0, f0))
        raise Wrong(f"expected {_num(want):.4f}, got {_num(got):.4f}: {hint or _D_FORMULA}")
    if not got.requires_grad:
        raise Wrong("the value is right, but no gradient flows through it (.detach(), torch.no_grad() or a float?)")
    got.backward()
    missing = [n for n, t in (("real_logits", r), ("fake_logits", f)) if t.grad is None or not t.grad.abs().sum() > 0]
    if missing:
        raise Wrong(f"the value is right, but no gradient reaches {' and '.join(missing)}")
    p_real, p_fake = _num(torch.sigmoid(r0).mean()), _num(torch.sigmoid(f0).mean())
    return (f"pix2pix's discriminator loss matches translate.pix2pix_d_loss ({_num(want):.4f} here, where D gives "
            f"the real pairs' patches {p_real:.2f} and the fake pairs' {p_fake:.2f} on average). In the training step "
            "the fakes are detached for this loss, so D's update does not reach G")


# ---------------------------------------------------------------- 4. the cycle loss


class _Tiny(nn.Module):
    """A seeded one-channel 'generator': a 3x3 conv and a sigmoid, so round trips are not the identity."""

    def __init__(self, seed: int, bias: float) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv = nn.Conv2d(1, 1, 3, padding=1)
        with torch.no_grad():
            self.conv.bias.fill_(bias)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.sigmoid(2 * self.conv(x))


def _cycle_problem() -> tuple[_Tiny, _Tiny, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(72)
    a = (torch.rand(4, 1, 8, 8, generator=g) > 0.7).float()  # sparse 'ink'
    b = torch.rand(4, 1, 8, 8, generator=g) * 0.6 + 0.2
    return _Tiny(5, 0.0), _Tiny(6, 0.5), a, b


def _cycle_slips(G_ab: nn.Module, G_ba: nn.Module, a: torch.Tensor, b: torch.Tensor) -> list[tuple[float, str]]:
    with torch.no_grad():
        aba, bab = G_ba(G_ab(a)), G_ab(G_ba(b))
        l1a, l1b = (aba - a).abs().mean(), (bab - b).abs().mean()
        right = l1a + l1b
        return [(_num(v), h) for v, h in [
            (l1a, "that is A→B→A alone: add the other round trip, |G_ab(G_ba(b)) - b|, so that both generators are "
                  "held to inverting each other"),
            (l1b, "that is B→A→B alone: add A→B→A, |G_ba(G_ab(a)) - a|"),
            ((G_ab(G_ba(a)) - a).abs().mean() + (G_ba(G_ab(b)) - b).abs().mean(),
             "the generators are applied in the wrong order: a is a domain-A image, so it goes to B first and back, "
             "G_ba(G_ab(a)); b goes G_ab(G_ba(b))"),
            ((aba - b).abs().mean() + (bab - a).abs().mean(),
             "you compared each round trip with the other domain's batch: A→B→A must give back a itself, "
             "|G_ba(G_ab(a)) - a|; a and b are unpaired, so comparing with b means nothing"),
            ((aba - a).square().mean() + (bab - b).square().mean(),
             "that is the squared error: CycleGAN's cycle loss is L1, the mean absolute difference"),
            ((aba - a).abs().sum() + (bab - b).abs().sum(), "you summed the absolute differences: take their means"),
            (10 * right, "you multiplied by λ_cycle = 10: return the unweighted sum of the two L1s; the task weighs it"),
            (right / 2, "you averaged the two directions: CycleGAN adds them, |G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|"),
            ((G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean(),
             "that is the identity loss (each generator given its own output domain): the cycle loss runs each "
             "image through *both* generators and back"),
            ((G_ab(a) - a).abs().mean() + (G_ba(b) - b).abs().mean(),
             "you compared each translation with its own source: a translation is meant to change the style. The "
             "cycle loss compares the *round trip* with the source, |G_ba(G_ab(a)) - a|"),
        ]]


def _grads(loss: torch.Tensor, *nets: nn.Module) -> list[torch.Tensor]:
    params = [p for n in nets for p in n.parameters()]
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


@check
@_single_threaded
def check_cycle_loss(fn: Callable[..., Any]) -> str:
    """``fn(G_ab, G_ba, a, b)`` — the two generators and one batch of each domain — must return CycleGAN's
    cycle-consistency loss as one scalar tensor, unweighted: ``(G_ba(G_ab(a)) - a).abs().mean() +
    (G_ab(G_ba(b)) - b).abs().mean()``. Checked on two small seeded generators; the gradients on both
    generators' weights must equal those of that loss (nothing detached inside the round trips)."""
    G_ab, G_ba, a0, b0 = _cycle_problem()
    expect_signature(fn, "cycle_consistency_loss", "(G_ab, G_ba, a, b)", G_ab, G_ba, a0, b0)
    a, b = a0.clone(), b0.clone()
    got = _scalar(fn(G_ab, G_ba, a, b), "cycle_consistency_loss", "the cycle loss")
    if not torch.equal(a, a0) or not torch.equal(b, b0):
        raise Wrong("your function changed a or b in place: compute the round trips as new tensors")
    ref = translate.cycle_loss(G_ba(G_ab(a0)), a0) + translate.cycle_loss(G_ab(G_ba(b0)), b0)
    if not close(_num(got), _num(ref), rel=1e-4, abs_=1e-6):
        hint = _first_match(_num(got), _cycle_slips(G_ab, G_ba, a0, b0))
        raise Wrong(f"expected {_num(ref):.4f}, got {_num(got):.4f}: "
                    f"{hint or 'L_cyc = E|G_ba(G_ab(a)) - a| + E|G_ab(G_ba(b)) - b|'}")
    if not got.requires_grad:
        raise Wrong("the value is right, but no gradient flows through it (torch.no_grad(), .detach() or a float?): "
                    "the cycle loss trains both generators")
    mine, want = _grads(got, G_ab, G_ba), _grads(ref, G_ab, G_ba)
    if not all(torch.allclose(m, w, rtol=1e-3, atol=1e-6) for m, w in zip(mine, want)):
        n_ab = len(list(G_ab.parameters()))
        which = [name for name, ms, ws in (("G_ab", mine[:n_ab], want[:n_ab]), ("G_ba", mine[n_ab:], want[n_ab:]))
                 if not all(torch.allclose(m, w, rtol=1e-3, atol=1e-6) for m, w in zip(ms, ws))]
        raise Wrong(f"the value is right, but {' and '.join(which)}'s gradients differ from the cycle loss's: a "
                    "translation was detached inside a round trip (G_ba(G_ab(a).detach())?). Each round trip must "
                    "train both generators: the first for making something the second can undo")
    return (f"the cycle loss matches: A→B→A {_num(translate.cycle_loss(G_ba(G_ab(a0)), a0)):.4f} + B→A→B "
            f"{_num(translate.cycle_loss(G_ab(G_ba(b0)), b0)):.4f}, with gradients into both generators through both "
            "round trips. CycleGANTask multiplies it by λ_cycle = 10")


# ---------------------------------------------------------------- 5. the image buffer

_ID_SCALE = 1e-3  # image number i is the constant image i·1e-3 (float32 holds these exactly enough to read back)


def _tagged(ids: list[int]) -> torch.Tensor:
    """A batch whose image k is the constant (1, 2, 3) image ids[k]·1e-3: each image says which one it is."""
    return torch.tensor(ids, dtype=torch.float32).mul(_ID_SCALE).view(-1, 1, 1, 1).expand(-1, 1, 2, 3).contiguous()


def _ids(out: torch.Tensor) -> list[int | None]:
    """The number each returned image carries, or None for an image that is not one constant number."""
    flat = out.detach().float().flatten(1)
    ids: list[int | None] = []
    for row in flat:
        v = float(row[0])
        i = round(v / _ID_SCALE)
        ids.append(i if bool((row - row[0]).abs().max() < 1e-6) and abs(v - i * _ID_SCALE) < 2e-5 else None)
    return ids


def _query(buf: Any, images: torch.Tensor, name: str) -> torch.Tensor:
    before = images.clone()
    out = buf.query(images)
    if not isinstance(out, torch.Tensor):
        raise Wrong(f"query returned {type(out).__name__}: return one tensor of images, the same shape as the batch "
                    "it was given (torch.stack(list_of_images) if you collect them in a list)")
    if tuple(out.shape) != tuple(images.shape):
        raise Wrong(f"query was given {tuple(images.shape)} and returned {tuple(out.shape)}: return one image for each "
                    "image given, (B, C, H, W)")
    if not torch.equal(images.detach(), before.detach()):
        raise Wrong("query changed the batch it was given (it wrote a stored image into it?): build the output as a new "
                    "tensor (clone the batch, or stack a list)")
    return out


@check
@_single_threaded
def check_image_buffer(cls: Any) -> str:
    """``cls(size)`` must make a buffer of past fakes whose ``query(images)`` follows the contract of
    :class:`genimg_course.translate.ImageBuffer`: per image, in order, while fewer than ``size`` are stored,
    store it (a detached copy) and return it; once full, with probability ½ return a stored image chosen at
    random and store the new one in its place, otherwise return the new image and store nothing; ``size=0``
    returns every batch unchanged. Checked by numbering every image and following each through 60 queries."""
    if not isinstance(cls, type):
        raise Wrong(f"pass the class itself, check_image_buffer(YourImageBuffer), got {type(cls).__name__}")
    if not callable(getattr(cls, "query", None)):
        raise Wrong("the class has no query method: def query(self, images) -> images of the same shape")
    torch.manual_seed(7)
    # filling: everything goes in and comes back as it is, also in a batch that fills the buffer part-way
    buf = cls(4)
    out = _query(buf, _tagged([1, 2, 3]), "query")
    if _ids(out) != [1, 2, 3]:
        raise Wrong(f"while the buffer is not full, each image is stored and returned as it is: a buffer of size 4 "
                    f"given images 1, 2, 3 returned {_ids(out)}")
    # the long run: size 10, batches of 8 numbered images, every image followed
    buf, pool, seen, next_id = cls(10), set(), set(), 1
    returned_new_never_stored: set[int] = set()
    swapped_out: set[int] = set()
    full_images = full_old = 0
    batch_kinds: list[tuple[int, int]] = []  # (old, total) per batch met with a full buffer
    for q in range(60):
        ids = list(range(next_id, next_id + 8))
        next_id += 8
        x = _tagged(ids)
        if q == 0:
            x.requires_grad_(True)
        out = _query(buf, x, "query")
        if q == 0 and out.requires_grad:
            raise Wrong("query returned images that are still attached to the generator's graph: detach them "
                        "(images = images.detach()) — D trains on the fakes as data, and the stored copies must not "
                        "keep old graphs alive")
        got = _ids(out)
        old_here = 0
        for k, (i_in, i_out) in enumerate(zip(ids, got)):
            full = len(pool) >= 10
            if i_out is None:
                raise Wrong(f"query returned an image that is not one of those it was given (it mixed or changed "
                            f"pixels?): return each image, or a stored one, as it is (query {q + 1}, image {k + 1})")
            if not full:
                if i_out != i_in:
                    raise Wrong(f"while the buffer is not full (it held {len(pool)} of 10), each image is stored and "
                                f"returned as it is; image {i_in} came back as image {i_out} (query {q + 1})")
                pool.add(i_in)
                seen.add(i_in)
                continue
            full_images += 1
            if i_out == i_in:  # returned as new: nothing stored
                returned_new_never_stored.add(i_in)
            elif i_out in pool:  # a stored image comes out, the new one takes its slot
                pool.remove(i_out)
                swapped_out.add(i_out)
                pool.add(i_in)
                full_old += 1
                old_here += 1
            elif i_out in swapped_out:
                raise Wrong(f"image {i_out} came out of the buffer twice: when a stored image is returned, the new "
                            "image must take its slot (self.images[i] = new), so the old one is gone")
            elif i_out in returned_new_never_stored:
                raise Wrong(f"image {i_out} was returned as new earlier, yet came out of the buffer later: once the "
                            "buffer is full, an image returned as new is *not* stored; only a swap stores the new "
                            "image (in the slot of the one returned)")
            elif i_out in ids[k + 1:]:
                raise Wrong(f"query returned image {i_out} in place of image {i_in}, but {i_out} comes later in the same "
                            "batch: go through the batch in order")
            else:
                raise Wrong(f"query returned image {i_out} where the buffer could only hold {sorted(pool)[:12]}…: once "
                            "full, return either the new image or one that is stored now")
            seen.add(i_in)
        if len(pool) >= 10 and q > 1:
            batch_kinds.append((old_here, len(ids)))
    share = full_old / max(full_images, 1)
    if full_old == 0:
        raise Wrong(f"once the buffer was full, all {full_images} images came back as new: with probability ½ each "
                    "must be swapped for a stored one (torch.rand(()) < 0.5), or D never sees an older fake")
    if share > 0.9:
        raise Wrong(f"once the buffer was full, {share:.0%} of the images were swapped for stored ones: the rule is a "
                    "coin per image, probability ½ (torch.rand(()) < 0.5), so D sees about half new fakes")
    whole = sum(1 for old, n in batch_kinds if old in (0, n))
    if batch_kinds and whole == len(batch_kinds):
        raise Wrong(f"in every one of {len(batch_kinds)} batches the images were all new or all from the buffer: you "
                    "flipped one coin for the whole batch. Flip one per image")
    if not 0.35 <= share <= 0.65:
        raise Wrong(f"once the buffer was full, {share:.0%} of {full_images} images were swapped for stored ones: "
                    "expected about 50% (each image: torch.rand(()) < 0.5)")
    # stored copies, not views of the caller's tensor
    buf = cls(2)
    x = _tagged([900, 901])
    _query(buf, x, "query")
    x.fill_(0.5)  # the caller reuses its tensor
    for q in range(40):
        out = _ids(_query(buf, _tagged([1000 + q]), "query"))
        if out[0] is None or out[0] == 500:
            raise Wrong("a stored image changed when the caller overwrote its own tensor afterwards: store copies "
                        "(images.detach().clone(), or img.clone()), not views of the batch you were given")
        if out[0] in (900, 901):
            break
    # size 0: a pass-through
    try:
        out = _query(cls(0), _tagged([1, 2, 3]), "query")
    except Wrong:
        raise
    except Exception as e:
        raise Wrong(f"with size = 0, query raised {type(e).__name__} ({str(e).splitlines()[0][:120]}): a buffer of size 0 "
                    "keeps no history and returns every batch as it is (if self.size == 0: return images)") from None
    if _ids(out) != [1, 2, 3]:
        raise Wrong(f"with size = 0 query must return the batch unchanged (no history kept), got images {_ids(out)} "
                    "for 1, 2, 3")
    return (f"the buffer follows translate.ImageBuffer's contract: filled first, then each image swapped for a "
            f"stored one with probability ½ ({full_old} of {full_images} here, {share:.0%}); every stored image came "
            "out at most once, and images returned as new were never stored")


# ---------------------------------------------------------------- 6. reading: what the measurements say

TRANSLATION_QUESTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "why_adversarial": (
        "Edges → digit: the L1-only U-Net and the L1 + cGAN U-Net reach similar PSNRs. What does the adversarial "
        "term add, as this lesson measured it?",
        {"a": "Nothing measurable: with λ = 100 the L1 term is all that matters.",
         "b": "Where the edge map leaves several fillings plausible, L1 alone is pulled towards their average "
              "(greyer, softer strokes); the patch discriminator penalises outputs whose patches do not look like "
              "real ink, so the strokes get sharper (the edge ratio moves towards 1) and the set of outputs moves "
              "closer to real digits (FID).",
         "c": "It raises the judge's accuracy from chance to nearly 100 %.",
         "d": "It makes the generator's outputs random, as a GAN's samples are."}),
    "why_patches": (
        "Why does pix2pix's discriminator output a map of logits, one per patch, rather than one per image?",
        {"a": "Because the image-level verdict cannot be trained with the BCE.",
         "b": "To use fewer layers than the generator.",
         "c": "The L1 term already fixes the low frequencies (where the digit is); what L1 gets wrong is local: "
              "texture and sharpness. A patch discriminator judges exactly that, with fewer weights, on images "
              "of any size, each logit seeing only its receptive field.",
         "d": "So that each patch can be translated separately and stitched together."}),
    "no_cycle": (
        "Without the cycle loss, the judge reads the source's digit on few of the CycleGAN's B → A translations, "
        "and the same digit in most of them. Why?",
        {"a": "The adversarial losses ask only that G_ab(a) look like *some* digit of domain B; nothing ties the "
              "output to the input, so any mapping onto B's distribution — one that turns 3s into 8s — is as good. "
              "The cycle loss demands that G_ba can undo G_ab, so the translation must keep what identifies a.",
         "b": "The generators are too small to keep the label.",
         "c": "The identity loss, which is dropped with it, is what keeps the label.",
         "d": "The image buffer feeds D old fakes, which confuses the labels."}),
}
_TRANSLATION_ANSWERS = {"why_adversarial": "b", "why_patches": "c", "no_cycle": "a"}
_TRANSLATION_WHY = {
    ("why_adversarial", "a"): "the lesson measured a difference: the edge ratio and the FID of the two translators "
                              "side by side (read them again); λ = 100 makes L1 the main term, not the only one",
    ("why_adversarial", "c"): "both translators are read correctly by the judge almost as often as the real digits "
                              "are (the judge ratio of both is close to 1): the edges already say which digit it is",
    ("why_adversarial", "d"): "pix2pix's G has no noise input here: the same edge map always gives the same output "
                              "(the paper found G learned to ignore its noise and used dropout instead)",
    ("why_patches", "a"): "an image-level D is an ordinary GAN discriminator, trained with the same BCE; the paper's "
                          "286x286 'ImageGAN' did just that, and scored worse than the 70x70 PatchGAN",
    ("why_patches", "b"): "the number of layers is not the point: the receptive field of each logit is",
    ("why_patches", "d"): "the generator translates the whole image at once; only the discriminator's verdict is per "
                          "patch, averaged into one loss",
    ("no_cycle", "b"): "the same generators keep the label far more often *with* the cycle loss: capacity is not "
                       "what changed",
    ("no_cycle", "c"): "the identity loss asks a generator to leave images of its own output domain alone; it does "
                       "not see a translation at all. The cycle loss is the one that ties output to input",
    ("no_cycle", "d"): "the buffer only changes which fakes D learns from; the runs with the cycle loss use the same "
                       "buffer and keep the label",
}


def show_translation_questions() -> None:
    """Print :data:`TRANSLATION_QUESTIONS` with their options, for the lesson's reading exercise."""
    print_questions(TRANSLATION_QUESTIONS)


@check
def check_translation_reading(answers: Any) -> str:
    """``answers`` (a dict, or a function returning it) gives, for each key of :data:`TRANSLATION_QUESTIONS`,
    the letter of the right option."""
    grade_letters(answers, TRANSLATION_QUESTIONS, _TRANSLATION_ANSWERS, _TRANSLATION_WHY)
    return ("all three right: the adversarial term sharpens what L1 averages, a patch discriminator judges local "
            "realism, and only the cycle loss ties a translation to its input")
