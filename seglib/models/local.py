"""The local-only baseline: a segmentation net that sees a 5 x 5 window and nothing more.

Lesson 00 (section 6) builds it by hand as its first segmentation net; every comparison from
lesson 04 on starts with it. It can tell an edge or a colour from its neighbours, but not a
shape, a far-away cue or anything wider than 5 pixels, so wherever it fails, the data needs
what the lesson's idea brings. Built in notebooks/00_introduction.ipynb, section 6.
"""
from __future__ import annotations

from torch import nn


class LocalNet(nn.Sequential):
    """Two 3x3 convolutions with a ReLU between: logits ``[N, C, H, W]`` from a 5 x 5 receptive field."""

    def __init__(self, num_classes: int, channels: int = 32) -> None:
        super().__init__(
            nn.Conv2d(3, channels, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, num_classes, kernel_size=3, padding=1),
        )
