"""The seed article's TensorFlow DCGAN, ported layer for layer to PyTorch *with its bugs*, so the
GAN lesson can show them (see ``../shared/seed/ERRATA.md`` items 1–8 and lesson 03).

Keras ``padding='same'`` with stride 2 doubles (transposed) or halves (conv) the size, so the
generator makes 4 → 8 → 16 → **32** × 32 × 3 images, while the discriminator was built for
64 × 64 × 3 inputs (its Dense layer expects 8 · 8 · 256 features). The generator also has no
``tanh``. Do not train these: use :mod:`genimg_course.models.dcgan`.
"""
from __future__ import annotations

import torch
from torch import nn

from ._checks import check_model_input, check_positive_int, refuse_labels

__all__ = ["SeedGenerator", "SeedDiscriminator"]


class SeedGenerator(nn.Module):
    """``build_generator(latent_dim)`` from the seed: ``z (B, latent_dim)`` → ``(B, 3, 32, 32)``, no tanh."""

    def __init__(self, latent_dim: int = 100) -> None:
        super().__init__()
        check_positive_int(latent_dim=latent_dim)
        self.latent_dim, self.num_classes = latent_dim, None
        self.fc = nn.Sequential(nn.Linear(latent_dim, 4 * 4 * 512), nn.LeakyReLU(0.3))  # Keras LeakyReLU default 0.3
        up = []
        for c_in, c_out in [(512, 256), (256, 128), (128, 64)]:  # 4 -> 8 -> 16 -> 32
            up += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.3)]
        self.up = nn.Sequential(*up)
        self.out = nn.Conv2d(64, 3, 3, padding=1)  # Conv2D(3, (3, 3), padding='same'): no tanh

    def forward(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        check_model_input(self, z, (self.latent_dim,), "SeedGenerator", "codes z")
        refuse_labels(y, "SeedGenerator")
        x = self.fc(z).view(-1, 512, 4, 4)  # Reshape((4, 4, 512)), channels first here
        return self.out(self.up(x))

    def render(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        """The sampler's view: ``G(z)`` — unbounded, the seed's bug (no ``tanh``), not in [-1, 1]."""
        return self(z, y)


class SeedDiscriminator(nn.Module):
    """``build_discriminator((64, 64, 3))`` from the seed: ``(B, 3, 64, 64)`` → probability ``(B, 1)``."""

    def __init__(self, image_size: int = 64) -> None:
        super().__init__()
        check_positive_int(image_size=image_size)
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (three stride-2 convolutions), got {image_size}")
        self.image_shape, self.num_classes = (3, image_size, image_size), None
        self.conv = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2, 1), nn.LeakyReLU(0.3),  # 64 -> 32
            nn.Conv2d(64, 128, 3, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.3),  # -> 16
            nn.Conv2d(128, 256, 3, 2, 1), nn.BatchNorm2d(256), nn.LeakyReLU(0.3),  # -> 8
        )
        side = image_size // 8
        self.fc = nn.Linear(256 * side * side, 1)  # Flatten() + Dense(1): 16,384 inputs for 64x64 images

    def forward(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        check_model_input(self, x, self.image_shape, "SeedDiscriminator", "images")
        refuse_labels(y, "SeedDiscriminator")
        return torch.sigmoid(self.fc(self.conv(x).flatten(1)))
