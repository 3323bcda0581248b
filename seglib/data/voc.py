"""PASCAL VOC 2012 segmentation, read by torchvision and returned in the course's format.

torchvision's ``VOCSegmentation`` finds the files and opens them as PIL images. This
wrapper adds what a learner needs on top: the mask as class *indices* (VOC's masks
are palette PNGs: the colours you see are only a rendering of the index stored in each
pixel), the 255 border label kept as ``IGNORE_INDEX`` (never a class), and clear errors
for missing, half-extracted or corrupt data.
"""
from __future__ import annotations

from pathlib import Path

from torchvision import datasets

from seglib.data.download import download_voc2012, voc2012_instructions
from seglib.data.base import CheckedSegmentationFiles, Transforms
from seglib.data.validate import check_dataset_folder, check_files_exist

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
"""The 21 VOC classes: index 0 is background, 1..20 the object classes. 255 is not a class."""

class VOCSegmentation(CheckedSegmentationFiles):
    """PASCAL VOC segmentation samples ``(image, mask)``.

    ``image``: ``tv_tensors.Image`` float32 ``[3, H, W]`` in ``[0, 1]``;
    ``mask``: ``tv_tensors.Mask`` int64 ``[H, W]`` with values in ``0..20`` or 255 (ignore).
    ``root`` is the folder that contains ``VOCdevkit/``. ``transforms`` takes and returns
    the pair (see ``seglib.data.transforms``). ``check=True`` verifies that every listed
    file exists and that every mask holds only valid labels.
    """

    classes = VOC_CLASSES
    num_classes = len(VOC_CLASSES)

    def __init__(self, root: str | Path, image_set: str = "train", year: str = "2012",
                 transforms: Transforms | None = None, download: bool = False, check: bool = True):
        if download:
            download_voc2012(root)  # our wrapper: clear errors when the host is down
        base = Path("VOCdevkit") / f"VOC{year}"
        split_file = base / "ImageSets" / "Segmentation" / f"{image_set}.txt"
        required = [str(base / "JPEGImages"), str(base / "SegmentationClass"), str(split_file)]
        check_dataset_folder(root, required, f"PASCAL VOC {year}", voc2012_instructions(root))
        self._voc = datasets.VOCSegmentation(str(root), year=year, image_set=image_set)
        self.transforms = transforms
        self.check = check
        if check:
            check_files_exist(self.images + self.masks, Path(root) / split_file)

    @property
    def images(self) -> list[str]:
        """Paths of the JPEG images, in the order of the split list."""
        return self._voc.images

    @property
    def masks(self) -> list[str]:
        """Paths of the palette-PNG masks, aligned with ``images``."""
        return self._voc.masks

    def __len__(self) -> int:
        return len(self._voc)

    def _read(self, index: int):
        return self._voc[index]
