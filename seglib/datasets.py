"""PASCAL VOC 2012 and Cityscapes read by torchvision as ``(image, mask)``: float32 ``[3, H, W]`` in
``[0, 1]`` and int64 ``[H, W]`` (255 = ignore); a missing or corrupt file raises ``DatasetError`` naming
it. Built in notebooks/01_datasets.ipynb, sections 2 and 3. U-Net's cell tiles (``CellTiles``): built in
notebooks/07_unet.ipynb, section 6.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from torch.utils.data import Dataset
from torchvision import datasets, tv_tensors
from torchvision.transforms.v2 import functional as TF  # F is torch.nn.functional everywhere else

from seglib.core import (
    IGNORE_INDEX,
    DatasetError,
    listed,
    validate_images,
    validate_instances,
    validate_labels,
)
from seglib.download import (
    CITYSCAPES_ARCHIVES,
    cityscapes_instructions,
    download_voc2012,
    voc2012_instructions,
)
from seglib.models.unet import mirror_pad
from seglib.transforms import elastic_rot_flip


Transforms = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[tv_tensors.Image, tv_tensors.Mask]]

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
"""The 21 VOC classes: index 0 is background, 1..20 the object classes. 255 is not a class."""

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
"""The 19 classes Cityscapes trains and evaluates on, in train-id order."""

_TRAIN_CLASSES = [c for c in datasets.Cityscapes.classes if 0 <= c.train_id < len(CITYSCAPES_CLASSES)]
LABEL_ID_TO_TRAIN_ID: dict[int, int] = {c.id: IGNORE_INDEX for c in datasets.Cityscapes.classes}
LABEL_ID_TO_TRAIN_ID.update({c.id: c.train_id for c in _TRAIN_CLASSES})
"""The official table: label id (-1 license plate, 0..33) -> train id (0..18, or 255 = ignore)."""

CITYSCAPES_PALETTE: torch.Tensor = torch.tensor(
    [c.color for c in sorted(_TRAIN_CLASSES, key=lambda c: c.train_id)], dtype=torch.uint8)
"""The official colours of the 19 train ids, ``uint8 [19, 3]``."""

_LOOKUP = torch.full((max(LABEL_ID_TO_TRAIN_ID) + 3,), IGNORE_INDEX, dtype=torch.int64)
for _id, _train_id in LABEL_ID_TO_TRAIN_ID.items():
    _LOOKUP[_id + 1] = _train_id  # entry 0 is id -1; the last entry catches every larger id


def label_ids_to_train_ids(mask: torch.Tensor) -> torch.Tensor:
    """Map Cityscapes label ids to train ids with one table lookup; unused ids become 255.
    Built in notebooks/01_datasets.ipynb, section 3.

    >>> label_ids_to_train_ids(torch.tensor([7, 8, 26, 33, 0, -1])).tolist()
    [0, 1, 13, 18, 255, 255]
    """
    index = (mask.long() + 1).clamp(0, len(_LOOKUP) - 1)
    return _LOOKUP.to(mask.device)[index]


def validate_dataset_folder(root: str | Path, required: list[str], name: str, how_to_get: str) -> Path:
    """Check that every path in ``required`` (relative to ``root``) exists, or say whether the data was
    never downloaded or only partly extracted; return ``root``.
    First used in notebooks/01_datasets.ipynb, section 2."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{name} not found: the folder {root} does not exist.\n{how_to_get}")
    missing = [p for p in required if not (root / p).exists()]
    if missing:
        found = ", ".join(p for p in required if p not in missing) or "none of the expected sub-paths"
        raise DatasetError(
            f"{name} at {root} is incomplete: missing {', '.join(missing)} (expected {root / missing[0]}). "
            f"Found: {found}. If you extracted an archive here, it was probably interrupted: extract it "
            f"again, completely.\n{how_to_get}")
    return root


def _check_files_exist(paths: list[str], listed_in: str | Path) -> None:
    """Raise ``DatasetError`` naming the split list if it is empty or names missing files."""
    if not paths:
        raise DatasetError(f"{listed_in} lists no samples: the split is empty")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} file(s) named by {listed_in} do not exist: {listed(missing)}. The dataset "
            f"is incomplete (an interrupted extraction?) or the list is from another version.")


def _readable(path: str) -> bool:
    try:
        with PILImage.open(path) as im:
            im.load()
        return True
    except (OSError, SyntaxError):
        return False


