"""Checks and solutions for lesson 02 (metrics).

Four exercises, each with a ``check_*`` that runs the learner's function on known cases
and a ``solution_*`` that shows one way to write it:

1. ``confusion_matrix(pred, target, num_classes, ignore_index)``: the bincount trick;
2. ``iou_per_class(cm)``: IoU of each class from a confusion matrix, NaN when undefined;
3. ``pixel_accuracy(pred, target, ignore_index)``: with an ignore label;
4. ``mask_iou(pred_masks, gt_masks)``: the ``[P, G]`` IoU table COCO matches with.

When an answer is wrong, the check also tries the usual mistakes (rows and columns
swapped, the ignore label counted, an absent class scored 0 or 1, the wrong union, ...)
and names the one the answer matches, if any.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from seglib.exercises.core import Case, CheckResult, compare, run_checks

# --- solutions ----------------------------------------------------------------------------


def solution_confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                              ignore_index: int = 255) -> torch.Tensor:
    """Rows = ground truth, columns = prediction: pixel (t, p) adds 1 to bin ``C * t + p``."""
    keep = target != ignore_index
    index = num_classes * target[keep] + pred[keep]
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


def solution_iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """``n_ii / (t_i + sum_j n_ji - n_ii)``; ``0 / 0`` gives NaN for a class absent from both."""
    cm = cm.double()
    intersection = cm.diagonal()
    union = cm.sum(1) + cm.sum(0) - intersection
    return intersection / union


def solution_pixel_accuracy(pred: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> float:
    """Correct pixels over labelled pixels: ignored pixels are in neither count."""
    keep = target != ignore_index
    return (pred[keep] == target[keep]).sum().item() / keep.sum().item()


def solution_mask_iou(pred_masks: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """``[P, G]`` table: pixels in both masks over pixels in either; 0 when both are empty."""
    p = pred_masks.flatten(1).double()
    g = gt_masks.flatten(1).double()
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(inter))


# --- the usual mistakes (the checks name them; the tests make sure they are rejected) -------

def _iou_with(cm: torch.Tensor, union_of: Callable) -> torch.Tensor:
    """``n_ii`` over a wrong union."""
    cm = cm.double()
    return cm.diagonal() / union_of(cm)


def _per_image_accuracy(p: torch.Tensor, t: torch.Tensor, ignore_index: int = 255) -> float:
    """The mean of each image's pixel accuracy (a batch ``[N, H, W]``)."""
    if t.dim() < 3:
        return solution_pixel_accuracy(p, t, ignore_index)
    return sum(solution_pixel_accuracy(pi, ti, ignore_index) for pi, ti in zip(p, t)) / len(t)


CONFUSION_MISTAKES: dict[str, Callable] = {
    "rows and columns are swapped: row i must be the ground-truth class, column j the "
    "prediction (bin num_classes * target + pred)":
        lambda p, t, c, ignore_index=255: solution_confusion_matrix(p, t, c, ignore_index).T,
    "ignored pixels are counted as background; pixels labelled ignore_index must be left "
    "out of the matrix altogether":
        lambda p, t, c, ignore_index=255: solution_confusion_matrix(
            p, t.masked_fill(t == ignore_index, 0), c, ignore_index),
}

IOU_MISTAKES: dict[str, Callable] = {
    "the union counts the intersection twice: t_i + sum_j n_ji includes n_ii twice, so "
    "subtract it once":
        lambda cm: _iou_with(cm, lambda m: m.sum(1) + m.sum(0)),
    "the union is only the ground-truth pixels t_i (that is the class accuracy, or recall); "
    "it must also include the pixels wrongly predicted as the class":
        lambda cm: _iou_with(cm, lambda m: m.sum(1)),
    "the union is only the predicted pixels (that is the precision); it must also include "
    "the pixels of the class that were missed":
        lambda cm: _iou_with(cm, lambda m: m.sum(0)),
    "a class absent from both ground truth and prediction is scored 0; its IoU is 0/0, "
    "undefined: return NaN so that the mean can leave it out":
        lambda cm: torch.nan_to_num(solution_iou_per_class(cm), nan=0.0),
    "a class absent from both ground truth and prediction is scored 1; its IoU is 0/0, "
    "undefined: return NaN so that the mean can leave it out":
        lambda cm: torch.nan_to_num(solution_iou_per_class(cm), nan=1.0),
}

