"""Checks for notebooks/07_unet.ipynb: the unpadded U-Net's output size, the crop-and-copy window, and
the border weight map (against a brute-force computation on toy cells)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from seglib.exercises.core import CheckResult, cases, run_checks
from seglib.models.unet import center_crop as solution_center_crop  # the lesson builds these step by step
from seglib.models.unet import output_size as solution_output_size
from seglib.models.unet import weight_map as solution_weight_map  # noqa: F401 (a solution to open)


def brute_force_weight_map(instances: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """The weight map by definition: for every background pixel, its distance to every pixel of
    every cell; the two smallest per-cell minima are d1 and d2. Slow, obviously right.
    Named in notebooks/07_unet.ipynb, section 4 (the check of exercise 3)."""
    cells = instances > 0
    counts = {0: (~cells).sum(), 1: cells.sum()}
    out = np.zeros(instances.shape, np.float64)
    ids = [k for k in np.unique(instances) if k > 0]
    points = {k: np.argwhere(instances == k) for k in ids}
    for (y, x), label in np.ndenumerate(instances):
        out[y, x] = instances.size / (2 * max(counts[int(label > 0)], 1))
        if label == 0 and len(ids) >= 2:
            d1, d2 = sorted(np.sqrt(((points[k] - (y, x)) ** 2).sum(1)).min() for k in ids)[:2]
            out[y, x] += w0 * math.exp(-((d1 + d2) ** 2) / (2 * sigma ** 2))
    return out.astype(np.float32)


SIZE_MISTAKES: dict[str, Callable] = {
    "a map entering a 2x2 max-pool must have an even side; flooring an odd one shifts the skip "
    "crops by half a pixel, so such sizes are not valid: return None":
        lambda n, depth=4: _without_even_check(n, depth),
    "each unpadded 3x3 convolution removes 2 pixels (1 per side), so two of them remove 4, not 2":
        lambda n, depth=4: _shrink(n, depth, 2),
    "the two convolutions at the bottom of the U (after the last pool) also remove 4 pixels":
        lambda n, depth=4: _shrink(n, depth, 4, bottom=False),
}


def _shrink(n: int, depth: int, per_level: int, bottom: bool = True) -> int | None:
    for _ in range(depth):
        n -= per_level
        if n < 2 or n % 2:
            return None
        n //= 2
    n -= per_level if bottom else 0
    for _ in range(depth):
        n = 2 * n - per_level
        if n < 1:
            return None
    return n


def _without_even_check(n: int, depth: int) -> int | None:
    for _ in range(depth):
        n = (n - 4) // 2
    n = 2 ** depth * (n - 4) - 4 * (2 ** depth - 1)
    return n if n >= 1 else None


CROP_MISTAKES: dict[str, Callable] = {
    "skip[..., d:-d, d:-d] breaks when d = 0 (-0 is 0: an empty slice); slice to d + size instead":
        lambda skip, size: skip[..., (skip.shape[-2] - size[0]) // 2:-((skip.shape[-2] - size[0]) // 2),
                                (skip.shape[-1] - size[1]) // 2:-((skip.shape[-1] - size[1]) // 2)],
    "the window was taken at the top left; crop-and-copy takes the centre":
        lambda skip, size: skip[..., :size[0], :size[1]],
    "the offset is the full difference; half of it goes on each side":
        lambda skip, size: skip[..., skip.shape[-2] - size[0]:, skip.shape[-1] - size[1]:],
}

WEIGHT_MISTAKES: dict[str, Callable] = {
    "the border term is w0 * exp(-(d1 + d2)**2 / (2 sigma**2)): square the *sum* of the distances":
        lambda inst, w0=10.0, sigma=5.0: _variant(inst, w0, sigma, lambda d1, d2: d1 ** 2 + d2 ** 2),
    "d2 is the distance to the *second*-nearest cell, not the nearest one again":
        lambda inst, w0=10.0, sigma=5.0: _variant(inst, w0, sigma, lambda d1, d2: (2 * d1) ** 2),
    "w_c is missing: the map is w_c(x) plus the border term":
        lambda inst, w0=10.0, sigma=5.0: _variant(inst, w0, sigma, None, with_wc=False),
}


def _variant(inst: np.ndarray, w0: float, sigma: float, square: Callable | None,
             with_wc: bool = True) -> np.ndarray:
    from scipy import ndimage
    cells = inst > 0
    counts = np.array([(~cells).sum(), cells.sum()], np.float64)
    w_c = (cells.size / (2 * np.maximum(counts, 1)))[cells.astype(int)] if with_wc else np.zeros(inst.shape)
    dist = np.stack([ndimage.distance_transform_edt(inst != k) for k in np.unique(inst[cells])])
    d1, d2 = np.partition(dist, 1, axis=0)[:2]
    square = square or (lambda a, b: (a + b) ** 2)
    return (w_c + np.where(cells, 0.0, w0 * np.exp(-square(d1, d2) / (2 * sigma ** 2)))).astype(np.float32)


def _size_compare(got: object, expected: int | None) -> str | None:
    if expected is None:
        return None if got is None else f"this size is not valid: expected None, got {got!r}"
    if got is None or isinstance(got, bool) or not isinstance(got, (int, float)) or got != int(got):
        return f"expected the output side {expected}, got {got!r}"
    return None if int(got) == expected else f"expected {expected}, got {int(got)}"


def check_output_size(fn: Callable[..., int | None]) -> CheckResult:
    """``fn(n, depth)``: output side of the unpadded U-Net for input side ``n``, None if invalid.
    First used in notebooks/07_unet.ipynb, section 2."""
    return run_checks("output_size", fn, cases(solution_output_size, [
        ("572, depth 4: the paper's tile", 572, 4),
        ("570, depth 4: two pixels less", 570, 4),
        ("188, depth 4: the smallest valid size", 188, 4),
        ("172, depth 4: too small", 172, 4),
        ("636, depth 4: 572 + 64", 636, 4),
        ("156, depth 3: the lesson's training tile", 156, 3),
        ("150, depth 3: odd before the second pool", 150, 3),
        ("30, depth 1: one pool", 30, 1),
    ]), comparer=_size_compare, mistakes=SIZE_MISTAKES)


def check_center_crop(fn: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]) -> CheckResult:
    """``fn(skip, (h, w))``: the centre ``h x w`` window of ``skip`` ``[N, C, H, W]``.
    First used in notebooks/07_unet.ipynb, section 2."""
    g = torch.Generator().manual_seed(7)
    settings = [((1, 1, 8, 8), (4, 4), "8x8 skip, 4x4 window"),
                ((2, 3, 136, 136), (104, 104), "U-Net's third skip: 136 -> 104, 16 off each side"),
                ((1, 2, 10, 14), (6, 8), "non-square: different offsets for rows and columns"),
                ((1, 1, 5, 5), (5, 5), "same size: nothing to crop")]
    return run_checks("center_crop", fn, cases(solution_center_crop, [
        (f"skip {shape}, window {size}: {why}", torch.randn(*shape, generator=g), size)
        for shape, size, why in settings]), mistakes=CROP_MISTAKES)


def _toy(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    inst = np.zeros(shape, np.int64)
    for k, (y0, x0, y1, x1) in enumerate(boxes, 1):
        inst[y0:y1, x0:x1] = k
    return inst


def check_weight_map(fn: Callable[..., np.ndarray]) -> CheckResult:
    """``fn(instances, w0, sigma)`` against the brute-force weight map on toy instance maps.
    First used in notebooks/07_unet.ipynb, section 4."""
    settings = [
        ("two 4x4 cells, a 1-pixel gap", _toy((10, 12), [(3, 1, 7, 5), (3, 6, 7, 10)]), 10.0, 5.0),
        ("two cells, a 3-pixel gap, sigma 2", _toy((10, 14), [(2, 1, 8, 5), (2, 8, 8, 12)]), 10.0, 2.0),
        ("two cells touching diagonally, w0 5", _toy((12, 12), [(1, 1, 5, 5), (6, 6, 11, 11)]), 5.0, 5.0),
        ("three cells in a row", _toy((8, 16), [(2, 1, 6, 4), (2, 5, 6, 9), (2, 11, 6, 15)]), 10.0, 5.0),
    ]
    return run_checks("weight_map", _as_tensor(fn), cases(
        lambda *a: torch.as_tensor(brute_force_weight_map(*a), dtype=torch.float64), settings), rtol=1e-4,
        mistakes={hint: _as_tensor(wrong) for hint, wrong in WEIGHT_MISTAKES.items()})


def _as_tensor(fn: Callable[..., np.ndarray]) -> Callable[..., torch.Tensor]:
    return lambda *args: torch.as_tensor(np.asarray(fn(*args), np.float64))

