"""seglib.exercises.lesson01: the checks accept right answers and reject (and name) the usual mistakes."""
import torch

from seglib.datasets import LABEL_ID_TO_TRAIN_ID, label_ids_to_train_ids
from seglib.exercises import lesson01 as ex


def test_library_version_and_a_per_class_loop_pass():
    assert ex.check_label_ids_to_train_ids(label_ids_to_train_ids).passed

    def loop(m, c, ignore_index=255):
        return torch.stack([(m == k).sum() for k in range(c)])

    assert ex.check_class_pixel_counts(loop).passed


def test_natural_wrong_answers_are_named():
    table34 = torch.tensor([LABEL_ID_TO_TRAIN_ID[i] for i in range(34)])
    no_shift = ex.check_label_ids_to_train_ids(lambda m: table34[m.long().clamp(max=33)])
    assert "case 3 (the license plate" in no_shift.message and "expected 255, got 18" in no_shift.message
    assert "last* entry" in no_shift.message
    # The same slip without the clamp also crashes on ids > 33 (case 7): it agrees with the known
    # mistake on six cases only, so no hint is named; the message still points at case 3.
    crashing = ex.check_label_ids_to_train_ids(lambda m: table34[m.long()])
    assert "case 3 (the license plate" in crashing.message and "Hint" not in crashing.message
    histc = ex.check_class_pixel_counts(lambda m, c: torch.histc(m.float(), bins=c, min=0, max=c - 1))
    assert "expected dtype torch.int64, got torch.float32" in histc.message and "histc" in histc.message
    counted_255 = ex.check_class_pixel_counts(lambda m, c: torch.bincount(m.flatten(), minlength=c))
    assert "expected shape (2,), got (256,)" in counted_255.message
    assert "255 was counted" in counted_255.message


def test_crash_is_reported_with_its_case():
    result = ex.check_label_ids_to_train_ids(lambda m: m[1000])
    assert not result.passed and "raised IndexError" in result.message and "Hint" not in result.message


def test_a_wrong_answer_that_is_no_known_mistake_gets_no_hint():
    result = ex.check_class_pixel_counts(lambda m, c: ex.solution_class_pixel_counts(m, c) + 1)
    assert not result.passed and "case 1" in result.message and "Hint" not in result.message


def test_compare_labels_messages():
    expected = torch.tensor([[0, 1], [2, 255]])
    assert ex._compare_labels(expected.clone(), expected) is None
    assert "torch.Tensor" in ex._compare_labels([[0, 1], [2, 255]], expected)
    assert "index (1, 1): expected 255, got 3" in ex._compare_labels(torch.tensor([[0, 1], [2, 3]]), expected)
