"""seglib.models.deconvnet: shapes for odd sizes, the paper's parameter count, unpooling, the errors."""
import pytest
import torch
import torch.nn.functional as F

from seglib.models.deconvnet import DeconvNet, FCN2s, merge_proposals, oracle_proposals, unpool
from seglib.models.fcn import FCN
from seglib.models.vgg import shapes_vgg16, vgg16


def tiny(**kwargs) -> DeconvNet:
    return DeconvNet(3, vgg=vgg16(1 / 16, batch_norm=True, pool5_grid=1), **kwargs)


@pytest.mark.parametrize("size", [(32, 32), (33, 45), (65, 97), (97, 131)])
@pytest.mark.parametrize("decoder", ["unpool", "bilinear"])
def test_logits_have_the_input_size_for_odd_sizes(size, decoder):
    model = tiny(decoder=decoder).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, *size)).shape == (1, 3, *size)


def test_maps_go_down_by_two_and_back_up_through_the_same_sizes():
    maps = tiny().eval().maps(torch.rand(1, 3, 97, 131))
    for s in range(1, 6):
        assert maps[f"unpool{s}"].shape == maps[f"conv{s}"].shape  # unpool s restores conv s's size
        h, w = maps[f"conv{s}"].shape[-2:]
        assert maps[f"pool{s}"].shape[-2:] == (h // 2, w // 2)
    assert maps["pool5"].shape[-2:] == (3, 4) and maps["fc6_deconv"].shape == maps["pool5"].shape


def test_the_paper_network_has_252_million_parameters():
    with torch.device("meta"):
        model = DeconvNet(21, vgg=vgg16(batch_norm=True, device="meta"))
    assert sum(p.numel() for p in model.parameters()) == 251_805_653  # "252M" (Noh et al., 2015)
    assert [layer[0].out_channels for stage in model.decoder_stages for layer in stage] == [
        512, 512, 512, 512, 512, 256, 256, 256, 128, 128, 64, 64, 64]
    assert model.fc6[0].kernel_size == (7, 7) and model.fc6_deconv[0].kernel_size == (7, 7)


def test_bilinear_decoder_has_exactly_the_same_parameters():
    a, b = tiny(), tiny(decoder="bilinear")
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def test_starts_from_the_shapes_classifier_with_its_3x3_fc6():
    vgg = shapes_vgg16()
    model = DeconvNet(4, vgg=vgg).eval()
    assert model.pool5_grid == 3 and model.fc6[0].kernel_size == (3, 3)
    assert torch.equal(model.fc6[0].weight.flatten(1), vgg.classifier[0].weight)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 96, 96)).shape == (2, 4, 96, 96)


def test_unpool_after_pool_keeps_exactly_the_maxima():
    x = torch.randn(2, 3, 7, 9)
    pooled, indices = F.max_pool2d(x, 2, stride=2, return_indices=True)
    back = unpool(pooled, indices, x.shape[-2:])
    assert back.shape == x.shape
    kept = back != 0
    assert kept.sum() == pooled.numel()                     # one value per 2x2 window
    assert torch.equal(back[kept], x[kept])                 # each at its maximum's place, unchanged
    assert torch.equal(F.max_pool2d(back.masked_fill(~kept, -1e9), 2, 2), pooled)
    assert (back[..., -1, :] == 0).all() and (back[..., :, -1] == 0).all()  # the odd row/column no pool saw


def test_unpool_with_another_stages_switches_is_a_clear_error():
    x = torch.randn(1, 2, 16, 16)
    p1, i1 = F.max_pool2d(x, 2, 2, return_indices=True)
    p2, i2 = F.max_pool2d(p1, 2, 2, return_indices=True)
    with pytest.raises(ValueError, match="its own max-pool, in reverse order"):
        unpool(p2, i1, p1.shape[-2:], "unpool2")
    with pytest.raises(ValueError, match="its own max-pool"):  # right shape, but indices into a bigger map
        unpool(p1[..., :4, :4].contiguous(), i1[..., :4, :4].contiguous() + 200, (8, 8))


def test_too_small_an_input_names_the_size_rule():
    model = DeconvNet(4, vgg=shapes_vgg16()).eval()
    with pytest.raises(ValueError, match=r"at least 32 x 3 = 96 px"):
        model(torch.rand(1, 3, 95, 200))


def test_batch_norm_training_with_one_image_is_a_clear_error():
    model = tiny().train()
    with pytest.raises(ValueError, match="batches of 2 or more"):
        model(torch.rand(1, 3, 32, 32))
    model(torch.rand(2, 3, 32, 32))        # two images train
    model.eval()(torch.rand(1, 3, 32, 32))  # one image predicts with the running statistics


def test_bad_arguments():
    with pytest.raises(ValueError, match="decoder must be one of"):
        tiny(decoder="nearest")
    with pytest.raises(ValueError, match="batch norm"):
        DeconvNet(3, vgg=vgg16(1 / 16, pool5_grid=1))


