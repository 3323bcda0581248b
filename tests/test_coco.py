"""COCO-style mask AP/AR: hand-worked cases and a brute-force re-implementation."""
import math

import numpy as np
import pytest
import torch

from seglib.coco import (
    IOU_THRESHOLDS,
    RECALL_POINTS,
    coco_mask_metrics,
    interpolated_ap,
    mask_iou,
    match,
    precision_recall,
)
from seglib.core import DatasetError


def box(h, w, top, left, bottom, right):
    """A bool [H, W] mask that is True on rows top..bottom-1 and columns left..right-1."""
    m = torch.zeros(h, w, dtype=torch.bool)
    m[top:bottom, left:right] = True
    return m


def image(pred_masks, scores, pred_labels, gt_masks, gt_labels):
    """One image as (prediction dict, target dict)."""
    return ({"masks": torch.stack(pred_masks) if pred_masks else torch.zeros(0, 8, 8, dtype=torch.bool),
             "scores": torch.tensor(scores, dtype=torch.float32), "labels": torch.tensor(pred_labels)},
            {"masks": torch.stack(gt_masks) if gt_masks else torch.zeros(0, 8, 8, dtype=torch.bool),
             "labels": torch.tensor(gt_labels, dtype=torch.long)})


def unzip(images):
    return [p for p, _ in images], [t for _, t in images]


# --- mask IoU and matching --------------------------------------------------------------

def test_mask_iou_matches_loops():
    pred = torch.rand(3, 6, 5) > 0.5
    gt = torch.rand(4, 6, 5) > 0.5
    got = mask_iou(pred, gt)
    assert got.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            pairs = list(zip(pred[i].flatten().tolist(), gt[j].flatten().tolist(), strict=True))
            inter = sum(bool(a and b) for a, b in pairs)
            union = sum(bool(a or b) for a, b in pairs)
            assert got[i, j].item() == pytest.approx(inter / union)


def test_mask_iou_known_values_and_empty_masks():
    gt = box(8, 8, 0, 0, 1, 5)[None]            # 5 pixels
    pred = torch.stack([box(8, 8, 0, 0, 1, 3),  # 3 of them: IoU 3/5
                        box(8, 8, 4, 4, 6, 6),  # disjoint: 0
                        torch.zeros(8, 8, dtype=torch.bool)])
    assert mask_iou(pred, gt)[:, 0].tolist() == [0.6, 0.0, 0.0]
    empty = torch.zeros(1, 8, 8, dtype=torch.bool)
    assert mask_iou(empty, empty).item() == 0.0
    with pytest.raises(ValueError, match="same H, W"):
        mask_iou(torch.zeros(1, 4, 4, dtype=torch.bool), torch.zeros(1, 4, 5, dtype=torch.bool))


def test_match_is_greedy_by_score_and_one_to_one():
    ious = torch.tensor([[0.9, 0.0],
                         [0.95, 0.0],   # duplicate of object 0, lower score
                         [0.1, 0.6]])
    scores = torch.tensor([0.9, 0.5, 0.7])
    assert match(ious, scores, 0.5).tolist() == [0, -1, 1]
    assert match(ious, scores, 0.7).tolist() == [0, -1, -1]
    # the higher score wins the object even with the lower IoU
    assert match(ious, torch.tensor([0.5, 0.9, 0.7]), 0.5).tolist() == [-1, 0, 1]


def test_match_takes_next_best_free_object():
    ious = torch.tensor([[0.8, 0.7],
                         [0.9, 0.6]])
    assert match(ious, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]


# --- AP and AR on hand-worked images --------------------------------------------------------

def test_perfect_prediction_gives_ap_and_ar_one():
    a, b, c = box(8, 8, 0, 0, 3, 3), box(8, 8, 4, 4, 8, 8), box(8, 8, 0, 5, 2, 8)
    images = [image([a, b], [0.9, 0.8], [1, 2], [b, a], [2, 1]),
              image([c], [0.3], [1], [c], [1])]
    m = coco_mask_metrics(*unzip(images))
    assert m == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "AR": 1.0}


def test_one_prediction_at_iou_0_6():
    gt, pred = box(8, 8, 0, 0, 1, 5), box(8, 8, 0, 0, 1, 3)  # IoU 3/5
    preds, targets = unzip([image([pred], [0.9], [1], [gt], [1])])
    # matched at 0.50, 0.55, 0.60: three of the ten thresholds
    assert coco_mask_metrics(preds, targets)["AP"] == pytest.approx(0.3)
    assert coco_mask_metrics(preds, targets)["AR"] == pytest.approx(0.3)
    m = coco_mask_metrics(preds, targets)
    assert (m["AP50"], m["AP75"]) == (1.0, 0.0)


