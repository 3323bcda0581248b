"""Lesson 00's experiment (seglib.intro) and its pooled net: shapes, receptive fields, scores on known
answers, references, seeded data, bad arguments. The training itself is measured by bench_intro.py."""
from __future__ import annotations

import pytest
import torch

from seglib import intro
from seglib.models.parsenet import theoretical_receptive_field
from seglib.models.pooled import PooledNet


def test_pooled_net_keeps_any_input_size_and_its_receptive_field():
    net = PooledNet(6).eval()
    assert net(torch.rand(2, 3, 48, 48)).shape == (2, 6, 48, 48)
    assert net(torch.rand(1, 3, 37, 53)).shape == (1, 6, 37, 53)    # not a multiple of 8
    assert theoretical_receptive_field(net) == 38                    # per 1/8 cell
    assert 60_000 < sum(p.numel() for p in net.parameters()) < 62_000
    with pytest.raises(ValueError, match="widths must be four positive ints"):
        PooledNet(6, widths=(8, 8, 8))


def test_scores_of_a_perfect_and_of_an_all_background_answer():
    masks = torch.tensor([[[0, 1, 1], [0, 2, 0]], [[3, 0, 0], [0, 0, 5]]])
    perfect = torch.nn.functional.one_hot(masks, 6).permute(0, 3, 1, 2).float() * 10
    assert intro.scores(perfect, masks) == {"where": 1.0, "what": 1.0, "mIoU": pytest.approx(1.0)}
    background = torch.zeros(2, 6, 2, 3)
    background[:, 0] = 10
    assert intro.scores(background, masks)["where"] == 0.0


def test_references_are_every_pixel_an_object_and_the_commonest_shape():
    masks = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 3]])   # 5 object pixels of 8; shape 1 is 3 of the 5
    assert intro.references(masks) == {"where": pytest.approx(5 / 8), "what": pytest.approx(3 / 5)}


def test_data_is_seeded_split_and_sized():
    a, b = intro.data(0, "val"), intro.data(0, "val")
    assert torch.equal(a.tensors[0], b.tensors[0]) and len(a) == intro.N_VAL
    assert not torch.equal(a.tensors[1][:4], intro.data(1, "val").tensors[1][:4])
    assert a.tensors[0].shape[-2:] == (intro.SIZE, intro.SIZE)
    assert intro.STEPS == 384
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        intro.data(0, "test")


def test_train_refuses_an_unknown_network():
    with pytest.raises(ValueError, match="network must be one of"):
        intro.train("resnet", seed=0)