class _CheckedDataset(Dataset):
    """Samples of a torchvision ``reader`` as ``(image, mask)``: read, labels mapped, checked, transformed."""

    def __len__(self) -> int:
        return len(self.images)

    def to_labels(self, mask: torch.Tensor) -> torch.Tensor:
        return mask

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        image_path, mask_path = self.images[index], self.masks[index]
        try:
            image, mask = self.reader[index]
            if mask.mode not in ("P", "L", "I", "I;16"):
                raise DatasetError(f"{mask_path}: the label file is a {mask.mode} image, but a mask must "
                                   "store one class index per pixel (a palette 'P' or greyscale 'L' PNG). "
                                   "A colour (RGB) rendering of the labels cannot be used as a mask.")
            image = TF.to_dtype(TF.pil_to_tensor(image.convert("RGB")), torch.float32, scale=True)
            mask = self.to_labels(torch.from_numpy(np.array(mask, dtype=np.int64)))
        except (OSError, SyntaxError) as exc:  # PIL's errors for truncated or broken files
            bad = next((p for p in (image_path, mask_path) if not _readable(p)), image_path)
            raise DatasetError(f"{bad} cannot be read ({type(exc).__name__}: {exc}). The file is probably "
                               "truncated or corrupt: extract it again from the archive.") from exc
        if self.check:
            (ih, iw), (mh, mw) = image.shape[-2:], mask.shape[-2:]
            if (ih, iw) != (mh, mw):
                raise DatasetError(f"{image_path} and {mask_path}: image is {ih}x{iw} (HxW) but its mask is "
                                   f"{mh}x{mw}; every pixel needs one label (was one resized on its own?)")
            validate_labels(mask, self.num_classes, mask_path)
        image, mask = tv_tensors.Image(image), tv_tensors.Mask(mask)
        return self.transforms(image, mask) if self.transforms is not None else (image, mask)


class VOCSegmentation(_CheckedDataset):
    """PASCAL VOC segmentation samples (``root`` contains ``VOCdevkit/``), masks in ``0..20`` or 255;
    ``check`` verifies that every listed file exists and every mask's labels.
    First used in notebooks/01_datasets.ipynb, section 2."""

    classes = VOC_CLASSES
    num_classes = len(VOC_CLASSES)

    def __init__(self, root: str | Path, image_set: str = "train", year: str = "2012",
                 transforms: Transforms | None = None, download: bool = False, check: bool = True):
        if download:
            download_voc2012(root)
        base = Path("VOCdevkit") / f"VOC{year}"
        split_file = base / "ImageSets" / "Segmentation" / f"{image_set}.txt"
        required = [str(base / "JPEGImages"), str(base / "SegmentationClass"), str(split_file)]
        validate_dataset_folder(root, required, f"PASCAL VOC {year}", voc2012_instructions(root))
        self.reader = datasets.VOCSegmentation(str(root), year=year, image_set=image_set)
        self.images, self.masks = self.reader.images, self.reader.masks
        self.transforms, self.check = transforms, check
        if check:
            _check_files_exist(self.images + self.masks, Path(root) / split_file)


class CityscapesSegmentation(_CheckedDataset):
    """Cityscapes fine-annotation samples (``root``: ``leftImg8bit/`` and ``gtFine/``, or their zips), masks
    in train ids ``0..18`` or 255. First used in notebooks/01_datasets.ipynb, section 3."""

    classes = CITYSCAPES_CLASSES
    num_classes = len(CITYSCAPES_CLASSES)

    def __init__(self, root: str | Path, split: str = "train", transforms: Transforms | None = None,
                 check: bool = True):
        root = Path(root).expanduser()
        if not all((root / z).is_file() for z in CITYSCAPES_ARCHIVES):
            required = [f"leftImg8bit/{split}", f"gtFine/{split}"]
            validate_dataset_folder(root, required, "Cityscapes", cityscapes_instructions(root))
        reader = datasets.Cityscapes(str(root), split=split, mode="fine", target_type="semantic")
        pairs = sorted(zip(reader.images, reader.targets, strict=True))  # listdir order varies
        reader.images, reader.targets = [i for i, _ in pairs], [t for _, t in pairs]
        self.reader, self.images, self.masks = reader, reader.images, [t[0] for t in reader.targets]
        self.transforms, self.check = transforms, check
        if check:
            _check_files_exist(self.masks, f"the images in {root / 'leftImg8bit' / split} "
                                          "(their gtFine label files)")

    def to_labels(self, mask: torch.Tensor) -> torch.Tensor:
        return label_ids_to_train_ids(mask)


