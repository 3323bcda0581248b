"""seglib.models.parsenet: L2Norm, global context, ParseNet's shapes and counts, receptive fields."""
import pytest
import torch
from torch import nn

from seglib.models.fcn import FCN, count_parameters, pad_to_multiple
from seglib.models.parsenet import (
    L2Norm,
    ParseNet,
    empirical_receptive_field,
    global_average,
    replicate,
    theoretical_receptive_field,
)
from seglib.models.vgg import convolutionalize, vgg16


def test_l2norm_output_has_norm_gamma_at_every_position():
    x = torch.randn(2, 8, 5, 7) * torch.logspace(-1, 3, 7)  # positions of very different scale
    norm = L2Norm(8, scale=20.0)
    assert torch.allclose(norm(x).norm(dim=1), torch.full((2, 5, 7), 20.0), rtol=1e-5)
    with torch.no_grad():
        norm.gamma.copy_(torch.arange(1.0, 9.0))
    y = norm(x) / torch.arange(1.0, 9.0).view(1, 8, 1, 1)  # per-channel scales, divided out again
    assert torch.allclose(y.norm(dim=1), torch.ones(2, 5, 7), rtol=1e-5)


def test_l2norm_ignores_the_input_scale_and_has_finite_gradients_at_zero():
    norm = L2Norm(4, scale=10.0)
    x = torch.randn(1, 4, 3, 3)
    assert torch.allclose(norm(x), norm(1000 * x), rtol=1e-5, atol=1e-6)
    x = torch.zeros(1, 4, 2, 2, requires_grad=True)
    norm(x).sum().backward()
    assert torch.isfinite(x.grad).all() and norm.gamma.grad is not None


def test_l2norm_scale_is_per_channel_learnable_or_fixed():
    assert L2Norm(64, 10.0).gamma.shape == (64,) and L2Norm(64).gamma.requires_grad
    fixed = L2Norm(64, 1.0, learn_scale=False)
    assert not fixed.gamma.requires_grad and fixed.gamma.eq(1.0).all()
    assert count_parameters(L2Norm(64)) == 64 and count_parameters(fixed) == 0


@pytest.mark.parametrize("shape", [(2, 8), (1, 7, 4, 4), (8, 4, 4)])
def test_l2norm_refuses_wrong_shapes_naming_them(shape):
    with pytest.raises(ValueError, match=r"L2Norm\(8\) expects features \[N, 8, H, W\]"):
        L2Norm(8)(torch.randn(*shape))


def test_replication_unpooling_equals_expand_and_is_a_view():
    g = global_average(torch.randn(2, 5, 6, 9))
    assert g.shape == (2, 5, 1, 1)
    out = replicate(g, (4, 7))
    assert torch.equal(out, g.expand(2, 5, 4, 7)) and torch.equal(out, g.repeat(1, 1, 4, 7))
    assert out.data_ptr() == g.data_ptr() and out.stride()[-2:] == (0, 0)  # no copy


def test_replicate_refuses_a_map():
    with pytest.raises(ValueError, match="global vector"):
        replicate(torch.randn(1, 3, 2, 2), (4, 4))


def test_global_average_is_the_mean_over_positions():
    x = torch.arange(24.0).view(1, 2, 3, 4)
    assert global_average(x).flatten().tolist() == [5.5, 17.5]


@pytest.mark.parametrize("local", ["fc7", "pool5", "pool4", "pool3"])
@pytest.mark.parametrize("fusion", ["early", "late"])
def test_parsenet_logits_have_the_input_size_for_odd_sizes(local, fusion):
    model = ParseNet(3, local=local, fusion=fusion, vgg=vgg16(1 / 16, num_classes=3, pool5_grid=3)).eval()
    for size in [(33, 47), (65, 97), (32, 32)]:
        with torch.no_grad():
            assert model(torch.rand(1, 3, *size)).shape == (1, 3, *size)


