"""Lesson 01 exercises (datasets): Cityscapes label ids to the 19 train ids with a lookup table, and
pixels per class without the ignore label; a ``check_*`` and a ``solution_*`` for each."""
from __future__ import annotations

from collections.abc import Callable

import torch

from seglib.core import IGNORE_INDEX
from seglib.datasets import LABEL_ID_TO_TRAIN_ID
from seglib.exercises.core import CheckResult, cases, run_checks, shape_problem


def solution_label_ids_to_train_ids(mask: torch.Tensor) -> torch.Tensor:
    """Build a table indexed by ``id + 1`` (so -1 lands at 0), then read it at every pixel at once.
    The solution under the exercise in notebooks/01_datasets.ipynb, section 6."""
    table = torch.full((257,), IGNORE_INDEX, dtype=torch.int64)  # ids -1..255; unknown ids -> 255
    for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
        table[label_id + 1] = train_id
    return table[(mask.long() + 1).clamp(0, len(table) - 1)]


def solution_class_pixel_counts(masks: torch.Tensor, num_classes: int,
                                ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Drop the ignore pixels, then count each class; ``minlength`` keeps absent classes as 0.
    First used in notebooks/01_datasets.ipynb, section 6."""
    labels = masks.flatten()
    labels = labels[labels != ignore_index]
    return torch.bincount(labels, minlength=num_classes)


# --- the usual mistakes ---

_lookup = solution_label_ids_to_train_ids


LOOKUP_MISTAKES: dict[str, Callable] = {
    "ids that are not among the 19 classes became 0, which is 'road'; they must become 255 "
    "(fill the table with 255, not zeros)":
        lambda m: _lookup(m).masked_fill(_lookup(m) == IGNORE_INDEX, 0),
    "the license plate (-1) came out as a class: a table indexed by the id itself reads "
    "table[-1], its *last* entry; shift the ids by one (index id + 1) or map -1 first":
        lambda m: torch.tensor([LABEL_ID_TO_TRAIN_ID[i] for i in range(34)])[m.long().clamp(max=33)],
    "the license plate (-1) stayed -1 (torchvision lists its train id as -1); every id that is "
    "not one of the 19 classes, -1 included, must become 255":
        lambda m: _lookup(m).masked_fill(m == -1, -1),
    "off by one: the table is filled at id + 1 but read at id (or the other way round); "
    "use the same offset for both":
        lambda m: _lookup(m.long() - 1),
    "the mask is returned unchanged: the label ids must go through the table":
        lambda m: m.long(),
    "the values are right but the dtype is not int64, the dtype cross_entropy and the metrics "
    "expect for class indices; finish with .long()":
        lambda m: _lookup(m).to(torch.uint8),
}


def _bincount(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(labels.flatten(), minlength=num_classes)


COUNT_MISTAKES: dict[str, Callable] = {
    "255 was counted as a class: torch.bincount made room for values up to 255; drop the "
    "ignore pixels first (labels[labels != ignore_index])":
        _bincount,
    "the ignore pixels were counted as background (class 0); they belong to no class":
        lambda m, c: _bincount(torch.where(m == IGNORE_INDEX, 0, m), c),
    "the ignore pixels were clamped into the last class; they belong to no class":
        lambda m, c: _bincount(m.clamp(max=c - 1), c),
    "classes that do not appear at the end are missing: pass minlength=num_classes to "
    "torch.bincount so every class gets a count, 0 if absent":
        lambda m, c: torch.bincount(m[m != IGNORE_INDEX]),
    "background (class 0) was left out: it is a class like the others; only the ignore label "
    "is left out":
        lambda m, c: solution_class_pixel_counts(m, c).index_fill(0, torch.tensor([0]), 0),
    "the counts are floats (torch.histc returns float32); return whole-number int64 counts":
        lambda m, c: solution_class_pixel_counts(m, c).float(),
    "these are fractions, not counts; return the pixel counts (int64) and divide by their sum "
    "afterwards":
        lambda m, c: solution_class_pixel_counts(m, c) / solution_class_pixel_counts(m, c).sum().clamp_min(1),
}


# --- the checks ---

def _compare_labels(got: object, expected: torch.Tensor) -> str | None:
    """Exact comparison for class indices or counts: type, shape, dtype int64, then values."""
    if (problem := shape_problem(got, expected)) is not None:
        return problem
    if got.dtype != torch.int64:
        return f"expected dtype torch.int64, got {got.dtype}"
    wrong = (got != expected).nonzero()
    if len(wrong) == 0:
        return None
    idx = tuple(wrong[0].tolist())
    return (f"{len(wrong)} value(s) differ; the first at index {idx}: expected "
            f"{expected[idx].item()}, got {got[idx].item()}")


def check_label_ids_to_train_ids(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(mask)`` must map every Cityscapes label id to its train id (int64, 255 if unused).
    First used in notebooks/01_datasets.ipynb, section 6."""
    settings = [
        (torch.tensor([7, 8, 26, 33]), "road, sidewalk, car, bicycle"),
        (torch.tensor([0, 1, 9, 29]), "unlabeled, ego vehicle, parking, caravan: not among the 19"),
        (torch.tensor([-1, 7]), "the license plate id -1"),
        (torch.arange(-1, 34), "every label id, -1..33"),
        (torch.tensor([[7, 7, 26, 0], [11, 23, 24, 1], [8, 21, 17, 33]], dtype=torch.uint8),
         "a 2-D uint8 mask as read from a labelIds PNG: same shape, int64 out"),
        (torch.randint(0, 34, (2, 5, 6), generator=torch.Generator().manual_seed(1)),
         "a batch of masks [2, 5, 6]"),
        (torch.tensor([34, 100, 255]), "values above 33 (never in real files): 255"),
    ]
    described = [(f"{why}; ids {ids.flatten().tolist()[:6]}{'...' if ids.numel() > 6 else ''}", ids)
                 for ids, why in settings]
    return run_checks("label_ids_to_train_ids", fn, cases(solution_label_ids_to_train_ids, described),
                      comparer=_compare_labels, mistakes=LOOKUP_MISTAKES)


def check_class_pixel_counts(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """``fn(masks, num_classes)`` must return int64 ``[num_classes]`` pixel counts, 255 left out.
    First used in notebooks/01_datasets.ipynb, section 6."""
    border = torch.randint(0, 21, (2, 8, 8), generator=torch.Generator().manual_seed(2))
    border[:, 0, :] = border[:, :, 0] = IGNORE_INDEX
    return run_checks("class_pixel_counts", fn, cases(solution_class_pixel_counts, [
        ("the worked example: 2 background, 1 of class 1, 3 of 2", torch.tensor([[0, 0, 1], [2, 2, 2]]), 3),
        ("two ignore pixels, which belong to no class", torch.tensor([[0, 255, 1], [255, 1, 1]]), 2),
        ("classes 2..4 absent: their counts are 0", torch.tensor([[1, 1], [0, 255]]), 5),
        ("a batch of two 8x8 VOC-like masks with a 255 border", border, 21),
        ("nothing but ignore: all counts 0", torch.full((3, 3), 255), 4),
    ]), comparer=_compare_labels, mistakes=COUNT_MISTAKES)
