"""seglib.widgets.unpooling: the views are right, and the panel redraws as its controls change."""
import pytest
import torch
import torch.nn.functional as F

from seglib.models.deconvnet import DeconvNet
from seglib.models.vgg import vgg16
from seglib.widgets.unpooling import UnpoolingExplorer, _unpooling_views


PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def explorer() -> UnpoolingExplorer:
    torch.manual_seed(0)
    model = DeconvNet(3, vgg=vgg16(1 / 16, batch_norm=True, pool5_grid=1))
    return UnpoolingExplorer(model, torch.rand(2, 3, 37, 45), class_names=["a", "b", "c"])


def test_views_keep_the_maxima_at_the_switches():
    x = torch.tensor([[1.0, 5.0, 0.0, 2.0],
                      [3.0, 4.0, 7.0, 1.0],
                      [0.0, 0.0, 0.0, 0.0]])          # odd height: the last row is never pooled
    v = _unpooling_views(x, "nearest")
    assert v["pooled"].tolist() == [[5.0, 7.0]]
    assert v["switches"].tolist() == [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert v["unpooled"].tolist() == [[0, 5, 0, 0], [0, 0, 7, 0], [0, 0, 0, 0]]
    assert v["upsampled"].tolist() == [[5, 5, 7, 7], [5, 5, 7, 7], [5, 5, 7, 7]]
    bilinear = _unpooling_views(x)["upsampled"]
    assert bilinear.shape == x.shape and torch.allclose(bilinear, F.interpolate(
        v["pooled"][None, None], size=(3, 4), mode="bilinear", align_corners=False)[0, 0])
    with pytest.raises(ValueError, match="bilinear' or 'nearest"):
        _unpooling_views(x, "bicubic")


def test_panel_shows_a_png_and_redraws_on_every_control(explorer):
    assert explorer.png.startswith(PNG)
    for control, value in [(explorer.stage, 3), (explorer.channel, 2), (explorer.mode, "nearest"),
                           (explorer.image_index, 1), (explorer.stage, 5)]:
        before = explorer.png
        control.value = value
        assert explorer.png != before, f"{control.description} did not redraw"
        assert "color:#b00020" not in explorer.info.value, explorer.info.value


def test_channel_slider_follows_the_stage(explorer):
    explorer.stage.value = 1
    assert explorer.channel.max == explorer.maps(0)["conv1"].shape[0] - 1 == 3   # 64 / 16
    explorer.stage.value = 4
    assert explorer.channel.max == 31                                           # 512 / 16


def test_the_model_stays_in_training_mode_and_the_snapshot_is_the_picture(explorer):
    explorer.model.train()
    explorer.image_index.value = 0 if explorer.image_index.value else 1
    assert explorer.model.training
    assert explorer.snapshot().data == explorer.png


def test_no_images_is_an_error():
    with pytest.raises(ValueError, match="at least one image"):
        UnpoolingExplorer(DeconvNet(3, vgg=vgg16(1 / 16, batch_norm=True, pool5_grid=1)), [])
