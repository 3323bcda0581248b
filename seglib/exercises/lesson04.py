"""Checks and solutions for lesson 04 (FCN).

Three exercises, each with a ``check_*`` that runs the learner's function on known cases
and a ``solution_*`` that shows one way to write it:

1. ``convolutionalize_linear(linear, in_channels, kernel_size)``: a fully connected layer
   as the convolution with the same weights;
2. ``score_map_size(height, width)``: the size of the class-score map that the
   convolutionalized VGG16 gives for an ``height x width`` image;
3. ``crop_add(upsampled, skip, offset)``: the skip fusion of the reference FCN, which
   crops the upsampled coarse scores to the skip's size before adding them.

When an answer is wrong, the check also tries the usual mistakes (weights reshaped in the
wrong order, pooling rounded up, crop taken from the wrong corner, ...) and names the one
the answer matches, if any.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seglib.exercises.core import Case, CheckResult, run_checks


# --- solutions ----------------------------------------------------------------------------

def solution_convolutionalize_linear(linear: nn.Linear, in_channels: int, kernel_size: int) -> nn.Conv2d:
    """The conv whose kernel is the Linear's weight matrix, reshaped (not reordered)."""
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size)
    with torch.no_grad():
        # torch.flatten orders a [C, k, k] block channel, then row, then column: view it back.
        conv.weight.copy_(linear.weight.view(linear.out_features, in_channels, kernel_size, kernel_size))
        conv.bias.copy_(linear.bias)
    return conv


def solution_score_map_size(height: int, width: int) -> tuple[int, int]:
    """Five 2x2 max-pools divide by 32, rounding down; fc6's 7x7 window then removes 6."""
    return height // 32 - 6, width // 32 - 6


def solution_crop_add(upsampled: torch.Tensor, skip: torch.Tensor, offset: int) -> torch.Tensor:
    """Cut a window of the skip's size from ``upsampled``, ``offset`` pixels in from the top left."""
    h, w = skip.shape[-2:]
    return upsampled[..., offset:offset + h, offset:offset + w] + skip


# --- the usual mistakes (the checks name them; the tests make sure they are rejected) -------

def _conv_from(linear: nn.Linear, kernel: torch.Tensor, bias: bool = True) -> nn.Conv2d:
    """A conv with the given kernel ``[out, in, k, k]`` (and the Linear's bias, unless told not to)."""
    conv = nn.Conv2d(kernel.shape[1], kernel.shape[0], kernel.shape[-1], bias=bias)
    with torch.no_grad():
        conv.weight.copy_(kernel)
        if bias:
            conv.bias.copy_(linear.bias)
    return conv


def _weight(linear: nn.Linear) -> torch.Tensor:
    return linear.weight.detach()


CONVOLUTIONALIZE_MISTAKES: dict[str, Callable] = {
    "the weights were reshaped as [out, k, k, in_channels]; torch.flatten lays a [C, k, k] "
    "block out channel first, so the kernel is weight.view(out, in_channels, k, k)":
        lambda lin, c, k: _conv_from(lin, _weight(lin).view(lin.out_features, k, k, c).permute(0, 3, 1, 2)),
    "rows and columns of the kernel are swapped (a transpose of the last two axes); "
    "flatten reads each channel row by row":
        lambda lin, c, k: _conv_from(lin, _weight(lin).view(lin.out_features, c, k, k).transpose(2, 3)),
    "the bias is missing: copy linear.bias into the convolution's bias":
        lambda lin, c, k: _conv_from(lin, _weight(lin).view(lin.out_features, c, k, k), bias=False),
    "the weight matrix was transposed first; nn.Linear already stores it as [out_features, "
    "in_features], which is the conv's [out, in, k, k] once reshaped":
        lambda lin, c, k: _conv_from(lin, _weight(lin).t().reshape(lin.out_features, c, k, k)),
}

