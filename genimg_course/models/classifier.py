"""A small CNN classifier for 28x28 digits. Trained once, it is also the course's *judge*: its
penultimate features are what FID/KID compare in every later lesson."""
from __future__ import annotations

import torch
from torch import nn

from ._checks import check_model_input, check_number, check_positive_int

__all__ = ["CNNClassifier"]


class CNNClassifier(nn.Module):
    """``(B, C, 28, 28)`` images in ``[-1, 1]`` → ``(B, num_classes)`` logits.

    It predicts labels, so unlike the generative models it takes none: ``model(x)``.
    Two conv blocks (conv-BN-ReLU x2, then 2x2 max-pool) and a 128-d feature layer:
    ``features(x)`` returns those ``(B, feature_dim)`` features (the judge's embedding).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, feature_dim: int = 128,
                 dropout: float = 0.25) -> None:
        super().__init__()
        check_positive_int(in_channels=in_channels, num_classes=num_classes, width=width, feature_dim=feature_dim)
        check_number("dropout", dropout, low=0.0, high=1.0, high_open=True)
        self.in_channels, self.num_classes, self.feature_dim = in_channels, num_classes, feature_dim

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.body = nn.Sequential(
            block(in_channels, width),  # (B, C, 28, 28) -> (B, w, 14, 14)
            block(width, 2 * width),  # -> (B, 2w, 7, 7)
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),  # -> (B, 2w, 4, 4): also accepts other input sizes
            nn.Flatten(),  # -> (B, 32w)
            nn.Linear(2 * width * 16, feature_dim), nn.ReLU(inplace=True),  # -> (B, feature_dim)
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)  # -> (B, num_classes)

    def _check(self, x: torch.Tensor) -> None:
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == self.in_channels and not x.is_floating_point():
            raise TypeError(f"CNNClassifier expects float images in [-1, 1], got {x.dtype}: use data.to_float first")
        check_model_input(self, x, (self.in_channels, "H", "W"), "CNNClassifier", "images")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → ``(B, feature_dim)`` penultimate features."""
        self._check(x)
        return self.head(self.body(x))

    def forward(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        if y is not None:
            raise ValueError("CNNClassifier predicts labels, so it takes none: call model(x), got labels y too")
        return self.fc(self.dropout(self.features(x)))
