"""Lesson 00 exercises: read a segmentation mask like data.

1. ``classes_present(mask, num_classes)``: the multi-label classification answer a mask
   gives for free (background and 255 are not objects).
2. ``bounding_box(object_mask)``: the box ``[x_min, y_min, x_max, y_max]`` around the
   ``True`` pixels of one object. A mask gives a box for free; a box never gives the mask.

``pixel_counts`` (pixels per class) is kept for instructors; the lesson no longer uses it,
since lesson 01's ``class_pixel_counts`` asks the same.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from seglib.core import IGNORE_INDEX
from seglib.synthetic import ShapesConfig, make_sample
from seglib.exercises.core import Case, CheckResult, compare, run_checks


# --- 1. pixel counts per class --------------------------------------------------------------------

def solution_pixel_counts(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 ``[num_classes]``: entry ``c`` is the number of pixels labelled ``c``; 255 is not counted."""
    labelled = mask[mask != IGNORE_INDEX]
    return torch.bincount(labelled.flatten(), minlength=num_classes)


def _compare_counts(got: Any, expected: torch.Tensor) -> str | None:
    """``compare``, plus advice for the usual mistakes."""
    problem = compare(got, expected, rtol=0.0)
    if problem is None or not isinstance(got, torch.Tensor):
        return problem
    n = len(expected)
    if got.dim() == 1 and len(got) < n:
        hint = f"classes absent from the mask need a count of 0 too (torch.bincount's minlength={n})"
    elif got.dim() == 1 and len(got) > n:
        hint = f"count only classes 0..{n - 1}; 255 is the ignore label, not a class"
    elif got.shape == expected.shape and got.sum() > expected.sum():
        hint = "your counts add up to more pixels than are labelled: leave the 255 (ignore) pixels out"
    else:
        return problem
    return f"{problem}\n  Hint: {hint}."


def _counts_cases() -> list[Case]:
    sample = make_sample(3, seed=0, config=ShapesConfig(size=32))[1]
    border = sample.clone()
    border[0, :] = IGNORE_INDEX  # a VOC-like ignore strip
    return [
        Case("a 2x3 mask with classes 0, 1, 2", (torch.tensor([[0, 1, 1], [2, 2, 2]]), 3), expected=torch.tensor([1, 2, 3])),
        Case("ignore pixels (255) are not counted", (torch.tensor([[255, 1], [1, 255]]), 2), expected=torch.tensor([0, 2])),
        Case("classes 3 and 4 are absent but still get a count of 0",
             (torch.tensor([[0, 2], [2, 1]]), 5), expected=torch.tensor([1, 1, 2, 0, 0])),
        Case("a 32x32 synthetic mask with a 255 strip on top", (border, 6),
             expected=solution_pixel_counts(border, 6)),
    ]


