"""Scores near object boundaries: where coarse predictions go wrong.

mIoU over the whole image is dominated by the inside of large regions, which even a
very coarse prediction gets right. To see what FCN's skips buy, score only the pixels
close to a ground-truth boundary: the "trimap" evaluation of Kohli et al. (2009), used
by DeepLab (Chen et al., 2015) to show sharper boundaries. A band of ``width`` pixels on
each side of every boundary is kept; everything else is set to the ignore label, and
the usual confusion-matrix metrics are computed on what is left.

- ``boundary_pixels``: pixels that touch a pixel of another label (both sides of an edge);
- ``boundary_band``: pixels at most ``width`` pixels (chessboard distance) from those;
- ``band_only``: a target with everything outside the band set to the ignore label;
- ``BandConfusionMatrix``: a ``ConfusionMatrix`` that counts only band pixels;
- ``band_metrics``: the four FCN metrics on the band, for one batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seglib.constants import IGNORE_INDEX
from seglib.metrics.confusion import ConfusionMatrix


def _as_batch(target: torch.Tensor) -> torch.Tensor:
    """``[H, W]`` or ``[N, H, W]`` integer labels as ``[N, H, W]``."""
    if target.dim() not in (2, 3) or target.is_floating_point():
        raise ValueError(f"target must be integer labels [H, W] or [N, H, W], got {target.dtype} "
                         f"of shape {tuple(target.shape)}")
    return target if target.dim() == 3 else target.unsqueeze(0)


def boundary_pixels(target: torch.Tensor) -> torch.Tensor:
    """Boolean map, True where a 4-neighbour has a different label (on both sides of an edge).

    The ignore label counts as a label here: VOC's 255 band sits exactly on object
    outlines, so its edges are where the object boundaries are.
    """
    labels = _as_batch(target)
    edge = torch.zeros_like(labels, dtype=torch.bool)
    vertical = labels[:, 1:] != labels[:, :-1]
    horizontal = labels[:, :, 1:] != labels[:, :, :-1]
    edge[:, 1:] |= vertical
    edge[:, :-1] |= vertical
    edge[:, :, 1:] |= horizontal
    edge[:, :, :-1] |= horizontal
    return edge.view_as(target)


def boundary_band(target: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Boolean map of the pixels at most ``width`` pixels from a boundary pixel.

    ``width=0`` is the boundary pixels themselves; each extra pixel of width widens the
    band by one pixel on each side (a max-pool is a dilation).
    """
    if int(width) != width or width < 0:
        raise ValueError(f"width must be an integer >= 0, got {width!r}")
    edge = boundary_pixels(_as_batch(target)).float().unsqueeze(1)
    band = F.max_pool2d(edge, kernel_size=2 * width + 1, stride=1, padding=width) if width else edge
    return band.squeeze(1).bool().view_as(target)


def band_only(target: torch.Tensor, width: int = 2, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """A copy of ``target`` with every pixel outside the boundary band set to ``ignore_index``."""
    return target.masked_fill(~boundary_band(target, width), ignore_index)


class BandConfusionMatrix(ConfusionMatrix):
    """A :class:`ConfusionMatrix` that counts only pixels within ``width`` px of a boundary.

    >>> cm = BandConfusionMatrix(num_classes=2, width=0)
    >>> cm.update(torch.tensor([[[0, 0, 1, 1]]]), torch.tensor([[[0, 0, 0, 1]]]))
    >>> cm.matrix.tolist()   # only the two pixels beside the 0|1 edge are counted
    [[0, 1], [0, 1]]
    """

    def __init__(self, num_classes: int, width: int = 2, ignore_index: int = IGNORE_INDEX,
                 device: torch.device | str | None = None) -> None:
        super().__init__(num_classes, ignore_index=ignore_index, device=device)
        boundary_band(torch.zeros(1, 1, dtype=torch.long), width)  # validate width now, not at update
        self.width = width

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch, as :meth:`ConfusionMatrix.update`, but only the band's pixels."""
        super().update(pred, band_only(target, self.width, self.ignore_index))

    def __repr__(self) -> str:
        return (f"BandConfusionMatrix(num_classes={self.num_classes}, width={self.width}, "
                f"pixels={int(self.matrix.sum())})")


def band_metrics(pred: torch.Tensor, target: torch.Tensor, num_classes: int, width: int = 2,
                 ignore_index: int = IGNORE_INDEX) -> dict:
    """Pixel accuracy, mean accuracy, mIoU, fwIoU of ``pred`` on the boundary band of ``target``.

    ``pred`` is labels ``[N, H, W]`` or logits ``[N, C, H, W]``; ``target`` ``[N, H, W]``.
    """
    matrix = BandConfusionMatrix(num_classes, width, ignore_index)
    matrix.update(pred, target)
    return matrix.compute()
