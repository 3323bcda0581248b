"""The local-only baseline: a segmentation net that sees a 5 x 5 window and nothing more.

Every comparison in the course starts with it. It can tell an edge or a colour from its
neighbours, but not a shape, a far-away cue or anything wider than 5 pixels, so wherever it
fails, the data needs what the lesson's idea brings. Built in notebooks/04_fcn.ipynb, section 4.
"""
from __future__ import annotations

from torch import nn


class LocalNet(nn.Sequential):
    """Two 3x3 convolutions and a 1x1 classifier: logits ``[N, C, H, W]`` from a 5 x 5 receptive field."""

    def __init__(self, num_classes: int, channels: int = 16) -> None:
        super().__init__(
            nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, 1),
        )