def test_segnet_like_has_no_code_and_any_size_from_32_px():
    model = DeconvNet(4, vgg=shapes_vgg16(), code=False).eval()
    assert not hasattr(model, "fc6") and not hasattr(model, "fc6_deconv")
    with torch.no_grad():
        maps = model.maps(torch.rand(2, 3, 33, 47))               # below 32 k: fine without the k x k fc6
    assert "fc6" not in maps and maps["score"].shape == (2, 4, 33, 47)
    assert maps["unpool5"].shape == maps["conv5"].shape
    with_code = DeconvNet(4, vgg=shapes_vgg16())
    code = (with_code.fc6, with_code.fc7, with_code.fc6_deconv)
    gone = sum(p.numel() for part in code for p in part.parameters())
    assert sum(p.numel() for p in with_code.parameters()) - sum(p.numel() for p in model.parameters()) == gone


def test_fcn2s_starts_as_fcn8s_and_adds_pool2_and_pool1_skips():
    torch.manual_seed(0)
    fine, coarse = FCN2s(4, vgg=shapes_vgg16()).eval(), FCN(4, "8s", vgg=shapes_vgg16()).eval()
    for layer in (fine.score_fr, fine.score_pool4, fine.score_pool3):   # give the shared scores values
        torch.nn.init.normal_(layer.weight, std=0.01)
    coarse.load_state_dict({k: v for k, v in fine.state_dict().items() if k in coarse.state_dict()
                            and not k.startswith("upscore.")}, strict=False)
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        a, b = fine(x), coarse(x)
    assert a.shape == b.shape == (2, 4, 96, 96)
    # zero-started skips: the same 1/8 scores, upsampled 2x three times instead of 8x at once (both bilinear)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert a.std() > 0.1 and (a[inner] - b[inner]).abs().mean() < 0.05 * b[inner].std()
    assert fine.score_pool2.in_channels == 16 and fine.score_pool1.in_channels == 8  # 1/8 of 128 and 64
    torch.nn.init.normal_(fine.score_pool1.weight, std=0.1)
    with torch.no_grad():
        assert not torch.allclose(fine(x), a)                         # pool1 reaches the output
    with torch.no_grad():
        assert fine(torch.rand(1, 3, 97, 131)).shape == (1, 4, 97, 131)


def test_oracle_proposals_cover_each_instance_enlarged_and_inside_the_image():
    instances = torch.zeros(96, 96, dtype=torch.int64)
    instances[10:30, 20:60] = 1                            # 20 x 40
    instances[90:96, 0:4] = 2                              # tiny, at the corner
    g = torch.Generator().manual_seed(0)
    (t, le, b, r), small = oracle_proposals(instances, g, jitter=0.0)
    assert (t, le, b, r) == (8, 16, 32, 64)                 # 1.2 x: 24 x 48 around the same centre
    assert small[0] >= 0 and small[1] >= 0 and small[2] == 96 and small[2] - small[0] >= 16
    jittered = oracle_proposals(instances, torch.Generator().manual_seed(1), jitter=0.1)
    box = (t, le, b, r)
    assert jittered[0] != box and all(abs(a - e) <= 5 for a, e in zip(jittered[0], box, strict=True))


def test_merge_proposals_takes_the_pixelwise_maximum_and_leaves_uncovered_pixels_at_zero():
    class Constant(torch.nn.Module):                       # class 1 where the crop is bright, else class 2
        def forward(self, x):
            return torch.cat([torch.zeros_like(x[:, :1]), 10 * x[:, :1], 10 * (1 - x[:, :1])], 1)

    image = torch.zeros(3, 64, 64)
    image[:, :, :32] = 1.0
    merged = merge_proposals(Constant(), image, [(0, 0, 32, 32), (0, 16, 32, 48)], size=32)
    assert merged.shape == (3, 64, 64)
    assert merged[:, 32:].abs().sum() == 0 and merged[:, :, 48:].abs().sum() == 0   # not covered
    assert merged[:, :32, :30].argmax(0).eq(1).all() and merged[:, :32, 34:48].argmax(0).eq(2).all()
    overlap = merged[1, 5, 20]                             # both boxes cover it: the larger probability
    assert overlap > 0.99
    with pytest.raises(ValueError, match="no boxes"):
        merge_proposals(Constant(), image, [])


def test_segnet_like_trains_its_encoder_at_the_pretrained_rate():
    model = DeconvNet(4, vgg=shapes_vgg16(), code=False)
    assert {id(p) for p in model.pretrained_parameters()} == {id(p) for p in model.encoder.parameters()}
    with_code = DeconvNet(4, vgg=shapes_vgg16())
    extra = len(with_code.pretrained_parameters()) - len(list(with_code.encoder.parameters()))
    assert extra == len(list(with_code.fc6.parameters())) + len(list(with_code.fc7.parameters()))
