"""The confusion matrix and FCN's four metrics, against brute force and hand-worked values."""
import math

import numpy as np
import pytest
import torch

from seglib.core import IGNORE_INDEX, DatasetError
from seglib.metrics import ConfusionMatrix, iou_per_class, mean_iou, segmentation_metrics


def random_batch(n=2, h=5, w=7, c=4, ignore_share=0.2):
    """Random labels and predictions, with some ignore pixels in the target."""
    target = torch.randint(0, c, (n, h, w))
    target[torch.rand(n, h, w) < ignore_share] = IGNORE_INDEX
    pred = torch.randint(0, c, (n, h, w))
    return pred, target


def brute_confusion(pred, target, c, ignore=IGNORE_INDEX):
    """One pixel at a time, in plain Python."""
    cm = [[0] * c for _ in range(c)]
    for p, t in zip(pred.flatten().tolist(), target.flatten().tolist(), strict=True):
        if t != ignore:
            cm[t][p] += 1
    return cm


def brute_metrics(cm):
    """FCN's formulas with explicit loops; absent classes skipped as documented."""
    cm = np.asarray(cm, dtype=float)
    c = len(cm)
    t = [sum(cm[i, j] for j in range(c)) for i in range(c)]
    col = [sum(cm[j, i] for j in range(c)) for i in range(c)]
    ious, accs = [], []
    for i in range(c):
        union = t[i] + col[i] - cm[i, i]
        ious.append(cm[i, i] / union if union > 0 else math.nan)
        accs.append(cm[i, i] / t[i] if t[i] > 0 else math.nan)
    total = sum(t)
    return {
        "pixel_accuracy": sum(cm[i, i] for i in range(c)) / total,
        "mean_accuracy": np.mean([a for a in accs if not math.isnan(a)]),
        "mean_iou": np.mean([u for u in ious if not math.isnan(u)]),
        "fw_iou": sum(t[i] * ious[i] for i in range(c) if t[i] > 0) / total,
        "iou": ious,
        "accuracy": accs,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrix_and_metrics_match_brute_force(seed):
    torch.manual_seed(seed)
    pred, target = random_batch(c=5)
    cm = ConfusionMatrix(5)
    cm.update(pred, target)
    expected_cm = brute_confusion(pred, target, 5)
    assert cm.matrix.tolist() == expected_cm
    assert cm.matrix.dtype == torch.int64
    got, want = cm.compute(), brute_metrics(expected_cm)
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iou", "fw_iou"):
        assert got[key] == pytest.approx(want[key], rel=1e-12), key
    for key in ("iou", "accuracy"):
        np.testing.assert_allclose(got[key].numpy(), want[key], rtol=1e-12)


def test_logits_are_argmaxed_over_classes():
    pred, target = random_batch(c=3)
    logits = torch.randn(2, 3, 5, 7)
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(logits, target)
    b.update(logits.argmax(1), target)
    assert torch.equal(a.matrix, b.matrix)
    assert a.matrix.sum() == (target != IGNORE_INDEX).sum()


def test_updates_accumulate_and_reset_clears():
    p1, t1 = random_batch()
    p2, t2 = random_batch()
    cm = ConfusionMatrix(4)
    cm.update(p1, t1)
    cm.update(p2, t2)
    assert cm.matrix.tolist() == brute_confusion(torch.cat([p1, p2]), torch.cat([t1, t2]), 4)
    cm.reset()
    assert cm.matrix.sum() == 0


def test_hand_worked_2x3_image():
    # target  0 0 1      pred  0 1 1      one ignore pixel (255) is left out
    #         1 ∅ 2            1 0 2
    target = torch.tensor([[[0, 0, 1], [1, 255, 2]]])
    pred = torch.tensor([[[0, 1, 1], [1, 0, 2]]])
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    m = cm.compute()
    assert m["pixel_accuracy"] == pytest.approx(4 / 5)
    assert m["mean_accuracy"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert m["iou"].tolist() == pytest.approx([1 / 2, 2 / 3, 1])
    assert m["mean_iou"] == pytest.approx(13 / 18)
    assert m["fw_iou"] == pytest.approx((2 * 1 / 2 + 2 * 2 / 3 + 1 * 1) / 5)


def test_uint8_target_with_255_does_not_overflow():
    target = torch.tensor([[[0, 1], [255, 2]]], dtype=torch.uint8)
    pred = torch.tensor([[[0, 1], [2, 2]]], dtype=torch.uint8)
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_absent_class_convention():
    # class 3 appears nowhere, class 2 only in the prediction
    cm = torch.tensor([[3, 1, 0, 0],
                       [0, 2, 1, 0],
                       [0, 0, 0, 0],
                       [0, 0, 0, 0]])
    iou = iou_per_class(cm)
    assert iou[:3].tolist() == pytest.approx([3 / 4, 2 / 4, 0.0])
    assert math.isnan(iou[3])
    assert mean_iou(cm) == pytest.approx((3 / 4 + 2 / 4 + 0) / 3)  # NaN left out, 0 counted
    m = segmentation_metrics(cm)
    assert math.isnan(m["accuracy"][2]) and math.isnan(m["accuracy"][3])
    assert m["mean_accuracy"] == pytest.approx((3 / 4 + 2 / 3) / 2)  # t_i = 0 left out
    assert m["fw_iou"] == pytest.approx((4 * 3 / 4 + 3 * 2 / 4) / 7)


def test_everything_absent_is_nan():
    m = segmentation_metrics(torch.zeros(3, 3, dtype=torch.int64))
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iou", "fw_iou"):
        assert math.isnan(m[key]), key


def test_all_ignore_batch_counts_nothing():
    cm = ConfusionMatrix(3)
    cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 255))
    assert cm.matrix.sum() == 0
    assert math.isnan(cm.compute()["mean_iou"])


