"""The generated trees are in the real on-disk formats: what seglib's readers read, VOC's 255 borders on the
object outlines, palette PNGs; the default trees stay what the lessons' stored outputs were made from."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seglib.core import IGNORE_INDEX
from seglib.datasets import VOCSegmentation
from seglib.fixtures import VOC2012_SIZES, make_cell_tracking_tree, make_voc_tree
from seglib.viz import voc_palette


def test_voc_tree_is_voc2012s_layout_and_readable(tmp_path):
    root = make_voc_tree(tmp_path, n_train=4, n_val=2, size=(48, 64), portrait=0.5)
    voc = root / "VOCdevkit" / "VOC2012"
    lists = {s: (voc / "ImageSets" / "Segmentation" / f"{s}.txt").read_text().split()
             for s in ("train", "val", "trainval")}
    assert [len(lists[s]) for s in ("train", "val", "trainval")] == [4, 2, 6]
    assert lists["trainval"] == lists["train"] + lists["val"]
    assert len(VOCSegmentation(root, "train")) == 4 and len(VOCSegmentation(root, "val")) == 2
    sizes = [Image.open(voc / "JPEGImages" / f"{n}.jpg").size for n in lists["trainval"]]  # (width, height)
    assert sizes.count((64, 48)) == 3 and sizes.count((48, 64)) == 3  # every second one turned
    image, mask = VOCSegmentation(root, "val")[1]
    assert image.dtype == torch.float32 and mask.dtype == torch.int64 and image.shape[-2:] == mask.shape


def test_voc_masks_are_palette_pngs_with_255_on_the_object_borders(tmp_path):
    root = make_voc_tree(tmp_path, n_train=3, n_val=1, size=(48, 64))
    for png in sorted((root / "VOCdevkit" / "VOC2012" / "SegmentationClass").glob("*.png")):
        file = Image.open(png)
        assert file.mode == "P" and file.format == "PNG"
        palette = np.array(file.getpalette()[:256 * 3]).reshape(-1, 3)
        assert (palette[:21] == voc_palette().numpy()[:21]).all()
        label = np.array(file)
        border = label == IGNORE_INDEX
        assert border.any() and set(np.unique(label[~border])) <= set(range(21))
        labelled = ~border  # two different classes never touch: the 255 band lies between them
        assert not ((label[1:] != label[:-1]) & labelled[1:] & labelled[:-1]).any()
        assert not ((label[:, 1:] != label[:, :-1]) & labelled[:, 1:] & labelled[:, :-1]).any()
        assert border.mean() < 0.5  # a band, not the whole image


def test_default_tree_is_unchanged(tmp_path):
    """Lessons 01, 04-06 store outputs computed on this tree: it must not change by accident."""
    mask = np.array(Image.open(make_voc_tree(tmp_path) / "VOCdevkit" / "VOC2012" / "SegmentationClass"
                               / "2012_000000.png"))
    values, counts = np.unique(mask, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {0: 1757, 4: 324, 13: 612, 255: 379}


def test_real_voc_sizes_are_named():
    assert VOC2012_SIZES["n_train"] == 1464 and VOC2012_SIZES["n_val"] == 1449
    assert VOC2012_SIZES["size"] == (375, 500)


def test_cell_tracking_tree_has_the_challenge_layout(tmp_path):
    import tifffile
    root = make_cell_tracking_tree(tmp_path, frames=2, size=(40, 56))
    for sequence in ("01", "02"):
        frame = tifffile.imread(root / sequence / "t001.tif")
        cells = tifffile.imread(root / f"{sequence}_ST" / "SEG" / "man_seg001.tif")
        assert frame.shape == cells.shape == (40, 56) and frame.dtype == np.uint16 and cells.max() >= 1


@pytest.mark.parametrize("portrait", [0.0, 0.25])
def test_portrait_share(tmp_path, portrait):
    root = make_voc_tree(tmp_path, n_train=8, n_val=0, size=(16, 24), portrait=portrait)
    tall = [Image.open(p).size == (16, 24) for p in sorted((root / "VOCdevkit" / "VOC2012" /
                                                            "JPEGImages").glob("*.jpg"))]
    assert sum(tall) == int(8 * portrait)