SCORE_SIZE_MISTAKES: dict[str, Callable] = {
    "the pooling was rounded up; VGG's max-pools (torchvision, no ceil_mode) round down: "
    "use height // 32":
        lambda h, w: (-(-h // 32) - 6, -(-w // 32) - 6),
    "off by one: a 7x7 window fits n - 7 + 1 = n - 6 times into n cells, not n - 7":
        lambda h, w: (h // 32 - 7, w // 32 - 7),
    "fc6 is forgotten: pool5 is height // 32, but fc6's 7x7 window (no padding) then "
    "removes 6 cells":
        lambda h, w: (h // 32, w // 32),
    "the pooling was rounded to the nearest integer; max-pools round down":
        lambda h, w: (round(h / 32) - 6, round(w / 32) - 6),
    "height and width are swapped":
        lambda h, w: (w // 32 - 6, h // 32 - 6),
}

# (An off-by-one window, offset + 1, is not listed: it crashes on the same-size case, and a
# hint is named only for a mistake reproduced on every case; the case message says enough.)
CROP_ADD_MISTAKES: dict[str, Callable] = {
    "the window was taken from the bottom right; Caffe's Crop counts offset from the top left":
        lambda up, skip, off: up[..., up.shape[-2] - skip.shape[-2]:, up.shape[-1] - skip.shape[-1]:] + skip,
    "the offset was applied to the rows only; it applies to both rows and columns":
        lambda up, skip, off: up[..., off:off + skip.shape[-2], :skip.shape[-1]] + skip,
    "the window was centred; the reference implementation crops at a fixed offset from the top left":
        lambda up, skip, off: up[..., (up.shape[-2] - skip.shape[-2]) // 2:(up.shape[-2] - skip.shape[-2]) // 2
                                 + skip.shape[-2], (up.shape[-1] - skip.shape[-1]) // 2:
                                 (up.shape[-1] - skip.shape[-1]) // 2 + skip.shape[-1]] + skip,
}


# --- the cases ------------------------------------------------------------------------------

def _linear(in_features: int, out_features: int, seed: int) -> nn.Linear:
    """A Linear with seeded, distinct weights and a nonzero bias."""
    torch.manual_seed(seed)
    layer = nn.Linear(in_features, out_features)
    with torch.no_grad():
        layer.bias.uniform_(0.5, 1.0)
    return layer


def _convolutionalize_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    cases = []
    settings = [  # (in_channels, kernel_size, out_features, map height, map width, why)
        (3, 2, 5, 2, 2, "one 2x2 block: the conv must give the Linear's output"),
        (2, 3, 4, 3, 3, "one 3x3 block"),
        (4, 1, 3, 5, 4, "a 1x1 conv (fc7, fc8) on a 5x4 map"),
        (2, 7, 3, 9, 10, "a 7x7 kernel (fc6) sliding over a 9x10 map"),
        (3, 2, 3, 4, 5, "a 2x2 kernel sliding over a 4x5 map"),
    ]
    for i, (c, k, out, h, w, why) in enumerate(settings):
        linear = _linear(c * k * k, out, seed=10 + i)
        x = torch.randn(2, c, h, w, generator=g)
        with torch.no_grad():
            expected = F.conv2d(x, _weight(linear).view(out, c, k, k), linear.bias)
            if (h, w) == (k, k):  # the same numbers as the Linear on the flattened block
                expected = linear(x.flatten(1)).view(2, out, 1, 1)
        cases.append(Case(f"in_channels={c}, kernel_size={k}, {out} outputs, input {tuple(x.shape)}: {why}",
                          (linear, c, k, x), expected=expected))
    return cases


def _score_size_cases() -> list[Case]:
    settings = [((224, 224), "ImageNet's 224x224: one window"),
                ((256, 288), "one extra 32-pixel step down, two across"),
                ((500, 375), "a typical VOC photo"),
                ((255, 479), "just below multiples of 32: pooling rounds down"),
                ((240, 464), "halfway between multiples of 32")]
    return [Case(f"{h}x{w}: {why}", (h, w), expected=solution_score_map_size(h, w)) for (h, w), why in settings]


def _crop_add_cases() -> list[Case]:
    g = torch.Generator().manual_seed(5)
    settings = [  # (upsampled shape, skip shape, offset, why)
        ((1, 1, 6, 6), (1, 1, 4, 4), 1, "a 4x4 skip inside a 6x6 map, offset 1"),
        ((1, 2, 10, 12), (1, 2, 5, 6), 2, "a non-square skip, 2 channels, offset 2"),
        ((2, 3, 8, 8), (2, 3, 8, 8), 0, "same size: offset 0 is a plain sum"),
        ((1, 21, 44, 40), (1, 21, 34, 30), 5, "FCN-16s on a 500x500 image: score_pool4 at offset 5"),
    ]
    cases = []
    for up_shape, skip_shape, off, why in settings:
        up, skip = torch.randn(*up_shape, generator=g), torch.randn(*skip_shape, generator=g)
        cases.append(Case(f"upsampled {up_shape}, skip {skip_shape}, offset {off}: {why}",
                          (up, skip, off), expected=solution_crop_add(up, skip, off)))
    return cases


# --- the checks ------------------------------------------------------------------------------

def check_convolutionalize_linear(fn: Callable[[nn.Linear, int, int], nn.Module]) -> CheckResult:
    """``fn(linear, in_channels, kernel_size)`` must return a conv computing ``linear`` on every block."""
    mistakes = {hint: _applied(wrong) for hint, wrong in CONVOLUTIONALIZE_MISTAKES.items()}
    return run_checks("convolutionalize_linear", _applied(fn), _convolutionalize_cases(), rtol=1e-4,
                      mistakes=mistakes)


def _applied(fn: Callable[[nn.Linear, int, int], nn.Module]) -> Callable[..., torch.Tensor]:
    """Compare convolutions by what they compute: build one with ``fn``, apply it to ``x``."""
    def build_and_apply(linear: nn.Linear, c: int, k: int, x: torch.Tensor) -> torch.Tensor:
        conv = fn(linear, c, k)
        if not isinstance(conv, nn.Module):
            raise TypeError(f"expected an nn.Conv2d, got {type(conv).__name__}")
        with torch.no_grad():
            return conv(x)
    return build_and_apply


def check_score_map_size(fn: Callable[[int, int], tuple[int, int]]) -> CheckResult:
    """``fn(height, width)`` must give the ``(rows, columns)`` of the convolutionalized VGG16's scores."""
    return run_checks("score_map_size", fn, _score_size_cases(), comparer=_compare_size,
                      mistakes=SCORE_SIZE_MISTAKES)


def check_crop_add(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """``fn(upsampled, skip, offset)`` must crop ``upsampled`` to ``skip``'s size at ``offset`` and add."""
    return run_checks("crop_add", fn, _crop_add_cases(), mistakes=CROP_ADD_MISTAKES)


def _compare_size(got: object, expected: tuple[int, int]) -> str | None:
    """A pair of whole numbers: accept a tuple, list or torch.Size; say what is wrong otherwise."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected a pair (rows, columns) like {expected}, got {got!r}"
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) for v in got):
        return f"expected whole numbers {expected}, got {tuple(got)!r}"
    got = (int(got[0]), int(got[1]))
    return None if got == expected else f"expected {expected}, got {got}"
