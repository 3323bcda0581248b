"""Cityscapes (fine annotations), read by torchvision, with labels mapped to the 19 train ids.

Cityscapes stores *label ids* ``0..33`` in its ``*_gtFine_labelIds.png`` files, but only
19 of those classes are used for training and evaluation. The official table
(cityscapesScripts' ``labels.py``, copied into ``torchvision.datasets.Cityscapes.classes``)
maps each label id to a *train id* ``0..18``, or to 255 (ignore) for the rest.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision import datasets

from seglib.constants import IGNORE_INDEX
from seglib.data.base import CheckedSegmentationFiles, Transforms
from seglib.data.download import cityscapes_instructions
from seglib.data.validate import check_dataset_folder, check_files_exist

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
"""The 19 classes Cityscapes trains and evaluates on, in train-id order."""

LABEL_ID_TO_TRAIN_ID: dict[int, int] = {
    c.id: (c.train_id if 0 <= c.train_id < len(CITYSCAPES_CLASSES) else IGNORE_INDEX)
    for c in datasets.Cityscapes.classes
}
"""The official table: label id (-1 license plate, 0..33) -> train id (0..18, or 255 = ignore)."""

CITYSCAPES_PALETTE: torch.Tensor = torch.tensor(
    [c.color for c in sorted(datasets.Cityscapes.classes, key=lambda c: c.train_id)
     if 0 <= c.train_id < len(CITYSCAPES_CLASSES)], dtype=torch.uint8)
"""The official colours of the 19 train ids, ``uint8 [19, 3]``."""

# Lookup table indexed by (label id + 1): entry 0 is id -1, entries 1..34 are ids 0..33,
# the last entry catches every larger value. Anything not in the table becomes 255.
_MAX_ID = max(LABEL_ID_TO_TRAIN_ID)
_LOOKUP = torch.full((_MAX_ID + 3,), IGNORE_INDEX, dtype=torch.int64)
for _label_id, _train_id in LABEL_ID_TO_TRAIN_ID.items():
    _LOOKUP[_label_id + 1] = _train_id


def label_ids_to_train_ids(mask: torch.Tensor) -> torch.Tensor:
    """Map Cityscapes label ids to train ids with one table lookup (no Python loop over pixels).

    Works for any shape and integer dtype; returns int64. Ids the table does not use
    (and any value outside -1..33) become 255.

    >>> label_ids_to_train_ids(torch.tensor([7, 8, 26, 33, 0, -1])).tolist()
    [0, 1, 13, 18, 255, 255]
    """
    index = (mask.long() + 1).clamp(0, len(_LOOKUP) - 1)
    return _LOOKUP.to(mask.device)[index]


class CityscapesSegmentation(CheckedSegmentationFiles):
    """Cityscapes fine-annotation samples ``(image, mask)`` with masks in train ids.

    ``image``: ``tv_tensors.Image`` float32 ``[3, H, W]`` in ``[0, 1]``;
    ``mask``: ``tv_tensors.Mask`` int64 ``[H, W]``, values in ``0..18`` or 255 (ignore).
    ``root`` is the folder that contains ``leftImg8bit/`` and ``gtFine/``.
    """

    classes = CITYSCAPES_CLASSES
    num_classes = len(CITYSCAPES_CLASSES)

    def __init__(self, root: str | Path, split: str = "train", transforms: Transforms | None = None,
                 check: bool = True):
        root = Path(root).expanduser()
        zips = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")
        if not all((root / z).is_file() for z in zips):  # with both zips there, torchvision unzips them
            required = [f"leftImg8bit/{split}", f"gtFine/{split}"]
            check_dataset_folder(root, required, "Cityscapes", cityscapes_instructions(root))
        self._cityscapes = datasets.Cityscapes(str(root), split=split, mode="fine", target_type="semantic")
        pairs = sorted(zip(self._cityscapes.images, self._cityscapes.targets))  # listdir order varies
        self._cityscapes.images = [image for image, _ in pairs]
        self._cityscapes.targets = [targets for _, targets in pairs]
        self.transforms = transforms
        self.check = check
        if check:
            check_files_exist(self.masks, f"the images in {root / 'leftImg8bit' / split} (their gtFine label files)")

    @property
    def images(self) -> list[str]:
        """Paths of the ``*_leftImg8bit.png`` images."""
        return self._cityscapes.images

    @property
    def masks(self) -> list[str]:
        """Paths of the ``*_gtFine_labelIds.png`` label-id maps, aligned with ``images``."""
        return [targets[0] for targets in self._cityscapes.targets]

    def __len__(self) -> int:
        return len(self._cityscapes)

    def _read(self, index: int):
        return self._cityscapes[index]

    def _labels(self, mask: torch.Tensor) -> torch.Tensor:
        return label_ids_to_train_ids(mask)
