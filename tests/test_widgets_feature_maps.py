"""Tests for seglib.widgets.feature_maps: the hook logic, the scaling, and the widget's behaviour."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seglib.core import DatasetError
from seglib.widgets.feature_maps import (
    FeatureMapExplorer,
    _channel_grid,
    _channel_image,
    _forward_with_activations,
    _layer_choices,
)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class TinyNet(nn.Module):
    """A small segmentation-like net: conv-relu-pool, a 1x1 'score' layer, upsample to input size."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        )
        self.score_fr = nn.Conv2d(16, num_classes, 1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.score_fr(self.features(x)))


class ConstantNet(nn.Module):
    """Always predicts class 2: the 'score' conv has zero weights and bias (0, 0, 5)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.score = nn.Conv2d(4, 3, 1)
        nn.init.zeros_(self.score.weight)
        self.score.bias.data = torch.tensor([0.0, 0.0, 5.0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.conv(x))


@pytest.fixture
def net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()


@pytest.fixture
def images() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(3, 3, 16, 16)


def all_hooks(model: nn.Module) -> list:
    return [h for m in model.modules() for h in m._forward_hooks.values()]


# --- _layer_choices / _forward_with_activations ------------------------------------------------------

def test_layer_choices_lists_conv_relu_pool_and_score_layers(net):
    assert _layer_choices(net) == [
        "features.0", "features.1", "features.2", "features.3", "features.5", "score_fr"
    ]  # BatchNorm (features.4) and Upsample are left out


def test_activation_shapes_for_known_layers(net, images):
    layers = ["features.0", "features.2", "features.3", "score_fr"]
    acts = _forward_with_activations(net, images[0], layers)[1]
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "features.0": (8, 16, 16), "features.2": (8, 8, 8), "features.3": (16, 8, 8), "score_fr": (3, 8, 8),
    }
    assert all(v.device.type == "cpu" for v in acts.values())


def test_activations_accept_a_batch_of_one_and_return_the_model_output(net, images):
    output, acts = _forward_with_activations(net, images[:1], ["score_fr"])
    assert output.shape == (1, 3, 16, 16)
    assert acts["score_fr"].shape == (3, 8, 8)


def test_captured_map_is_a_copy_not_overwritten_by_an_inplace_relu(net, images):
    acts = _forward_with_activations(net, images[0], ["features.0", "features.1"])[1]
    assert acts["features.0"].min() < 0  # the conv's raw output, before ReLU(inplace=True)
    assert acts["features.1"].min() >= 0
    torch.testing.assert_close(acts["features.1"], acts["features.0"].clamp(min=0))


def test_hooks_are_removed_and_mode_restored(net, images):
    net.train()
    _forward_with_activations(net, images[0], _layer_choices(net))
    assert all_hooks(net) == []
    assert net.training


def test_hooks_are_removed_even_when_the_forward_pass_fails(net):
    with pytest.raises(RuntimeError):
        _forward_with_activations(net, torch.rand(5, 16, 16), ["features.0"])  # 5 channels, conv expects 3
    assert all_hooks(net) == []
    assert net.training


def test_unknown_layer_name_lists_the_choices(net, images):
    with pytest.raises(ValueError, match=r"unknown layer 'conv9'.*features\.0, features\.1.*score_fr"):
        _forward_with_activations(net, images[0], ["conv9"])


def test_a_wrongly_shaped_image_is_rejected(net):
    with pytest.raises(ValueError, match=r"expected one image.*\[2, 3, 16, 16\]"):
        _forward_with_activations(net, torch.rand(2, 3, 16, 16), ["features.0"])


# --- _channel_image / _channel_grid -----------------------------------------------------

def test_channel_image_scales_to_unit_range():
    act = torch.tensor([[[1.0, 2.0], [3.0, 5.0]], [[0.0, 0.0], [0.0, 0.0]]])
    np.testing.assert_allclose(_channel_image(act, 0), [[0.0, 0.25], [0.5, 1.0]])


def test_constant_channel_becomes_zeros_not_nan():
    act = torch.full((2, 4, 4), 7.0)
    image = _channel_image(act, 1)
    assert image.shape == (4, 4)
    assert not np.isnan(image).any()
    assert (image == 0).all()


def test_out_of_range_channel_is_a_clear_error():
    with pytest.raises(ValueError, match=r"channel 4 is out of range: this layer has 4 channels \(0\.\.3\)"):
        _channel_image(torch.rand(4, 3, 3), 4)
    with pytest.raises(ValueError, match="out of range"):
        _channel_image(torch.rand(4, 3, 3), -1)


def test_channel_grid_shape_and_gaps():
    grid = _channel_grid(torch.rand(32, 8, 8), n=16)  # 4 x 4 tiles of 8 x 8, 1-pixel gaps around each
    assert grid.shape == (37, 37)
    tiles = grid[1:, 1:].reshape(4, 9, 4, 9)[:, :8, :, :8]
    assert not np.isnan(tiles).any() and tiles.min() == 0 and tiles.max() == 1
    assert np.isnan(grid[0]).all() and np.isnan(grid[:, 9]).all()


def test_channel_grid_with_fewer_channels_than_requested():
    grid = _channel_grid(torch.rand(5, 8, 8), n=16)  # 5 tiles: 3 per row, 2 rows
    assert grid.shape == (2 * 9 + 1, 3 * 9 + 1)


# --- FeatureMapExplorer ---------------------------------------------------------------

def test_explorer_renders_png_and_channel_change_changes_it(net, images):
    explorer = FeatureMapExplorer(net, images)
    before = explorer.png
    assert before.startswith(PNG_SIGNATURE)
    assert len(before) < 40_000  # stored in the notebook's widget state: keep it small
    explorer.channel.value = 3
    assert explorer.png != before
    assert "channel 3" in explorer.info.value


def test_explorer_fits_channel_slider_to_the_layer(net, images):
    explorer = FeatureMapExplorer(net, images)
    assert explorer.channel.max == 7  # features.0 has 8 channels
    explorer.channel.value = 100  # the slider clamps: an out-of-range channel cannot be chosen
    assert explorer.channel.value == 7
    explorer.layer.value = "score_fr"
    assert (explorer.channel.max, explorer.channel.value) == (2, 2)
    assert "score_fr" in explorer.info.value and "3&times;8&times;8" in explorer.info.value


def test_explorer_grid_toggle_and_image_change_redraw(net, images):
    explorer = FeatureMapExplorer(net, images)
    single = explorer.png
    explorer.grid.value = True
    grid = explorer.png
    assert grid != single
    explorer.image_index.value = 2
    assert explorer.png != grid


def test_explorer_caches_activations_per_image_and_layer(net, images):
    explorer = FeatureMapExplorer(net, images)
    calls = []
    net.register_forward_hook(lambda *args: calls.append(1))
    for channel in range(1, 6):
        explorer.channel.value = channel
    explorer.grid.value = True
    assert calls == []  # same image and layer: no new forward pass
    explorer.layer.value = "features.3"
    explorer.layer.value = "features.0"
    explorer.image_index.value = 1
    assert len(calls) == 2  # features.3 of image 0, then features.0 of image 1


def test_explorer_prediction_is_argmax_over_classes():
    explorer = FeatureMapExplorer(ConstantNet(), torch.rand(2, 3, 6, 5), class_names=["a", "b", "c"])
    prediction = explorer.prediction(0)
    assert prediction.shape == (6, 5)
    assert (prediction == 2).all()
    assert [name for name, _ in explorer._legend(prediction)] == ["c"]


def test_explorer_accepts_a_dataset_of_image_mask_pairs(net, images):
    pairs = [(image, torch.zeros(16, 16, dtype=torch.int64)) for image in images]
    explorer = FeatureMapExplorer(net, pairs, layer_names=["features.3", "score_fr"])
    assert explorer.image_index.max == 2
    assert [value for _, value in explorer.layer.options] == ["features.3", "score_fr"]


def test_explorer_rejects_unknown_layers_and_empty_input(net, images):
    with pytest.raises(ValueError, match=r"unknown layer 'nope'.*score_fr"):
        FeatureMapExplorer(net, images, layer_names=["nope"])
    with pytest.raises(ValueError, match="at least one image"):
        FeatureMapExplorer(net, [])


def test_explorer_shows_a_bad_image_in_its_info_line(net, images):
    explorer = FeatureMapExplorer(net, [images[0], torch.rand(16, 16)])
    explorer.image_index.value = 1  # an observer must not raise: the panel says what is wrong
    assert "DatasetError" in explorer.info.value and "image 1" in explorer.info.value
    with pytest.raises(DatasetError, match=r"image 1: expected a tensor \[C, H, W\]"):
        explorer.render()


def test_explorer_displays_a_still_picture_then_its_widget(net, images, monkeypatch):
    from IPython.display import Image

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    explorer = FeatureMapExplorer(net, images)
    explorer._ipython_display_()
    (still, _), (bundle, options) = shown
    assert isinstance(still, Image) and still.data == explorer.png and still.format == "png"
    assert options == {"raw": True}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert explorer.picture in explorer.widget.children
    assert explorer.snapshot().data == explorer.png
    shown.clear()
    explorer.show_snapshot = False
    explorer._ipython_display_()
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0][0]


def test_explorer_works_with_the_course_fcn(images):
    fcn = pytest.importorskip("seglib.models.fcn")
    torch.manual_seed(0)
    model = fcn.FCN(num_classes=4, variant="8s", width=0.125)
    explorer = FeatureMapExplorer(model, torch.rand(2, 3, 64, 64))
    assert explorer.png.startswith(PNG_SIGNATURE)
    assert explorer.prediction(0).shape == (64, 64)
    before = explorer.png
    explorer.layer.value = explorer.layer.options[-1][1]
    explorer.channel.value = explorer.channel.max
    assert explorer.png != before
    assert all_hooks(model) == []
