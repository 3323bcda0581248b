"""FCN-32s/16s/8s: output size, alignment, parameter counts, staged initialisation."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from seglib.models.fcn import FCN, IMAGENET_MEAN, IMAGENET_STD, STRIDES, count_parameters, pad_to_multiple


QUICK = 1 / 8


@pytest.fixture(scope="module")
def quick_models() -> dict[str, FCN]:
    return {v: FCN(num_classes=3, variant=v, width=QUICK).eval() for v in STRIDES}


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (65, 97), (33, 31), (224, 224)])
def test_logits_have_the_input_size_for_every_variant(quick_models, size):
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        for variant, model in quick_models.items():
            assert model(x).shape == (1, 3, *size), variant


def test_named_parts_as_in_the_reference_implementation(quick_models):
    names = {v: {n for n, _ in m.named_children()} for v, m in quick_models.items()}
    common = {"normalize", "backbone", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "score_fr",
              "upscore"}
    assert names["32s"] == common
    assert names["16s"] == common | {"upscore2", "score_pool4"}
    assert names["8s"] == common | {"upscore2", "score_pool4", "upscore_pool4", "score_pool3"}
    model = quick_models["8s"]
    assert (model.fc6.kernel_size, model.fc6.padding, model.fc7.kernel_size) == ((7, 7), (3, 3), (1, 1))
    assert model.upscore.stride == (8, 8) and model.upscore_pool4.stride == (2, 2)
    assert quick_models["32s"].upscore.stride == (32, 32)


def test_score_layers_start_at_zero_and_only_the_final_upsampler_is_frozen(quick_models):
    model = quick_models["8s"]
    for name in ("score_fr", "score_pool4", "score_pool3"):
        assert getattr(model, name).weight.abs().sum() == 0, name
    assert not model.upscore.weight.requires_grad
    assert model.upscore2.weight.requires_grad and model.upscore_pool4.weight.requires_grad


def identity_like(model: FCN) -> FCN:
    """Every conv copies channel ``o % in_channels`` through its centre tap: VGG becomes
    max-pooling, and class 0's logits are channel 0 of the input, pooled and upsampled."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.zero_()
                m.bias.zero_()
                centre = m.kernel_size[0] // 2
                for o in range(m.out_channels):
                    m.weight[o, o % m.in_channels, centre, centre] = 1
    return model.eval()


def unnormalized(x: torch.Tensor) -> torch.Tensor:
    """The image that FCN's ImageNet normalisation turns into ``x``."""
    return x * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)


def upsample(x: torch.Tensor, *factors: int) -> torch.Tensor:
    for f in factors:
        x = F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
    return x


@pytest.mark.parametrize("variant, silenced, stride, factors", [
    ("32s", [], 32, [32]),
    ("16s", ["score_fr"], 16, [16]),
    ("16s", ["score_pool4"], 32, [2, 16]),
    ("8s", ["score_fr", "score_pool4"], 8, [8]),
    ("8s", ["score_fr", "score_pool3"], 16, [2, 8]),
    ("8s", ["score_pool4", "score_pool3"], 32, [2, 2, 8]),
])
def test_every_path_is_aligned_with_the_input(variant, silenced, stride, factors):
    # With identity-like weights, each path from a pool layer to the output is just
    # max-pooling by its stride then bilinear upsampling: compare it with the same done
    # by hand. An off-by-a-few-pixels crop, pad or upsampler would fail this.
    model = identity_like(FCN(num_classes=2, variant=variant, width=QUICK))
    with torch.no_grad():
        for name in silenced:
            getattr(model, name).weight.zero_()
        x = torch.rand(1, 3, 161, 225)  # odd sizes: padded to 192 x 256, then cropped back
        got = model(unnormalized(x))[:, :1]
        pooled = F.max_pool2d(pad_to_multiple(x, 32)[:, :1], stride)
        expected = upsample(pooled, *factors)[..., :161, :225]
    m = 32  # the bilinear ConvTranspose2d equals interpolation away from the borders
    torch.testing.assert_close(got[..., m:-m, m:-m], expected[..., m:-m, m:-m])