ACCURACY_MISTAKES: dict[str, Callable] = {
    "ignored pixels are counted (as wrong answers): leave pixels labelled ignore_index out "
    "of both the correct count and the total":
        lambda p, t, ignore_index=255: (p == t).double().mean().item(),
    "ignored pixels are counted as background: leave pixels labelled ignore_index out of "
    "both the correct count and the total":
        lambda p, t, ignore_index=255: (p == t.masked_fill(t == ignore_index, 0)).double().mean().item(),
    "this averages the images' accuracies; pixel accuracy pools the labelled pixels of the "
    "whole batch and divides once (an image with few labelled pixels must weigh less)":
        _per_image_accuracy,
}

MASK_IOU_MISTAKES: dict[str, Callable] = {
    "the table is [G, P]; it must be [P, G]: one row per prediction, one column per "
    "ground-truth mask":
        lambda p, g: solution_mask_iou(p, g).T,
    "the union is the sum of the two areas, which counts the overlap twice: subtract the "
    "intersection once":
        lambda p, g: _ratio(p, g, lambda a, b, i: a + b),
    "this divides by the ground-truth area only; IoU divides by the union of both masks":
        lambda p, g: _ratio(p, g, lambda a, b, i: b.expand_as(i)),
    "two empty masks give 0/0 = NaN; call their IoU 0 (nothing was found, nothing to find)":
        lambda p, g: _ratio(p, g, lambda a, b, i: a + b - i, empty=math.nan),
}


def _ratio(p: torch.Tensor, g: torch.Tensor, denominator: Callable, empty: float = 0.0) -> torch.Tensor:
    """Intersection over ``denominator(area_p, area_g, intersection)``, ``empty`` where that is 0."""
    pf, gf = p.flatten(1).double(), g.flatten(1).double()
    inter = pf @ gf.T
    den = denominator(pf.sum(1)[:, None], gf.sum(1)[None, :], inter)
    return torch.where(den > 0, inter / den.clamp_min(1e-12), torch.full_like(inter, empty))


# --- the cases ------------------------------------------------------------------------------

# The lesson's 2x3 example: target with one ignore pixel, and a prediction.
_TARGET = torch.tensor([[0, 0, 1], [1, 255, 2]])
_PRED = torch.tensor([[0, 1, 1], [1, 0, 2]])


def _label_pairs() -> list[tuple[torch.Tensor, torch.Tensor, int, int, str]]:
    """(pred, target, num_classes, ignore_index, why) for the label-map exercises."""
    g = torch.Generator().manual_seed(2)
    target = torch.randint(0, 4, (2, 6, 5), generator=g)
    target[torch.rand(2, 6, 5, generator=g) < 0.2] = 255
    target[1, :2] = 255  # the second image has more ignored pixels than the first
    pred = torch.randint(0, 4, (2, 6, 5), generator=g)
    pred_zero = torch.where(target == 1, 1, 0)  # right on class 1, background elsewhere
    other = torch.tensor([[0, 1, 2, -1, 1]])
    return [
        (_PRED, _TARGET, 3, 255, "the lesson's 2x3 example, one ignore pixel"),
        (pred, target, 4, 255, "random batch [2, 6, 5] with 20-50% ignore pixels"),
        (pred_zero, target, 4, 255, "background predicted wherever the target is not class 1"),
        (torch.tensor([[0, 1, 2, 0, 2]]), other, 3, -1, "ignore_index=-1 instead of 255"),
    ]


def _confusion_cases() -> list[Case]:
    return [Case(f"{why}, num_classes={c}", (p, t, c), {"ignore_index": i},
                 expected=solution_confusion_matrix(p, t, c, i)) for p, t, c, i, why in _label_pairs()]


def _accuracy_cases() -> list[Case]:
    return [Case(why, (p, t), {"ignore_index": i}, expected=solution_pixel_accuracy(p, t, i))
            for p, t, _, i, why in _label_pairs()]


