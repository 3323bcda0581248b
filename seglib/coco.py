"""COCO-style mask AP and AR, written to be read: greedy matching by score, precision/recall over all
images, AP at 101 recall points, averaged over classes and IoU thresholds 0.50..0.95 (no crowd regions or
area ranges). Inputs as torchvision's detection models give them, one dict per image. It follows
pycocotools' ``COCOeval`` (``evaluateImg`` and ``accumulate``) to its floating-point recall points and its
tie-breaking, and agrees with it to 1e-12 (tests/test_coco.py re-implements its accumulate step).
Built in notebooks/02_metrics.ipynb, section 8.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from seglib.core import DatasetError


# 0.50 ... 0.95. pycocotools' np.linspace(0.5, 0.95, 10) gives 0.8999999999999999 for 0.90; no mask IoU
# (intersection / union of pixel counts, union below 10**14) lies between that and 0.9, so matches agree.
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
# Where precision is read: pycocotools' recThrs, np.linspace(0, 1, 101), i.e. i * 0.01 in floating point.
# Not i / 100: the two differ in the last bit at 10 points (0.35, 0.41, 0.47, 0.57, 0.69, 0.70, 0.82, 0.83,
# 0.94, 0.95; 35 * 0.01 = 0.35000000000000003), so a recall of exactly 7/20 = 0.35 reaches the point 0.35
# as i / 100 but not as pycocotools has it, and AP differs (notebooks/02_metrics.ipynb, section 8).
RECALL_POINTS: tuple[float, ...] = tuple(np.linspace(0.0, 1.0, 101).tolist())


def mask_iou(pred_masks: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """IoU of every predicted mask ``[P, H, W]`` with every ground-truth mask ``[G, H, W]``: ``[P, G]``.
    First used in notebooks/02_metrics.ipynb, section 8."""
    if pred_masks.dim() != 3 or gt_masks.dim() != 3 or pred_masks.shape[1:] != gt_masks.shape[1:]:
        raise ValueError(f"masks must be [P, H, W] and [G, H, W] with the same H, W; got "
                         f"{tuple(pred_masks.shape)} and {tuple(gt_masks.shape)}")
    p = pred_masks.flatten(1).double()
    g = gt_masks.flatten(1).double()
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return inter / union.clamp_min(1)  # 0 where both are empty


def match(ious: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """For each prediction, the index of its ground truth, or -1: by descending score, each takes the
    unmatched ground truth with the highest IoU if it is at least ``threshold`` (a second prediction of
    an object is a false positive). Of equal IoUs the last ground truth wins, as in pycocotools (its loop
    keeps any IoU not below the best so far). First used in notebooks/02_metrics.ipynb, section 8."""
    matched = torch.full((ious.shape[0],), -1, dtype=torch.long)
    taken = torch.zeros(ious.shape[1], dtype=torch.bool)
    if ious.shape[1] == 0:
        return matched
    last = ious.shape[1] - 1
    for p in torch.argsort(scores, descending=True, stable=True).tolist():
        candidates = ious[p].masked_fill(taken, -1.0)
        best = last - int(candidates.flip(0).argmax())  # argmax takes the first of ties: flip for the last
        if candidates[best] >= threshold:
            matched[p] = best
            taken[best] = True
    return matched


def precision_recall(is_tp: torch.Tensor, num_gt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall after each prediction, ``is_tp`` being sorted by descending score.
    (pycocotools adds ``np.spacing(1)`` to the denominator tp + fp, which is never 0 here; it changes only
    a first prediction's precision, by 2e-16.) First used in notebooks/02_metrics.ipynb, section 8."""
    tp = torch.cumsum(is_tp.double(), 0)
    fp = torch.cumsum((~is_tp.bool()).double(), 0)
    return tp / (tp + fp), tp / num_gt


