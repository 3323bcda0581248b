"""VGG16 at any width, and its convolutionalized (fully convolutional) form."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from seglib.models.vgg import VGGBackbone, _scaled_cfg, convolutionalize, convolutionalize_linear, vgg16


QUICK = 1 / 8


def test_scaled_cfg_keeps_the_layout_and_scales_channels():
    assert _scaled_cfg(1.0) == torchvision.models.vgg.cfgs["D"]
    assert _scaled_cfg(QUICK) == [8, 8, "M", 16, 16, "M", 32, 32, 32, "M", 64, 64, 64, "M", 64, 64, 64, "M"]
    assert _scaled_cfg(1e-6)[0] == 1  # never zero channels
    with pytest.raises(ValueError, match="positive"):
        _scaled_cfg(0)


def test_narrow_vgg16_has_vgg16s_layers_and_keys_with_scaled_shapes():
    with torch.device("meta"):
        full = torchvision.models.vgg16(weights=None).state_dict()
    narrow = vgg16(QUICK).state_dict()
    assert list(narrow) == list(full)
    assert narrow["features.0.weight"].shape == (8, 3, 3, 3)
    assert narrow["features.28.weight"].shape == (64, 64, 3, 3)
    assert narrow["classifier.0.weight"].shape == (512, 64 * 7 * 7)
    assert narrow["classifier.3.weight"].shape == (512, 512)
    assert narrow["classifier.6.weight"].shape == (1000, 512)
    assert vgg16(QUICK, num_classes=5).classifier[6].out_features == 5


def test_width_one_is_torchvisions_vgg16_state_dict_and_outputs():
    reference = torchvision.models.vgg16(weights=None).eval()
    with torch.device("meta"):  # the layers only: the weights come from torchvision's model
        ours = vgg16()
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    ours.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


def test_initialisation_follows_torchvision():
    model = vgg16(QUICK)
    assert model.classifier[0].weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert all(m.bias.abs().sum() == 0 for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_pretrained_weights_need_the_full_width():
    with pytest.raises(ValueError, match=re.escape("width=1.0")):
        vgg16(QUICK, weights=torchvision.models.VGG16_Weights.IMAGENET1K_V1)


def test_convolutionalize_linear_reshapes_without_reordering():
    linear = nn.Linear(3 * 2 * 2, 5)
    conv = convolutionalize_linear(linear, in_channels=3, kernel_size=2)
    x = torch.randn(4, 3, 2, 2)
    torch.testing.assert_close(conv(x).flatten(1), linear(x.flatten(1)))
    assert conv.weight[1, 2, 0, 1] == linear.weight[1, 2 * 4 + 0 * 2 + 1]
    with pytest.raises(ValueError, match="cannot read"):
        convolutionalize_linear(linear, in_channels=4, kernel_size=2)


def test_convolutionalized_vgg_gives_the_classifiers_scores_on_224():
    vgg = vgg16(QUICK).eval()
    fully_conv = convolutionalize(vgg).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        scores = fully_conv(x)
        assert scores.shape == (1, 1000, 1, 1)
        torch.testing.assert_close(scores[:, :, 0, 0], vgg(x), rtol=1e-4, atol=1e-5)


def test_convolutionalized_vgg_slides_the_classifier_every_32_pixels():
    vgg = vgg16(QUICK).eval()
    fully_conv = convolutionalize(vgg).eval()
    x = torch.rand(1, 3, 256, 288)  # pool5 is 8 x 9: 2 x 3 windows of 7 x 7
    with torch.no_grad():
        scores = fully_conv(x)
        features = vgg.features(x)
        assert scores.shape == (1, 1000, 2, 3)
        for i, j in [(0, 0), (1, 2)]:
            window = features[..., i: i + 7, j: j + 7]
            expected = vgg.classifier(window.flatten(1))
            torch.testing.assert_close(scores[:, :, i, j], expected, rtol=1e-4, atol=1e-5)
        # [0, 0] is the classifier on the top-left 224 x 224 crop, up to the crop's border,
        # where the crop's convolutions see zero padding instead of the rest of the image.
        crop = vgg(x[..., :224, :224])
        assert F.cosine_similarity(scores[:, :, 0, 0], crop).item() > 0.9


def test_convolutionalize_leaves_the_original_unchanged():
    vgg = vgg16(QUICK)
    fully_conv = convolutionalize(vgg)
    with torch.no_grad():
        fully_conv.fc6.weight.zero_()
        fully_conv.features[0].weight.zero_()
    assert vgg.classifier[0].weight.abs().sum() > 0 and vgg.features[0].weight.abs().sum() > 0


def test_backbone_splits_after_pool3_pool4_pool5():
    backbone = VGGBackbone(vgg16(QUICK).features)
    assert backbone.channels == {"pool3": 32, "pool4": 64, "pool5": 64}
    maps = backbone(torch.rand(1, 3, 64, 96))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "pool3": (1, 32, 8, 12), "pool4": (1, 64, 4, 6), "pool5": (1, 64, 2, 3)}
    with pytest.raises(ValueError, match="5 max-pools"):
        VGGBackbone(nn.Sequential(nn.Conv2d(3, 3, 3), nn.MaxPool2d(2)))


def test_vgg16_on_the_meta_device_has_shapes_and_no_weights():
    model = vgg16(device="meta")
    assert all(p.is_meta for p in model.parameters())
    out = model.features(torch.zeros(1, 3, 100, 132, device="meta"))
    assert out.shape == (1, 512, 3, 4)
    assert vgg16(1 / 8, device="cpu").classifier[0].weight.device.type == "cpu"
