"""COCO-style mask AP and AR, written to be read: per class, predictions are matched greedily
by score to unmatched ground truths (:func:`match`), precision/recall traced over all images
(:func:`precision_recall`), and AP read at 101 recall points (:func:`interpolated_ap`), then
averaged over classes and IoU thresholds 0.50..0.95. No crowd regions or area ranges.

Inputs, as torchvision's detection models give them, one dict per image:
``{"masks": [P, H, W], "scores": [P], "labels": [P]}`` and ``{"masks": [G, H, W], "labels": [G]}``;
float masks (probabilities, possibly ``[P, 1, H, W]``) are thresholded at 0.5.
Built in notebooks/02_metrics.ipynb, section 7.
"""
from __future__ import annotations

import math

import torch

from seglib.core import DatasetError


IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
"""COCO's ten IoU thresholds 0.50, 0.55, ..., 0.95."""

RECALL_POINTS: tuple[float, ...] = tuple(i / 100 for i in range(101))
"""COCO's 101 recall points 0.00, 0.01, ..., 1.00 at which precision is read."""


def mask_iou(pred_masks: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """IoU of every predicted mask ``[P, H, W]`` with every ground-truth mask ``[G, H, W]``: ``[P, G]``.

    Intersection and union are pixel counts; two empty masks have IoU 0.
    """
    if pred_masks.dim() != 3 or gt_masks.dim() != 3 or pred_masks.shape[1:] != gt_masks.shape[1:]:
        raise ValueError(f"masks must be [P, H, W] and [G, H, W] with the same H, W; got "
                         f"{tuple(pred_masks.shape)} and {tuple(gt_masks.shape)}")
    p = pred_masks.flatten(1).double()
    g = gt_masks.flatten(1).double()
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(inter))


def match(ious: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy matching: for each prediction, the index of its ground truth, or -1.

    Predictions are visited by descending score (ties: input order); each takes the
    unmatched ground truth with the highest IoU, if that IoU is at least
    ``threshold``. A ground truth is matched at most once, so a second prediction of
    the same object is a false positive.
    """
    matched = torch.full((ious.shape[0],), -1, dtype=torch.long)
    taken = torch.zeros(ious.shape[1], dtype=torch.bool)
    for p in torch.argsort(scores, descending=True, stable=True).tolist():
        candidates = ious[p].masked_fill(taken, -1.0)
        if candidates.numel() == 0:
            continue
        best = int(candidates.argmax())
        if candidates[best] >= threshold:
            matched[p] = best
            taken[best] = True
    return matched


def precision_recall(is_tp: torch.Tensor, num_gt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall after each prediction, ``is_tp`` being sorted by descending score."""
    tp = torch.cumsum(is_tp.double(), 0)
    fp = torch.cumsum((~is_tp.bool()).double(), 0)
    return tp / (tp + fp), tp / num_gt


def interpolated_ap(precision: torch.Tensor, recall: torch.Tensor) -> float:
    """COCO's 101-point AP: mean over r in RECALL_POINTS of max(precision at recall >= r), 0 if unreached."""
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


def _check_image(i: int, pred: dict, target: dict) -> None:
    """Clear errors for inconsistent inputs, naming the image."""
    g, gl = target["masks"], target["labels"]
    if len(g) != len(gl):
        raise DatasetError(f"image {i}: {len(g)} ground-truth masks but {len(gl)} labels")
    p, ps, pl = pred["masks"], pred["scores"], pred["labels"]
    if not len(p) == len(ps) == len(pl):
        raise ValueError(f"image {i}: {len(p)} predicted masks, {len(ps)} scores, {len(pl)} labels")


def _image_results(pred: dict, target: dict, ious: torch.Tensor, label: int,
                   thresholds: tuple[float, ...], max_dets: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One image, one class: scores ``[D]``, true-positive flags ``[T, D]`` and the ground-truth count.

    ``ious`` is the image's full ``[P, G]`` table; only this class's rows and columns are used.
    """
    keep = torch.nonzero(pred["labels"] == label).flatten()
    keep = keep[torch.argsort(pred["scores"][keep], descending=True, stable=True)][:max_dets]
    gt = torch.nonzero(target["labels"] == label).flatten()
    scores = pred["scores"][keep].double()
    class_ious = ious[keep][:, gt]
    is_tp = torch.stack([match(class_ious, scores, t) >= 0 for t in thresholds])
    return scores, is_tp, len(gt)


def ap_recall_table(predictions: list[dict], targets: list[dict],
             iou_thresholds: tuple[float, ...] = IOU_THRESHOLDS,
             max_dets: int = 100) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """AP and final recall for each IoU threshold and class: two ``[T, K]`` tensors and the K class labels.

    Classes are those with at least one ground-truth object.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets "
                         "(one dict per image each)")
    if not iou_thresholds:
        raise ValueError("iou_thresholds is empty")
    for i, (p, t) in enumerate(zip(predictions, targets, strict=True)):
        _check_image(i, p, t)
    ious = [mask_iou(_as_masks(p["masks"]), _as_masks(t["masks"]))
            for p, t in zip(predictions, targets, strict=True)]
    classes = sorted({int(c) for t in targets for c in t["labels"]})
    ap = torch.zeros(len(iou_thresholds), len(classes), dtype=torch.float64)
    recall = torch.zeros_like(ap)
    for k, label in enumerate(classes):
        per_image = [_image_results(p, t, iou, label, iou_thresholds, max_dets)
                     for p, t, iou in zip(predictions, targets, ious, strict=True)]
        scores = torch.cat([s for s, _, _ in per_image])
        is_tp = torch.cat([tp for _, tp, _ in per_image], dim=1)
        num_gt = sum(n for _, _, n in per_image)
        order = torch.argsort(scores, descending=True, stable=True)
        for ti in range(len(iou_thresholds)):
            prec, rec = precision_recall(is_tp[ti, order], num_gt)
            ap[ti, k] = interpolated_ap(prec, rec)
            recall[ti, k] = rec[-1] if len(rec) else 0.0
    return ap, recall, classes


def _mean(values: torch.Tensor) -> float:
    """Mean, NaN when there is nothing to average (no class has a ground-truth object)."""
    return values.mean().item() if values.numel() else math.nan


def coco_mask_metrics(predictions: list[dict], targets: list[dict], max_dets: int = 100) -> dict[str, float]:
    """COCO's mask ``{"AP", "AP50", "AP75", "AR"}`` (AR: final recall with at most ``max_dets``
    predictions per image and class), averaged over classes and IoU thresholds.

    Built in notebooks/02_metrics.ipynb, section 7.
    """
    ap, recall, _ = ap_recall_table(predictions, targets, IOU_THRESHOLDS, max_dets)
    return {"AP": _mean(ap), "AP50": _mean(ap[IOU_THRESHOLDS.index(0.5)]),
            "AP75": _mean(ap[IOU_THRESHOLDS.index(0.75)]), "AR": _mean(recall)}
