"""The PASCAL VOC colour palette, used to draw any label map in colour.

VOC stores its masks as palette ("P" mode) PNGs: each pixel is a class index and the
file carries this 256-entry colour table. Class ``c`` gets its colour by spreading the
bits of ``c`` over the red, green and blue channels, most significant bit first.
"""
from __future__ import annotations

import torch


def voc_palette(n: int = 256) -> torch.Tensor:
    """Return the VOC colour table as a ``uint8`` tensor of shape ``(n, 3)``.

    >>> voc_palette()[[0, 1, 15, 255]].tolist()
    [[0, 0, 0], [128, 0, 0], [192, 128, 128], [224, 224, 192]]
    """
    table = torch.zeros(n, 3, dtype=torch.uint8)
    for label in range(n):
        c, r, g, b = label, 0, 0, 0
        for shift in range(7, -1, -1):  # bit 7 of each channel takes bits 0/1/2 of c, and so on
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        table[label] = torch.tensor([r, g, b], dtype=torch.uint8)
    return table
