"""Image-to-image translation (lesson 07): pix2pix on paired data, CycleGAN on unpaired domains,
and the judge as the measure of what a translation keeps.

* **pix2pix** (Isola, Zhu, Zhou & Efros, CVPR 2017): a U-Net ``G`` maps an input image to an output
  image; a conditional :class:`~genimg_course.models.patchgan.PatchGAN` ``D`` judges
  ``(input, output)`` pairs patch by patch; ``G`` minimises the adversarial loss plus ``λ·L1`` to the
  true target (:class:`Pix2PixTask`). The paired task here, **edges → digit**, works offline:
  :func:`edges` is a Sobel edge map, computed on the device from the digit itself. It is a real
  translation problem, not a copy: the edge map keeps where the stroke *boundaries* are and throws
  away which side is ink — a thick stroke becomes two thin parallel lines, a closed loop an inner
  and an outer contour — and the grey levels of the pen. ``G`` must decide what to fill in (the
  interior of strokes, their intensity), the digit-scale version of the paper's edges → shoes.
* **CycleGAN** (Zhu, Park, Isola & Efros, ICCV 2017): two generators ``G_ab``, ``G_ba`` and two
  discriminators learn from *unpaired* batches of two domains (:class:`CycleGANTask`), held
  together by the cycle loss ``|G_ba(G_ab(a)) - a|`` and fed by an :class:`ImageBuffer` of past
  fakes. The two real offline domains: MNIST and scikit-learn's 8x8 digits, up-sampled
  (:func:`load_sklearn_digits_28`) — two different handwriting collections, with labels kept
  only to *measure* (:func:`label_preservation`), never to train.

:func:`evaluate_pix2pix` and :func:`evaluate_cyclegan` score a translator on held-out digits (PSNR, the
judge's reading, judge FID beside its floor); :func:`load_translator` returns the longer-trained
translators that ship with the package (:data:`SHIPPED_TRANSLATORS`, tools/make_translate_weights.py).

Images are float in [0, 1] throughout (uint8 0..255 batches are scaled on the device), the range of
:func:`restore.judge_accuracy` and :func:`restore.psnr`. Discriminators return logits.

The losses, each next to its equation (``D(·) = sigmoid(logit)``, means over patches and batch):

========================  ==================================================================
``pix2pix_d_loss``        ``½ (-E log D(x, y) - E log(1 - D(x, G(x))))``
``pix2pix_g_loss``        ``-E log D(x, G(x)) + λ E|y - G(x)|`` (non-saturating + L1)
``lsgan_d_loss``          ``½ (E (D(b) - 1)² + E D(G(a))²)`` (least squares, Mao et al. 2017)
``lsgan_g_loss``          ``E (D(G(a)) - 1)²``
``cycle_loss``            ``E |G_ba(G_ab(a)) - a|``
========================  ==================================================================
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import MNIST_CLASSES, ImageSet
from .gan import _local_only
from .models._checks import check_bool, check_int, check_module, check_number, check_tensor, describe
from .restore import check_images, judge_accuracy
from .train import StepContext, adam

__all__ = ["edges", "edge_pairs", "pix2pix_d_loss", "pix2pix_g_loss", "lsgan_d_loss", "lsgan_g_loss", "cycle_loss",
           "Pix2PixTask", "ImageBuffer", "CycleGANTask", "UnpairedBatches", "load_sklearn_digits_28",
           "label_preservation", "apply_translator", "evaluate_pix2pix", "evaluate_cyclegan", "SHIPPED_TRANSLATORS",
           "load_translator"]


# ---------------------------------------------------------------- paired data: edges → digit
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def edges(x: torch.Tensor) -> torch.Tensor:
    """The Sobel edge map of images ``x`` (float ``(B, C, H, W)`` in [0, 1], or uint8 0..255; colour
    is averaged to grey first) → ``(B, 1, H, W)`` in [0, 1], on ``x``'s device:
    ``min(1, sqrt(gx² + gy²) / 4)`` with ``gx``, ``gy`` the 3x3 Sobel responses (border pixels
    repeated), so a step from 0 to 1 ink gives an edge of 1. Equals
    ``min(1, √2 · skimage.filters.sobel(x))`` (scikit-image divides each kernel by 4 and the
    magnitude by √2). Shapes only are checked (no host sync)."""
    check_tensor("edges: x", x, dim=4)
    x = x.float() / 255 if x.dtype == torch.uint8 else x
    if not x.is_floating_point():
        raise TypeError(f"edges: x must be float images in [0, 1] or uint8 0..255, got {x.dtype}")
    grey = x.float().mean(1, keepdim=True)  # (B, 1, H, W)
    kx = _SOBEL_X.to(x.device)
    k = torch.stack([kx, kx.T])[:, None]  # (2, 1, 3, 3): ∂/∂x and ∂/∂y
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), k)  # (B, 2, H, W)
    return (g.square().sum(1, keepdim=True).sqrt() / 4).clamp(max=1.0)


def edge_pairs(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input, target)`` pairs for edges → digit: ``(edges(x), x)`` with ``x`` the images as
    float in [0, 1] (uint8 is scaled), both ``(B, 1, H, W)`` for grey images."""
    check_tensor("edge_pairs: images", images, dim=4)
    x = images.float() / 255 if images.dtype == torch.uint8 else images
    return edges(x), x


