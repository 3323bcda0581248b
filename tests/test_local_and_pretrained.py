"""The local-only baseline, the shipped shape classifier, and FCN built from a given VGG."""
import re

import pytest
import torch

from seglib.models.fcn import FCN
from seglib.models.local import LocalNet
from seglib.models.vgg import SHAPES_CLASSES, convolutionalize, pool5_grid, shapes_vgg16, vgg16
from seglib.synthetic import CLASSES, SyntheticConfig, make_sample


def test_local_net_sees_exactly_a_5x5_window():
    net = LocalNet(3)
    x = torch.rand(1, 3, 15, 15, requires_grad=True)
    net(x)[0, :, 7, 7].sum().backward()
    reached = x.grad[0].abs().sum(0) > 0
    assert reached.sum().item() == 25 and reached[5:10, 5:10].all()


def test_vgg16_with_batch_norm_and_a_3x3_pool5_grid_classifies_96px_images():
    vgg = vgg16(1 / 8, num_classes=5, batch_norm=True, pool5_grid=3).eval()
    assert pool5_grid(vgg) == 3 and vgg.classifier[0].in_features == 64 * 3 * 3
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in vgg.features)
    assert vgg(torch.rand(2, 3, 96, 96)).shape == (2, 5)
    assert pool5_grid(vgg16(1 / 16)) == 7


def test_shipped_shape_classifier_names_shapes_it_never_saw():
    vgg = shapes_vgg16().eval()
    config = SyntheticConfig(size=96, num_objects=(1, 1), max_object_fraction=0.9)
    pairs = [make_sample(i, seed=12345, config=config) for i in range(60)]
    images = torch.stack([x for x, _ in pairs])
    labels = torch.stack([m.max() - 1 for _, m in pairs])
    with torch.no_grad():
        accuracy = (vgg(images).argmax(1) == labels).float().mean().item()
    assert len(SHAPES_CLASSES) == 5 and accuracy > 0.85
    assert SHAPES_CLASSES == CLASSES["shapes"][1:]  # vgg.py's own names agree with the data's, in order


def test_convolutionalized_shape_classifier_gives_a_map_with_the_same_scores():
    vgg = shapes_vgg16().eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        conv = convolutionalize(vgg).eval()
        assert torch.allclose(conv(x).flatten(1), vgg(x), atol=1e-4)
        assert conv(torch.rand(1, 3, 256, 192)).shape == (1, 5, 6, 4)


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_fcn_from_the_shape_classifier_keeps_its_weights_and_any_size(variant):
    vgg = shapes_vgg16()
    model = FCN(6, variant, vgg=vgg).eval()
    assert model.fc6.kernel_size == (3, 3) and model.fc6.padding == (1, 1)
    assert torch.equal(model.fc6.weight.flatten(1), vgg.classifier[0].weight)
    assert model(torch.rand(1, 3, 45, 71)).shape == (1, 6, 45, 71)


def test_init_from_refuses_a_coarser_net_of_another_backbone():
    with pytest.raises(ValueError, match="cannot initialise"):
        FCN(6, "16s", vgg=shapes_vgg16()).init_from(FCN(6, "32s", vgg=vgg16(1 / 16)))


def test_a_missing_weights_file_is_named(tmp_path, monkeypatch):
    import seglib.models.vgg as vgg_module
    monkeypatch.setattr(vgg_module, "SHAPES_WEIGHTS", tmp_path / "gone.pt")
    with pytest.raises(FileNotFoundError, match=re.escape("gone.pt is missing")):
        vgg_module.shapes_vgg16()
    monkeypatch.setattr(vgg_module, "PLAIN_SHAPES_WEIGHTS", tmp_path / "plain.pt")
    with pytest.raises(FileNotFoundError, match=re.escape("plain.pt is missing")):
        vgg_module.shapes_vgg16(batch_norm=False)