def test_pure_functions_agree_with_pixel_accuracy_definition():
    cm = torch.tensor([[5, 0], [5, 0]])  # "predict class 0 everywhere"
    assert segmentation_metrics(cm)["pixel_accuracy"] == pytest.approx(0.5)
    assert mean_iou(cm) == pytest.approx((5 / 10 + 0) / 2)


def test_bad_target_values_raise_dataset_error_listing_them():
    target = torch.tensor([[[0, 7, 1], [-1, 255, 7]]])
    with pytest.raises(DatasetError, match=r"target: label values \{-1, 7\}"):
        ConfusionMatrix(3).update(torch.zeros_like(target), target)


@pytest.mark.parametrize("value, hint", [(0.5, "float32$"), (float("nan"), "NaN")])
def test_float_targets_and_predictions_are_refused_not_truncated(value, hint):
    target = torch.tensor([[[0.0, value]]])
    with pytest.raises(DatasetError, match="target: labels must be integer.*" + hint.rstrip("$")):
        ConfusionMatrix(2).update(torch.zeros(1, 1, 2, dtype=torch.long), target)
    with pytest.raises(ValueError, match="prediction: labels must be integer"):
        ConfusionMatrix(2).update(target, torch.zeros(1, 1, 2, dtype=torch.long))


def test_other_ignore_index():
    target = torch.tensor([[[0, -1, 1]]])
    cm = ConfusionMatrix(2, ignore_index=-1)
    cm.update(torch.tensor([[[0, 1, 1]]]), target)
    assert cm.matrix.tolist() == [[1, 0], [0, 1]]
    with pytest.raises(DatasetError, match="255"):  # 255 is now an ordinary bad value
        cm.update(torch.zeros(1, 1, 1, dtype=torch.long), torch.full((1, 1, 1), 255))