NUCLEI_PACKAGE = "stardist"
NUCLEI_INSTALL = 'pip install --no-deps "stardist>=0.9"'


def nuclei_tile() -> tuple[torch.Tensor, torch.Tensor]:
    """A real 512 x 512 fluorescence image of cell nuclei and its instance map, offline: image float32
    ``[1, 512, 512]`` in ``[0, 1]`` (its 1st to 99.5th percentile stretched to 0-1), instances int64
    ``[512, 512]`` (0 = background, 1..125 nuclei).

    The tile is from the 2018 Data Science Bowl (Caicedo et al., Nature Methods 16, 2019), shipped as
    package data by the ``stardist`` wheel (BSD-3-Clause; ``stardist/data/images/img2d.tif`` and
    ``mask2d.tif``). The files are found with ``importlib.util.find_spec`` without importing stardist,
    whose own dependencies (numba, csbdeep) the course does not need. Built in notebooks/07_unet.ipynb,
    section 7.
    """
    import importlib.util

    import tifffile  # installed with scikit-image

    spec = importlib.util.find_spec(NUCLEI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"the nuclei tile ships with the {NUCLEI_PACKAGE!r} package, which is not "
                           f"installed: run  {NUCLEI_INSTALL}  (make setup does; --no-deps: the course "
                           "needs only its data files, not numba or csbdeep)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    paths = [folder / "img2d.tif", folder / "mask2d.tif"]
    for path in paths:
        if not path.is_file():
            raise DatasetError(f"{path} is missing from the installed {NUCLEI_PACKAGE!r} package: "
                               f"reinstall it with  {NUCLEI_INSTALL} --force-reinstall")
    image, mask = (tifffile.imread(p) for p in paths)
    if image.shape != mask.shape or image.ndim != 2:
        raise DatasetError(f"{paths[0]} and {paths[1]}: expected two 2-D maps of one size, got "
                           f"{image.shape} and {mask.shape}")
    image = image.astype(np.float32)
    low, high = np.percentile(image, [1, 99.5])  # a few bright (dividing) nuclei would leave the rest dim
    image = torch.from_numpy(np.clip((image - low) / (high - low), 0, 1).astype(np.float32))
    ids, instances = np.unique(mask, return_inverse=True)  # ids 0..K in order: 0 stays background
    if ids[0] != 0:
        instances += 1
    return image[None], torch.from_numpy(instances.reshape(mask.shape).astype(np.int64))


class CellTiles(Dataset):
    """U-Net's training samples ``(image mirror-padded by margin / 2, target, weights(instances) or 1)``
    from images ``[N, C, H, W]`` and instance maps ``[N, H, W]``, augmented by :func:`elastic_rot_flip`.
    The target is the cell mask (0 / 1), or ``target(instances)`` (e.g.
    :func:`seglib.models.unet.three_class_target`). Built in notebooks/07_unet.ipynb, section 6.
    """

    def __init__(self, images: torch.Tensor, instances: torch.Tensor, margin: int,
                 weights: Callable | None = None, std: float = 10.0, augment: bool = True,
                 target: Callable | None = None) -> None:
        validate_images(images, "CellTiles: images")
        instances = validate_instances(instances, "CellTiles: instances", dims=3)
        if instances.shape != (images.shape[0], *images.shape[2:]):
            raise ValueError(f"CellTiles: {tuple(instances.shape)} instance maps for images of shape "
                             f"{tuple(images.shape)}; expected one [H, W] map per image")
        self.pad = margin // 2
        self.images, self.instances = (mirror_pad(t, *(self.pad,) * 4) for t in (images, instances))
        self.weights, self.std, self.augment, self.target = weights, std, augment, target

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, cells = self.images[i], self.instances[i]
        if self.augment:
            image, cells = elastic_rot_flip(image, cells, std=self.std)
        p = self.pad
        cells = cells[p:cells.shape[-2] - p, p:cells.shape[-1] - p]
        w = torch.ones(cells.shape) if self.weights is None else torch.as_tensor(self.weights(cells.numpy()))
        mask = (cells > 0) if self.target is None else torch.as_tensor(self.target(cells.numpy()))
        return image, mask.long(), w