# ---------------------------------------------------------------- the losses
def _float(name: str, x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {describe(x)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    return x.float()


def pix2pix_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """pix2pix's discriminator loss from patch logits: ``½ (-E log D(x, y) - E log(1 - D(x, G(x))))``
    (the ½ slows D relative to G, as in the paper)."""
    r, f = _float("real_logits", real_logits), _float("fake_logits", fake_logits)
    return 0.5 * (F.softplus(-r).mean() + F.softplus(f).mean())  # -log σ(a) = softplus(-a); -log(1-σ(a)) = softplus(a)


def pix2pix_g_loss(fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor,
                   lam: float = 100.0) -> dict[str, torch.Tensor]:
    """pix2pix's generator loss: ``{"loss": adv + λ·l1, "adv": -E log D(x, G(x)), "l1": E|y - G(x)|}``
    from D's logits on the fakes ``(B, 1, h, w)``, the fakes and the targets ``(B, C, H, W)``."""
    f = _float("fake_logits", fake_logits)
    fake, target = _float("fake", fake), _float("target", target)
    if fake.shape != target.shape:
        raise ValueError(f"pix2pix_g_loss: fake {tuple(fake.shape)} and target {tuple(target.shape)} must have one shape")
    adv = F.softplus(-f).mean()  # -E log D(x, G(x)): non-saturating
    l1 = (fake - target).abs().mean()  # E |y - G(x)|
    return {"loss": adv + lam * l1, "adv": adv, "l1": l1}  # L_G = L_cGAN + λ L_L1


def lsgan_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss (CycleGAN's choice): ``½ (E (D(b) - 1)² + E D(G(a))²)``."""
    r, f = _float("real_out", real_out), _float("fake_out", fake_out)
    return 0.5 * ((r - 1).square().mean() + f.square().mean())


def lsgan_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss: ``E (D(G(a)) - 1)²``."""
    return (_float("fake_out", fake_out) - 1).square().mean()


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """The cycle-consistency loss ``E |G_ba(G_ab(a)) - a|`` (L1), from the round trip and the original."""
    r, o = _float("reconstructed", reconstructed), _float("original", original)
    if r.shape != o.shape:
        raise ValueError(f"cycle_loss: reconstructed {tuple(r.shape)} and original {tuple(o.shape)} must have one shape")
    return (r - o).abs().mean()


# ---------------------------------------------------------------- pix2pix
def _as_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255 if x.dtype == torch.uint8 else x  # uint8 0..255 → [0, 1], on the device


def _is_labels(t: Any, b: int) -> bool:
    return isinstance(t, torch.Tensor) and not t.is_floating_point() and t.dtype != torch.uint8 and tuple(t.shape) == (b,)


def _is_nested(batch: Any) -> bool:
    return isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(p, (tuple, list)) for p in batch)


def _channels(m: nn.Module, attr: str) -> int | None:
    return getattr(m, attr, None) if isinstance(getattr(m, attr, None), int) else None


class Pix2PixTask:
    """pix2pix (Isola et al. 2017) for :func:`train.fit`: each step updates ``D`` once on real pairs
    ``(input, target)`` against fake pairs ``(input, G(input).detach())`` (:func:`pix2pix_d_loss`),
    then ``G`` once on :func:`pix2pix_g_loss` (non-saturating adversarial + ``lam``·L1). Adam with
    ``lr`` and ``betas`` for both, as in the paper.

    Batches: with ``paired_input`` (a function target → input on the device, e.g. :func:`edges`)
    a batch is the targets ``x`` or ``(x, labels)`` as :class:`~genimg_course.data.ResidentBatches`
    yields them (``value_range=(0, 1)``, or uint8); without it, ``(input, target)`` pairs of float
    images in [0, 1]. ``D`` is conditional (``PatchGAN(..., conditional_channels=C_in)``: it sees
    the pair) or not (it sees the output alone). ``adversarial=False``: the L1-only baseline, no
    ``D`` (``D`` may be ``None``; a given ``D`` is neither trained nor used).

    Logs ``g_l1`` and ``psnr`` (of the batch's outputs, on the device), and with the adversarial
    term ``d_loss``, ``g_adv``, ``d_real`` / ``d_fake`` (D's mean probabilities). The first batch
    is checked once (one host sync); later steps never sync."""

    def __init__(self, G: nn.Module, D: nn.Module | None = None, lam: float = 100.0, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), adversarial: bool = True,
                 paired_input: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        check_module("G", G, "Pix2PixTask")
        check_bool(adversarial=adversarial)
        if adversarial:
            if D is None:
                raise ValueError("Pix2PixTask: adversarial=True needs a discriminator D (e.g. PatchGAN(1, "
                                 "conditional_channels=1)); pass adversarial=False for the L1-only baseline")
            check_module("D", D, "Pix2PixTask")
        self.lam = check_number("lam", lam, low=0.0)
        lr = check_number("lr", lr, low=0, low_open=True)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be Adam's pair (beta1, beta2), e.g. (0.5, 0.999), got {describe(betas)}")
        betas = tuple(check_number(f"betas[{i}]", b, low=0.0, high=1.0, high_open=True) for i, b in enumerate(betas))
        if paired_input is not None and not callable(paired_input):
            raise TypeError(f"Pix2PixTask: paired_input must be a function target → input such as translate.edges, "
                            f"got {describe(paired_input)}")
        self.adversarial, self.paired_input = adversarial, paired_input
        device = next(G.parameters()).device
        self.modules: dict[str, nn.Module] = {"G": G}
        self.optimizers = {"G": adam(G.parameters(), lr, betas=betas, device=device)}  # type: ignore[arg-type]
        if adversarial:
            self.modules["D"] = D.to(device)  # type: ignore[union-attr]
            self.optimizers["D"] = adam(D.parameters(), lr, betas=betas, device=device)  # type: ignore[union-attr, arg-type]
        self.divergence_hint = ("pix2pix diverges when D overpowers G: lower lr, or check that inputs and targets are in "
                                "[0, 1]")
        self._checked = False

    def _pair(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if _is_nested(batch):
            raise ValueError("Pix2PixTask learns from paired batches (input, target), got two nested batches "
                             "((x_a, y_a), (x_b, y_b)), which look unpaired: use CycleGANTask for unpaired domains")
        if self.paired_input is not None:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"Pix2PixTask: a batch must be the target images x or (x, labels), got {describe(x)}")
            target = _as_unit(x)
            return self.paired_input(target), target
        if not isinstance(batch, (tuple, list)) or len(batch) != 2 or not all(isinstance(t, torch.Tensor) for t in batch):
            raise ValueError(f"Pix2PixTask without paired_input needs batches (input, target) of two image tensors, got "
                             f"{describe(batch)}: pass paired_input=edges to make the inputs from the targets")
        inp, target = batch
        if _is_labels(target, inp.shape[0] if inp.dim() else -1):
            raise ValueError(f"Pix2PixTask: the batch looks like (images, labels) (its second item is "
                             f"{describe(target)}), not (input, target): pass paired_input=edges (or another function "
                             "target → input) to learn edges → digit from ResidentBatches")
        return _as_unit(inp), _as_unit(target)

    def _check_first(self, inp: torch.Tensor, target: torch.Tensor) -> None:
        check_images(inp, "Pix2PixTask: the inputs")
        check_images(target, "Pix2PixTask: the targets")
        if inp.shape[0] != target.shape[0] or inp.shape[2:] != target.shape[2:]:
            raise ValueError(f"Pix2PixTask: inputs {tuple(inp.shape)} and targets {tuple(target.shape)} must be pairs: "
                             "the same number of images of the same height and width")
        G = self.modules["G"]
        for attr, t, what in (("in_channels", inp, "inputs"), ("out_channels", target, "targets")):
            c = _channels(G, attr)
            if c is not None and c != t.shape[1]:
                raise ValueError(f"Pix2PixTask: G has {attr}={c} but the {what} have {t.shape[1]} channel(s): build "
                                 f"G = UNet({inp.shape[1]}, {target.shape[1]}, ...)")
        if self.adversarial:
            D = self.modules["D"]
            c, cc = _channels(D, "in_channels"), _channels(D, "conditional_channels")
            if c is not None and c != target.shape[1]:
                raise ValueError(f"Pix2PixTask: D has in_channels={c} but it judges outputs of {target.shape[1]} "
                                 f"channel(s): build PatchGAN({target.shape[1]}, conditional_channels={inp.shape[1]})")
            if cc not in (None, 0, inp.shape[1]):
                raise ValueError(f"Pix2PixTask: D has conditional_channels={cc} but the inputs have {inp.shape[1]} "
                                 f"channel(s): build PatchGAN({target.shape[1]}, conditional_channels={inp.shape[1]})")

    def _d(self, out: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        D = self.modules["D"]
        conditional = bool(getattr(D, "conditional_channels", 0))
        return (D(out, inp) if conditional else D(out)).float()  # the pair (input, output), or the output alone

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        inp, target = self._pair(batch)
        if not self._checked:
            if not callable(getattr(ctx, "autocast", None)) or not callable(getattr(ctx, "update", None)):
                raise TypeError(f"Pix2PixTask.step needs the loop's StepContext (fit passes it), got {describe(ctx)}")
            self._check_first(inp, target)
            self._checked = True
        G = self.modules["G"]
        G.train()
        logs: dict[str, torch.Tensor] = {}
        with ctx.autocast():
            fake = G(inp).float()  # G(x), (B, C, H, W)
        if self.adversarial:
            D = self.modules["D"]
            D.train()
            with ctx.autocast():
                real_logits = self._d(target, inp)  # D(x, y)
                fake_logits = self._d(fake.detach(), inp)  # D(x, G(x)); detach: D's update must not reach G
            d_loss = pix2pix_d_loss(real_logits, fake_logits)  # ½ (-log D(x, y) - log(1 - D(x, G(x))))
            ctx.update(d_loss, self.optimizers["D"])
            with ctx.autocast(), _local_only(D):
                g_logits = self._d(fake, inp)  # the just-updated D on the same fakes
            g = pix2pix_g_loss(g_logits, fake, target, self.lam)  # -log D(x, G(x)) + λ |y - G(x)|
            logs.update(d_loss=d_loss, g_adv=g["adv"], d_real=torch.sigmoid(real_logits).mean(),
                        d_fake=torch.sigmoid(fake_logits).mean())
            loss, l1 = g["loss"], g["l1"]
        else:
            l1 = (fake - target).abs().mean()  # λ |y - G(x)| alone: the L1 baseline (λ only scales the step)
            loss = l1
        ctx.update(loss, self.optimizers["G"])
        mse = (fake.detach() - target).square().mean()
        logs.update(g_l1=l1, psnr=-10 * torch.log10(mse.clamp_min(1e-10)))  # PSNR = 10 log10(1 / MSE)
        return {k: v.detach() for k, v in logs.items()}


# ---------------------------------------------------------------- CycleGAN
class ImageBuffer:
    """CycleGAN's history of generated images (Shrivastava et al. 2017; Zhu et al.'s ``ImagePool``):
    D learns from a mix of the newest fakes and older ones, so it cannot chase only G's latest trick.

    :meth:`query` takes a batch of fakes and returns a batch of the same shape. Image by image, in
    order: while fewer than ``size`` are stored, the image is stored and returned as it is; once the
    buffer is full, with probability ½ a stored image at a uniformly drawn slot is returned instead
    and the new one takes its slot, otherwise the new image is returned and nothing is stored.
    ``size=0`` returns every batch unchanged. Randomness: per query, ``torch.rand(n)`` then
    ``torch.randint(size, (n,))`` for the ``n`` images that meet a full buffer, from ``generator``
    (on the images' device; ``None``: torch's global generator, which ``fit`` seeds). Everything
    stays on the device (no host sync); the stored images are detached copies."""

    def __init__(self, size: int = 50, generator: torch.Generator | None = None) -> None:
        self.size = check_int("size", size, minimum=0)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"ImageBuffer: generator must be a torch.Generator (or None), got {describe(generator)}")
        self.generator = generator
        self.count = 0  # images stored so far (known on the host: no sync)
        self.images: torch.Tensor | None = None  # (size, C, H, W), allocated at the first query

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, C, H, W)`` → ``(B, C, H, W)``: each image or an older stored fake (see the class)."""
        check_tensor("ImageBuffer.query: images", images, dim=4, floating=True)
        images = images.detach()
        if self.size == 0:
            return images
        if self.images is None:
            self.images = images.new_zeros((self.size, *images.shape[1:]))
        elif self.images.shape[1:] != images.shape[1:] or self.images.device != images.device:
            raise ValueError(f"ImageBuffer holds images of shape {tuple(self.images.shape[1:])} on {self.images.device}, "
                             f"got {tuple(images.shape[1:])} on {images.device}: one buffer per domain")
        g = self.generator
        if g is not None and g.device.type != images.device.type:
            raise ValueError(f"ImageBuffer: the generator is on {g.device} but the images are on {images.device}: "
                             f"make it with torch.Generator(device={str(images.device)!r})")
        out = images.clone()
        fill = min(images.shape[0], self.size - self.count)
        if fill:
            self.images[self.count:self.count + fill] = images[:fill]  # not full yet: store, return as is
            self.count += fill
        n = images.shape[0] - fill
        if n:
            swap = torch.rand(n, generator=g, device=images.device) < 0.5
            slot = torch.randint(0, self.size, (n,), generator=g, device=images.device)
            out[fill:] = _swap_in_order(self.images, images[fill:], slot, swap)
        return out


def _swap_in_order(stored: torch.Tensor, new: torch.Tensor, slot: torch.Tensor, swap: torch.Tensor) -> torch.Tensor:
    """What ``for i in range(n): if swap[i]: out[i], stored[slot[i]] = stored[slot[i]], new[i]`` (else
    ``out[i] = new[i]``) gives, with a fixed number of tensor ops whatever ``n`` (no Python loop over the
    images, no host sync): the swapping images are sorted by (slot, order); the first of each slot takes
    the stored image, each later one the image its predecessor at that slot put there, and the last one's
    image stays. Updates ``stored`` in place and returns ``out``."""
    n, size = new.shape[0], stored.shape[0]
    order_in_batch = torch.arange(n, device=new.device)
    key = torch.where(swap, slot * n + order_in_batch, torch.full_like(order_in_batch, size * n))  # non-swaps last
    key_sorted, order = torch.sort(key)
    slot_sorted = slot[order]
    swaps = key_sorted < size * n
    same_as_prev = torch.zeros_like(swaps)
    same_as_prev[1:] = swaps[1:] & swaps[:-1] & (slot_sorted[1:] == slot_sorted[:-1])
    prev = torch.cat([order[:1], order[:-1]])  # the previous image in sorted order
    img = (-1,) + (1,) * (new.dim() - 1)
    taken = torch.where(same_as_prev.view(img), new[prev], stored[slot_sorted])
    out = torch.empty_like(new)
    out[order] = torch.where(swaps.view(img), taken, new[order])
    last = swaps.clone()
    last[:-1] &= ~same_as_prev[1:]  # the last swapper of its slot: its image stays in the buffer
    extended = torch.cat([stored, stored.new_zeros((1, *stored.shape[1:]))])  # row `size`: where the others write
    extended[torch.where(last, slot_sorted, torch.full_like(slot_sorted, size))] = new[order]
    stored.copy_(extended[:size])
    return out


class UnpairedBatches:
    """Batches of two domains for :class:`CycleGANTask`: ``(x_a, x_b)``, one batch of each, drawn
    independently (e.g. two :class:`~genimg_course.data.ResidentBatches`; labels are dropped).
    Passes ``step`` (resume) and ``device`` through; its length is domain A's."""

    def __init__(self, a: Any, b: Any) -> None:
        for name, s in (("a", a), ("b", b)):
            if not hasattr(s, "__next__"):
                raise TypeError(f"UnpairedBatches: {name} must be batches with next(), such as ResidentBatches, got "
                                f"{describe(s)}")
        if getattr(a, "device", None) != getattr(b, "device", None):
            raise ValueError(f"UnpairedBatches: domain A's batches are on {getattr(a, 'device', None)} and B's on "
                             f"{getattr(b, 'device', None)}: put both on the same device")
        self.a, self.b = a, b
        self.device = getattr(a, "device", torch.device("cpu"))

    @property
    def step(self) -> int:
        return getattr(self.a, "step", 0)

    @step.setter
    def step(self, value: int) -> None:
        for s in (self.a, self.b):
            if hasattr(s, "step"):
                s.step = value

    def __len__(self) -> int:
        return len(self.a)

    def __iter__(self) -> "UnpairedBatches":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = next(self.a), next(self.b)
        return (xa[0] if isinstance(xa, (tuple, list)) else xa), (xb[0] if isinstance(xb, (tuple, list)) else xb)


class CycleGANTask:
    """CycleGAN (Zhu et al. 2017) for :func:`train.fit`. Batches: ``(x_a, x_b)`` (e.g. from
    :class:`UnpairedBatches`) or ``((x_a, y_a), (x_b, y_b))`` — images of the two domains, float in
    [0, 1] or uint8, not paired (labels, if any, are ignored).

    Each step: the generators (one Adam over both) on
    ``L_G = lsgan_g(D_b(G_ab(a))) + lsgan_g(D_a(G_ba(b)))
    + lam_cycle·(|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|)
    + lam_cycle·lam_identity·(|G_ab(b) - b| + |G_ba(a) - a|)``; then the discriminators (one Adam
    over both) on :func:`lsgan_d_loss`, each against fakes drawn through its :class:`ImageBuffer`
    of ``buffer_size``. ``lam_cycle=0`` is the no-cycle ablation (the identity term, scaled by it,
    goes too). The identity term needs both domains to have the same channels.

    Logs ``d_a``, ``d_b``, ``g_adv`` (both generators' adversarial terms), ``cycle`` and
    ``identity`` (the unweighted L1s, A and B summed). The first batch is checked once (one host
    sync): ranges, and that the two domains fit the generators (channels, equal sizes)."""

    def __init__(self, G_ab: nn.Module, G_ba: nn.Module, D_a: nn.Module, D_b: nn.Module, lam_cycle: float = 10.0,
                 lam_identity: float = 0.5, buffer_size: int = 50, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999)) -> None:
        for name, m in (("G_ab", G_ab), ("G_ba", G_ba), ("D_a", D_a), ("D_b", D_b)):
            check_module(name, m, "CycleGANTask")
        if G_ab is G_ba or D_a is D_b:
            raise ValueError("CycleGANTask needs two different generators (A→B, B→A) and two different discriminators")
        self.lam_cycle = check_number("lam_cycle", lam_cycle, low=0.0)
        self.lam_identity = check_number("lam_identity", lam_identity, low=0.0)
        buffer_size = check_int("buffer_size", buffer_size, minimum=0)
        lr = check_number("lr", lr, low=0, low_open=True)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be Adam's pair (beta1, beta2), e.g. (0.5, 0.999), got {describe(betas)}")
        betas = tuple(check_number(f"betas[{i}]", b, low=0.0, high=1.0, high_open=True) for i, b in enumerate(betas))
        device = next(G_ab.parameters()).device
        self.modules = {"G_ab": G_ab, "G_ba": G_ba.to(device), "D_a": D_a.to(device), "D_b": D_b.to(device)}
        # one optimiser per pair: the generators share one loss (the cycle runs through both)
        gens = itertools.chain(G_ab.parameters(), G_ba.parameters())
        discs = itertools.chain(D_a.parameters(), D_b.parameters())
        self.optimizers = {"G": adam(gens, lr, betas=betas, device=device),  # type: ignore[arg-type]
                           "D": adam(discs, lr, betas=betas, device=device)}  # type: ignore[arg-type]
        self.buffers = {"a": ImageBuffer(buffer_size), "b": ImageBuffer(buffer_size)}
        self.divergence_hint = "lower lr, or check that both domains' images are in [0, 1]"
        self._checked = False

    def _domains(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(f"CycleGANTask needs unpaired batches (x_a, x_b) or ((x_a, y_a), (x_b, y_b)), e.g. from "
                             f"UnpairedBatches(ResidentBatches(a, ...), ResidentBatches(b, ...)), got {describe(batch)}")
        xa, xb = (p[0] if isinstance(p, (tuple, list)) and p else p for p in batch)
        if not isinstance(xa, torch.Tensor) or not isinstance(xb, torch.Tensor):
            raise TypeError(f"CycleGANTask: each domain's batch must be an image tensor, got {describe(xa)} and {describe(xb)}")
        if _is_labels(xb, xa.shape[0] if xa.dim() else -1):
            raise ValueError(f"CycleGANTask: the batch looks like one domain's (images, labels) (its second item is "
                             f"{describe(xb)}), not two domains: draw from UnpairedBatches(batches_a, batches_b)")
        if xa is xb or (xa.shape == xb.shape and xa.data_ptr() == xb.data_ptr()):
            raise ValueError("CycleGANTask: domain A's and domain B's batches are the same images: two domains are needed "
                             "(a paired task, input → target, is Pix2PixTask's)")
        return _as_unit(xa), _as_unit(xb)

    def _check_first(self, xa: torch.Tensor, xb: torch.Tensor) -> None:
        check_images(xa, "CycleGANTask: domain A's images")
        check_images(xb, "CycleGANTask: domain B's images")
        if xa.shape[2:] != xb.shape[2:]:
            raise ValueError(f"CycleGANTask: domain A's images are {xa.shape[2]}x{xa.shape[3]} but domain B's are "
                             f"{xb.shape[2]}x{xb.shape[3]}: the generators keep the size, so both domains need one size "
                             "(load_sklearn_digits_28 gives the 8x8 digits at MNIST's 28x28)")
        ca, cb = xa.shape[1], xb.shape[1]
        want = {"G_ab": ("in_channels", ca, "out_channels", cb), "G_ba": ("in_channels", cb, "out_channels", ca),
                "D_a": ("in_channels", ca, None, None), "D_b": ("in_channels", cb, None, None)}
        for name, (a1, c1, a2, c2) in want.items():
            for attr, c in ((a1, c1), (a2, c2)):
                have = _channels(self.modules[name], attr) if attr else None
                if have is not None and have != c:
                    raise ValueError(f"CycleGANTask: {name} has {attr}={have} but domain A has {ca} channel(s) and B {cb}: "
                                     f"build G_ab = UNet({ca}, {cb}), G_ba = UNet({cb}, {ca}), D_a = PatchGAN({ca}), "
                                     f"D_b = PatchGAN({cb})")
        if ca != cb and self.lam_cycle * self.lam_identity > 0:
            raise ValueError(f"CycleGANTask: the identity loss |G_ab(b) - b| needs both domains to have the same channels, "
                             f"got A {ca} and B {cb}: pass lam_identity=0")

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        xa, xb = self._domains(batch)
        if not self._checked:
            if not callable(getattr(ctx, "autocast", None)) or not callable(getattr(ctx, "update", None)):
                raise TypeError(f"CycleGANTask.step needs the loop's StepContext (fit passes it), got {describe(ctx)}")
            self._check_first(xa, xb)
            self._checked = True
        G_ab, G_ba, D_a, D_b = (self.modules[k] for k in ("G_ab", "G_ba", "D_a", "D_b"))
        for m in (G_ab, G_ba, D_a, D_b):
            m.train()
        w_idt = self.lam_cycle * self.lam_identity
        zero = xa.new_zeros(())
        with ctx.autocast():
            fake_b, fake_a = G_ab(xa).float(), G_ba(xb).float()  # G_ab(a), G_ba(b)
            with _local_only(D_a), _local_only(D_b):  # D is not updated by this loss
                g_adv = lsgan_g_loss(D_b(fake_b)) + lsgan_g_loss(D_a(fake_a))  # E (D_b(G_ab(a)) - 1)² + E (D_a(G_ba(b)) - 1)²
            if self.lam_cycle > 0:
                # |G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|
                cyc = cycle_loss(G_ba(fake_b).float(), xa) + cycle_loss(G_ab(fake_a).float(), xb)
            else:
                cyc = zero
            if w_idt > 0:
                # |G_ab(b) - b| + |G_ba(a) - a|: a generator given its own output domain should leave it alone
                idt = (G_ab(xb).float() - xb).abs().mean() + (G_ba(xa).float() - xa).abs().mean()
            else:
                idt = zero
        g_loss = g_adv + self.lam_cycle * cyc + w_idt * idt
        ctx.update(g_loss, self.optimizers["G"])
        old_b, old_a = self.buffers["b"].query(fake_b), self.buffers["a"].query(fake_a)  # detached, some from the past
        with ctx.autocast():
            d_b = lsgan_d_loss(D_b(xb).float(), D_b(old_b).float())  # ½ (E (D_b(b) - 1)² + E D_b(G_ab(a))²)
            d_a = lsgan_d_loss(D_a(xa).float(), D_a(old_a).float())
        ctx.update(d_a + d_b, self.optimizers["D"])
        return {k: v.detach() for k, v in
                {"d_a": d_a, "d_b": d_b, "g_adv": g_adv, "cycle": cyc, "identity": idt}.items()}


# ---------------------------------------------------------------- the second real domain
SKLEARN_TEST_EVERY = 5  # every 5th digit (index % 5 == 4) is held out: 359 of 1,797


def load_sklearn_digits_28(split: str = "train", margin: int = 0) -> ImageSet:
    """scikit-learn's 1,797 bundled 8x8 digits (grey levels 0..16, a different set of writers and a
    different scanner from MNIST's) up-sampled to 28x28 as an :class:`ImageSet` ``(N, 1, 28, 28)``
    uint8 0..255 with their labels 0..9: bilinear (``align_corners=False``) to ``28 - 2·margin``
    pixels, zero-padded by ``margin`` (4 gives MNIST's 20-pixel digit in a 28 frame; 0, the
    default, fills the frame), grey levels scaled by 255/16 and rounded. ``split``: ``"train"``
    (1,438 digits, index % 5 != 4), ``"test"`` (359, index % 5 == 4) or ``"all"``; the split is by
    index, the same everywhere."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"load_sklearn_digits_28: split must be 'train', 'test' or 'all', got {split!r}")
    margin = check_int("margin", margin, minimum=0)
    if margin > 10:
        raise ValueError(f"load_sklearn_digits_28: margin must be from 0 to 10 pixels (4 matches MNIST), got {margin}")
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32))[:, None]  # (1797, 1, 8, 8), 0..16
    x = F.interpolate(x, size=(28 - 2 * margin,) * 2, mode="bilinear", align_corners=False)
    x = F.pad(x, (margin,) * 4)
    x = (x * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8)
    y = torch.from_numpy(d.target.astype(np.int64))
    idx = torch.arange(len(y))
    keep = {"train": idx % SKLEARN_TEST_EVERY != SKLEARN_TEST_EVERY - 1,
            "test": idx % SKLEARN_TEST_EVERY == SKLEARN_TEST_EVERY - 1, "all": idx >= 0}[split]
    return ImageSet(x[keep].contiguous(), y[keep], MNIST_CLASSES, f"sklearn digits 28x28 ({split})",
                    f"scikit-learn's bundled 8x8 digits, bilinear to 28x28 (margin {margin}, offline)")


def label_preservation(judge: Any, translated: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of ``translated`` digits (float ``(N, 1, 28, 28)``, clipped to [0, 1] here, or uint8)
    that the judge (:func:`metrics.load_judge`) classifies as their *source* ``labels`` ``(N,)``:
    what a translation keeps of the content. Through :func:`restore.judge_accuracy`."""
    check_tensor("label_preservation: translated", translated, dim=4)
    x = _as_unit(translated)
    if not x.is_floating_point():
        raise TypeError(f"label_preservation: translated must be float images in [0, 1] or uint8, got {x.dtype}")
    return judge_accuracy(judge, x.detach().float().clamp(0, 1), labels)


# ---------------------------------------------------------------- measuring a translator
@torch.no_grad()
def apply_translator(G: nn.Module, x: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """``G`` on images ``x`` (float ``(N, C, H, W)`` in [0, 1], or uint8) in chunks of ``batch``, in
    eval mode (``G``'s mode is put back afterwards), on ``G``'s device, outputs clipped to [0, 1] and
    returned on ``x``'s device."""
    check_module("G", G, "apply_translator")
    check_tensor("apply_translator: x", x, dim=4)
    batch = check_int("batch", batch, minimum=1)
    from .train import evaluating

    dev = next(G.parameters()).device
    x = _as_unit(x)
    with evaluating(G):
        return torch.cat([G(x[i:i + batch].float().to(dev)).float().clamp(0, 1).to(x.device)
                          for i in range(0, x.shape[0], batch)])


def _unit_images(x: Any, what: str) -> torch.Tensor:
    check_tensor(what, x, dim=4)
    x = _as_unit(x)
    if not x.is_floating_point():
        raise TypeError(f"{what} must be float images in [0, 1] or uint8 0..255, got {x.dtype}")
    return check_images(x.float(), what, channels=1)


def _labels_for(labels: Any, n: int, what: str) -> torch.Tensor:
    if not _is_labels(labels, n):
        raise ValueError(f"{what} must be integer class labels of shape ({n},), got {describe(labels)}")
    return labels


def _judge_n(judge: Any, n: Any, sizes: list[int]) -> tuple[Any, int]:
    from .metrics import load_judge

    n = check_int("n", n, minimum=128)
    if 2 * n > min(sizes):
        raise ValueError(f"FID at n = {n} per side needs two disjoint halves of {2 * n} images, got {min(sizes)}: "
                         f"lower n (at most {min(sizes) // 2} here, and at least 128, the judge's features)")
    return (judge if judge is not None else load_judge()), n


def evaluate_pix2pix(G: nn.Module, images: torch.Tensor, labels: torch.Tensor, judge: Any = None,
                     n: int = 500) -> dict[str, float]:
    """Held-out scores of an edges → digit translator ``G`` on the true digits ``images`` (float
    ``(N, 1, 28, 28)`` in [0, 1], or uint8) with their ``labels``: ``psnr`` of ``G(edges(x))``
    against ``x``; ``judge_acc`` (the judge's accuracy on the outputs), ``judge_acc_true`` (on the
    true digits) and their ratio ``judge_ratio`` (the FCN-score analogue); ``edge_ratio``, the mean
    Sobel magnitude of the outputs over that of the true digits (1: as sharp as real ink, below 1:
    blurred); ``fid``, judge FID at ``n`` per side of the translations of one half of the digits
    (:func:`metrics.reference_split`, seed 0) against the other half, beside ``fid_floor``, the
    real-vs-real FID of the same halves (a perfect translator scores the floor). ``judge``:
    :func:`metrics.load_judge` (loaded when ``None``)."""
    from .metrics import fid, real_vs_real, reference_split
    from .restore import psnr

    check_module("G", G, "evaluate_pix2pix")
    target = _unit_images(images, "evaluate_pix2pix: images")
    labels = _labels_for(labels, target.shape[0], "evaluate_pix2pix: labels")
    judge, n = _judge_n(judge, n, [target.shape[0]])
    out = apply_translator(G, edges(target))
    acc_out, acc_true = judge_accuracy(judge, out, labels), judge_accuracy(judge, target, labels)
    ref, other = reference_split(torch.arange(target.shape[0]), n, 0)  # the halves real_vs_real uses
    return {"psnr": psnr(out, target), "judge_acc": acc_out, "judge_acc_true": acc_true,
            "judge_ratio": acc_out / max(acc_true, 1e-12),
            "edge_ratio": float(edges(out).mean()) / max(float(edges(target).mean()), 1e-12),
            "fid": fid(target[ref], out[other], judge, value_range=(0, 1)),
            "fid_floor": real_vs_real(target, n, judge, seed=0, value_range=(0, 1)), "n": n,
            "test_digits": target.shape[0]}


def evaluate_cyclegan(G_ab: nn.Module, G_ba: nn.Module, a_images: torch.Tensor, a_labels: torch.Tensor,
                      b_images: torch.Tensor, b_labels: torch.Tensor, judge: Any = None,
                      n: int = 179) -> dict[str, float]:
    """Held-out scores of a CycleGAN pair on the digits of domain A (``a_images``, e.g. MNIST) and B
    (``b_images``, e.g. :func:`load_sklearn_digits_28`), float ``(N, 1, 28, 28)`` in [0, 1] or uint8,
    with their labels (used only to measure): ``keep_ab`` / ``keep_ba``, the share of translations
    the judge reads as their *source* label (:func:`label_preservation`); ``judge_acc_a`` /
    ``judge_acc_b``, its accuracy on the real digits of each domain (the judge was trained on
    MNIST: ``judge_acc_b`` is the ceiling ``keep_ab`` is read against); ``cycle_psnr_a`` /
    ``cycle_psnr_b``, PSNR of the round trips A→B→A and B→A→B; judge FID at ``n`` per side of the
    translations of one half of the source digits against the other half of the target domain
    (``fid_ab``, ``fid_ba``), beside the FID of the untranslated source digits
    (``fid_ab_untranslated``, ``fid_ba_untranslated``: what doing nothing scores) and the target
    domain's real-vs-real floor (``fid_b_floor``, ``fid_a_floor``)."""
    from .metrics import fid, real_vs_real, reference_split
    from .restore import psnr

    check_module("G_ab", G_ab, "evaluate_cyclegan")
    check_module("G_ba", G_ba, "evaluate_cyclegan")
    a = _unit_images(a_images, "evaluate_cyclegan: a_images")
    b = _unit_images(b_images, "evaluate_cyclegan: b_images")
    a_labels = _labels_for(a_labels, a.shape[0], "evaluate_cyclegan: a_labels")
    b_labels = _labels_for(b_labels, b.shape[0], "evaluate_cyclegan: b_labels")
    judge, n = _judge_n(judge, n, [a.shape[0], b.shape[0]])
    fake_b, fake_a = apply_translator(G_ab, a), apply_translator(G_ba, b)  # A→B, B→A
    rec_a, rec_b = apply_translator(G_ba, fake_b), apply_translator(G_ab, fake_a)  # A→B→A, B→A→B
    ref_a, other_a = reference_split(torch.arange(a.shape[0]), n, 0)
    ref_b, other_b = reference_split(torch.arange(b.shape[0]), n, 0)
    u = (0, 1)
    return {"keep_ab": label_preservation(judge, fake_b, a_labels), "keep_ba": label_preservation(judge, fake_a, b_labels),
            "judge_acc_a": judge_accuracy(judge, a, a_labels), "judge_acc_b": judge_accuracy(judge, b, b_labels),
            "cycle_psnr_a": psnr(rec_a, a), "cycle_psnr_b": psnr(rec_b, b),
            "fid_ab": fid(b[ref_b], fake_b[other_a], judge, value_range=u),
            "fid_ab_untranslated": fid(b[ref_b], a[other_a], judge, value_range=u),
            "fid_b_floor": real_vs_real(b, n, judge, seed=0, value_range=u),
            "fid_ba": fid(a[ref_a], fake_a[other_b], judge, value_range=u),
            "fid_ba_untranslated": fid(a[ref_a], b[other_b], judge, value_range=u),
            "fid_a_floor": real_vs_real(a, n, judge, seed=0, value_range=u), "n": n,
            "test_digits_a": a.shape[0], "test_digits_b": b.shape[0]}


# ---------------------------------------------------------------- the shipped translators
# name -> (kind, what it is); the files are made by tools/make_translate_weights.py
SHIPPED_TRANSLATORS: dict[str, tuple[str, str]] = {
    "pix2pix_l1": ("pix2pix", "edges → digit, UNet trained on L1 alone"),
    "pix2pix_cgan": ("pix2pix", "edges → digit, the same UNet design trained on L1 + conditional PatchGAN (λ = 100)"),
    "cyclegan": ("cyclegan", "MNIST (A) ↔ sklearn digits 28x28 (B), with the cycle loss"),
    "cyclegan_nocycle": ("cyclegan", "the same recipe with lam_cycle = 0 (the ablation: no cycle, no identity term)"),
}


def _frozen_unet(config: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    from .models.unet import UNet

    G = UNet(**config)
    G.load_state_dict({k: v.float() for k, v in state.items()})  # stored in float16: half the size
    return G.eval().requires_grad_(False)


def load_translator(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """A shipped translator (SHA-256 checked; :data:`SHIPPED_TRANSLATORS`), trained longer than a
    lesson can by ``tools/make_translate_weights.py``, in eval mode with its weights frozen
    (``requires_grad=False``). ``"pix2pix_l1"`` / ``"pix2pix_cgan"``: a ``UNet(1, 1, ...)`` from
    ``edges(x)`` to the digit ``x``; ``"cyclegan"`` / ``"cyclegan_nocycle"``: an ``nn.ModuleDict``
    ``{"ab": G_ab, "ba": G_ba}`` (A: MNIST, B: :func:`load_sklearn_digits_28` ``(split, margin=4)``).
    Inputs are float images ``(B, 1, 28, 28)`` in [0, 1]; the outputs are not squashed: clip them
    with ``.clamp(0, 1)`` (:func:`apply_translator` does). ``.info`` holds the recipe, ``steps``,
    ``train_seconds``, the data and the held-out scores of :func:`evaluate_pix2pix` or
    :func:`evaluate_cyclegan` of the float16 weights that ship (``check``: the same scores on a
    small subset, which the tests reproduce)."""
    from .checkpoints import load_shipped
    from .models._checks import check_device

    if not isinstance(name, str) or name not in SHIPPED_TRANSLATORS:
        raise ValueError(f"unknown shipped translator {name!r}: expected one of {sorted(SHIPPED_TRANSLATORS)}")
    device = check_device(device)
    state = load_shipped(f"translate_{name}")
    if SHIPPED_TRANSLATORS[name][0] == "pix2pix":
        model: nn.Module = _frozen_unet(state["config"], state["model"])
    else:
        model = nn.ModuleDict({k: _frozen_unet(state["config"], state[f"model_{k}"]) for k in ("ab", "ba")}).eval()
    model.info = {k: v for k, v in state.items() if not k.startswith("model") and k != "config"}
    return model.to(device)
