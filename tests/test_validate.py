"""The checks name the file or sample and say what is wrong with it."""
import re

import pytest
import torch

from seglib.core import DatasetError, validate_images, validate_labels
from seglib.datasets import _check_files_exist, validate_dataset_folder


def test_validate_labels_accepts_classes_and_ignore():
    mask = torch.tensor([[0, 20], [255, 3]])
    validate_labels(mask, num_classes=21, source="sample 0")  # no error


def test_validate_labels_names_source_and_bad_values():
    mask = torch.tensor([[0, 21], [37, 255]])
    with pytest.raises(DatasetError) as info:
        validate_labels(mask, num_classes=21, source="sample 17")
    message = str(info.value)
    assert "sample 17" in message
    assert "{21, 37}" in message and "0..20" in message and "255" in message
    assert "device-side assert" in message


def test_validate_labels_rejects_negative_values_and_custom_ignore():
    with pytest.raises(DatasetError, match=r"\{-1\}"):
        validate_labels(torch.tensor([[-1, 0]]), 2, "a.png")
    with pytest.raises(DatasetError, match=r"\{255\}"):  # 255 is only fine when it is the ignore label
        validate_labels(torch.tensor([[255, 0]]), 2, "a.png", ignore_index=-100)


def test_validate_labels_rejects_float_and_names_nan():
    message = "m.png: labels must be integer class indices, got dtype torch.f"
    with pytest.raises(DatasetError, match=re.escape(message)):
        validate_labels(torch.zeros(2, 2), 2, "m.png")
    with pytest.raises(DatasetError, match="float32 and contains NaN"):
        validate_labels(torch.tensor([0.0, float("nan")]), 2, "m.png")
    with pytest.raises(DatasetError, match=re.escape("torch.bool")):
        validate_labels(torch.zeros(2, 2, dtype=torch.bool), 2, "m.png")


def test_check_images_names_dtype_and_layout():
    validate_images(torch.rand(2, 3, 4, 4), channels=3)
    with pytest.raises(ValueError, match=re.escape("got dtype torch.uint8; expected float images in [0, 1]")):
        validate_images(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"shape \(2, 4, 4, 3\); expected \[N, 3, H, W\] \(channels last"):
        validate_images(torch.rand(2, 4, 4, 3), channels=3)
    with pytest.raises(ValueError, match=r"shape \(2, 1, 4, 4\); expected \[N, 3, H, W\]"):
        validate_images(torch.rand(2, 1, 4, 4), channels=3)


def test_validate_labels_lists_at_most_ten_bad_values():
    with pytest.raises(DatasetError, match="and 5 more"):
        validate_labels(torch.arange(100, 115).view(3, 5), 21, "m.png")


def test_check_dataset_folder_missing_root(tmp_path):
    with pytest.raises(DatasetError) as info:
        validate_dataset_folder(tmp_path / "nope", ["a"], "MyData", "Download it from X.")
    assert "MyData not found" in str(info.value) and str(tmp_path / "nope") in str(info.value)
    assert "Download it from X." in str(info.value)


def test_check_dataset_folder_half_extracted(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError) as info:
        validate_dataset_folder(tmp_path, ["images", "labels"], "MyData", "Get it.")
    message = str(info.value)
    assert "incomplete" in message and "missing labels" in message and "Found: images" in message
    assert str(tmp_path / "labels") in message


def test_check_dataset_folder_complete_returns_path(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert validate_dataset_folder(str(tmp_path), ["a/b"], "D", "") == tmp_path


def test_check_files_exist_names_missing_files(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=re.escape("train.txt lists no samples")):
        _check_files_exist([], "train.txt")
    with pytest.raises(DatasetError) as info:
        _check_files_exist([tmp_path / "x.jpg", tmp_path / "y.jpg"], "train.txt")
    assert "1 file(s) named by train.txt" in str(info.value) and "y.jpg" in str(info.value)
    assert "x.jpg" not in str(info.value)
