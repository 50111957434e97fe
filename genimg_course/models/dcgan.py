"""DCGAN (Radford, Metz & Chintala, ICLR 2016) for 28x28, 32x32 and 64x64 images, optionally
class-conditional (Mirza & Osindero, 2014: the label is appended to z and given to D as extra
one-hot planes).

Generator: ``z (B, latent_dim)`` → project to ``(B, w·2^(n-1), s, s)`` with a transposed conv,
then ``n`` stride-2 transposed convs (kernel 4, padding 1: each doubles the size) with BatchNorm
and ReLU, ``tanh`` at the end so images lie in ``[-1, 1]`` like the scaled real data.
For 28x28: ``s = 7``, ``n = 2`` (7 → 14 → 28); for 64x64: ``s = 4``, ``n = 4`` (4 → 8 → … → 64).

Discriminator: the mirror image, stride-2 convs with LeakyReLU(0.2) and (optionally) BatchNorm /
LayerNorm / spectral norm, down to one *logit* per image ``(B,)``: no sigmoid (the loss applies it).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from ..train import evaluating
from ._checks import check_bool, check_int, check_model_input, check_module, check_positive_int, labels_one_hot, refuse_labels

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "dcgan_init", "check_gan_pair"]

_LAYOUT = {28: (7, 2), 32: (4, 3), 64: (4, 4)}  # image size -> (start size s, number of doublings n)


def _layout(image_size: int) -> tuple[int, int]:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size not in _LAYOUT:
        raise ValueError(f"image_size must be one of {sorted(_LAYOUT)}, got {image_size!r}")
    return _LAYOUT[image_size]


class DCGANGenerator(nn.Module):
    """``z (B, latent_dim)`` [, ``y (B,)`` class labels] → images ``(B, channels, S, S)`` in ``[-1, 1]``."""

    def __init__(self, latent_dim: int = 64, width: int = 64, channels: int = 1, image_size: int = 28,
                 num_classes: int | None = None) -> None:
        super().__init__()
        check_positive_int(latent_dim=latent_dim, width=width, channels=channels, num_classes=num_classes)
        s, n = _layout(image_size)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.image_shape = (channels, image_size, image_size)
        c = width * 2 ** (n - 1)
        d_in = latent_dim + (num_classes or 0)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(d_in, c, s, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),  # (B, c, s, s)
        ]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2  # size doubles, channels halve
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]  # (B, channels, S, S)
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_model_input(self, z, (self.latent_dim,), "DCGANGenerator", "codes z")
        if self.num_classes:
            z = torch.cat([z, labels_one_hot(y, self.num_classes, z.shape[0], "this generator", z.dtype)], 1)
        else:
            refuse_labels(y, "this generator")
        return self.net(z[:, :, None, None])

    def render(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The sampler's view (:func:`genimg_course.sampling.generate`): images in [-1, 1], i.e. ``G(z, y)``."""
        return self(z, y)


class DCGANDiscriminator(nn.Module):
    """Images ``(B, channels, S, S)`` [, labels ``(B,)``] → logits ``(B,)``.

    ``norm``: ``"batch"`` (DCGAN), ``"layer"`` (for WGAN-GP, whose per-sample penalty BatchNorm
    would break) or ``"none"``; ``spectral_norm=True`` wraps every conv (Miyato et al., 2018).
    ``bias``: whether the first and the last conv add a bias (the others do only when ``norm="none"``);
    ``bias=False`` gives exactly pytorch/examples' DCGAN discriminator, which ``benchmarks/bench_gan.py``
    times; on CUDA it also saves one read and write of the first layer's output per call (the CPU's
    convolution adds the bias in place, at no extra pass).
    """

    def __init__(self, width: int = 64, channels: int = 1, image_size: int = 28, num_classes: int | None = None,
                 norm: str = "batch", spectral_norm: bool = False, bias: bool = True) -> None:
        super().__init__()
        check_positive_int(width=width, channels=channels, num_classes=num_classes)
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}")
        check_bool(bias=bias, spectral_norm=spectral_norm)
        s, n = _layout(image_size)
        self.num_classes = num_classes
        self.image_shape = (channels, image_size, image_size)
        wrap = _sn if spectral_norm else (lambda m: m)

        def normalise(c: int) -> nn.Module:
            return {"batch": lambda: nn.BatchNorm2d(c), "layer": lambda: nn.GroupNorm(1, c), "none": nn.Identity}[norm]()

        c = width
        layers: list[nn.Module] = [wrap(nn.Conv2d(channels + (num_classes or 0), c, 4, 2, 1, bias=bias)), nn.LeakyReLU(0.2, True)]
        for _ in range(n - 1):
            layers += [wrap(nn.Conv2d(c, 2 * c, 4, 2, 1, bias=norm == "none")), normalise(2 * c), nn.LeakyReLU(0.2, True)]
            c *= 2  # size halves, channels double
        layers.append(wrap(nn.Conv2d(c, 1, s, 1, 0, bias=bias)))  # (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_model_input(self, x, self.image_shape, "DCGANDiscriminator", "images")
        if self.num_classes:
            planes = labels_one_hot(y, self.num_classes, x.shape[0], "this discriminator", x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], 1)
        else:
            refuse_labels(y, "this discriminator")
        return self.net(x).flatten()


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), bias 0."""
    check_module("module", module, "dcgan_init")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def check_gan_pair(G: nn.Module, D: nn.Module, latent_dim: int | None = None) -> tuple[int, ...]:
    """Push two latent codes through ``G`` and its images through ``D`` before any training.

    Raises ``ValueError`` naming both shapes when G's images do not fit D, and when D does not
    return one logit per image. Returns the image shape ``(C, H, W)``.
    """
    check_module("G", G, "check_gan_pair")
    check_module("D", D, "check_gan_pair")
    if latent_dim is not None:
        check_int("latent_dim", latent_dim, minimum=1)
    latent_dim = latent_dim or getattr(G, "latent_dim", None)
    if not latent_dim:
        raise ValueError("pass latent_dim: the generator has no latent_dim attribute")
    p = next(G.parameters(), None)
    p = torch.zeros(()) if p is None else p
    with evaluating(G, D):
        g_classes, d_classes = getattr(G, "num_classes", None), getattr(D, "num_classes", None)
        if g_classes != d_classes:
            raise ValueError(f"the generator has num_classes={g_classes} but the discriminator has num_classes={d_classes}: "
                             "a conditional GAN needs both conditioned on the same classes")
        z = torch.randn(2, latent_dim, device=p.device)
        y = torch.zeros(2, dtype=torch.long, device=p.device) if g_classes else None
        x = G(z, y)
        expected = getattr(D, "image_shape", None)
        if expected is not None and tuple(x.shape[1:]) != tuple(expected):
            raise ValueError(f"the generator makes images of shape {tuple(x.shape[1:])} (C, H, W) but the discriminator "
                             f"expects {tuple(expected)}: change the generator's upsampling or the discriminator's "
                             "image_size so they agree")
        try:
            out = D(x, y)
        except RuntimeError as e:
            raise ValueError(f"the generator makes images of shape {tuple(x.shape[1:])} (C, H, W), which the "
                             f"discriminator cannot take: {str(e).splitlines()[0]}") from None
        if out.shape != (2,):
            raise ValueError(f"the discriminator must return one logit per image, shape (B,) = (2,), got {tuple(out.shape)}")
        return tuple(x.shape[1:])
