"""U-Net: the paper's counts and sizes, crop-and-copy, overlap-tile, the weight map, elastic
deformation, the separation metric, and ``fit`` passing per-pixel weights to the loss."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from seglib.core import DatasetError
from seglib.datasets import CellTiles
from seglib.exercises.lesson07 import brute_force_weight_map
from seglib.metrics import instance_scores, separation, touching_pairs
from seglib.models.unet import (
    UNet,
    _validate_size,
    center_crop,
    mirror_pad,
    output_size,
    predict_tiles,
    valid_sizes,
    weight_map,
    weighted_cross_entropy,
)
from seglib.synthetic import SyntheticConfig, make_sample
from seglib.train import fit
from seglib.transforms import elastic_displacement, elastic_rot_flip


def test_paper_network_has_31_030_658_parameters_23_convolutions_and_maps_572_to_388():
    with torch.device("meta"):
        model = UNet(1, 2, channels=64)
        out = model(torch.empty(1, 1, 572, 572))
    assert sum(p.numel() for p in model.parameters()) == 31_030_658
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 23 and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert tuple(out.shape) == (1, 2, 388, 388) and model.margin == 184


def test_valid_sizes_follow_the_rule_and_match_the_network():
    assert valid_sizes(4) == [188, 204, 220, 236] and output_size(572) == 388
    assert all((n - 124) % 16 == 0 for n in valid_sizes(20, start=189))
    model = UNet(1, 2, channels=2, depth=2).eval()
    for n in range(20, 60):
        expected = output_size(n, depth=2)
        if expected is None:
            with pytest.raises(ValueError, match="Nearest valid sizes"):
                model(torch.zeros(1, 1, n, n))
        else:
            assert model(torch.zeros(1, 1, n, n)).shape[-1] == expected


def test_a_wrong_size_names_the_nearest_valid_ones():
    with pytest.raises(ValueError, match="input side 570 is not valid.*556 or 572"):
        _validate_size(570)
    with pytest.raises(ValueError, match="188 \\(the smallest\\)"):
        _validate_size(100)


def test_padded_variant_keeps_the_size_and_refuses_non_multiples():
    model = UNet(3, 4, channels=4, depth=3, padding="same").eval()
    assert model(torch.zeros(2, 3, 48, 40)).shape == (2, 4, 48, 40) and model.margin == 0
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.zeros(1, 3, 50, 48))


def test_he_initialisation_and_zero_biases():
    torch.manual_seed(0)
    conv = UNet(1, 2, channels=32).down[2][0]  # 64 -> 128 channels: fan-in 64 * 9
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.02)
    assert conv.bias.abs().max() == 0


def test_center_crop_takes_the_middle():
    skip = torch.arange(36.0).view(1, 1, 6, 6)
    assert center_crop(skip, (2, 2)).flatten().tolist() == [14.0, 15.0, 20.0, 21.0]
    assert center_crop(skip, (6, 6)).equal(skip)


@pytest.mark.parametrize("pad", [(2, 3, 1, 4), (9, 12, 7, 20)])
def test_mirror_pad_matches_numpy_reflect_even_beyond_the_image(pad):
    x = torch.arange(35.0).view(1, 5, 7)
    top, bottom, left, right = pad
    expected = np.pad(x.numpy(), ((0, 0), (top, bottom), (left, right)), mode="reflect")
    assert np.array_equal(mirror_pad(x, *pad).numpy(), expected)


def test_overlap_tile_equals_one_whole_image_prediction():
    torch.manual_seed(0)
    model = UNet(1, 2, channels=4, depth=2).eval()
    image = torch.rand(1, 1, 45, 61)
    with torch.no_grad():
        tiled = predict_tiles(model, image, tile=52)    # 12 x 12 outputs, stepping by 8
        whole = predict_tiles(model, image, tile=108)   # one tile covers it all
    assert tiled.shape == (1, 2, 45, 61)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        zeros = predict_tiles(model, image, tile=108, pad="zeros")
    assert not torch.allclose(zeros[..., :2, :], whole[..., :2, :])  # the border sees other context
    with pytest.raises(ValueError, match="pad 'mirror' or 'zeros'"):
        predict_tiles(model, image, tile=52, pad="reflect")
    with pytest.raises(ValueError, match="unpadded U-Net"):
        predict_tiles(UNet(1, 2, channels=4, depth=2, padding="same"), image, tile=52)
    with pytest.raises(ValueError, match="input side 50 is not valid"):
        predict_tiles(model, image, tile=50)


def test_weight_map_matches_brute_force_and_balances_classes():
    _, _, cells = make_sample(3, 0, SyntheticConfig(size=24, variant="touching"), return_instances=True)
    cells = cells.numpy()
    assert cells.max() >= 2
    np.testing.assert_allclose(weight_map(cells, 10, 5), brute_force_weight_map(cells, 10, 5), rtol=1e-5)
    balanced = weight_map(cells, w0=0)
    assert balanced.mean() == pytest.approx(1.0)  # N / (2 N_c) per pixel averages to 1
    one = (cells == 1).astype(np.int64)
    assert np.allclose(weight_map(one), weight_map(one, w0=0))  # no second cell, no border term


def test_weight_map_is_largest_in_the_narrow_gap():
    cells = np.zeros((10, 20), np.int64)
    cells[2:8, 2:9], cells[2:8, 10:17] = 1, 2   # a 1-pixel gap at column 9
    w = weight_map(cells)
    assert w[5, 9] > 9 and w[5, 9] == w.max() and w[5, 19] < w[5, 9] / 2


def test_touching_pairs_and_separation():
    cells = torch.zeros(10, 20, dtype=torch.long)
    cells[2:8, 2:9], cells[2:8, 10:13], cells[2:8, 18:20] = 1, 2, 3  # 1 and 2 touch; 3 is 5 px away
    assert touching_pairs(cells).tolist() == [[1, 2]]
    assert separation(cells > 0, cells) == (1, 1)
    merged = cells > 0
    merged[2:8, 9] = True
    assert separation(merged, cells) == (0, 1)
    assert separation(torch.zeros_like(merged), cells) == (0, 1)  # nothing found: not separated


def test_instance_scores_perfect_prediction():
    cells = torch.zeros(1, 10, 20, dtype=torch.long)
    cells[0, 2:8, 2:9], cells[0, 2:8, 10:13] = 1, 2
    scores = instance_scores((cells > 0).float(), cells)
    assert scores == {"separation": 1.0, "AP": 1.0}
    merged = (cells > 0).float()
    merged[0, 2:8, 9] = 1
    assert instance_scores(merged, cells)["separation"] == 0.0


def test_elastic_displacement_has_the_requested_pixel_std_at_the_grid_nodes():
    torch.manual_seed(0)
    d = torch.cat([elastic_displacement(64, 32, std=10.0) for _ in range(300)])
    corners_px = d[:, 0, 0] * torch.tensor([32 / 2, 64 / 2])  # back to pixels (x, y)
    assert d.shape == (300, 64, 32, 2) and corners_px.std().item() == pytest.approx(10.0, rel=0.1)


def test_elastic_rot_flip_moves_image_and_labels_together():
    torch.manual_seed(1)
    labels = torch.zeros(40, 40, dtype=torch.long)
    labels[5:20, 8:30] = 1
    labels[25:35, 10:20] = 2
    image = labels[None].float().repeat(3, 1, 1)
    for std in (0.0, 10.0):
        out, moved = elastic_rot_flip(image, labels, std=std)
        assert moved.dtype == torch.long and set(moved.unique().tolist()) <= {0, 1, 2}
        agree = (out[0].round().long() == moved).float().mean().item()
        assert agree == 1.0 if std == 0 else agree > 0.95


def test_cell_tiles_give_padded_images_masks_and_weights():
    config = SyntheticConfig(size=20, variant="touching")
    samples = [make_sample(i, 0, config, return_instances=True) for i in range(2)]
    images, cells = torch.stack([s[0] for s in samples]), torch.stack([s[2] for s in samples])
    image, mask, w = CellTiles(images, cells, 40, weight_map, augment=False)[1]
    assert image.shape == (3, 60, 60) and mask.shape == w.shape == (20, 20)
    assert mask.equal((cells[1] > 0).long())
    assert torch.allclose(w, torch.from_numpy(weight_map(cells[1].numpy())))
    assert CellTiles(images, cells, 40)[0][2].eq(1).all()


def test_fit_passes_extra_sample_items_to_the_loss():
    torch.manual_seed(0)
    images = torch.rand(8, 3, 8, 8)
    masks = (images[:, 0] > 0.5).long()
    weights = torch.zeros(8, 8, 8)
    weights[..., :4] = 1.0  # only the left half counts
    seen = []

    def loss_fn(logits, target, w):
        seen.append(w.shape)
        return (F.cross_entropy(logits, target, reduction="none") * w).mean()

    model = nn.Conv2d(3, 2, 1)
    fit(model, TensorDataset(images, masks, weights), epochs=1, lr=0.1, batch_size=4, loss_fn=loss_fn,
        progress=False)
    assert seen == [torch.Size([4, 8, 8])] * 2


def test_gap_contrast_brightens_only_the_gaps():
    plain = make_sample(4, 0, SyntheticConfig(size=32, variant="touching"), return_instances=True)
    faint = make_sample(4, 0, SyntheticConfig(size=32, variant="touching", gap_contrast=0.5),
                        return_instances=True)
    assert plain[1].equal(faint[1]) and plain[2].equal(faint[2])
    changed = (faint[0] - plain[0]).abs().amax(0) > 1e-6
    assert changed.any() and (plain[1][changed] == 0).all()       # gap pixels are background
    assert (faint[0] >= plain[0] - 1e-6).all()                     # and only got brighter


def test_weighted_cross_entropy_is_cross_entropy_times_the_weights():
    from seglib.models.unet import weighted_cross_entropy
    torch.manual_seed(0)
    logits, masks = torch.randn(2, 3, 5, 4), torch.randint(0, 3, (2, 5, 4))
    ones = torch.ones(2, 5, 4)
    plain = torch.nn.functional.cross_entropy(logits, masks)
    assert torch.allclose(weighted_cross_entropy(logits, masks, ones), plain)
    assert torch.allclose(weighted_cross_entropy(logits, masks, 10 * ones), 10 * plain)
    only_first = torch.zeros(2, 5, 4)
    only_first[0, 0, 0] = 40.0  # one pixel of 40 weighs like every pixel once
    per_pixel = torch.nn.functional.cross_entropy(logits, masks, reduction="none")
    assert torch.allclose(weighted_cross_entropy(logits, masks, only_first), per_pixel[0, 0, 0])


def runs_exactly(depth: int, n: int) -> int | None:
    """Run the unpadded U-Net itself (meta device, size check off) on an n x n input: its output side if
    every map entering a max-pool had an even side and every convolution had room, else None."""
    model = UNet(1, 2, channels=1, depth=depth).to("meta")
    sides, skips = [], []
    x = torch.zeros(1, 1, n, n, device="meta")
    try:  # UNet.forward, step by step
        for i, block in enumerate(model.down):
            if i:
                sides.append(x.shape[-1])
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for up, convs in zip(model.up, model.up_convs, strict=True):
            x = up(x)
            x = convs(torch.cat([center_crop(skips.pop(), x.shape[-2:]), x], dim=1))
    except (RuntimeError, ValueError):  # a kernel larger than its input
        return None
    return model.head(x).shape[-1] if all(s % 2 == 0 for s in sides) else None


@pytest.mark.parametrize("depth, smallest", [(2, 44), (3, 92), (4, 188), (5, 380)])
def test_the_size_rule_and_its_message_match_the_network_at_every_depth(depth, smallest):
    grid = 2 ** depth
    for n in range(smallest - 3 * grid, smallest + 3 * grid + 1):
        assert output_size(n, depth) == runs_exactly(depth, n), n
    assert valid_sizes(1, depth)[0] == smallest and output_size(smallest, depth) == 4
    below = smallest - grid  # fits the pattern 2**depth * b + ..., with b one too small
    message = f"valid sides are {grid}*b + {4 * (2 * grid - 1)} for b >= 4. Nearest valid sizes: {smallest} "
    with pytest.raises(ValueError, match=re.escape(message + "(the smallest)")):
        _validate_size(below, depth)


@pytest.mark.parametrize("depth, smallest, next_valid", [(3, 92, 100), (4, 188, 204)])
def test_predict_tiles_explains_a_tile_too_small_to_step_on_the_pooling_grid(depth, smallest, next_valid):
    model = UNet(1, 2, channels=1, depth=depth)
    image = torch.rand(1, 1, 20, 20)
    with pytest.raises(ValueError, match=f"tile {smallest} gives 4 x 4 outputs.*at least {next_valid}"):
        predict_tiles(model, image, smallest)
    assert predict_tiles(model.eval(), image, next_valid).shape == (1, 2, 20, 20)


def test_unet_names_the_channels_it_expects():
    with pytest.raises(ValueError, match=re.escape("got shape (2, 3, 44, 44); expected [N, 1, H, W]")):
        UNet(1, 2, channels=2, depth=2)(torch.rand(2, 3, 44, 44))
    message = "predict_tiles: images: got shape (1, 3, 30, 30); expected [N, 1, H, W]"
    with pytest.raises(ValueError, match=re.escape(message)):
        predict_tiles(UNet(1, 2, channels=2, depth=2), torch.rand(1, 3, 30, 30), 44)


def test_weight_map_refuses_what_is_not_an_integer_instance_map():
    with pytest.raises(DatasetError, match=r"weight_map: expected an instance map \[H, W\] of integer"):
        weight_map(np.random.default_rng(0).random((8, 8)))
    with pytest.raises(DatasetError, match=r"shape \(2, 8, 8\)"):
        weight_map(np.zeros((2, 8, 8), int))
    with pytest.raises(DatasetError, match="ids must be >= 0, got -1"):
        weight_map(-np.ones((8, 8), int))
    cells = np.zeros((8, 8), int)
    cells[1:3, 1:3], cells[5:7, 5:7] = 1, 2
    assert np.array_equal(weight_map(torch.from_numpy(cells)), weight_map(cells))  # a tensor is fine too


def test_weighted_cross_entropy_leaves_out_ignore_pixels_and_checks_the_weights():
    logits, masks = torch.randn(2, 2, 8, 8), torch.randint(0, 2, (2, 8, 8))
    masks[0, 0, 0] = 255
    loss = weighted_cross_entropy(logits, masks, torch.ones(2, 8, 8))
    kept = masks != 255
    per_pixel = F.cross_entropy(logits.permute(0, 2, 3, 1)[kept], masks[kept], reduction="sum")
    torch.testing.assert_close(loss, per_pixel / masks.numel())
    message = "weights of shape (2, 6, 6) for masks of shape (2, 8, 8)"
    with pytest.raises(ValueError, match=re.escape(message)):
        weighted_cross_entropy(logits, masks, torch.ones(2, 6, 6))


def test_cell_tiles_and_crops_refuse_mismatched_input():
    with pytest.raises(DatasetError, match="CellTiles: instances: .*float32"):
        CellTiles(torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8), 4)
    with pytest.raises(ValueError, match=r"CellTiles: \(3, 8, 8\) instance maps for images of shape"):
        CellTiles(torch.rand(2, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="label maps .*" + re.escape("must be [H, W] of the image's size")):
        elastic_rot_flip(torch.rand(3, 8, 8), torch.zeros(6, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="cannot take a 6x6 window"):
        center_crop(torch.rand(1, 1, 4, 4), (6, 6))


def test_three_class_target_marks_each_cells_own_outline():
    from seglib.models.unet import three_class_target
    cells = np.zeros((8, 12), np.int64)
    cells[1:6, 1:6], cells[1:6, 6:11] = 1, 2          # two 5x5 cells touching along a column
    t = three_class_target(cells)
    assert t.dtype == np.int64 and set(np.unique(t)) == {0, 1, 2}
    assert (t[cells == 0] == 0).all() and (t[2:5, 2:5] == 1).all() and (t[2:5, 7:10] == 1).all()
    assert (t[1:6, 5] == 2).all() and (t[1:6, 6] == 2).all()      # both sides of the contact are outline
    assert (t[1, 1:11] == 2).all() and (t > 0).sum() == (cells > 0).sum()


def test_carve_contacts_opens_a_one_pixel_gap_only_where_cells_touch():
    from seglib.metrics import predicted_components
    from seglib.models.unet import carve_contacts
    cells = np.zeros((8, 16), np.int64)
    cells[1:6, 1:6], cells[1:6, 6:11], cells[1:6, 13:15] = 1, 2, 3   # 1 and 2 touch; 3 is apart
    carved = carve_contacts(cells)
    assert (carved[1:6, 6] == 0).all() and (carved[1:6, 5] == 1).all()   # one column, taken from cell 2
    assert (carved != cells).sum() == 5 and (carved[cells == 3] == 3).all()
    assert int(predicted_components(torch.from_numpy(carved > 0)).max()) == 3
    assert int(predicted_components(torch.from_numpy(cells > 0)).max()) == 2


def test_grow_components_gives_back_a_pixel_without_merging():
    from seglib.metrics import grow_components
    comps = torch.zeros(7, 12, dtype=torch.long)
    comps[2:5, 2:5], comps[2:5, 7:10] = 1, 2                  # 2-pixel gap between them
    grown = grow_components(comps, 1)
    assert (grown == 1).sum() == 9 + 12 and (grown == 2).sum() == 9 + 12   # 4 sides x 3 pixels each
    assert set(grown[3, 5:7].tolist()) == {1, 2}                 # the gap is shared, not merged
    assert grow_components(comps, 0).equal(comps)
    with pytest.raises(ValueError, match="pixels must be >= 0"):
        grow_components(comps, -1)


def test_instance_scores_grow_restores_shrunken_cells():
    cells = torch.zeros(1, 12, 24, dtype=torch.long)
    cells[0, 2:10, 2:11], cells[0, 2:10, 12:21] = 1, 2
    shrunk = torch.zeros(1, 12, 24)
    shrunk[0, 3:9, 3:10], shrunk[0, 3:9, 13:20] = 0.9, 0.9       # each cell minus its outline
    raw, grown = instance_scores(shrunk, cells), instance_scores(shrunk, cells, grow=1)
    assert raw["separation"] == grown["separation"] == 1.0
    # IoU 42/72 = 0.58 raw (matched at thresholds 0.50 and 0.55 of ten); grown back (corners stay
    # off): 68/72 = 0.94
    assert raw["AP"] == pytest.approx(0.2) and grown["AP"] == pytest.approx(0.9)


def test_cell_tiles_take_a_target_function():
    from seglib.models.unet import three_class_target
    config = SyntheticConfig(size=20, variant="touching")
    samples = [make_sample(i, 0, config, return_instances=True) for i in range(2)]
    images, cells = torch.stack([s[0] for s in samples]), torch.stack([s[2] for s in samples])
    _, mask, _ = CellTiles(images, cells, 40, augment=False, target=three_class_target)[0]
    assert mask.dtype == torch.long and mask.equal(torch.from_numpy(three_class_target(cells[0].numpy())))
