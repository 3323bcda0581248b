"""Checks and solutions for lesson 06 (DeconvNet), section 7.

1. ``unpool(pooled, indices, size)``: max-unpooling by hand from the switches;
2. ``unpool_sizes(height, width)``: the map sizes after unpool5 ... unpool1 for any input;
3. ``decoder_parameters(num_classes)``: the learnt parameters of the paper's decoder;
4. ``merge_proposals(model, image, boxes, size)``: the paper's instance-wise inference, then scored.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from seglib.exercises.core import CheckResult, cases, run_checks
from seglib.models.deconvnet import DeconvNet, merge_proposals, score_proposals
from seglib.models.vgg import vgg16


def solution_unpool(pooled: torch.Tensor, indices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zeros of ``size``; each pooled value written at the flat position (row * width + col) of its switch.
    The solution under the exercise in notebooks/06_deconvnet.ipynb, section 7."""
    n, c = pooled.shape[:2]
    out = pooled.new_zeros(n, c, size[0] * size[1])
    out.scatter_(2, indices.flatten(2), pooled.flatten(2))
    return out.view(n, c, *size)


def solution_unpool_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Each unpooling restores the size its pool saw: conv5's (1/16, rounded down) ... the input's.
    The solution under the exercise in notebooks/06_deconvnet.ipynb, section 7."""
    sizes = [(height, width)]
    for _ in range(4):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes[::-1]


def solution_decoder_parameters(num_classes: int) -> int:
    """fc6-deconv (7x7, 4096 -> 512) + BN, 13 3x3 deconvs + BN, and the 1x1 score layer, with biases.
    The solution under the exercise in notebooks/06_deconvnet.ipynb, section 7."""
    deconvs = [(4096, 512, 7), (512, 512, 3), (512, 512, 3), (512, 512, 3), (512, 512, 3), (512, 512, 3),
               (512, 256, 3), (256, 256, 3), (256, 256, 3), (256, 128, 3), (128, 128, 3), (128, 64, 3),
               (64, 64, 3), (64, 64, 3)]
    return sum(a * b * k * k + b + 2 * b for a, b, k in deconvs) + 64 * num_classes + num_classes


def decoder_parameters(model: DeconvNet) -> int:
    """The same count read off a model: fc6_deconv, the decoder stages and the score layer."""
    parts = (model.fc6_deconv, model.decoder_stages, model.score)
    return sum(p.numel() for part in parts for p in part.parameters())


def _repeat_upsample(pooled: torch.Tensor, indices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    up = pooled.repeat_interleave(2, -2).repeat_interleave(2, -1)
    return F.pad(up, (0, size[1] - up.shape[-1], 0, size[0] - up.shape[-2]))


def _top_left(pooled: torch.Tensor, indices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    out = pooled.new_zeros(*pooled.shape[:2], *size)
    out[..., 0:2 * pooled.shape[-2]:2, 0:2 * pooled.shape[-1]:2] = pooled
    return out


UNPOOL_MISTAKES: dict[str, Callable] = {
    "every pixel of a window got the value (nearest-neighbour upsampling); unpooling writes it only where "
    "the maximum was and leaves zeros elsewhere": _repeat_upsample,
    "the value went to each window's top-left pixel; the switches (indices) say where the maximum was":
        _top_left,
}

SIZE_MISTAKES: dict[str, Callable] = {
    "the sizes are in encoder order; the decoder runs backwards: unpool5 (smallest) first":
        lambda h, w: solution_unpool_sizes(h, w)[::-1],
    "each unpooling doubled the map; on odd sizes that loses a row or column: it must restore the size "
    "its pool saw (pass output_size)":
        lambda h, w: [((h // 32) * 2 ** k, (w // 32) * 2 ** k) for k in range(1, 6)],
    "the pools were rounded up; 2x2 max-pools (no ceil_mode) round down":
        lambda h, w: [(-(-h // 2 ** k), -(-w // 2 ** k)) for k in range(4, -1, -1)],
}

PARAMETER_MISTAKES: dict[str, Callable] = {
    "the biases are missing (one per output channel of every layer)":
        lambda c: solution_decoder_parameters(c) - sum((512, 512, 512, 512, 512, 512, 256, 256, 256, 128,
                                                        128, 64, 64, 64)) - c,
    "BatchNorm's scale and shift (2 per channel after every deconv) are missing":
        lambda c: solution_decoder_parameters(c) - 2 * sum((512, 512, 512, 512, 512, 512, 256, 256, 256,
                                                            128, 128, 64, 64, 64)),
    "fc6-deconv (7x7, 4096 -> 512, and its BatchNorm) is left out":
        lambda c: solution_decoder_parameters(c) - (4096 * 512 * 49 + 3 * 512),
}


def check_unpool(fn: Callable[[torch.Tensor, torch.Tensor, tuple[int, int]], torch.Tensor]) -> CheckResult:
    """``fn(pooled, indices, size)`` must equal ``F.max_unpool2d`` with ``output_size=size``.
    First used in notebooks/06_deconvnet.ipynb, section 7."""
    g = torch.Generator().manual_seed(6)
    settings = []
    for shape, why in [((1, 1, 4, 4), "a 4x4 map, one channel"), ((2, 3, 6, 8), "two images, three channels"),
                       ((1, 2, 7, 9), "odd sizes 7x9: the last row and column are never pooled")]:
        x = torch.randn(*shape, generator=g)
        pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
        settings.append((f"{why}: pooled {tuple(pooled.shape)}", pooled, indices, tuple(shape[-2:])))
    expected = cases(lambda p, i, s: F.max_unpool2d(p, i, 2, 2, output_size=s), settings)
    return run_checks("unpool", fn, expected,
                      mistakes=UNPOOL_MISTAKES)


def _compare_sizes(got: object, expected: list[tuple[int, int]]) -> str | None:
    try:
        got = [(int(h), int(w)) for h, w in got]
    except (TypeError, ValueError):
        return f"expected a list of five (rows, columns) pairs like {expected}, got {got!r}"
    if len(got) != 5:
        return f"expected five sizes (unpool5 ... unpool1), got {len(got)}"
    return None if got == expected else f"expected {expected}, got {got}"


def check_unpool_sizes(fn: Callable[[int, int], list[tuple[int, int]]]) -> CheckResult:
    """``fn(height, width)``: the ``(rows, columns)`` after unpool5, unpool4, ..., unpool1.
    First used in notebooks/06_deconvnet.ipynb, section 7."""
    return run_checks("unpool_sizes", fn, cases(solution_unpool_sizes, [
        ("224x224, the paper's input", 224, 224),
        ("250x250: pool5 is 7x7 again, the extra pixels come back at unpooling", 250, 250),
        ("97x131, odd everywhere", 97, 131),
        ("500x375, a VOC photo", 500, 375),
    ]), comparer=_compare_sizes, mistakes=SIZE_MISTAKES)


def check_decoder_parameters(fn: Callable[[int], int]) -> CheckResult:
    """``fn(num_classes)``: learnt parameters of the paper's decoder (width 1, 7x7 fc6-deconv).
    First used in notebooks/06_deconvnet.ipynb, section 7."""
    def counted(c: int) -> int:
        with torch.device("meta"):
            return decoder_parameters(DeconvNet(c, vgg=vgg16(batch_norm=True, device="meta")))
    return run_checks("decoder_parameters", fn, cases(counted, [
        ("21 classes (PASCAL VOC)", 21), ("2 classes (object or not)", 2),
        ("60 classes (PASCAL-Context)", 60)]),
        comparer=lambda got, expected: None if got == expected else f"expected {expected:,}, got {got!r}",
        mistakes=PARAMETER_MISTAKES)


def solution_merge_proposals(model: torch.nn.Module, image: torch.Tensor,
                             boxes: list[tuple[int, int, int, int]], size: int) -> torch.Tensor:
    """Each box resized to ``size``, scored, resized back into place; pixel-wise maximum; 0 where no box.
    The solution under the exercise in notebooks/06_deconvnet.ipynb, section 7."""
    return merge_proposals(model, image, boxes, size)


def _merge_by_mean(model, image, boxes, size):
    total, count = image.new_zeros(0), image.new_zeros(1, *image.shape[-2:])
    for p, (t, le, b, r) in zip(score_proposals(model, image, boxes, size), boxes, strict=True):
        total = total if total.numel() else image.new_zeros(p.shape[0], *image.shape[-2:])
        total[:, t:b, le:r] += p
        count[:, t:b, le:r] += 1
    return total / count.clamp(min=1)


def _merge_last_wins(model, image, boxes, size):
    out = None
    for p, (t, le, b, r) in zip(score_proposals(model, image, boxes, size), boxes, strict=True):
        out = image.new_zeros(p.shape[0], *image.shape[-2:]) if out is None else out
        out[:, t:b, le:r] = p
    return out


MERGE_MISTAKES: dict[str, Callable] = {
    "overlapping boxes were averaged; the paper merges them by a pixel-wise maximum": _merge_by_mean,
    "each box overwrote the ones before it; keep the pixel-wise maximum of all boxes": _merge_last_wins,
}


def check_merge_proposals(fn: Callable) -> CheckResult:
    """``fn(model, image, boxes, size)`` must give ``merge_proposals``'s probabilities ``[C, H, W]``.
    First used in notebooks/06_deconvnet.ipynb, section 7."""
    torch.manual_seed(6)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 4, 1))
    g = torch.Generator().manual_seed(6)
    image = torch.rand(3, 40, 50, generator=g)
    return run_checks("merge_proposals", fn, cases(solution_merge_proposals, [
        ("one box covering the whole image", model, image, [(0, 0, 40, 50)], 24),
        ("two overlapping boxes, part of the image uncovered", model, image,
         [(0, 0, 30, 30), (10, 15, 40, 45)], 24),
        ("a small box enlarged to 32 x 32 and a tall thin one", model, image,
         [(5, 5, 13, 17), (0, 40, 40, 48)], 32),
    ]), rtol=1e-4, mistakes=MERGE_MISTAKES)
