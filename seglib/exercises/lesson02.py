"""Lesson 02 exercises (metrics): the boundary band, mask IoU, pooled vs per-image mIoU, COCO's
greedy matching and 101-point AP; a ``check_*`` and a ``solution_*`` for each."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from seglib.coco import RECALL_POINTS, interpolated_ap, mask_iou, match, precision_recall
from seglib.exercises.core import (
    CheckResult,
    box_masks,
    cases,
    compare,
    not_attempted,
    run_checks,
    shape_problem,
)
from seglib.metrics import ConfusionMatrix, boundary_band, iou_per_class, mean_iou


def solution_boundary_band(target: torch.Tensor, radius: int) -> torch.Tensor:
    """Bool map of the pixels at most ``radius`` px (chessboard distance) from a boundary pixel, a pixel
    whose 4-neighbour has another label (both sides of every edge): a (2 radius + 1) square dilation.
    First used in notebooks/02_metrics.ipynb, section 10."""
    labels = target.reshape(-1, *target.shape[-2:])
    edge = torch.zeros_like(labels, dtype=torch.bool)
    down, right = labels[:, 1:] != labels[:, :-1], labels[:, :, 1:] != labels[:, :, :-1]
    edge[:, 1:] |= down
    edge[:, :-1] |= down
    edge[:, :, 1:] |= right
    edge[:, :, :-1] |= right
    band = F.max_pool2d(edge[:, None].float(), 2 * radius + 1, stride=1, padding=radius)
    return band[:, 0].bool().view_as(target)


solution_mask_iou = mask_iou  # seglib.coco's: the lesson's code, with a shape check


def _confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """One confusion matrix over all of ``pred`` and ``target`` (``seglib.metrics``, built in section 2)."""
    cm = ConfusionMatrix(num_classes, ignore_index)
    cm.update(pred, target)
    return cm.matrix


def solution_miou_two_ways(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                           ignore_index: int = 255) -> tuple[float, float]:
    """``(pooled, per_image)`` for a batch ``[N, H, W]``: the mIoU of one confusion matrix summed over
    the batch (what the benchmarks do), and the mean of the images' own mIoUs.
    First used in notebooks/02_metrics.ipynb, section 10."""
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
    score, each takes the still-free ground truth with the highest IoU, if it is at least ``threshold``.
    The solution under the exercise in notebooks/02_metrics.ipynb, section 10."""
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
    """Mean over COCO's 101 recall points r (``RECALL_POINTS``) of the best precision at any recall >= r
    (0 if never reached). The solution under the exercise in notebooks/02_metrics.ipynb, section 10."""
    total = 0.0
    for r in RECALL_POINTS:
        reached = recall >= r
        total += precision[reached].max().item() if reached.any() else 0.0
    return total / 101


def _ap_at_points(points: list[float]) -> Callable:
    """The solution, reading the curve at other recall points."""
    def ap(precision: torch.Tensor, recall: torch.Tensor) -> float:
        return sum(precision[recall >= r].max().item() if (recall >= r).any() else 0.0
                   for r in points) / len(points)
    return ap


# --- the usual mistakes ---

def _band_from(edge_fn: Callable, dilate: Callable) -> Callable:
    """A ``boundary_band`` with another edge test or another dilation (usual slips)."""
    def band(target: torch.Tensor, radius: int) -> torch.Tensor:
        labels = target.reshape(-1, *target.shape[-2:])
        return dilate(edge_fn(labels), radius).view_as(target)
    return band


def _edges(labels: torch.Tensor, both_sides: bool = True, diagonals: bool = False) -> torch.Tensor:
    edge = torch.zeros_like(labels, dtype=torch.bool)
    down, right = labels[:, 1:] != labels[:, :-1], labels[:, :, 1:] != labels[:, :, :-1]
    edge[:, 1:] |= down
    edge[:, :, 1:] |= right
    if both_sides:
        edge[:, :-1] |= down
        edge[:, :, :-1] |= right
    if diagonals:
        diag, anti = labels[:, 1:, 1:] != labels[:, :-1, :-1], labels[:, 1:, :-1] != labels[:, :-1, 1:]
        edge[:, 1:, 1:] |= diag
        edge[:, :-1, :-1] |= diag
        edge[:, 1:, :-1] |= anti
        edge[:, :-1, 1:] |= anti
    return edge


def _square(edge: torch.Tensor, radius: int, size: int | None = None) -> torch.Tensor:
    k = 2 * radius + 1 if size is None else size
    return F.max_pool2d(edge[:, None].float(), k, stride=1, padding=k // 2)[:, 0, :edge.shape[1],
                                                                            :edge.shape[2]].bool()


def _diamond(edge: torch.Tensor, radius: int) -> torch.Tensor:
    band = edge[:, None].float()
    cross = torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0]])[None, None]
    for _ in range(radius):
        band = (F.conv2d(band, cross, padding=1) > 0).float()
    return band[:, 0].bool()


