"""Lesson 02 exercises (metrics): pixel accuracy, mask IoU, pooled vs per-image mIoU, COCO's
greedy matching and 101-point AP; a ``check_*`` and a ``solution_*`` for each."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from seglib.coco import interpolated_ap, mask_iou, match, precision_recall
from seglib.exercises.core import (
    CheckResult,
    box_masks,
    cases,
    compare,
    not_attempted,
    run_checks,
    shape_problem,
)
from seglib.metrics import ConfusionMatrix, iou_per_class, mean_iou


def solution_pixel_accuracy(pred: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> float:
    """Correct pixels over labelled pixels: ignored pixels are in neither count."""
    keep = target != ignore_index
    return (pred[keep] == target[keep]).sum().item() / keep.sum().item()


solution_mask_iou = mask_iou  # seglib.coco's: the lesson's code, with a shape check


def _confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """One confusion matrix over all of ``pred`` and ``target`` (``seglib.metrics``, built in section 2)."""
    cm = ConfusionMatrix(num_classes, ignore_index)
    cm.update(pred, target)
    return cm.matrix


def solution_miou_two_ways(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                           ignore_index: int = 255) -> tuple[float, float]:
    """``(pooled, per_image)`` for a batch ``[N, H, W]``: the mIoU of one confusion matrix summed over
    the batch (what the benchmarks do), and the mean of the images' own mIoUs."""
    pooled = mean_iou(_confusion(pred, target, num_classes, ignore_index))
    return pooled, _per_image(pred, target, num_classes, ignore_index, mean_iou)


