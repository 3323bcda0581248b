"""Input checks that turn bad data into a clear ``DatasetError`` naming the file.

Without them, a label outside ``0..C-1`` reaches the loss on the GPU and the learner
sees only CUDA's ``device-side assert triggered``; a half-extracted archive shows up
as a bare ``FileNotFoundError`` deep inside a data loader. Each check here says which
file (or sample) is wrong, what is wrong with it, and what to do about it.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from seglib.constants import IGNORE_INDEX
from seglib.errors import DatasetError

_MAX_LISTED = 10  # how many bad values or missing files a message lists before "and N more"


def _listed(items: Sequence) -> str:
    """``{1, 2, 3}``-style list of at most ``_MAX_LISTED`` items, then how many were left out."""
    shown = ", ".join(str(i) for i in items[:_MAX_LISTED])
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return "{" + shown + "}" + more


def check_mask(mask: torch.Tensor, num_classes: int, source: str | Path,
               ignore_index: int = IGNORE_INDEX) -> None:
    """Raise ``DatasetError`` unless ``mask`` is a 2-D integer map of values in ``0..num_classes-1``
    or ``ignore_index``.

    ``source`` names the file or sample in the message (``"sample 17"``, a path).
    """
    if mask.ndim != 2:
        raise DatasetError(f"{source}: a mask must be 2-D [H, W] of class indices, got shape {tuple(mask.shape)}")
    if mask.is_floating_point() or mask.is_complex() or mask.dtype == torch.bool:
        raise DatasetError(f"{source}: a mask must hold integer class indices, got dtype {mask.dtype}")
    values = torch.unique(mask)
    bad = values[((values < 0) | (values >= num_classes)) & (values != ignore_index)].tolist()
    if bad:
        raise DatasetError(
            f"{source}: mask values {_listed(bad)} are outside 0..{num_classes - 1} and are not the "
            f"ignore label {ignore_index}; this is what causes CUDA's 'device-side assert triggered' "
            f"in the loss. Check the number of classes, or that the file holds class indices "
            f"(not colours or raw label ids).")


def check_pair(image: torch.Tensor, mask: torch.Tensor, source: str | Path) -> None:
    """Raise ``DatasetError`` unless ``image [C, H, W]`` and ``mask [H, W]`` have the same height and width."""
    image_size, mask_size = tuple(image.shape[-2:]), tuple(mask.shape[-2:])
    if image_size != mask_size:
        raise DatasetError(
            f"{source}: image is {image_size[0]}x{image_size[1]} (HxW) but its mask is "
            f"{mask_size[0]}x{mask_size[1]}; every pixel needs exactly one label, so the two must "
            f"have the same size (was one of them resized or cropped on its own?)")


def check_dataset_folder(root: str | Path, required: list[str], dataset_name: str,
                         how_to_get: str) -> Path:
    """Check that every path in ``required`` (relative to ``root``) exists; return ``root`` as a Path.

    A missing ``root`` means the data was never downloaded; a ``root`` with only some of
    the expected sub-paths usually means an archive was extracted only in part.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{dataset_name} not found: the folder {root} does not exist.\n{how_to_get}")
    missing = [p for p in required if not (root / p).exists()]
    if not missing:
        return root
    present = [p for p in required if p not in missing]
    found = f" Found: {', '.join(present)}." if present else " None of the expected sub-paths is there."
    raise DatasetError(
        f"{dataset_name} at {root} is incomplete: missing {', '.join(missing)} "
        f"(expected {root / missing[0]}).{found} If you extracted an archive here, it was probably "
        f"interrupted: extract it again, completely.\n{how_to_get}")


def check_files_exist(paths: Sequence[str | Path], listed_in: str | Path) -> None:
    """Raise ``DatasetError`` if any file named by a split list (``listed_in``) is missing."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} file(s) named by {listed_in} do not exist: {_listed(missing)}. "
            f"The dataset is incomplete (an interrupted extraction?) or the list is from another version.")


@contextmanager
def named_read_errors(*paths: str | Path) -> Iterator[None]:
    """Turn PIL/OS read errors raised inside the block into a ``DatasetError`` naming the bad file.

    The reader does not say which of the sample's files failed, so we find out by
    opening each of ``paths`` again.
    """
    try:
        yield
    except (OSError, SyntaxError) as exc:  # PIL reports truncated/broken files with these
        bad = next((p for p in paths if not _readable(p)), None)
        where = str(bad) if bad is not None else " or ".join(str(p) for p in paths)
        problem = "is missing" if bad is not None and not Path(bad).exists() else "cannot be read"
        raise DatasetError(
            f"{where} {problem} ({type(exc).__name__}: {exc}). The file is probably truncated or "
            f"corrupt (an interrupted download or extraction): extract it again from the archive.") from exc


def _readable(path: str | Path) -> bool:
    """True if PIL can fully decode the file at ``path``."""
    try:
        with PILImage.open(path) as im:
            im.load()
        return True
    except (OSError, SyntaxError):
        return False


def to_sample(image: PILImage.Image, mask: PILImage.Image,
              source: str | Path) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """Convert a PIL (image, label map) pair into the course's sample format.

    The image becomes float32 ``[3, H, W]`` in ``[0, 1]``; the mask int64 ``[H, W]``
    holding the file's stored values (a palette PNG's indices, not its colours).
    """
    if mask.mode not in ("P", "L", "I", "I;16"):
        raise DatasetError(
            f"{source}: the label file is a {mask.mode} image, but a mask must store one class index "
            f"per pixel (a palette 'P' or greyscale 'L' PNG). A colour (RGB) rendering of the labels "
            f"cannot be used as a mask.")
    pixels = F.to_dtype(F.pil_to_tensor(image.convert("RGB")), torch.float32, scale=True)
    labels = torch.from_numpy(np.array(mask, dtype=np.int64))
    return tv_tensors.Image(pixels), tv_tensors.Mask(labels)