def test_parsenet_parameter_overhead_over_fcn32s():
    with torch.device("meta"):
        fcn, parsenet = FCN(21, "32s", vgg=vgg16()), ParseNet(21, vgg=vgg16())
        late = ParseNet(21, fusion="late", vgg=vgg16())
        raw = ParseNet(21, l2_norm=False, vgg=vgg16())
    assert count_parameters(fcn) == 134_346_581  # 134 M, the FCN paper's figure
    assert count_parameters(parsenet) - count_parameters(fcn) == 4096 * 21 + 2 * 4096
    assert count_parameters(late) == count_parameters(parsenet)  # the same weights, cut in two
    assert count_parameters(raw) - count_parameters(fcn) == 4096 * 21


def test_parsenet_starts_at_zero_and_uses_the_context():
    model = ParseNet(3, vgg=vgg16(1 / 16, num_classes=3, pool5_grid=3)).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert model(x).abs().max() == 0  # zero-initialised classifier, as FCN's score layers
        nn.init.normal_(model.score.weight)
        half = model.score.weight.shape[1] // 2
        model.score.weight[:, :half] = 0  # only the global half is left: one score per image
        out = model.scores(model.backbone(pad_to_multiple(model.normalize(x), 32)))
    assert out.shape == (2, 3, 2, 2)
    assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def test_parsenet_refuses_unknown_options_and_bad_images():
    with pytest.raises(ValueError, match="local must be one of"):
        ParseNet(3, local="conv4_3", vgg=vgg16(1 / 16, num_classes=3, pool5_grid=3))
    with pytest.raises(ValueError, match="fusion 'early' or 'late'"):
        ParseNet(3, fusion="middle", vgg=vgg16(1 / 16, num_classes=3, pool5_grid=3))
    with pytest.raises(ValueError, match=r"expected \[N, 3, H, W\]"):
        ParseNet(3, vgg=vgg16(1 / 16, num_classes=3, pool5_grid=3))(torch.rand(3, 32, 32))


def test_theoretical_receptive_field_of_vgg16_fc7_is_404():
    with torch.device("meta"):
        assert theoretical_receptive_field(convolutionalize(vgg16())) == 404
        assert theoretical_receptive_field(vgg16().features) == 212  # pool5
        assert theoretical_receptive_field(FCN(3, vgg=vgg16(1 / 8, pool5_grid=3))) == 276  # 3x3 fc6


def test_empirical_receptive_field_is_zero_outside_the_theoretical_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1))
    erf = empirical_receptive_field(net, torch.rand(2, 3, 15, 15), point=(7, 7))
    assert erf.shape == (15, 15) and theoretical_receptive_field(net) == 5
    inside = torch.zeros(15, 15, dtype=torch.bool)
    inside[5:10, 5:10] = True
    assert erf[~inside].abs().max() == 0 and erf[inside].sum() > 0
    with pytest.raises(ValueError, match="outside the 15x15 image"):
        empirical_receptive_field(net, torch.rand(1, 3, 15, 15), point=(15, 0))


def test_late_fusion_is_early_fusion_with_the_classifier_cut_in_two():
    torch.manual_seed(0)
    vgg = vgg16(1 / 16, num_classes=3, pool5_grid=3)
    early = ParseNet(3, local="pool3", vgg=vgg).eval()
    late = ParseNet(3, local="pool3", fusion="late", vgg=vgg).eval()
    late.load_state_dict(early.state_dict(), strict=False)  # backbone, fc6, fc7, scales
    with torch.no_grad():
        nn.init.normal_(early.score.weight)
        nn.init.normal_(early.score.bias)
        c = early.backbone.channels["pool3"]
        late.score_local.weight.copy_(early.score.weight[:, :c])
        late.score_local.bias.copy_(early.score.bias)
        late.score_global.weight.copy_(early.score.weight[:, c:])
        x = torch.rand(2, 3, 40, 72)
        assert torch.allclose(early(x), late(x), atol=1e-5)