def test_duplicate_prediction_is_a_false_positive():
    a, b = box(8, 8, 0, 0, 3, 3), box(8, 8, 4, 4, 8, 8)
    # found a, found a again, found b: TP, FP, TP -> precision 1, 1/2, 2/3; recall 1/2, 1/2, 1
    preds, targets = unzip([image([a, a, b], [0.9, 0.8, 0.7], [1, 1, 1], [a, b], [1, 1])])
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101  # recall points 0..0.50 see 1, 0.51..1 see 2/3
    assert coco_mask_metrics(preds, targets)["AP"] == pytest.approx(expected)
    assert coco_mask_metrics(preds, targets)["AR"] == pytest.approx(1.0)
    without_dup = unzip([image([a, b], [0.9, 0.7], [1, 1], [a, b], [1, 1])])
    assert coco_mask_metrics(*without_dup)["AP"] == pytest.approx(1.0)


def test_score_ordering_matters():
    a, wrong = box(8, 8, 0, 0, 3, 3), box(8, 8, 5, 5, 8, 8)
    right_first = unzip([image([a, wrong], [0.9, 0.1], [1, 1], [a], [1])])
    wrong_first = unzip([image([a, wrong], [0.1, 0.9], [1, 1], [a], [1])])
    assert coco_mask_metrics(*right_first)["AP"] == pytest.approx(1.0)
    assert coco_mask_metrics(*wrong_first)["AP"] == pytest.approx(0.5)  # precision 1/2 at the only recall


def test_class_without_ground_truth_is_left_out():
    a = box(8, 8, 0, 0, 3, 3)
    preds, targets = unzip([image([a, a], [0.9, 0.95], [1, 5], [a], [1])])
    assert coco_mask_metrics(preds, targets)["AP"] == pytest.approx(1.0)  # class 5 has no objects


def test_wrong_class_is_not_a_match():
    a = box(8, 8, 0, 0, 3, 3)
    preds, targets = unzip([image([a], [0.9], [2], [a], [1])])
    assert coco_mask_metrics(preds, targets)["AP"] == 0.0 and coco_mask_metrics(preds, targets)["AR"] == 0.0


def test_max_dets_limits_recall():
    a, b = box(8, 8, 0, 0, 3, 3), box(8, 8, 4, 4, 8, 8)
    preds, targets = unzip([image([a, b], [0.9, 0.8], [1, 1], [a, b], [1, 1])])
    assert coco_mask_metrics(preds, targets, max_dets=1)["AR"] == pytest.approx(0.5)
    assert coco_mask_metrics(preds, targets, max_dets=100)["AR"] == pytest.approx(1.0)


def test_probability_masks_are_thresholded():
    a = box(8, 8, 0, 0, 3, 3)
    pred = {"masks": (a.float() * 0.8)[None, None], "scores": torch.tensor([0.9]),
            "labels": torch.tensor([1])}
    target = {"masks": a[None], "labels": torch.tensor([1])}
    assert coco_mask_metrics([pred], [target])["AP"] == pytest.approx(1.0)


def test_no_ground_truth_at_all_is_nan():
    a = box(8, 8, 0, 0, 3, 3)
    preds, targets = unzip([image([a], [0.9], [1], [], [])])
    assert math.isnan(coco_mask_metrics(preds, targets)["AP"])


def test_inconsistent_inputs_raise():
    a = box(8, 8, 0, 0, 3, 3)
    preds, targets = unzip([image([a], [0.9], [1], [a], [1])])
    targets[0]["labels"] = torch.tensor([1, 2])
    with pytest.raises(DatasetError, match="image 0: 1 ground-truth masks but 2 labels"):
        coco_mask_metrics(preds, targets)["AP"]
    preds, targets = unzip([image([a], [0.9], [1], [a], [1])])
    preds[0]["scores"] = torch.tensor([0.9, 0.1])
    with pytest.raises(ValueError, match="image 0"):
        coco_mask_metrics(preds, targets)["AP"]
    with pytest.raises(ValueError, match="1 predictions but 2 targets"):
        coco_mask_metrics(preds, targets * 2)["AP"]


# --- against a re-implementation of pycocotools' COCOeval ------------------------------------
# Written from pycocotools/cocoeval.py (evaluateImg and accumulate), in numpy and plain loops, so that the
# tests need no pycocotools. scripts/compare_coco_with_pycocotools.py checks seglib against the real thing.

COCO_REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)  # as COCOeval


