"""Joint augmentation of an image and its ``tv_tensors.Mask`` with ``torchvision.transforms.v2``:
the same random scale, flip and crop for both; the mask resized with NEAREST and padded with 255.
Built in notebooks/01_datasets.ipynb, section 4."""
from __future__ import annotations

from torchvision import tv_tensors
from torchvision.transforms import v2

from seglib.core import IGNORE_INDEX


PAD_FILL = {tv_tensors.Image: 0.0, tv_tensors.Mask: IGNORE_INDEX}
"""Padding values: black for the image, ignore for the mask, so padding never becomes a class."""


def train_transforms(crop_size: int | tuple[int, int], scale: tuple[float, float] = (0.5, 2.0),
                     hflip: bool = True, base_size: int | None = None,
                     color_jitter: float = 0.0) -> v2.Compose:
    """Random scale, flip and crop, applied identically to ``(image, mask)``.

    The shorter side is resized to a random length in
    ``[scale[0] * base_size, scale[1] * base_size]`` (``base_size`` defaults to the crop's
    shorter side), then a ``crop_size`` window is cut at random, padding where the image is
    too small. ``color_jitter > 0`` also jitters brightness/contrast/saturation (image only).
    """
    crop = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
    base = base_size if base_size is not None else min(crop)
    steps: list[v2.Transform] = [v2.RandomResize(max(1, int(scale[0] * base)), int(scale[1] * base) + 1)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    steps.append(v2.RandomCrop(crop, pad_if_needed=True, fill=PAD_FILL))
    if color_jitter > 0:
        steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    return v2.Compose(steps)


def eval_transforms(size: int | tuple[int, int] | None = None) -> v2.Compose:
    """Deterministic evaluation transform: optionally resize, nothing random.

    ``size=None`` keeps the original size (the usual way to score VOC, one image at a
    time); an int resizes the shorter side; ``(h, w)`` resizes to exactly that size.
    """
    return v2.Compose([v2.Identity() if size is None else v2.Resize(size)])