def check_pixel_counts(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Run your ``pixel_counts`` on known masks and say what is wrong, if anything."""
    return run_checks("pixel_counts", fn, _counts_cases(), comparer=_compare_counts)


# --- 1. classes present (multi-label classification answer) -------------------------------------

def solution_classes_present(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """bool ``[num_classes]``: ``True`` for each object class in ``mask``; background (0) and 255 never."""
    present = torch.zeros(num_classes, dtype=torch.bool)
    labels = mask[(mask != IGNORE_INDEX) & (mask != 0)]
    present[labels.unique()] = True
    return present


def _compare_present(got: Any, expected: torch.Tensor) -> str | None:
    """A bool (or 0/1) vector of length ``num_classes``; a list is fine too."""
    if isinstance(got, (list, tuple)):
        got = torch.tensor(got)
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        hint = ""
        if got.dim() == 1 and len(got) > len(expected):
            hint = "\n  Hint: one entry per class 0..num_classes-1; 255 is the ignore label, not a class."
        elif got.dim() == 1 and len(got) < len(expected):
            hint = "\n  Hint: classes absent from the mask need an entry too (False)."
        return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}{hint}"
    if got.is_floating_point() or not set(got.unique().tolist()) <= {0, 1}:
        return f"expected bool values (True/False), got dtype {got.dtype} with values {got.unique().tolist()[:5]}"
    wrong = (got.bool() != expected).nonzero().flatten()
    if len(wrong):
        c = int(wrong[0])
        extra = ("\n  Hint: background (class 0) is not an object: its entry is always False."
                 if c == 0 and bool(got[0]) else "")
        return f"class {c}: expected {bool(expected[c])}, got {bool(got[c])}{extra}"
    return None


def _present_cases() -> list[Case]:
    sample = make_sample(3, seed=0, config=ShapesConfig(size=32))[1]
    border = sample.clone()
    border[0, :] = IGNORE_INDEX
    settings = [
        (torch.tensor([[0, 1, 1], [2, 2, 0]]), 4, "classes 1 and 2 on background; class 3 absent"),
        (torch.tensor([[0, 0], [0, 0]]), 3, "background only: no object class"),
        (torch.tensor([[255, 2], [2, 255]]), 3, "255 is ignored, not a class"),
        (torch.tensor([[5, 5], [1, 255]]), 6, "the last class, 5, is present"),
        (border, 6, "a 32x32 synthetic mask with a 255 strip on top"),
    ]
    return [Case(why, (m, c), expected=solution_classes_present(m, c)) for m, c, why in settings]


def check_classes_present(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Run your ``classes_present`` on known masks and say what is wrong, if anything."""
    return run_checks("classes_present", fn, _present_cases(), comparer=_compare_present)


# --- 2. bounding box of one object ----------------------------------------------------------------

def solution_bounding_box(object_mask: torch.Tensor) -> torch.Tensor:
    """``[x_min, y_min, x_max, y_max]`` (inclusive pixel indices; x = column, y = row) of the True pixels.

    The convention of ``torchvision.ops.masks_to_boxes``. The mask must have a True pixel.
    """
    rows, cols = torch.nonzero(object_mask, as_tuple=True)
    return torch.stack([cols.min(), rows.min(), cols.max(), rows.max()])


def _box_cases() -> list[Case]:
    def blank() -> torch.Tensor:
        return torch.zeros(6, 8, dtype=torch.bool)

    rect, hook, dot, corner = blank(), blank(), blank(), blank()
    rect[1:3, 2:5] = True              # rows 1-2, columns 2-4
    hook[1:5, 6], hook[4, 1:7] = True, True  # a J: its first pixel (reading order) is not a corner
    dot[3, 6] = True
    corner[4:, 5:] = True              # touches the bottom-right edge
    _, _, instances = make_sample(4, seed=0, config=ShapesConfig(size=48), return_instances=True)
    cross = instances == 1
    return [
        Case("a 2x3 rectangle at rows 1-2, columns 2-4", (rect,), expected=torch.tensor([2, 1, 4, 2])),
        Case("a J-shape", (hook,), expected=torch.tensor([1, 1, 6, 4])),
        Case("a single pixel at row 3, column 6", (dot,), expected=torch.tensor([6, 3, 6, 3])),
        Case("an object touching the bottom-right edge", (corner,), expected=torch.tensor([5, 4, 7, 5])),
        Case("object 1 of a synthetic 48x48 sample", (cross,), expected=solution_bounding_box(cross)),
    ]


def _compare_box(got: Any, expected: torch.Tensor) -> str | None:
    """``compare`` (a list or tuple of four numbers is fine too), plus advice for the usual mistakes."""
    got = torch.as_tensor(got) if isinstance(got, (list, tuple)) else got
    problem = compare(got, expected, rtol=0.0)
    if problem is None or not isinstance(got, torch.Tensor) or got.shape != (4,):
        return problem
    got, exp = got.double(), expected.double()
    if torch.equal(got, exp[[1, 0, 3, 2]]):
        hint = "x and y are swapped: x is the column (second index of mask[row, col]), y is the row"
    elif torch.equal(got, exp + torch.tensor([0.0, 0.0, 1.0, 1.0])):
        hint = "x_max and y_max are one too large: the box ends at the last True pixel (inclusive)"
    elif torch.equal(got, exp[[0, 2, 1, 3]]):
        hint = "the order is [x_min, y_min, x_max, y_max], not [x_min, x_max, y_min, y_max]"
    else:
        return problem
    return f"{problem}\n  Hint: {hint}."


def check_bounding_box(fn: Callable[[torch.Tensor], Any]) -> CheckResult:
    """Run your ``bounding_box`` on known masks and say what is wrong, if anything."""
    return run_checks("bounding_box", fn, _box_cases(), comparer=_compare_box)
