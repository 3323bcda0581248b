"""Colours and figures: known colours, shapes, legends and clear errors."""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from seglib.core import DatasetError
from seglib.viz import (
    colorize,
    legend_handles,
    plot_confusion,
    plot_history,
    show_samples,
    to_uint8_image,
)


def test_colorize_uses_voc_colours_and_cream_for_ignore():
    rgb = colorize(torch.tensor([[0, 1], [15, 255]]))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb.tolist() == [[[0, 0, 0], [128, 0, 0]], [[192, 128, 128], [224, 224, 192]]]


def test_colorize_with_own_palette_and_bad_input():
    palette = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.uint8)
    assert colorize(torch.tensor([[1, 0]]), palette).tolist() == [[[4, 5, 6], [1, 2, 3]]]
    with pytest.raises(DatasetError, match=re.escape("colorize: label values {2} are outside 0..1")):
        colorize(torch.tensor([[2]]), palette)
    with pytest.raises(DatasetError, match=re.escape("integer class indices, got dtype torch.float32")):
        colorize(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        colorize(torch.zeros(1, 2, 2, dtype=torch.long))


def test_to_uint8_image_scales_and_clips():
    image = torch.tensor([-0.5, 0.0, 0.5, 1.0, 2.0]).view(1, 1, 5).expand(3, 1, 5)
    assert to_uint8_image(image)[0, 0].tolist() == [0, 0, 128, 255, 255]
    as_bytes = torch.full((3, 2, 2), 7, dtype=torch.uint8)
    assert torch.equal(to_uint8_image(as_bytes), as_bytes)


def test_legend_names_classes_and_ignore():
    handles = legend_handles({255, 2, 0}, ["bg", "cat", "dog"])
    assert [h.get_label() for h in handles] == ["bg", "dog", "ignore (255)"]
    assert [h.get_label() for h in legend_handles([7])] == ["class 7"]


def test_show_samples_grid_and_legend():
    images = torch.rand(6, 3, 8, 8)
    masks = torch.zeros(6, 8, 8, dtype=torch.long)
    masks[:, :2] = 1
    preds = masks.clone()
    preds[0, 0, 0] = 255
    fig = show_samples(images, masks, preds, class_names=["background", "thing"], max_items=3)
    assert len(fig.axes) == 9  # 3 rows (image, truth, prediction) x 3 columns
    assert fig.axes[0].get_ylabel() == "image" and fig.axes[6].get_ylabel() == "prediction"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["background", "thing", "ignore (255)"]
    width, height = fig.get_size_inches()
    assert width <= 9 and height <= 6
    plt.close(fig)
    fig = show_samples(list(images[:2]))
    assert len(fig.axes) == 2 and not fig.legends
    plt.close(fig)


def test_plot_confusion_normalises_rows():
    cm = torch.tensor([[3, 1], [0, 0]])
    fig = plot_confusion(cm, ["a", "b"])
    shown = fig.axes[0].images[0].get_array()
    assert shown[0].tolist() == [0.75, 0.25]
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.75", "0.25"]  # the empty row shows no numbers
    plt.close(fig)
    fig = plot_confusion(cm, ["a", "b"], normalize=False)
    assert [t.get_text() for t in fig.axes[0].texts] == ["3", "1", "0", "0"]
    plt.close(fig)
    with pytest.raises(ValueError, match="3 class names"):
        plot_confusion(cm, ["a", "b", "c"])


def test_plot_history_has_loss_and_validation_panels():
    history = {"train_loss": [1.0, 0.6], "lr": [0.1, 0.05], "seconds": [1.0, 1.0],
               "val_mean_iou": [0.2, 0.6], "val_pixel_accuracy": [0.5, 0.8]}
    fig = plot_history(history)
    assert len(fig.axes) == 2
    assert [line.get_label() for line in fig.axes[1].lines] == ["val mIoU", "val pixel acc."]
    plt.close(fig)
    fig = plot_history({"train_loss": [1.0], "lr": [0.1], "seconds": [1.0]})
    assert len(fig.axes) == 1
    plt.close(fig)
