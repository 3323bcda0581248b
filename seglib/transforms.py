"""Joint augmentation of an image and its ``tv_tensors.Mask`` with ``torchvision.transforms.v2``:
the same random scale, flip and crop for both; the mask resized with NEAREST and padded with 255.
Built in notebooks/01_datasets.ipynb, section 4. U-Net's elastic deformation, quarter turns and
flips: notebooks/07_unet.ipynb, section 6 (its training samples, ``CellTiles``, are in seglib.datasets)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

from seglib.core import IGNORE_INDEX


PAD_FILL = {tv_tensors.Image: 0.0, tv_tensors.Mask: IGNORE_INDEX}
"""Padding values: black for the image, ignore for the mask, so padding never becomes a class."""


def train_transforms(crop_size: int | tuple[int, int], scale: tuple[float, float] = (0.5, 2.0),
                     hflip: bool = True, base_size: int | None = None,
                     color_jitter: float = 0.0) -> v2.Compose:
    """Random scale (the shorter side to ``scale`` times ``base_size``, by default the crop's shorter side),
    flip and ``crop_size`` crop (padded where needed), the same for image and mask; ``color_jitter``
    jitters the image only. First used in notebooks/01_datasets.ipynb, section 4."""
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
    """Evaluation transform, nothing random: ``size=None`` keeps the size (the usual way to score VOC), an
    int resizes the shorter side, ``(h, w)`` resizes to exactly that.
    First used in notebooks/06_deconvnet.ipynb, section 6."""
    return v2.Compose([v2.Identity() if size is None else v2.Resize(size)])


def elastic_displacement(height: int, width: int, std: float = 10.0, grid: int = 3) -> torch.Tensor:
    """U-Net's elastic deformation: Gaussian displacements (``std`` px) on a ``grid x grid`` grid, bicubically
    upsampled to a field ``[1, H, W, 2]`` in ``v2.functional.elastic``'s units.
    Built in notebooks/07_unet.ipynb, section 6.
    """
    coarse = torch.randn(1, 2, grid, grid) * std
    field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)
    scale = torch.tensor([2 / width, 2 / height]).view(1, 2, 1, 1)  # pixels -> [-1, 1] units (x, y)
    return (field * scale).permute(0, 2, 3, 1)


def elastic_rot_flip(image: torch.Tensor, *maps: torch.Tensor, std: float = 10.0,
                     grid: int = 3) -> tuple[torch.Tensor, ...]:
    """The same random elastic deformation (``std=0``: none), quarter turn and flip for an image
    ``[C, H, W]`` (bilinear) and label maps ``[H, W]`` (nearest); the outside is filled with 0.
    First used in notebooks/07_unet.ipynb, section 6."""
    if any(m.shape != image.shape[-2:] for m in maps):
        raise ValueError(f"elastic_rot_flip: label maps {[tuple(m.shape) for m in maps]} must be [H, W] of "
                         f"the image's size {tuple(image.shape[-2:])}")
    out = [image, *maps]
    if std > 0:
        d = elastic_displacement(*image.shape[-2:], std=std, grid=grid)
        nearest = v2.InterpolationMode.NEAREST
        out = [v2.functional.elastic_image(image, d)] + [
            v2.functional.elastic_image(m[None], d, interpolation=nearest)[0] for m in maps]
    k, flip = int(torch.randint(4, ())), bool(torch.randint(2, ()))
    out = [t.rot90(k, dims=(-2, -1)) for t in out]
    return tuple(t.flip(-1) if flip else t for t in out)
