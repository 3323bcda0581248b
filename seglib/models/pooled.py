"""A small net from scratch whose receptive field reaches a whole object's outline: lesson 00's rival
to the 5 x 5 local net. Built in notebooks/00_introduction.ipynb, section 6. With ``global_context=True``
it is lesson 05's tiny rival to ParseNet: the same net plus one global-average branch.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seglib.models.parsenet import global_average, replicate


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]


class PooledNet(nn.Module):
    """Four 3x3 conv + batch-norm + ReLU blocks with a 2x max-pool between each, a 1x1 classifier at 1/8
    resolution, bilinear upsampling back: logits ``[N, C, H, W]``, about 61 k parameters at the default
    widths. Each 1/8 cell sees 38 px (``theoretical_receptive_field``); the upsampling mixes two cells
    per direction, so each output pixel sees 46 px (``empirical_receptive_field``). Any input size.
    ``global_context=True``: the last block's global average is unpooled next to its features before the
    classifier, ParseNet's idea without a pretrained backbone (notebooks/05_parsenet.ipynb, section 5);
    ``pool`` (``[N, C, H, W]`` to ``[N, C, 1, 1]``) replaces that average (lesson 05's exercise 4).
    First used in notebooks/00_introduction.ipynb, section 6."""

    def __init__(self, num_classes: int, widths: tuple[int, int, int, int] = (16, 32, 64, 64),
                 global_context: bool = False,
                 pool: Callable[[torch.Tensor], torch.Tensor] = global_average) -> None:
        super().__init__()
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"PooledNet: widths must be four positive ints, got {widths!r}")
        a, b, c, d = widths
        self.body = nn.Sequential(*_block(3, a), nn.MaxPool2d(2), *_block(a, b), nn.MaxPool2d(2),
                                  *_block(b, c), nn.MaxPool2d(2), *_block(c, d))
        self.global_context = global_context
        self.pool = pool
        self.head = nn.Conv2d(2 * d if global_context else d, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        if self.global_context:
            f = torch.cat([f, replicate(self.pool(f), f.shape[-2:])], dim=1)
        return F.interpolate(self.head(f), size=x.shape[-2:], mode="bilinear", align_corners=False)