def test_prediction_out_of_range_raises_value_error():
    with pytest.raises(ValueError, match=r"prediction: label values \{3\}") as info:
        ConfusionMatrix(3).update(torch.tensor([[[0, 3]]]), torch.tensor([[[0, 1]]]))
    assert not isinstance(info.value, DatasetError)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(1, 2, 3\).*\(1, 3, 2\)"):
        ConfusionMatrix(3).update(torch.zeros(1, 2, 3, dtype=torch.long),
                                  torch.zeros(1, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="4 channels"):
        ConfusionMatrix(3).update(torch.randn(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


def test_non_square_matrix_is_refused():
    with pytest.raises(ValueError, match="square"):
        mean_iou(torch.zeros(2, 3))


def test_explicit_device():
    cm = ConfusionMatrix(3, device="cpu")
    assert cm.matrix.device.type == "cpu" and cm.matrix.shape == (3, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    pred, target = random_batch()
    gpu, cpu = ConfusionMatrix(4), ConfusionMatrix(4)
    gpu.update(pred.cuda(), target.cuda())
    cpu.update(pred, target)
    assert gpu.matrix.device.type == "cuda"
    assert torch.equal(gpu.matrix.cpu(), cpu.matrix)


def test_ignore_index_must_not_be_a_class():
    with pytest.raises(ValueError, match="ignore_index 0"):
        ConfusionMatrix(3, ignore_index=0)


def test_works_across_inference_mode():
    zeros = torch.zeros(1, 2, 2, dtype=torch.long)
    with torch.inference_mode():
        cm = ConfusionMatrix(3)
        cm.update(zeros, zeros)
    cm.update(zeros, zeros)  # outside: no "inplace update to inference tensor" error
    assert cm.matrix[0, 0] == 8
    cm.reset()
    assert cm.matrix.sum() == 0


def test_object_class_accuracy_ignores_background_logit_and_counts_object_pixels():
    from seglib.metrics import object_class_accuracy
    target = torch.tensor([[[0, 1, 2, 255]]])
    logits = torch.zeros(1, 3, 1, 4)
    logits[0, 0] = 9.0                 # background wins the argmax everywhere...
    logits[0, 2, 0, 1:] = 1.0          # ...but among objects class 2 is preferred
    assert object_class_accuracy(logits, target) == 0.5   # pixel 1 (class 1) wrong, pixel 2 right


def test_accuracy_by_distance_puts_a_one_pixel_shift_in_the_first_rings_only():
    from seglib.metrics import accuracy_by_distance
    target = torch.zeros(1, 12, 12, dtype=torch.long)
    target[0, :, 6:] = 1
    pred = target.clone()
    pred[0, :, 6] = 0                                   # the boundary moved one pixel right
    acc = accuracy_by_distance(pred, target, edges=(0, 1, 2))
    assert acc == [0.5, 1.0, 1.0, 1.0]
    acc = accuracy_by_distance(target, target)          # a 12-px image has nothing beyond 5 px
    assert acc[:4] == [1.0] * 4 and all(math.isnan(a) for a in acc[-2:])


# --- the ISBI 2012 Rand scores ---------------------------------------------------------------

def test_rand_scores_hand_worked():
    from seglib.metrics import rand_scores
    truth = torch.tensor([[1, 1, 1, 2, 2, 2]])       # two cells of 3 px: 3 + 3 = 6 pairs together
    same = rand_scores(truth * 7, truth)              # other ids, same partition
    assert same == {"error": 0.0, "precision": 1.0, "recall": 1.0}
    merged = rand_scores(torch.ones_like(truth), truth)   # 15 pairs together, 6 of them rightly
    assert merged["precision"] == pytest.approx(6 / 15) and merged["recall"] == 1.0
    assert merged["error"] == pytest.approx(1 - 2 * 6 / (15 + 6))    # 0.4286
    split = rand_scores(torch.tensor([[1, 1, 2, 3, 3, 3]]), truth)   # pairs 1 + 0 + 3 = 4, all right
    assert split["precision"] == 1.0 and split["recall"] == pytest.approx(4 / 6)
    assert split["error"] == pytest.approx(1 - 2 * 4 / (4 + 6))      # 0.2
    # truth's 0 (membrane) pixels are left out, whatever pred says there
    with_membrane = torch.tensor([[1, 1, 0, 2, 2, 2]])
    assert rand_scores(torch.tensor([[5, 5, 9, 6, 6, 6]]), with_membrane)["error"] == 0.0
    assert rand_scores(torch.tensor([[5, 5, 5, 6, 6, 6]]), with_membrane)["error"] == 0.0


def test_rand_scores_match_skimage_and_reject_bad_input():
    from skimage.metrics import adapted_rand_error

    from seglib.metrics import rand_scores
    gen = torch.Generator().manual_seed(0)
    for trial in range(10):
        truth = torch.randint(0, 5, (12, 13), generator=gen)
        pred = torch.randint(0, 4, (12, 13), generator=gen)
        want = adapted_rand_error(truth.numpy(), pred.numpy())[0]
        assert rand_scores(pred, truth)["error"] == pytest.approx(want, abs=1e-12), trial
    with pytest.raises(ValueError, match="same shape|one shape"):
        rand_scores(torch.zeros(2, 3, dtype=torch.long), torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="every label is 0"):
        rand_scores(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
