"""seglib.exercises.lesson02: the checks accept the solutions and reject (and name) the usual mistakes."""

import torch

from seglib.coco import mask_iou
from seglib.exercises import lesson02 as ex


def test_library_mask_iou_passes():
    assert ex.check_mask_iou(mask_iou).passed


def test_library_boundary_band_passes_and_a_wrong_band_names_the_pixel():
    from seglib.metrics import boundary_band
    assert ex.check_boundary_band(boundary_band).passed
    assert ex.check_boundary_band(ex.solution_boundary_band).passed

    def one_pixel_short(target, radius):  # a band one pixel narrower than asked
        return boundary_band(target, max(radius - 1, 0))
    result = ex.check_boundary_band(one_pixel_short)
    assert not result.passed and "case 2" in result.message  # radius 0 passes, radius 2 does not
    assert "pixel(s) wrong, the first at index (0, 3): expected True, got False" in result.message
    assert "expected a bool tensor" in ex.check_boundary_band(lambda t, w: boundary_band(t, w).int()).message


def test_ap_with_i_over_100_points_fails_only_where_a_recall_lands_on_one():
    import torch
    wrong = ex.AP_MISTAKES[next(h for h in ex.AP_MISTAKES if "i / 100" in h)]
    result = ex.check_ap_101(wrong)
    assert not result.passed and "case 6" in result.message  # the 20-object case, and only that one
    assert "expected 0.968883, got 0.969354" in result.message
    assert "Hint: the recall points were computed as i / 100" in result.message
    precision, recall = ex.precision_recall(torch.tensor([True, False, True]), 3)
    assert wrong(precision, recall) == ex.solution_ap_101(precision, recall)  # elsewhere they agree


def test_nan_for_two_empty_masks_is_rejected_on_that_case_and_named():
    def zero_over_zero(p, g):  # intersection / union, with 0/0 left as NaN
        p, g = p.flatten(1).double(), g.flatten(1).double()
        inter = p @ g.T
        return inter / (p.sum(1)[:, None] + g.sum(1)[None, :] - inter)

    result = ex.check_mask_iou(zero_over_zero)
    assert not result.passed and "case 4" in result.message and "NaN or infinity" in result.message
    assert "Hint: two empty masks give 0/0 = NaN" in result.message


def test_wrong_types_and_shapes_are_explained():
    assert "expected a torch.Tensor, got list" in ex.check_mask_iou(lambda p, g: [1.0]).message
    assert "expected shape (1, 1), got (1,)" in ex.check_mask_iou(lambda p, g: mask_iou(p, g)[0]).message
    assert "expected a number, got str" in ex.check_ap_101(lambda precision, recall: "x").message
    tensor_answer = ex.check_ap_101(lambda precision, recall: torch.tensor(
        ex.solution_ap_101(precision, recall)))
    assert tensor_answer.passed  # a 0-d tensor is a fine number


def test_crashing_answer_names_the_case():
    result = ex.check_mask_iou(lambda p, g: torch.mm(p.float(), g.float().mT))  # forgot to flatten
    assert not result.passed and result.attempted
    assert "case 1" in result.message and "raised" in result.message


def test_right_answers_written_differently_pass():
    import numpy as np

    def ap_numpy(precision, recall):  # envelope first, then 101 points from np.linspace
        p, r = precision.numpy(), recall.numpy()
        env = np.maximum.accumulate(p[::-1])[::-1]
        points = np.linspace(0, 1, 101)
        return float(np.mean([env[np.argmax(r >= t)] if (r >= t).any() else 0.0 for t in points]))

    def match_list(ious, scores, threshold):  # plain Python, returns a list
        taken, out = set(), [-1] * len(scores)
        for p in sorted(range(len(scores)), key=lambda k: -float(scores[k])):
            free = [(float(ious[p, g]), g) for g in range(ious.shape[1]) if g not in taken]
            if free:
                iou, g = max(free, key=lambda t: (t[0], -t[1]))
                if iou >= threshold:
                    out[p] = g
                    taken.add(g)
        return out

    def miou_tensor(pred, target, num_classes, ignore_index=255):  # one tensor of two, via the library
        from seglib.metrics import ConfusionMatrix
        def one(p, t):
            cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
            cm.update(p, t)
            return cm.compute()["mean_iou"]
        per_image = [one(p[None], t[None]) for p, t in zip(pred, target, strict=True)]
        return torch.tensor([one(pred, target), sum(per_image) / len(per_image)])

    for check, fn in [(ex.check_ap_101, ap_numpy), (ex.check_greedy_match, match_list),
                      (ex.check_miou_two_ways, miou_tensor)]:
        result = check(fn)
        assert result.passed and "Hint" not in result.message, result.message


def test_benchmark_miou_answer():
    assert ex.check_benchmark_miou("pooled").passed
    assert ex.check_benchmark_miou(" Pooled ").passed
    wrong = ex.check_benchmark_miou("per-image")
    assert not wrong.passed and wrong.attempted and "sums one confusion matrix" in wrong.message
    assert not ex.check_benchmark_miou(None).attempted
    assert "answer" in ex.check_benchmark_miou("median").message
