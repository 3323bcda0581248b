"""Lesson 05's experiment (seglib.context): the swapped scenes differ only in the frame, the causal score
on known answers, every model's output shape, the models without context, bad names. The training itself
is measured by bench_parsenet.py."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from seglib import context, sweep
from seglib.models.parsenet import ParseNet
from seglib.models.pooled import PooledNet
from seglib.models.vgg import shapes_vgg16


@pytest.fixture(scope="module")
def sets():
    return context.data(3)


def test_data_sizes_and_the_swapped_scenes_differ_only_in_the_frame(sets):
    assert [len(sets[k]) for k in ("train", "val", "water", "grass")] == [600, 100, 50, 50]
    (water, w_masks), (grass, g_masks) = sets["water"].tensors, sets["grass"].tensors
    assert torch.equal(w_masks > 0, g_masks > 0)                        # same blobs, other class
    differ = (water != grass).any(dim=1)
    frame = torch.ones(128, 128, dtype=torch.bool)
    frame[8:-8, 8:-8] = False
    assert torch.equal(differ, frame.expand_as(differ))
    assert set(w_masks.unique().tolist()) == {0, 1} and set(g_masks.unique().tolist()) == {0, 2}
    assert 0.5 <= context.chance(sets) < 1.0


class _Oracle(nn.Module):
    """Names blobs boat when the top-left pixel is blue-ish (reads the frame), else car."""

    def __init__(self, follow: bool) -> None:
        super().__init__()
        self.follow = follow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        water = (x[:, 2, 0, 0] > x[:, 1, 0, 0]) if self.follow else torch.ones(len(x), dtype=torch.bool)
        logits = torch.zeros(len(x), 3, *x.shape[-2:])
        logits[:, 1] = water.float().view(-1, 1, 1)
        logits[:, 2] = (~water).float().view(-1, 1, 1)
        return logits


def test_follows_the_frame_is_one_for_a_model_reading_it_and_zero_for_one_that_does_not(sets):
    assert context.follows_the_frame(_Oracle(True), sets["water"], sets["grass"]) == 1.0
    assert context.follows_the_frame(_Oracle(False), sets["water"], sets["grass"]) == 0.0


def test_every_model_gives_logits_of_the_input_size():
    x = torch.rand(2, 3, 64, 64)
    for name, (make, lr) in (context.MODELS | context.PLAIN_MODELS).items():
        torch.manual_seed(0)
        model = make().eval()
        with torch.no_grad():
            assert model(x).shape == (2, 3, 64, 64), name
        assert lr > 0


def test_the_plain_classifier_has_no_batch_norm_and_a_real_scale_gap_from_pool3_to_global_fc7():
    """The plain rows rest on a gap the network really has (about 65x), not on an injected factor."""
    plain = shapes_vgg16(batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in shapes_vgg16().modules())
    model = context.PLAIN_MODELS["plain: ParseNet"][0]().eval()
    images = context.data(0)["val"].tensors[0][:8]
    with torch.no_grad():
        features = model.backbone(model.normalize(images))
        pool3 = features["pool3"].norm(dim=1).median()
        global_fc7 = model.fc7_map(features).mean(dim=(2, 3)).norm(dim=1).median()
    assert global_fc7 / pool3 > 20


def test_the_plain_rows_train_at_their_own_rate_for_four_times_the_steps(monkeypatch):
    calls = []
    monkeypatch.setattr(context, "fit", lambda model, data, **kw: calls.append(kw))
    tiny = TensorDataset(torch.rand(8, 3, 64, 64), torch.zeros(8, 64, 64, dtype=torch.long))
    context.train("plain: ParseNet", tiny, seed=0, multiple=2)
    context.train("ParseNet", tiny, seed=0, multiple=2)
    assert [(c["epochs"], c["lr"]) for c in calls] == [(8, context.PLAIN_LR), (2, context.LR)]


def test_the_no_context_models_ignore_the_rest_of_the_image():
    torch.manual_seed(0)
    for model in (ParseNet(3, local="pool3", vgg=shapes_vgg16(), context=False),
                  PooledNet(3, context.TINY_WIDTHS)):
        for p in model.parameters():
            nn.init.normal_(p, std=0.1) if p.dim() > 1 else None
        model.eval()
        x = torch.rand(1, 3, 128, 128)
        y = x.clone()
        y[..., 96:, :] = torch.rand(1, 3, 32, 128)                       # change the bottom quarter
        with torch.no_grad():
            top = (model(x) - model(y))[..., :32, :].abs().max()       # far from the change
        assert top < 1e-5


def test_the_global_branch_carries_a_far_change_to_every_pixel():
    torch.manual_seed(0)
    model = PooledNet(3, context.TINY_WIDTHS, global_context=True).eval()
    nn.init.normal_(model.head.weight, std=0.1)
    x = torch.rand(1, 3, 128, 128)
    y = x.clone()
    y[..., 96:, :] = 1.0
    with torch.no_grad():
        assert (model(x) - model(y))[..., :32, :].abs().min() > 0
    assert 10_000 < sum(p.numel() for p in model.parameters()) < 11_000


def test_train_refuses_an_unknown_model():
    with pytest.raises(ValueError, match="model must be one of"):
        context.train("FCN-4s", TensorDataset(torch.rand(1, 3, 8, 8), torch.zeros(1, 8, 8)), seed=0)


@pytest.mark.parametrize("name, models", [("parsenet", context.MODELS),
                                          ("parsenet_plain", context.PLAIN_MODELS)])
def test_the_stored_sweeps_hold_every_model_on_seeds_0_to_4_at_1_2_and_4x(name, models):
    """Lesson 05 plots and asserts on these: a row missing or left over from an older table is a defect."""
    s = sweep.load(name)
    assert s.multiples == [1, 2, 4] and all(s.seeds(x) == [0, 1, 2, 3, 4] for x in s.multiples)
    assert set(s.models) == set(models) | {"(commonest class)"}
    assert s.steps == context.STEPS * (context.PLAIN_EPOCHS if name == "parsenet_plain" else 1)
