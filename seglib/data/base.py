"""What the real-dataset readers share: read one pair of files, name the file if it is bad,
check sizes and labels, then augment.

``VOCSegmentation`` and ``CityscapesSegmentation`` only say where their files are
(``images``, ``masks``), how torchvision opens sample ``i`` (``_read``) and, for
Cityscapes, how stored labels become training labels (``_labels``).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image as PILImage
from torch.utils.data import Dataset
from torchvision import tv_tensors

from seglib.constants import IGNORE_INDEX
from seglib.data.validate import check_mask, check_pair, named_read_errors, to_sample

Transforms = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[tv_tensors.Image, tv_tensors.Mask]]


class CheckedSegmentationFiles(Dataset):
    """Base class: ``(image, mask)`` samples read from files, checked, then transformed."""

    classes: tuple[str, ...]
    num_classes: int
    ignore_index = IGNORE_INDEX
    transforms: Transforms | None = None
    check: bool = True

    @property
    def images(self) -> list[str]:
        raise NotImplementedError

    @property
    def masks(self) -> list[str]:
        raise NotImplementedError

    def _read(self, index: int) -> tuple[PILImage.Image, PILImage.Image]:
        """Open sample ``index`` as two PIL images (the torchvision reader does this)."""
        raise NotImplementedError

    def _labels(self, mask: torch.Tensor) -> torch.Tensor:
        """Turn the stored label values into training labels (identity unless overridden)."""
        return mask

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        image_path, mask_path = self.images[index], self.masks[index]
        with named_read_errors(image_path, mask_path):
            image, stored = to_sample(*self._read(index), mask_path)
        mask = tv_tensors.Mask(self._labels(stored))
        if self.check:
            check_pair(image, mask, f"{image_path} and {mask_path}")
            check_mask(mask, self.num_classes, mask_path)
        if self.transforms is not None:
            image, mask = self.transforms(image, mask)
        return image, mask
