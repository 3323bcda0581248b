"""Lesson 00 exercises: read a mask like data: the classes present (multi-label classification for
free) and an object's bounding box (a mask gives the box; a box never gives the mask)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from seglib.core import IGNORE_INDEX
from seglib.exercises.core import CheckResult, box_masks, cases, compare, run_checks
from seglib.synthetic import ShapesConfig, make_sample


def solution_classes_present(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """bool ``[num_classes]``: ``True`` for each object class in ``mask``; background (0) and 255 never."""
    present = torch.zeros(num_classes, dtype=torch.bool)
    present[mask[(mask != IGNORE_INDEX) & (mask != 0)].unique()] = True
    return present


def solution_bounding_box(object_mask: torch.Tensor) -> torch.Tensor:
    """``[x_min, y_min, x_max, y_max]`` (inclusive; x = column, y = row) of the True pixels,
    as ``torchvision.ops.masks_to_boxes`` gives it. The mask must have a True pixel."""
    rows, cols = torch.nonzero(object_mask, as_tuple=True)
    return torch.stack([cols.min(), rows.min(), cols.max(), rows.max()])


def _present(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(mask.flatten(), minlength=num_classes) > 0


PRESENT_MISTAKES: dict[str, Callable] = {
    "background (class 0) is not an object: its entry is always False":
        lambda m, c: _present(m[m != IGNORE_INDEX], c)[:c],
    "one entry per class 0..num_classes-1; 255 is the ignore label, not a class":
        lambda m, c: _present(m, c).index_fill(0, torch.tensor([0]), False),
}

BOX_MISTAKES: dict[str, Callable] = {
    "x and y are swapped: x is the column (second index of mask[row, col]), y is the row":
        lambda m: solution_bounding_box(m)[[1, 0, 3, 2]],
    "x_max and y_max are one too large: the box ends at the last True pixel (inclusive)":
        lambda m: solution_bounding_box(m) + torch.tensor([0, 0, 1, 1]),
    "the order is [x_min, y_min, x_max, y_max], not [x_min, x_max, y_min, y_max]":
        lambda m: solution_bounding_box(m)[[0, 2, 1, 3]],
}


def _compare_present(got: Any, expected: torch.Tensor) -> str | None:
    """A bool (or 0/1) vector of length ``num_classes``; a list is fine too."""
    got = torch.as_tensor(got) if isinstance(got, (list, tuple)) else got
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and (
            got.is_floating_point() or not set(got.unique().tolist()) <= {0, 1}):
        return f"expected True/False values, got dtype {got.dtype} with values {got.unique().tolist()[:5]}"
    problem = compare(got, expected, rtol=0.0)
    if problem is None or not problem.startswith("values differ"):
        return problem
    c = int((got.bool() != expected).nonzero()[0])
    return f"class {c}: expected {bool(expected[c])}, got {bool(got[c])}"


def check_classes_present(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Run your ``classes_present`` on known masks and say what is wrong, if anything."""
    shapes = make_sample(3, seed=0, config=ShapesConfig(size=32))[1]
    shapes[0, :] = IGNORE_INDEX  # a VOC-like ignore strip
    return run_checks("classes_present", fn, cases(solution_classes_present, [
        ("classes 1 and 2 on background; class 3 absent", torch.tensor([[0, 1, 1], [2, 2, 0]]), 4),
        ("background only: no object class", torch.tensor([[0, 0], [0, 0]]), 3),
        ("255 is ignored, not a class", torch.tensor([[255, 2], [2, 255]]), 3),
        ("the last class, 5, is present", torch.tensor([[5, 5], [1, 255]]), 6),
        ("a 32x32 synthetic mask with a 255 strip on top", shapes, 6),
    ]), comparer=_compare_present, mistakes=PRESENT_MISTAKES)


def check_bounding_box(fn: Callable[[torch.Tensor], Any]) -> CheckResult:
    """Run your ``bounding_box`` on known masks and say what is wrong, if anything; a list is fine."""
    def box(*corners: tuple[int, int, int, int]) -> torch.Tensor:
        return box_masks((6, 8), *corners).any(0)

    instances = make_sample(4, seed=0, config=ShapesConfig(size=48), return_instances=True)[2]
    return run_checks("bounding_box", fn, cases(solution_bounding_box, [
        ("a 2x3 rectangle at rows 1-2, columns 2-4", box((1, 2, 3, 5))),
        ("a J-shape", box((1, 6, 5, 7), (4, 1, 5, 7))),  # its first pixel is no corner
        ("a single pixel at row 3, column 6", box((3, 6, 4, 7))),
        ("an object touching the bottom-right edge", box((4, 5, 6, 8))),
        ("object 1 of a synthetic 48x48 sample", instances == 1),
    ]), comparer=lambda got, expected: compare(
        torch.as_tensor(got) if isinstance(got, (list, tuple)) else got, expected, rtol=0.0),
        mistakes=BOX_MISTAKES)