def test_parameter_counts_at_full_width():
    with torch.device("meta"):  # counting needs shapes only, no memory
        counts = {v: count_parameters(FCN(21, v)) for v in STRIDES}
        all_32s = count_parameters(FCN(21, "32s"), trainable_only=False)
    # VGG16 without fc8 (134,260,544) plus score_fr (4096 * 21 + 21): the paper's "134M".
    assert counts["32s"] == 134_260_544 + 86_037 == 134_346_581
    assert all_32s == counts["32s"] + 21 * 64 * 64  # + the fixed, grouped bilinear 32x upsampler
    score_pool4, score_pool3, upscore_2x = 512 * 21 + 21, 256 * 21 + 21, 21 * 21 * 4 * 4
    assert counts["16s"] - counts["32s"] == score_pool4 + upscore_2x
    assert counts["8s"] - counts["16s"] == score_pool3 + upscore_2x


def test_parameter_counts_at_quick_width():
    counts = {v: count_parameters(FCN(21, v, width=QUICK)) for v in STRIDES}
    assert counts["16s"] - counts["32s"] == 64 * 21 + 21 + 21 * 21 * 16
    assert counts["8s"] - counts["16s"] == 32 * 21 + 21 + 21 * 21 * 16
    assert counts["32s"] < 2_200_000


def test_init_from_copies_the_shared_weights():
    coarse = FCN(4, "32s", width=QUICK)
    with torch.no_grad():
        for p in coarse.parameters():
            p.normal_()
    medium = FCN(4, "16s", width=QUICK).init_from(coarse)
    for name, value in coarse.state_dict().items():
        if not name.startswith("upscore."):
            torch.testing.assert_close(medium.state_dict()[name], value, msg=name)
    assert medium.score_pool4.weight.abs().sum() == 0  # the new skip still starts at zero
    with torch.no_grad():
        medium.score_pool4.weight.normal_()
    fine = FCN(4, "8s", width=QUICK).init_from(medium)
    torch.testing.assert_close(fine.score_pool4.weight, medium.score_pool4.weight)
    torch.testing.assert_close(fine.upscore2.weight, medium.upscore2.weight)
    torch.testing.assert_close(fine.fc6.weight, coarse.fc6.weight)
    assert fine.upscore.stride == (8, 8)  # its own final upsampler, not the 16s one


def test_init_from_refuses_a_different_network():
    with pytest.raises(ValueError, match="4-class"):
        FCN(4, "16s", width=QUICK).init_from(FCN(5, "32s", width=QUICK))
    with pytest.raises(ValueError, match="backbone channels"):
        FCN(4, "16s", width=QUICK).init_from(FCN(4, "32s", width=1 / 4))


def test_images_are_normalised_with_imagenet_statistics(quick_models):
    model = quick_models["8s"]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    assert model.normalize(mean).abs().max() < 1e-6
    assert not any("normalize" in name for name in model.state_dict())  # no weights: nothing to save


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        FCN(21, "4s", width=QUICK)


def test_training_step_reaches_every_learnable_part():
    model = FCN(3, "8s", width=QUICK)
    with torch.no_grad():  # nonzero scores so gradients flow back into the backbone
        for name in ("score_fr", "score_pool4", "score_pool3"):
            getattr(model, name).weight.normal_(0, 0.1)
    logits = model(torch.rand(2, 3, 40, 56))
    F.cross_entropy(logits, torch.randint(0, 3, (2, 40, 56))).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.upscore.weight.grad is None


class _FakeWeights:
    """Stands in for ``VGG16_Weights.IMAGENET1K_V1`` without downloading anything."""

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.state = state_dict

    def get_state_dict(self, progress: bool = True, check_hash: bool = True) -> dict[str, torch.Tensor]:
        return self.state


def test_pretrained_backbone_and_fc_layers_load_unchanged():
    with torch.device("meta"):
        shapes = torchvision.models.vgg16(weights=None).state_dict()
    # Distinct values in a known order (cheaper than random numbers for 138 M weights).
    state = {k: torch.arange(v.numel(), dtype=torch.float32).view(v.shape) for k, v in shapes.items()}
    model = FCN(21, "8s", weights=_FakeWeights(state))
    torch.testing.assert_close(model.backbone.pool3[0].weight, state["features.0.weight"])
    torch.testing.assert_close(model.backbone.pool5[-3].bias, state["features.28.bias"])
    torch.testing.assert_close(model.fc6.weight, state["classifier.0.weight"].view(4096, 512, 7, 7))
    torch.testing.assert_close(model.fc7.weight[:, :, 0, 0], state["classifier.3.weight"])
