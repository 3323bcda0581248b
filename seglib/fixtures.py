"""VOC-, Cityscapes- and cell-tracking-style trees in the real on-disk formats (simple shapes, real files),
so the readers, the checks and the lessons' full-profile code run in tests and CI: tiny by default, or at
VOC's real sizes (``VOC2012_SIZES``) for ``python -m seglib.reproduce NN --rehearse``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import datasets

from seglib.core import IGNORE_INDEX
from seglib.metrics import boundary_pixels
from seglib.viz import voc_palette


_LABELED = [c for c in datasets.Cityscapes.classes if c.id >= 0]
_CITYSCAPES_COLORS = np.zeros((256, 3), dtype=np.uint8)
_CITYSCAPES_COLORS[[c.id for c in _LABELED]] = [c.color for c in _LABELED]


def _voc_objects(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Background (0) with 1-3 rectangles or ellipses of random VOC classes (1..20)."""
    label = np.zeros((height, width), dtype=np.uint8)
    yy, xx = np.ogrid[:height, :width]  # broadcast: the same masks as a full grid, at a fraction of the cost
    for _ in range(rng.integers(1, 4)):
        cls = rng.integers(1, 21)
        h, w = rng.integers(height // 4, height // 2 + 1), rng.integers(width // 4, width // 2 + 1)
        y0, x0 = rng.integers(1, height - h), rng.integers(1, width - w)
        if rng.random() < 0.5:
            inside = (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
        else:
            inside = ((yy - y0 - h / 2) / (h / 2)) ** 2 + ((xx - x0 - w / 2) / (w / 2)) ** 2 <= 1
        label[inside] = cls
    return label


def _render(label: np.ndarray, colors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo-like RGB image: each region in its class colour, plus noise."""
    noisy = rng.normal(0, 6, size=(*label.shape, 3))
    noisy += colors[label]  # in place: the same sums as colour + noise, without two more full-size arrays
    return noisy.clip(0, 255, out=noisy).astype(np.uint8)


VOC2012_SIZES: dict = {"n_train": 1464, "n_val": 1449, "size": (375, 500), "portrait": 0.25}
"""VOC 2012's segmentation split: 1,464 train and 1,449 val images, most 500 x 375 (landscape) or
375 x 500 (portrait); ``make_voc_tree(root, **VOC2012_SIZES)`` writes a tree of that size (about 0.05 s
an image on one core: 2-3 minutes)."""


def make_voc_tree(root: str | Path, n_train: int = 4, n_val: int = 2, size: tuple[int, int] = (48, 64),
                  seed: int = 0, portrait: float = 0.0) -> Path:
    """Write a VOC 2012-style tree (JPEGs, palette PNG masks with 255 borders, split lists) under ``root``;
    return ``root``, for ``VOCSegmentation``. ``size`` is ``(height, width)``; a share ``portrait`` of the
    images is ``(width, height)`` instead, so that sizes differ as in VOC.
    First used in notebooks/01_datasets.ipynb, section 2."""
    root = Path(root)
    voc = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = voc_palette().numpy()
    names = [f"2012_{i:06d}" for i in range(n_train + n_val)]
    for i, name in enumerate(names):
        turned = int((i + 1) * portrait) > int(i * portrait)  # every 1/portrait-th image, no RNG drawn
        objects = _voc_objects(rng, *(size[::-1] if turned else size))
        Image.fromarray(_render(objects, palette, rng)).save(voc / "JPEGImages" / f"{name}.jpg", quality=90)
        border = boundary_pixels(torch.from_numpy(objects)).numpy()  # both sides of every edge
        label = np.where(border, IGNORE_INDEX, objects).astype(np.uint8)  # VOC's unsure band
        mask = Image.fromarray(label)
        mask.putpalette(palette.flatten().tolist())  # turns it into a palette ("P") PNG, like VOC's
        mask.save(voc / "SegmentationClass" / f"{name}.png")
    splits = {"train": names[:n_train], "val": names[n_train:], "trainval": names}
    for split, members in splits.items():
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in members))
    return root


def _street_scene(rng: np.random.Generator, height: int,
                  width: int) -> list[tuple[int, tuple[int, int, int, int]]]:
    """A street as rectangles ``(label_id, (x0, y0, x1, y1))``, painted in order (later on top)."""
    horizon = int(height * rng.uniform(0.35, 0.5))
    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return int(x0), int(y0), max(int(x0) + 1, int(x1)), max(int(y0) + 1, int(y1))
    scene = [(23, box(0, 0, width, horizon)),                              # sky
             (7, box(0, horizon, width, height))]                          # road
    for _ in range(3):                                                     # buildings
        x0 = rng.uniform(0, width * 0.8)
        top, right = rng.uniform(0.1, 0.6) * horizon, x0 + rng.uniform(0.1, 0.3) * width
        scene.append((11, box(x0, top, right, horizon)))
    scene += [(21, box(width * 0.8, horizon * 0.4, width, horizon)),        # vegetation
              (8, box(0, horizon, width * 0.2, height)),                    # sidewalks
              (8, box(width * 0.8, horizon, width, height)),
              (9, box(width * 0.25, height * 0.8, width * 0.35, height)),   # parking: ignored in training
              (17, box(width * 0.22, horizon * 0.3, width * 0.22 + 1, horizon + 3))]  # pole
    for _ in range(rng.integers(1, 3)):                                    # cars
        x0 = rng.uniform(0.25, 0.65) * width
        scene.append((26, box(x0, horizon + 1, x0 + width * 0.15, horizon + height * 0.2)))
    scene.append((24, box(width * 0.1, horizon - 4, width * 0.1 + 2, horizon + 3)))  # person
    scene.append((1, box(0, height - 2, width, height)))                   # ego vehicle (bonnet)
    return scene


def _write_cityscapes_sample(image_dir: Path, label_dir: Path, stem: str, size: tuple[int, int],
                             rng: np.random.Generator) -> None:
    """The image and the gtFine labelIds and color files of one frame."""
    label_ids = np.zeros(size, dtype=np.uint8)  # 0 = unlabeled where nothing is painted
    for label_id, (x0, y0, x1, y1) in _street_scene(rng, *size):
        label_ids[y0:y1, x0:x1] = label_id
    Image.fromarray(_render(label_ids, _CITYSCAPES_COLORS, rng)).save(image_dir / f"{stem}_leftImg8bit.png")
    Image.fromarray(label_ids).save(label_dir / f"{stem}_gtFine_labelIds.png")
    rgba = np.dstack([_CITYSCAPES_COLORS[label_ids], np.full(size, 255, dtype=np.uint8)])
    Image.fromarray(rgba).save(label_dir / f"{stem}_gtFine_color.png")


def make_cityscapes_tree(root: str | Path, n_train: int = 3, n_val: int = 2, size: tuple[int, int] = (32, 64),
                         seed: int = 0) -> Path:
    """Write a Cityscapes-style tree (``leftImg8bit/`` images, ``gtFine/`` labelIds and color PNGs, two train
    cities) under ``root``; return ``root``, for ``CityscapesSegmentation``. ``size``: ``(height, width)``.
    First used in notebooks/01_datasets.ipynb, section 3."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    cities = {"train": ("aachen", "bochum"), "val": ("frankfurt",)}
    for split, count in (("train", n_train), ("val", n_val)):
        for i in range(count):
            city = cities[split][i % len(cities[split])]
            image_dir, label_dir = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
            image_dir.mkdir(parents=True, exist_ok=True)
            label_dir.mkdir(parents=True, exist_ok=True)
            _write_cityscapes_sample(image_dir, label_dir, f"{city}_{i:06d}_000019", size, rng)
    return root


def make_cell_tracking_tree(root: str | Path, frames: int = 2, size: tuple[int, int] = (96, 112)) -> Path:
    """A tree in the cell tracking challenge's format (``01/t000.tif``, ``01_ST/SEG/man_seg000.tif``, and
    the same for ``02``) with synthetic touching cells: the U-Net full profile's code path, offline.
    PhC-C2DH-U373's real frames are ``size=(520, 696)``, 115 per sequence.
    Used by seglib.reproduce (lesson 07's smoke run) and seglib.rehearsal (not built in a lesson)."""
    import tifffile

    from seglib.synthetic import SyntheticConfig, make_sample
    root = Path(root)
    config = SyntheticConfig(size=max(size), variant="touching")
    for s, sequence in enumerate(("01", "02")):
        (root / sequence).mkdir(parents=True, exist_ok=True)
        (root / f"{sequence}_ST" / "SEG").mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            image, _, cells = make_sample(t, seed=s, config=config, return_instances=True)
            tifffile.imwrite(root / sequence / f"t{t:03d}.tif",
                             (image.mean(0)[:size[0], :size[1]] * 65535).numpy().astype("uint16"))
            tifffile.imwrite(root / f"{sequence}_ST" / "SEG" / f"man_seg{t:03d}.tif",
                             cells[:size[0], :size[1]].numpy().astype("uint16"))
    return root
