"""Cityscapes: the official label-id -> train-id table, and the reader on a tiny tree."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets, tv_tensors

from seglib.core import IGNORE_INDEX, DatasetError
from seglib.datasets import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    LABEL_ID_TO_TRAIN_ID,
    CityscapesSegmentation,
    label_ids_to_train_ids,
)
from seglib.fixtures import make_cityscapes_tree


@pytest.fixture
def cs_root(tmp_path):
    return make_cityscapes_tree(tmp_path / "cityscapes", n_train=3, n_val=2, size=(32, 64))


def test_nineteen_classes_in_train_id_order():
    assert len(CITYSCAPES_CLASSES) == 19
    assert CITYSCAPES_CLASSES[0] == "road" and CITYSCAPES_CLASSES[-1] == "bicycle"
    by_train_id = {c.train_id: c.name for c in datasets.Cityscapes.classes if 0 <= c.train_id < 19}
    assert tuple(by_train_id[i] for i in range(19)) == CITYSCAPES_CLASSES
    assert CITYSCAPES_PALETTE.shape == (19, 3) and CITYSCAPES_PALETTE[0].tolist() == [128, 64, 128]


def test_known_ids_of_the_official_table():
    ids = torch.tensor([7, 8, 26, 33, 0, -1, 24, 11, 23, 9, 29])
    assert label_ids_to_train_ids(ids).tolist() == [0, 1, 13, 18, 255, 255, 11, 2, 10, 255, 255]


def test_table_covers_all_ids_and_only_19_train_ids():
    assert sorted(LABEL_ID_TO_TRAIN_ID) == list(range(-1, 34))
    assert sorted(set(LABEL_ID_TO_TRAIN_ID.values())) == list(range(19)) + [IGNORE_INDEX]
    all_ids = torch.arange(-1, 34)
    assert label_ids_to_train_ids(all_ids).tolist() == [LABEL_ID_TO_TRAIN_ID[i] for i in range(-1, 34)]


def test_unmapped_values_become_ignore_any_shape_and_dtype():
    odd = torch.tensor([[34, 200], [255, -7]], dtype=torch.int32)
    out = label_ids_to_train_ids(odd)
    assert out.dtype == torch.int64 and out.shape == (2, 2) and (out == IGNORE_INDEX).all()
    as_uint8 = label_ids_to_train_ids(torch.tensor([[7, 26]], dtype=torch.uint8))
    assert as_uint8.tolist() == [[0, 13]]


def test_splits_and_sample_format(cs_root):
    assert len(CityscapesSegmentation(cs_root, "train")) == 3
    assert len(CityscapesSegmentation(cs_root, "val")) == 2
    dataset = CityscapesSegmentation(cs_root, "train")
    assert dataset.images == sorted(dataset.images)  # deterministic order, whatever listdir says
    image, mask = dataset[0]
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.float32 and image.shape == (3, 32, 64)
    assert isinstance(mask, tv_tensors.Mask) and mask.dtype == torch.int64 and mask.shape == (32, 64)


def test_masks_are_train_ids_of_the_stored_label_ids(cs_root):
    dataset = CityscapesSegmentation(cs_root, "train")
    for i in range(len(dataset)):
        stored = torch.from_numpy(np.array(Image.open(dataset.masks[i]), dtype=np.int64))
        assert dataset.masks[i].endswith("_gtFine_labelIds.png")
        _, mask = dataset[i]
        assert torch.equal(mask, label_ids_to_train_ids(stored))
        values = set(mask.unique().tolist())
        assert values <= set(range(19)) | {IGNORE_INDEX} and IGNORE_INDEX in values  # ego vehicle, parking
        assert {0, 10, 13} <= values  # road, sky, car


def test_missing_root_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as info:
        CityscapesSegmentation(tmp_path / "nothing")
    message = str(info.value)
    assert "does not exist" in message and "cityscapes-dataset.com" in message
    assert "leftImg8bit_trainvaltest.zip" in message and "gtFine_trainvaltest.zip" in message


def test_half_extracted_names_missing_folder(cs_root):
    shutil.rmtree(cs_root / "gtFine")
    with pytest.raises(DatasetError) as info:
        CityscapesSegmentation(cs_root, "train")
    assert "missing gtFine/train" in str(info.value) and "Found: leftImg8bit/train" in str(info.value)


def test_missing_label_file_is_named(cs_root):
    label = cs_root / "gtFine" / "train" / "bochum" / "bochum_000001_000019_gtFine_labelIds.png"
    label.unlink()
    with pytest.raises(DatasetError) as info:
        CityscapesSegmentation(cs_root, "train")
    assert str(label) in str(info.value)


def test_zips_in_root_are_extracted_by_torchvision(cs_root):
    for folder, archive in (("leftImg8bit", "leftImg8bit_trainvaltest"), ("gtFine", "gtFine_trainvaltest")):
        shutil.make_archive(str(cs_root / archive), "zip", root_dir=cs_root, base_dir=folder)
        shutil.rmtree(cs_root / folder)
    assert len(CityscapesSegmentation(cs_root, "val")) == 2


def test_colour_png_instead_of_label_ids_is_rejected(cs_root):
    dataset = CityscapesSegmentation(cs_root, "train")
    shutil.copy(dataset.masks[0].replace("_labelIds", "_color"), dataset.masks[0])
    with pytest.raises(DatasetError, match="RGBA image"):
        dataset[0]


def test_corrupt_image_names_the_file(cs_root):
    dataset = CityscapesSegmentation(cs_root, "val")
    with open(dataset.images[1], "r+b") as f:
        f.truncate(100)
    with pytest.raises(DatasetError) as info:
        dataset[1]
    assert dataset.images[1] in str(info.value) and "cannot be read" in str(info.value)