def coco_ap(is_tp, num_gt):
    """pycocotools' accumulate step for one class and threshold: precision with its epsilon, the envelope
    by a backward loop, read at the recall points by searchsorted(side="left"), 0 where unreached."""
    tp = np.cumsum(np.asarray(is_tp, dtype=bool)).astype(float)
    fp = np.cumsum(~np.asarray(is_tp, dtype=bool)).astype(float)
    rc = tp / num_gt
    pr = (tp / (fp + tp + np.spacing(1))).tolist()
    for i in range(len(pr) - 1, 0, -1):
        if pr[i] > pr[i - 1]:
            pr[i - 1] = pr[i]
    q = [pr[i] if i < len(pr) else 0.0 for i in np.searchsorted(rc, COCO_REC_THRS, side="left")]
    return float(np.mean(q))


def coco_match(ious, threshold):
    """pycocotools' evaluateImg loop: predictions in score order; each keeps any free ground truth whose
    IoU is not below the best so far (so of equal IoUs the last one wins). Returns TP flags."""
    taken = [False] * (ious.shape[1] if ious.ndim == 2 else 0)
    hits = []
    for d in range(ious.shape[0]):
        best, m = min(threshold, 1 - 1e-10), -1
        for g in range(len(taken)):
            if taken[g] or ious[d, g] < best:
                continue
            best, m = ious[d, g], g
        if m >= 0:
            taken[m] = True
        hits.append(m >= 0)
    return hits


def brute_coco(images, thresholds=IOU_THRESHOLDS, max_dets=100):
    """COCO's AP and AR as pycocotools computes them (no crowds, one area range), from numpy masks."""
    classes = sorted({int(c) for _, t in images for c in t["labels"]})
    aps, recalls = [], []
    for c in classes:
        for thr in thresholds:
            dets, num_gt = [], 0
            for p, t in images:
                gts = [t["masks"][j].numpy() for j in range(len(t["labels"])) if t["labels"][j] == c]
                mine = [i for i in range(len(p["labels"])) if p["labels"][i] == c]
                mine = [mine[k] for k in np.argsort([-float(p["scores"][i]) for i in mine], kind="mergesort")]
                mine = mine[:max_dets]
                ious = np.zeros((len(mine), len(gts)))
                for a, i in enumerate(mine):
                    m = p["masks"][i].numpy()
                    for b, g in enumerate(gts):
                        union = np.logical_or(m, g).sum()
                        ious[a, b] = np.logical_and(m, g).sum() / union if union else 0.0
                num_gt += len(gts)
                dets += zip([float(p["scores"][i]) for i in mine], coco_match(ious, thr), strict=True)
            scores = np.array([s for s, _ in dets])
            hits = [dets[k][1] for k in np.argsort(-scores, kind="mergesort")]
            aps.append(coco_ap(hits, num_gt))
            recalls.append(sum(hits) / num_gt)
    return float(np.mean(aps)), float(np.mean(recalls))


def random_images(n_images=5, size=16, n_classes=3):
    """Random rectangles as objects; predictions are jittered copies, misses and junk."""
    gen = torch.Generator().manual_seed(1)
    def rand(lo, hi):
        return int(torch.randint(lo, hi, (1,), generator=gen))
    images = []
    for _ in range(n_images):
        gts, gl, preds, pl = [], [], [], []
        for _ in range(rand(1, 5)):
            top, left = rand(0, size - 6), rand(0, size - 6)
            g = box(size, size, top, left, top + rand(4, 9), left + rand(4, 9))
            gts.append(g)
            gl.append(rand(0, n_classes))
            for _ in range(rand(0, 3)):  # 0-2 jittered guesses per object
                dt, dl = (rand(-1, 2), rand(-1, 2)) if rand(0, 2) else (0, 0)
                preds.append(torch.roll(g, (dt, dl), (0, 1)) | (torch.rand(size, size, generator=gen) > 0.98))
                pl.append(gl[-1] if rand(0, 5) else rand(0, n_classes))
        for _ in range(rand(0, 2)):  # junk
            preds.append(torch.rand(size, size, generator=gen) > 0.8)
            pl.append(rand(0, n_classes))
        scores = torch.rand(len(preds), generator=gen).tolist()
        masks = torch.stack(preds) if preds else torch.zeros(0, size, size, dtype=torch.bool)
        images.append(({"masks": masks, "scores": torch.tensor(scores),
                        "labels": torch.tensor(pl, dtype=torch.long)},
                       {"masks": torch.stack(gts), "labels": torch.tensor(gl)}))
    return images


