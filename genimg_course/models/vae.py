"""Autoencoders and variational autoencoders for 28x28 digits (lesson 05).

* :class:`ConvAutoencoder` — ``x → z → x̂``, deterministic: a compressor, not a generative model.
* :class:`ConvVAE` — the encoder outputs ``q(z|x) = N(mu, diag(exp(logvar)))``, the decoder
  Bernoulli logits of ``p(x|z)``; ``num_classes`` makes it a conditional VAE (Sohn et al., 2015).
* :class:`MLPVAE` — the pytorch/examples VAE (784-400-20), the benchmark's model.

Every decoder returns **logits** ``(B, 1, 28, 28)``: ``sigmoid(logits)`` is the mean image, and the
loss uses ``binary_cross_entropy_with_logits``, which never takes ``log 0``. Each model's
``render(z, y)`` gives that mean image in the course's common range [-1, 1] (``2 * sigmoid - 1``), for
:func:`genimg_course.sampling.generate` and the explorers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_model_input, check_positive_int, labels_one_hot, refuse_labels

__all__ = ["ConvEncoder", "ConvDecoder", "ConvAutoencoder", "ConvVAE", "MLPVAE"]


def _mean_image(logits: torch.Tensor) -> torch.Tensor:
    """Bernoulli logits → the mean image ``sigmoid(logits)`` in [0, 1], mapped to [-1, 1]."""
    return 2 * torch.sigmoid(logits) - 1


def _check_images(module: nn.Module, x: torch.Tensor, who: str) -> None:
    check_model_input(module, x, (1, 28, 28), who, "images")


def _check_codes(module: nn.Module, z: torch.Tensor, latent_dim: int, who: str) -> None:
    check_model_input(module, z, (latent_dim,), who, "codes z")


def _one_hot(y: torch.Tensor | None, num_classes: int | None, who: str, dtype: torch.dtype,
             batch: int) -> torch.Tensor | None:
    if num_classes is None:
        refuse_labels(y, who)
        return None
    return labels_one_hot(y, num_classes, batch, who, dtype)


class ConvEncoder(nn.Module):
    """Images ``(B, 1, 28, 28)`` [, labels ``(B,)``] → ``(B, out_dim)`` (``out_dim = 2 * latent_dim``
    for a VAE: mean and log-variance side by side)."""

    def __init__(self, out_dim: int, width: int = 32, hidden: int = 256, num_classes: int | None = None) -> None:
        super().__init__()
        check_positive_int(out_dim=out_dim, width=width, hidden=hidden, num_classes=num_classes)
        self.num_classes = num_classes
        self.conv = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.ReLU(True),  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(True),  # (B, 2w, 7, 7)
            nn.Flatten(),  # (B, 2w * 49)
        )
        self.fc = nn.Sequential(nn.Linear(2 * width * 49 + (num_classes or 0), hidden), nn.ReLU(True),
                                nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_images(self, x, "the encoder")
        h = self.conv(x)
        c = _one_hot(y, self.num_classes, "this encoder", h.dtype, x.shape[0])
        return self.fc(h if c is None else torch.cat([h, c], 1))


class ConvDecoder(nn.Module):
    """Codes ``(B, latent_dim)`` [, labels ``(B,)``] → Bernoulli logits ``(B, 1, 28, 28)``."""

    def __init__(self, latent_dim: int, width: int = 32, hidden: int = 256, num_classes: int | None = None) -> None:
        super().__init__()
        check_positive_int(latent_dim=latent_dim, width=width, hidden=hidden, num_classes=num_classes)
        self.latent_dim, self.num_classes, self.width = latent_dim, num_classes, width
        self.fc = nn.Sequential(nn.Linear(latent_dim + (num_classes or 0), hidden), nn.ReLU(True),
                                nn.Linear(hidden, 2 * width * 49), nn.ReLU(True))
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(True),  # (B, w, 14, 14)
            nn.ConvTranspose2d(width, 1, 4, 2, 1),  # (B, 1, 28, 28) logits
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_codes(self, z, self.latent_dim, "the decoder")
        c = _one_hot(y, self.num_classes, "this decoder", z.dtype, z.shape[0])
        h = self.fc(z if c is None else torch.cat([z, c], 1))
        return self.deconv(h.view(-1, 2 * self.width, 7, 7))


class ConvAutoencoder(nn.Module):
    """``x (B, 1, 28, 28)`` → code ``z (B, latent_dim)`` → logits ``(B, 1, 28, 28)``. No distribution
    anywhere: nothing says which codes the decoder has learned to decode."""

    def __init__(self, latent_dim: int = 2, width: int = 32, hidden: int = 256) -> None:
        super().__init__()
        check_positive_int(latent_dim=latent_dim, width=width, hidden=hidden)
        self.latent_dim, self.num_classes = latent_dim, None
        self.encoder = ConvEncoder(latent_dim, width, hidden)
        self.decoder = ConvDecoder(latent_dim, width, hidden)

    def encode(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        _check_images(self, x, "ConvAutoencoder")
        return self.encoder(x, y)

    def decode(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        return self.decoder(z, y)

    def render(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        """The decoder's mean image in [-1, 1] (the sampler's view)."""
        return _mean_image(self.decode(z, y))

    def forward(self, x: torch.Tensor, y: None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(logits (B, 1, 28, 28), z (B, latent_dim))``."""
        z = self.encode(x, y)
        return self.decode(z, y), z