def interpolated_ap(precision: torch.Tensor, recall: torch.Tensor) -> float:
    """COCO's 101-point AP: mean over r in RECALL_POINTS of max(precision at recall >= r), 0 if unreached
    (pycocotools: ``np.searchsorted(recall, recThrs, side="left")`` on the monotone envelope).
    First used in notebooks/02_metrics.ipynb, section 8."""
    if precision.numel() == 0:
        return 0.0
    envelope = precision.flip(0).cummax(0).values.flip(0)  # best precision from here on
    points = torch.tensor(RECALL_POINTS, dtype=recall.dtype)
    first = torch.searchsorted(recall.contiguous(), points)  # first prediction reaching recall r
    reached = first < len(recall)
    values = torch.where(reached, envelope[first.clamp_max(len(recall) - 1)], torch.zeros_like(points))
    return values.mean().item()


def _as_masks(masks: torch.Tensor) -> torch.Tensor:
    """Bool ``[K, H, W]`` masks from bool/0-1/probability masks, possibly ``[K, 1, H, W]``."""
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    return masks > 0.5 if masks.is_floating_point() else masks.bool()


def _check_inputs(predictions: list[dict], targets: list[dict]) -> None:
    """Clear errors for inconsistent inputs, naming the image."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets (one dict per image)")
    for i, (pred, target) in enumerate(zip(predictions, targets, strict=True)):
        if len(target["masks"]) != len(target["labels"]):
            raise DatasetError(f"image {i}: {len(target['masks'])} ground-truth masks but "
                               f"{len(target['labels'])} labels")
        if not len(pred["masks"]) == len(pred["scores"]) == len(pred["labels"]):
            raise ValueError(f"image {i}: {len(pred['masks'])} predicted masks, {len(pred['scores'])} "
                             f"scores, {len(pred['labels'])} labels")


def _mean(values: torch.Tensor) -> float:
    """Mean, NaN when there is nothing to average (no class has a ground-truth object)."""
    return values.mean().item() if values.numel() else math.nan


def coco_mask_metrics(predictions: list[dict], targets: list[dict], max_dets: int = 100) -> dict[str, float]:
    """COCO's mask ``{"AP", "AP50", "AP75", "AR"}`` of ``{"masks", "scores", "labels"}`` predictions against
    ``{"masks", "labels"}`` targets (float masks thresholded at 0.5), averaged over the classes that have a
    ground truth and over ``IOU_THRESHOLDS`` (AR: at most ``max_dets`` predictions per image and class).
    First used in notebooks/02_metrics.ipynb, section 8."""
    _check_inputs(predictions, targets)
    images = [(p, t, mask_iou(_as_masks(p["masks"]), _as_masks(t["masks"])))
              for p, t in zip(predictions, targets, strict=True)]
    classes = sorted({int(c) for t in targets for c in t["labels"]})
    ap = torch.zeros(len(IOU_THRESHOLDS), len(classes), dtype=torch.float64)
    recall = torch.zeros_like(ap)
    for k, label in enumerate(classes):
        scores, hits, num_gt = [], [], 0  # over all images: each prediction's score and [T] hit flags
        for pred, target, ious in images:
            mine = torch.nonzero(pred["labels"] == label).flatten()
            mine = mine[torch.argsort(pred["scores"][mine], descending=True, stable=True)][:max_dets]
            gt = torch.nonzero(target["labels"] == label).flatten()
            scores.append(pred["scores"][mine].double())
            hits.append(torch.stack([match(ious[mine][:, gt], scores[-1], t) >= 0 for t in IOU_THRESHOLDS]))
            num_gt += len(gt)
        order = torch.argsort(torch.cat(scores), descending=True, stable=True)
        for t, is_tp in enumerate(torch.cat(hits, dim=1)[:, order]):
            precision, rec = precision_recall(is_tp, num_gt)
            ap[t, k] = interpolated_ap(precision, rec)
            recall[t, k] = rec[-1] if len(rec) else 0.0
    return {"AP": _mean(ap), "AP50": _mean(ap[IOU_THRESHOLDS.index(0.5)]),
            "AP75": _mean(ap[IOU_THRESHOLDS.index(0.75)]), "AR": _mean(recall)}
