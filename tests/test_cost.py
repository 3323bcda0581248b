"""Counting what a network costs: known multiply-adds and saved-activation sizes, timing sanity."""
from __future__ import annotations

import torch
from torch import nn

from seglib.cost import activation_bytes, multiply_adds, seconds_per_image
from seglib.models.fcn import FCN


def test_multiply_adds_of_one_convolution():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert multiply_adds(conv, torch.zeros(2, 3, 10, 10)) == 2 * 8 * 3 * 9 * 100


def test_multiply_adds_on_meta_match_the_cpu():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.ConvTranspose2d(4, 2, 4, stride=2))
    cpu = multiply_adds(net, torch.zeros(1, 3, 16, 16))
    assert cpu == multiply_adds(net.to("meta"), torch.zeros(1, 3, 16, 16, device="meta")) > 0


def test_activation_bytes_counts_each_saved_storage_once():
    # Linear saves its input (4 x 10 floats); the ReLU saves its output (4 x 5 floats).
    net = nn.Sequential(nn.Linear(10, 5), nn.ReLU())
    assert activation_bytes(net, torch.zeros(4, 10)) == 4 * (4 * 10 + 4 * 5)


def test_activation_bytes_grows_with_the_image_and_leaves_the_mode_alone():
    net = FCN(3, "8s", width=1 / 16).eval()
    small = activation_bytes(net, torch.zeros(1, 3, 64, 64))
    large = activation_bytes(net, torch.zeros(1, 3, 128, 128))
    assert 3.5 * small < large < 4.5 * small
    assert not net.training
    on_meta = activation_bytes(net.to("meta"), torch.zeros(1, 3, 64, 64, device="meta"))
    assert on_meta == small


def test_seconds_per_image_is_positive_and_per_image():
    net = nn.Conv2d(3, 3, 3)
    assert 0 < seconds_per_image(net, torch.zeros(4, 3, 32, 32), repeats=2) < 1


def test_every_cost_leaves_the_models_mode_as_it_was():
    """seconds_per_image used to leave the model in eval mode; a frozen (eval) submodule stays eval too."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    net.train()
    net[1].eval()  # batch norm frozen on purpose
    seen = []
    net[2].register_forward_hook(lambda module, args, out: seen.append(module.training))
    images = torch.zeros(2, 3, 16, 16)
    seconds_per_image(net, images, repeats=1)
    multiply_adds(net, images)
    activation_bytes(net, images)
    assert seen == [False, False, False, True]  # warm-up, timing, count: eval; activations: training
    assert [m.training for m in net] == [True, False, True] and net.training