def _per_image(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int,
               score: Callable[[torch.Tensor], float]) -> float:
    """The mean of ``score(confusion matrix of one image)`` over the images where it is not NaN."""
    values = [score(_confusion(p, t, num_classes, ignore_index)) for p, t in zip(pred, target, strict=True)]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def solution_greedy_match(ious: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """For each prediction (a row of ``ious`` ``[P, G]``), the ground truth it matches or -1: by descending
    score, each takes the still-free ground truth with the highest IoU, if it is at least ``threshold``."""
    return _greedy(ious, _by_score(scores), threshold)


def _by_score(scores: torch.Tensor) -> list[int]:
    return torch.argsort(scores, descending=True).tolist()


def _greedy(ious: torch.Tensor, order: list[int], threshold: float, strict: bool = False,
            take: bool = True) -> torch.Tensor:
    """Greedy matching in ``order``; ``strict`` (IoU > threshold) and ``take=False`` are usual slips."""
    matched = torch.full((ious.shape[0],), -1, dtype=torch.long)
    free = torch.ones(ious.shape[1], dtype=torch.bool)
    for p in order:
        if not free.any():
            break
        candidates = torch.where(free, ious[p], torch.full_like(ious[p], -1.0))
        g = int(candidates.argmax())
        iou = candidates[g].item()
        if iou > threshold or (iou == threshold and not strict):
            matched[p] = g
            free[g] = not take
    return matched


def solution_ap_101(precision: torch.Tensor, recall: torch.Tensor) -> float:
    """Mean over r = 0, 0.01, ..., 1 of the best precision at any recall >= r (0 if never reached)."""
    total = 0.0
    for i in range(101):
        reached = recall >= i / 100
        total += precision[reached].max().item() if reached.any() else 0.0
    return total / 101


# --- the usual mistakes ---

def _per_image_accuracy(p: torch.Tensor, t: torch.Tensor, ignore_index: int = 255) -> float:
    """The mean of each image's pixel accuracy (a batch ``[N, H, W]``)."""
    if t.dim() < 3:
        return solution_pixel_accuracy(p, t, ignore_index)
    return sum(solution_pixel_accuracy(pi, ti, ignore_index) for pi, ti in zip(p, t, strict=True)) / len(t)


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


def _pooled_and(score: Callable) -> Callable:
    """A ``miou_two_ways`` whose per-image number uses ``score`` instead of the solution's."""
    return lambda p, t, c, ignore_index=255: (solution_miou_two_ways(p, t, c, ignore_index)[0],
                                              _per_image(p, t, c, ignore_index, score))


MIOU_MISTAKES: dict[str, Callable] = {
    "the two numbers are swapped: return (pooled, per_image)":
        lambda p, t, c, ignore_index=255: solution_miou_two_ways(p, t, c, ignore_index)[::-1],
    "absent classes were scored 0 in the per-image mIoU; a class absent from an image's "
    "truth and prediction has no IoU there (NaN) and is left out of that image's mean":
        _pooled_and(lambda cm: iou_per_class(cm).nan_to_num(0.0).mean().item()),
    "the per-image mIoU leaves out classes that are only predicted; a class predicted in an "
    "image without being there has IoU 0 and counts (only classes absent from both are left out)":
        _pooled_and(lambda cm: iou_per_class(cm)[cm.sum(1) > 0].nanmean().item()),
}


MATCH_MISTAKES: dict[str, Callable] = {
    "a ground truth was matched twice: once taken, an object is no longer free, so a second "
    "prediction of it is a false positive (-1)":
        lambda ious, scores, threshold: _greedy(ious, _by_score(scores), threshold, take=False),
    "the predictions were taken in the order given; take them by descending score":
        lambda ious, scores, threshold: _greedy(ious, list(range(len(scores))), threshold),
    "the threshold was applied with >; an IoU equal to the threshold is a match (>=)":
        lambda ious, scores, threshold: _greedy(ious, _by_score(scores), threshold, strict=True),
}


def _ap_without_envelope(precision, recall):
    total = 0.0
    for i in range(101):
        reached = (recall >= i / 100).nonzero()
        total += precision[reached[0, 0]].item() if len(reached) else 0.0
    return total / 101


AP_MISTAKES: dict[str, Callable] = {
    "the precision is read where the recall is first reached; COCO takes the *best* precision "
    "at any recall >= r (the curve is made monotone first)":
        _ap_without_envelope,
    "this averages over 100 points; COCO's 101 points run from 0 to 1 inclusive "
    "(r = 0, 0.01, ..., 1.00)":
        lambda precision, recall: solution_ap_101(precision, recall) * 101 / 100,
    "this is the mean precision over the predictions, not the area under the interpolated "
    "precision-recall curve":
        lambda precision, recall: precision.double().mean().item(),
}


def _ratio(p: torch.Tensor, g: torch.Tensor, denominator: Callable, empty: float = 0.0) -> torch.Tensor:
    """Intersection over ``denominator(area_p, area_g, intersection)``, ``empty`` where that is 0."""
    pf, gf = p.flatten(1).double(), g.flatten(1).double()
    inter = pf @ gf.T
    den = denominator(pf.sum(1)[:, None], gf.sum(1)[None, :], inter)
    return torch.where(den > 0, inter / den.clamp_min(1e-12), torch.full_like(inter, empty))


# --- the checks ---

def _boxes(*boxes: tuple[int, int, int, int], size: int = 6) -> torch.Tensor:
    return box_masks((size, size), *boxes)


def _number(got: Any, expected: float) -> str | None:
    """A single number (a 0-d tensor is fine)."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    return compare(got, float(expected), 1e-6)


def check_pixel_accuracy(fn: Callable[..., float]) -> CheckResult:
    """``fn(pred, target, ignore_index)`` must return the share of labelled pixels that are right."""
    g = torch.Generator().manual_seed(2)
    target = torch.randint(0, 4, (2, 6, 5), generator=g)
    target[torch.rand(2, 6, 5, generator=g) < 0.2] = 255
    target[1, :2] = 255  # the second image has more ignored pixels than the first
    pred = torch.randint(0, 4, (2, 6, 5), generator=g)
    return run_checks("pixel_accuracy", fn, cases(solution_pixel_accuracy, [
        ("the lesson's 2x3 example, one ignore pixel",
         torch.tensor([[0, 1, 1], [1, 0, 2]]), torch.tensor([[0, 0, 1], [1, 255, 2]]), 255),
        ("random batch [2, 6, 5] with 20-50% ignore pixels", pred, target, 255),
        ("background predicted wherever the target is not 1", torch.where(target == 1, 1, 0), target, 255),
        ("ignore_index=-1, not 255", torch.tensor([[0, 1, 2, 0, 2]]), torch.tensor([[0, 1, 2, -1, 1]]), -1),
    ]), comparer=_number, mistakes=ACCURACY_MISTAKES)


def check_mask_iou(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(pred_masks, gt_masks)`` must return the ``[P, G]`` IoU table, 0 for two empty masks."""
    g = torch.Generator().manual_seed(4)
    empty = torch.zeros(1, 6, 6, dtype=torch.bool)
    return run_checks("mask_iou", fn, cases(solution_mask_iou, [
        ("one pair: 4 px inside 6 px", _boxes((0, 0, 2, 3)), _boxes((0, 0, 2, 2))),
        ("3 predictions x 2 objects", _boxes((0, 0, 3, 3), (3, 3, 6, 6), (1, 1, 4, 4)),
         _boxes((0, 0, 3, 3), (2, 2, 5, 5))),
        ("random 4x3 masks", torch.rand(4, 6, 6, generator=g) > 0.5, torch.rand(3, 6, 6, generator=g) > 0.5),
        ("an empty prediction and object", torch.cat([empty, _boxes((0, 0, 1, 1))]), empty),
    ]), rtol=1e-6, mistakes=MASK_IOU_MISTAKES)


def _compare_pair(got: Any, expected: tuple[float, float]) -> str | None:
    """Two numbers ``(pooled, per_image)``; a tuple, list or 1-D tensor of two is fine."""
    if isinstance(got, torch.Tensor) and got.numel() == 2:
        got = got.flatten().tolist()
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected two numbers (pooled, per_image), got {type(got).__name__}"
    problems = [f"{name}: {p}" for name, g, e in zip(("pooled", "per_image"), got, expected, strict=True)
                if (p := _number(g, e)) is not None]
    return problems[0] if problems else None


def check_miou_two_ways(fn: Callable[..., tuple[float, float]]) -> CheckResult:
    """``fn(pred, target, num_classes, ignore_index)`` must return ``(pooled, per_image)`` mIoU."""
    g = torch.Generator().manual_seed(7)
    target = torch.randint(0, 4, (3, 8, 8), generator=g)
    target[0, :, :4] = 0                      # image 0: mostly background
    target[2][torch.rand(8, 8, generator=g) < 0.3] = 255
    noise = torch.randint(0, 4, (3, 8, 8), generator=g)
    pred = torch.where(torch.rand(3, 8, 8, generator=g) < 0.7, target.clamp(max=3), noise)
    small = torch.zeros(3, 4, 4, dtype=torch.long)
    small[0, :2, :2] = 1                      # image 0: a class-1 square, found exactly
    small[2, 2:, 2:] = 2                      # image 2: a class-2 square, half found
    small_pred = small.clone()
    small_pred[1, 0, 0] = 1                   # image 1: one false class-1 pixel, no class 1 there
    small_pred[2, 3, 2:] = 0
    return run_checks("miou_two_ways", fn, cases(solution_miou_two_ways, [
        ("three 4x4 images: a square found exactly; one false pixel in an image without the class; "
         "a square half found", small_pred, small, 3, 255),
        ("three random 8x8 images, one with 30% ignore pixels", pred, target, 4, 255),
        ("a batch of one image: the two numbers agree",
         torch.tensor([[[0, 1], [1, 1]]]), torch.tensor([[[0, 1], [1, 255]]]), 2, 255),
    ]), comparer=_compare_pair, mistakes=MIOU_MISTAKES)


def check_benchmark_miou(answer: Any) -> CheckResult:
    """``answer`` is ``"pooled"`` or ``"per-image"``: which mIoU do VOC, Cityscapes and ``seglib`` report?"""
    name = "benchmark_miou"
    if answer is None or answer is NotImplemented:
        return not_attempted(name, "set the answer")
    text = str(answer).strip().lower().replace("_", "-").replace(" ", "-")
    if text in ("pooled", "pool"):
        return CheckResult(name, True, True, f"✓ {name}: right — one confusion matrix summed over the whole "
                                             "test set, then IoU per class, then the mean over classes.")
    if text in ("per-image", "perimage", "image"):
        return CheckResult(name, False, True, f"✗ {name}: no — the VOC and Cityscapes evaluation code sums "
                                              "one confusion matrix over all test images before dividing "
                                              "(pooled).")
    return CheckResult(name, False, True, f"✗ {name}: answer \"pooled\" or \"per-image\", got {answer!r}")


def _compare_matches(got: Any, expected: torch.Tensor) -> str | None:
    """An integer per prediction (a list is fine): the matched ground truth, or -1."""
    if isinstance(got, (list, tuple)):
        got = torch.tensor(got, dtype=torch.long) if len(got) else torch.zeros(0, dtype=torch.long)
    if (problem := shape_problem(got, expected, " (one entry per prediction)")) is not None:
        return problem
    if got.is_floating_point():
        return f"expected whole numbers (ground-truth indices or -1), got dtype {got.dtype}"
    wrong = (got.long() != expected).nonzero().flatten()
    if len(wrong) == 0:
        return None
    k = int(wrong[0])
    return f"prediction {k}: expected {int(expected[k])}, got {int(got[k])} (-1 means unmatched)"


def check_greedy_match(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """``fn(ious, scores, threshold)`` must match like ``seglib.coco.match``."""
    # The lesson's worked example: three objects, five predictions.
    gt = _boxes((2, 2, 9, 9), (3, 12, 10, 18), (12, 4, 18, 14), size=20)
    preds = _boxes((2, 2, 9, 8), (3, 3, 10, 10), (4, 11, 11, 18), (12, 16, 16, 20), (12, 4, 17, 14), size=20)
    example, example_scores = mask_iou(preds, gt), torch.tensor([0.95, 0.90, 0.80, 0.60, 0.40])
    shuffled = torch.tensor([[0.1, 0.7, 0.0], [0.8, 0.0, 0.3], [0.0, 0.65, 0.2], [0.52, 0.0, 0.0]])
    return run_checks("greedy_match", fn, cases(match, [
        ("the lesson's example at IoU 0.5", example, example_scores, 0.5),
        ("the lesson's example at IoU 0.75", example, example_scores, 0.75),
        ("prediction 0 (higher score) takes object 0 first",  # a trap: prediction 1 overlaps it more
         torch.tensor([[0.6, 0.55], [0.9, 0.1]]), torch.tensor([0.9, 0.8]), 0.5),
        ("scores not in input order", shuffled, torch.tensor([0.3, 0.9, 0.5, 0.7]), 0.5),
        ("an IoU exactly at the threshold matches", torch.tensor([[0.5, 0.2]]), torch.tensor([0.9]), 0.5),
        ("no ground-truth objects: all -1", torch.zeros(2, 0), torch.tensor([0.9, 0.8]), 0.5),
    ]), comparer=_compare_matches, mistakes=MATCH_MISTAKES)


def check_ap_101(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """``fn(precision, recall)`` must give ``seglib.coco.interpolated_ap``'s 101-point AP."""
    settings = [  # (TP/FP by descending score, number of objects, why); recalls never fall on a 0.01 step
        ([1, 0, 1, 0, 1], 3, "the lesson's example at IoU 0.5: TP FP TP FP TP, 3 objects"),
        ([1, 0, 0, 0, 1], 3, "IoU 0.75: recall stops at 2/3"),
        ([1, 1, 1], 3, "perfect: AP 1"),
        ([0, 0, 1, 1, 0, 1, 1, 1, 1, 1], 7, "false positives first, then 7 hits"),
        ([0, 1, 0, 1], 7, "few hits out of 7 objects"),
    ]
    curves = [(why, *precision_recall(torch.tensor(flags, dtype=torch.bool), n))
              for flags, n, why in settings]
    return run_checks("ap_101", fn, cases(interpolated_ap, curves), comparer=_number, mistakes=AP_MISTAKES)
