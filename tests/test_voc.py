"""VOCSegmentation on a tiny VOC-format tree: the sample format, 255 kept, clear errors."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from seglib.core import IGNORE_INDEX, DatasetError
from seglib.datasets import VOC_CLASSES, VOCSegmentation
from seglib.fixtures import make_voc_tree
from seglib.transforms import train_transforms


@pytest.fixture
def voc_root(tmp_path):
    return make_voc_tree(tmp_path / "data", n_train=4, n_val=2, size=(48, 64))


def _voc(root):
    return root / "VOCdevkit" / "VOC2012"


def test_classes():
    assert len(VOC_CLASSES) == 21 and VOC_CLASSES[0] == "background" and VOC_CLASSES[15] == "person"


def test_splits_and_sample_format(voc_root):
    assert [len(VOCSegmentation(voc_root, s)) for s in ("train", "val", "trainval")] == [4, 2, 6]
    image, mask = VOCSegmentation(voc_root, "train")[0]
    assert isinstance(image, tv_tensors.Image) and isinstance(mask, tv_tensors.Mask)
    assert image.dtype == torch.float32 and image.shape == (3, 48, 64)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert mask.dtype == torch.int64 and mask.shape == (48, 64)


def test_masks_are_palette_indices_with_255_kept(voc_root):
    dataset = VOCSegmentation(voc_root, "trainval")
    for i in range(len(dataset)):
        stored = Image.open(dataset.masks[i])
        assert stored.mode == "P"  # a palette PNG, like VOC's
        _, mask = dataset[i]
        assert torch.equal(mask, torch.from_numpy(np.array(stored, dtype=np.int64)))
        values = set(mask.unique().tolist())
        assert IGNORE_INDEX in values  # the border around objects
        assert values - {IGNORE_INDEX} <= set(range(21)) and len(values - {0, IGNORE_INDEX}) >= 1


def test_fixture_is_deterministic(tmp_path):
    a = VOCSegmentation(make_voc_tree(tmp_path / "a", seed=3))[1][1]
    b = VOCSegmentation(make_voc_tree(tmp_path / "b", seed=3))[1][1]
    assert torch.equal(a, b)


def test_transforms_are_applied(voc_root):
    image, mask = VOCSegmentation(voc_root, transforms=train_transforms(32))[0]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32)


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError) as info:
        VOCSegmentation(tmp_path / "nowhere")
    message = str(info.value)
    assert "does not exist" in message and "download_voc2012" in message
    assert "VOCtrainval_11-May-2012.tar" in message and "thor.robots.ox.ac.uk" in message


def test_root_without_vocdevkit(tmp_path):
    with pytest.raises(DatasetError, match="incomplete: missing VOCdevkit/VOC2012/JPEGImages"):
        VOCSegmentation(tmp_path)


def test_half_extracted_tree_names_missing_folder(voc_root):
    for png in (_voc(voc_root) / "SegmentationClass").iterdir():
        png.unlink()
    (_voc(voc_root) / "SegmentationClass").rmdir()
    with pytest.raises(DatasetError) as info:
        VOCSegmentation(voc_root)
    message = str(info.value)
    assert "missing VOCdevkit/VOC2012/SegmentationClass" in message
    assert "Found: VOCdevkit/VOC2012/JPEGImages" in message and "extract it again" in message


def test_list_naming_missing_image(voc_root):
    split = _voc(voc_root) / "ImageSets" / "Segmentation" / "train.txt"
    split.write_text(split.read_text() + "2012_999999\n")
    with pytest.raises(DatasetError) as info:
        VOCSegmentation(voc_root, "train")
    message = str(info.value)
    assert str(split) in message and "2012_999999.jpg" in message and "2012_999999.png" in message
    assert "2 file(s)" in message


def test_truncated_jpeg_names_the_file(voc_root):
    dataset = VOCSegmentation(voc_root)
    path = dataset.images[1]
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(DatasetError) as info:
        dataset[1]
    assert path in str(info.value) and "cannot be read" in str(info.value)
    assert dataset.masks[1] not in str(info.value)
    dataset[0]  # the other samples still load


def test_corrupt_mask_names_the_file(voc_root):
    dataset = VOCSegmentation(voc_root)
    open(dataset.masks[2], "wb").write(b"not a png at all")
    with pytest.raises(DatasetError) as info:
        dataset[2]
    assert dataset.masks[2] in str(info.value) and dataset.images[2] not in str(info.value)


def _overwrite_mask(path, array):
    mask = Image.fromarray(array.astype(np.uint8))
    mask.putpalette(Image.open(path).getpalette())
    mask.save(path)


def test_out_of_range_label_names_file_and_values(voc_root):
    dataset = VOCSegmentation(voc_root)
    label = np.zeros((48, 64))
    label[:5, :5], label[10:12, 10:12], label[20, 20] = 21, 37, IGNORE_INDEX
    _overwrite_mask(dataset.masks[0], label)
    with pytest.raises(DatasetError) as info:
        dataset[0]
    assert dataset.masks[0] in str(info.value) and "{21, 37}" in str(info.value)
    assert "device-side assert" in str(info.value)
    _, unchecked = VOCSegmentation(voc_root, check=False)[0]  # check=False lets it through
    assert 37 in unchecked.unique().tolist()


def test_size_mismatch_reports_both_sizes(voc_root):
    dataset = VOCSegmentation(voc_root)
    _overwrite_mask(dataset.masks[0], np.zeros((40, 64)))
    with pytest.raises(DatasetError) as info:
        dataset[0]
    assert "48x64" in str(info.value) and "40x64" in str(info.value) and dataset.masks[0] in str(info.value)


def test_rgb_mask_is_rejected(voc_root):
    dataset = VOCSegmentation(voc_root)
    Image.open(dataset.masks[0]).convert("RGB").save(dataset.masks[0])
    with pytest.raises(DatasetError, match="RGB image"):
        dataset[0]
