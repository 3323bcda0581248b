"""The local-only baseline that every comparison starts with: it sees a 5 x 5 window and nothing more,
so wherever it fails the data needs the lesson's idea. Built in notebooks/00_introduction.ipynb, section 6.
"""
from __future__ import annotations

import torch
from torch import nn

from seglib.core import validate_images


class LocalNet(nn.Sequential):
    """Two 3x3 convolutions with a ReLU between: logits ``[N, C, H, W]`` from a 5 x 5 receptive field.
    First used in notebooks/00_introduction.ipynb, section 6."""

    def __init__(self, num_classes: int, channels: int = 32) -> None:
        super().__init__(
            nn.Conv2d(3, channels, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, num_classes, kernel_size=3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate_images(x, "LocalNet input", channels=3)
        return super().forward(x)