class ConvVAE(nn.Module):
    """Variational autoencoder (Kingma & Welling, ICLR 2014) for ``(B, 1, 28, 28)`` images in [0, 1].

    ``forward(x[, y])`` returns ``(logits, mu, logvar, z)``: decoder logits ``(B, 1, 28, 28)`` of
    ``p(x|z)``, the posterior's mean and log-variance ``(B, latent_dim)``, and the sampled
    ``z = mu + exp(logvar / 2) * eps`` (the reparameterisation trick)."""

    def __init__(self, latent_dim: int = 16, width: int = 32, hidden: int = 256, num_classes: int | None = None) -> None:
        super().__init__()
        check_positive_int(latent_dim=latent_dim, width=width, hidden=hidden, num_classes=num_classes)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.encoder = ConvEncoder(2 * latent_dim, width, hidden, num_classes)
        self.decoder = ConvDecoder(latent_dim, width, hidden, num_classes)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(B, latent_dim)``."""
        _check_images(self, x, "ConvVAE")
        mu, logvar = self.encoder(x, y).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Bernoulli logits ``(B, 1, 28, 28)``."""
        return self.decoder(z, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z, y), mu, logvar, z

    def render(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The sampler's view: the mean image ``sigmoid(decode(z, y))`` mapped to [-1, 1]
        (:func:`genimg_course.sampling.generate` draws ``z ~ N(0, I)`` and calls this)."""
        return _mean_image(self.decode(z, y))


class MLPVAE(nn.Module):
    """The pytorch/examples VAE: 784 → 400 → (mu, logvar) of 20 → 400 → 784 logits. Same interface
    as :class:`ConvVAE` (images ``(B, 1, 28, 28)`` in, logits of the same shape out)."""

    def __init__(self, latent_dim: int = 20, hidden: int = 400) -> None:
        super().__init__()
        check_positive_int(latent_dim=latent_dim, hidden=hidden)
        self.latent_dim, self.num_classes = latent_dim, None
        self.fc1, self.fc2 = nn.Linear(784, hidden), nn.Linear(hidden, 2 * latent_dim)
        self.fc3, self.fc4 = nn.Linear(latent_dim, hidden), nn.Linear(hidden, 784)

    def encode(self, x: torch.Tensor, y: None = None) -> tuple[torch.Tensor, torch.Tensor]:
        _check_images(self, x, "MLPVAE")
        refuse_labels(y, "MLPVAE")
        mu, logvar = self.fc2(F.relu(self.fc1(x.flatten(1)))).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        _check_codes(self, z, self.latent_dim, "MLPVAE")
        refuse_labels(y, "MLPVAE")
        return self.fc4(F.relu(self.fc3(z))).view(-1, 1, 28, 28)

    def render(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        """The decoder's mean image in [-1, 1] (the sampler's view)."""
        return _mean_image(self.decode(z, y))

    def forward(self, x: torch.Tensor, y: None = None):
        mu, logvar = self.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar, z