BAND_MISTAKES: dict[str, Callable] = {
    "only one side of each edge is marked: a boundary pixel is one whose 4-neighbour has another "
    "label, so both pixels of every differing pair are boundary pixels":
        _band_from(lambda labels: _edges(labels, both_sides=False), _square),
    "diagonal neighbours were compared too: the boundary uses the 4-neighbours only (up, down, left, "
    "right)":
        _band_from(lambda labels: _edges(labels, diagonals=True), _square),
    "the band grew as a diamond (4-neighbour steps); the band is a square: every pixel within radius "
    "px in chessboard distance, max(|dy|, |dx|) <= radius":
        _band_from(_edges, _diamond),
    "the square's side was the radius; it reaches radius px to each side: kernel 2 * radius + 1":
        _band_from(_edges, lambda edge, radius: _square(edge, radius, size=max(radius, 1) | 1)),
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
    "the recall points were computed as i / 100; COCO's are np.linspace(0, 1, 101) (seglib.coco."
    "RECALL_POINTS), which differ from i / 100 in the last bit at 10 points: a recall of exactly "
    "7/20 = 0.35 reaches 0.35 but not np.linspace's 0.35000000000000003":
        _ap_at_points([i / 100 for i in range(101)]),
    "the precision is read where the recall is first reached; COCO takes the *best* precision "
    "at any recall >= r (the curve is made monotone first)":
        _ap_without_envelope,
    "this averages over 100 points; COCO's 101 points run from 0 to 1 inclusive "
    "(r = 0, 0.01, ..., 1.00)":
        _ap_at_points(list(RECALL_POINTS[1:])),
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


def _compare_band(got: Any, expected: torch.Tensor) -> str | None:
    """A bool map of ``target``'s shape; say where the first wrong pixel is."""
    if (problem := shape_problem(got, expected, " (the target's shape)")) is not None:
        return problem
    if got.dtype != torch.bool:
        return f"expected a bool tensor (True in the band), got dtype {got.dtype}"
    wrong = (got != expected).nonzero()
    if len(wrong) == 0:
        return None
    where = tuple(int(i) for i in wrong[0])
    return (f"{len(wrong)} pixel(s) wrong, the first at index {where}: expected "
            f"{bool(expected[where])}, got {bool(got[where])}")


def check_boundary_band(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """``fn(target, radius)`` must give ``seglib.metrics.boundary_band``'s band.
    First used in notebooks/02_metrics.ipynb, section 10."""
    line = torch.zeros(1, 12, dtype=torch.long)
    line[:, 6:] = 1
    square = torch.zeros(10, 10, dtype=torch.long)
    square[3:7, 3:7] = 2
    g = torch.Generator().manual_seed(5)
    blobs = torch.randint(0, 3, (2, 5, 5), generator=g).repeat_interleave(2, 1).repeat_interleave(2, 2)
    ringed = square.clone()
    ringed[2, 2:8] = 255  # an ignore label on the outline counts as a label of its own
    return run_checks("boundary_band", fn, cases(boundary_band, [
        ("one row, 0|1 edge between columns 5 and 6, radius 0", line, 0),
        ("the same edge, radius 2", line, 2),
        ("a 4x4 square in a 10x10 image, radius 1", square, 1),
        ("the square, radius 3", square, 3),
        ("a batch [2, 10, 10] of 2x2 blocks, radius 1", blobs, 1),
        ("255 along part of the outline, radius 1", ringed, 1),
    ]), comparer=_compare_band, mistakes=BAND_MISTAKES)


def check_mask_iou(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(pred_masks, gt_masks)`` must return the ``[P, G]`` IoU table, 0 for two empty masks.
    First used in notebooks/02_metrics.ipynb, section 10."""
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
    """``fn(pred, target, num_classes, ignore_index)`` must return ``(pooled, per_image)`` mIoU.
    First used in notebooks/02_metrics.ipynb, section 10."""
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
    """``answer`` is ``"pooled"`` or ``"per-image"``: which mIoU do VOC, Cityscapes and ``seglib`` report?
    First used in notebooks/02_metrics.ipynb, section 10."""
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
    """``fn(ious, scores, threshold)`` must match like ``seglib.coco.match``.
    First used in notebooks/02_metrics.ipynb, section 10."""
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
    """``fn(precision, recall)`` must give ``seglib.coco.interpolated_ap``'s 101-point AP.
    First used in notebooks/02_metrics.ipynb, section 10."""
    settings = [  # (TP/FP by descending score, number of objects, why)
        ([1, 0, 1, 0, 1], 3, "the lesson's example at IoU 0.5: TP FP TP FP TP, 3 objects"),
        ([1, 0, 0, 0, 1], 3, "IoU 0.75: recall stops at 2/3"),
        ([1, 1, 1], 3, "perfect: AP 1"),
        ([0, 0, 1, 1, 0, 1, 1, 1, 1, 1], 7, "false positives first, then 7 hits"),
        ([0, 1, 0, 1], 7, "few hits out of 7 objects"),
        ([1] * 7 + [0] + [1] * 13, 20, "20 objects: 7 hits, a false positive, 13 hits (recall 7/20 = 0.35)"),
    ]
    curves = [(why, *precision_recall(torch.tensor(flags, dtype=torch.bool), n))
              for flags, n, why in settings]
    return run_checks("ap_101", fn, cases(interpolated_ap, curves), comparer=_number, mistakes=AP_MISTAKES)
