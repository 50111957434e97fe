"""MLP generator and discriminator for 2-D toy data (a ring of Gaussians): trains in seconds."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from ._checks import check_bool, check_model_input, check_positive_int, refuse_labels

__all__ = ["MLPGenerator", "MLPDiscriminator"]


class MLPGenerator(nn.Module):
    """``z (B, latent_dim)`` → points ``(B, out_dim)``. Unconditional: ``y`` must be ``None``."""

    def __init__(self, latent_dim: int = 8, hidden: int = 128, out_dim: int = 2, depth: int = 3) -> None:
        super().__init__()
        check_positive_int(latent_dim=latent_dim, hidden=hidden, out_dim=out_dim, depth=depth)
        self.latent_dim, self.out_dim, self.num_classes = latent_dim, out_dim, None
        layers: list[nn.Module] = []
        d = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        check_model_input(self, z, (self.latent_dim,), "MLPGenerator", "codes z")
        refuse_labels(y, "MLPGenerator")
        return self.net(z)

    def render(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        """The sampler's view (:func:`genimg_course.sampling.generate`): points ``(B, out_dim)``."""
        return self(z, y)


class MLPDiscriminator(nn.Module):
    """Points ``(B, in_dim)`` → logits ``(B,)``. ``spectral_norm=True`` wraps every linear layer."""

    def __init__(self, in_dim: int = 2, hidden: int = 128, depth: int = 3, spectral_norm: bool = False) -> None:
        super().__init__()
        check_positive_int(in_dim=in_dim, hidden=hidden, depth=depth)
        check_bool(spectral_norm=spectral_norm)
        self.in_dim, self.num_classes = in_dim, None
        wrap = _sn if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [wrap(nn.Linear(d, hidden)), nn.LeakyReLU(0.2)]
            d = hidden
        layers.append(wrap(nn.Linear(d, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        check_model_input(self, x, (self.in_dim,), "MLPDiscriminator", "points")
        refuse_labels(y, "MLPDiscriminator")
        return self.net(x).squeeze(1)