def test_interpolated_ap_matches_brute_force():
    gen = torch.Generator().manual_seed(3)
    for trial in range(20):
        n = int(torch.randint(1, 30, (1,), generator=gen))
        is_tp = torch.rand(n, generator=gen) > 0.5
        num_gt = int(is_tp.sum()) + int(torch.randint(0, 4, (1,), generator=gen))
        if num_gt == 0:
            continue
        precision, recall = precision_recall(is_tp, num_gt)
        assert interpolated_ap(precision, recall) == pytest.approx(coco_ap(is_tp.tolist(), num_gt),
                                                                   abs=1e-12), trial


def test_interpolated_ap_exact_recall_points():
    # recall reaches exactly 0.25, 0.5, 0.75, 1: ties at the points must count as reached
    precision, recall = precision_recall(torch.tensor([True, True, False, True, True]), 4)
    assert recall.tolist() == [0.25, 0.5, 0.5, 0.75, 1.0]
    assert interpolated_ap(precision, recall) == pytest.approx(coco_ap([True, True, False, True, True], 4))


def test_recall_points_are_pycocotools():
    assert RECALL_POINTS == tuple(COCO_REC_THRS.tolist())  # bit for bit
    differ = [i for i in range(101) if RECALL_POINTS[i] != i / 100]
    assert differ == [35, 41, 47, 57, 69, 70, 82, 83, 94, 95]
    assert RECALL_POINTS[35] > 7 / 20 == 0.35  # a recall of exactly 7/20 does not reach the point "0.35"


def test_seven_hits_then_a_false_positive():
    # 20 objects; by score 7 found, 1 false positive, the other 13 found. Recall 7/20 = 0.35 does not
    # reach COCO's point 35 (0.35000000000000003): points 0..34 read precision 1, points 35..100 read
    # 20/21. With i / 100 as the points, point 35 would read 1 and AP would be 0.969354.
    objects = [box(40, 40, 8 * (k // 5), 8 * (k % 5), 8 * (k // 5) + 6, 8 * (k % 5) + 6) for k in range(20)]
    preds = objects[:7] + [box(40, 40, 34, 34, 40, 40)] + objects[7:]
    scores = torch.linspace(0.99, 0.5, 21).tolist()
    images = [image(preds, scores, [1] * 21, objects, [1] * 20)]
    m = coco_mask_metrics(*unzip(images))
    want = (35 + 66 * 20 / 21) / 101
    assert m["AP75"] == pytest.approx(want, abs=1e-12) and m["AP"] == pytest.approx(want, abs=1e-12)
    assert round(want, 6) == 0.968883 and round((36 + 65 * 20 / 21) / 101, 6) == 0.969354
    assert m["AP75"] == pytest.approx(brute_coco(images, (0.75,))[0], abs=1e-12)


def test_equal_ious_go_to_the_last_ground_truth():
    # P0 overlaps G0 and G1 equally (IoU 5/7); P1 is G0 exactly (IoU 1) and overlaps G1 by 1/2.
    g0, g1 = box(8, 8, 0, 0, 1, 6), box(8, 8, 0, 2, 1, 8)
    p0, p1 = box(8, 8, 0, 1, 1, 7), g0
    ious = mask_iou(torch.stack([p0, p1]), torch.stack([g0, g1]))
    assert ious[0, 0] == ious[0, 1] == pytest.approx(5 / 7)
    assert match(ious, torch.tensor([0.9, 0.8]), 0.55).tolist() == [1, 0]  # pycocotools: both found
    images = [image([p0, p1], [0.9, 0.8], [1, 1], [g0, g1], [1, 1])]
    m = coco_mask_metrics(*unzip(images))
    # IoU 0.50-0.70: both found, AP 1; 0.75-0.95: P0 misses, P1 finds G0: recall 1/2 at precision 1/2
    assert m["AP"] == pytest.approx((5 * 1 + 5 * (51 / 101) / 2) / 10, abs=1e-12)
    assert m["AP"] == pytest.approx(brute_coco(images)[0], abs=1e-12)


@pytest.mark.parametrize("max_dets", [100, 2])
def test_ap_and_ar_match_brute_force_on_random_images(max_dets):
    images = random_images()
    preds, targets = unzip(images)
    want_ap, want_ar = brute_coco(images, max_dets=max_dets)
    assert 0.05 < want_ap < 0.95  # a non-trivial case
    assert coco_mask_metrics(preds, targets, max_dets=max_dets)["AP"] == pytest.approx(want_ap, abs=1e-12)
    assert coco_mask_metrics(preds, targets, max_dets=max_dets)["AR"] == pytest.approx(want_ar, abs=1e-12)
    m = coco_mask_metrics(preds, targets, max_dets=max_dets)
    assert m["AP50"] == pytest.approx(brute_coco(images, (0.5,), max_dets)[0], abs=1e-12)
    assert m["AP75"] == pytest.approx(brute_coco(images, (0.75,), max_dets)[0], abs=1e-12)