def _iou_cases() -> list[Case]:
    settings = [
        (solution_confusion_matrix(_PRED, _TARGET, 3), "the lesson's 2x3 example"),
        (torch.tensor([[3, 1, 0], [0, 2, 1], [0, 0, 0]]), "class 2 predicted but not in the ground truth: IoU 0"),
        (torch.tensor([[5, 1, 0, 0], [2, 4, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3]]),
         "class 2 absent from both: IoU undefined (NaN)"),
        (torch.tensor([[10, 0], [10, 0]]), "'background everywhere': class 1 never predicted"),
        (torch.tensor([[7]]), "a single class"),
    ]
    return [Case(why, (cm,), expected=solution_iou_per_class(cm)) for cm, why in settings]


def _mask_iou_cases() -> list[Case]:
    def box(top: int, left: int, bottom: int, right: int) -> torch.Tensor:
        m = torch.zeros(6, 6, dtype=torch.bool)
        m[top:bottom, left:right] = True
        return m

    g = torch.Generator().manual_seed(4)
    empty = torch.zeros(6, 6, dtype=torch.bool)
    settings = [
        (torch.stack([box(0, 0, 2, 3)]), torch.stack([box(0, 0, 2, 2)]), "one pair: 4 px inside 6 px"),
        (torch.stack([box(0, 0, 3, 3), box(3, 3, 6, 6), box(1, 1, 4, 4)]),
         torch.stack([box(0, 0, 3, 3), box(2, 2, 5, 5)]), "3 predictions x 2 objects"),
        (torch.rand(4, 6, 6, generator=g) > 0.5, torch.rand(3, 6, 6, generator=g) > 0.5, "random 4 x 3 masks"),
        (torch.stack([empty, box(0, 0, 1, 1)]), torch.stack([empty]), "an empty prediction and an empty object"),
    ]
    return [Case(why, (p, gt), expected=solution_mask_iou(p, gt)) for p, gt, why in settings]


# --- the checks ------------------------------------------------------------------------------

def compare_with_nan(got: Any, expected: Any, rtol: float = 1e-6) -> str | None:
    """Like ``core.compare``, but a NaN is expected exactly where the answer is undefined."""
    if not isinstance(got, torch.Tensor) or not isinstance(expected, torch.Tensor) \
            or tuple(got.shape) != tuple(expected.shape):
        return compare(got, expected, rtol)
    got, expected = got.double(), expected.double()
    differ = torch.nonzero(got.isnan() != expected.isnan())
    if len(differ):
        idx = tuple(differ[0].tolist())
        e, g = expected[idx].item(), got[idx].item()
        return f"at index {idx} expected {'NaN (undefined: 0/0)' if math.isnan(e) else f'{e:.6g}'}, got {g:.6g}"
    return compare(got.nan_to_num(0.0), expected.nan_to_num(0.0), rtol)  # NaNs agree: compare the rest


def _check(name: str, fn: Callable, cases: list[Case], mistakes: dict[str, Callable],
           comparer: Callable = compare_with_nan) -> CheckResult:
    return run_checks(name, fn, cases, comparer=comparer, mistakes=mistakes)


def check_confusion_matrix(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """``fn(pred, target, num_classes, ignore_index=...)`` must return the ``[C, C]`` count table."""
    return _check("confusion_matrix", fn, _confusion_cases(), CONFUSION_MISTAKES)


def check_iou_per_class(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(cm)`` must return each class's IoU, NaN for a class absent from both."""
    return _check("iou_per_class", fn, _iou_cases(), IOU_MISTAKES)


def check_pixel_accuracy(fn: Callable[..., float]) -> CheckResult:
    """``fn(pred, target, ignore_index=...)`` must return the share of labelled pixels that are right."""
    return _check("pixel_accuracy", fn, _accuracy_cases(), ACCURACY_MISTAKES, comparer=_compare_float)


def check_mask_iou(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(pred_masks, gt_masks)`` must return the ``[P, G]`` IoU table, 0 for two empty masks."""
    return _check("mask_iou", fn, _mask_iou_cases(), MASK_IOU_MISTAKES)


def _compare_float(got: Any, expected: float) -> str | None:
    """A single number (a 0-d tensor is fine)."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    return compare(got, float(expected), 1e-6)
