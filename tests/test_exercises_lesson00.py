"""Lesson 00's checks beyond the shared ones in test_exercises_common.py: other right answers, other slips,
and list answers treated like the tensors they spell (same verdict, same hint)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from seglib.exercises.core import _same_answer, tensor_answer
from seglib.exercises.lesson00 import (
    MAX_PARAMETERS,
    PRESENT_MISTAKES,
    WIDE_FIELD,
    _field_extent,
    check_classes_present,
    check_wide_net,
    solution_classes_present,
)
from seglib.models.local import LocalNet
from seglib.models.pooled import PooledNet


# --- classes_present -------------------------------------------------------------------------------

def test_classes_present_accepts_right_answers_written_differently():
    def with_a_loop(mask, num_classes):  # another right answer: a list of bools
        return [c != 0 and bool((mask == c).any()) for c in range(num_classes)]

    def as_ints(mask, num_classes):      # 0/1 int64 is fine too
        present = torch.bincount(mask[mask != 255].flatten(), minlength=num_classes)[:num_classes] > 0
        present[0] = False
        return present.long()

    assert check_classes_present(with_a_loop).passed
    assert check_classes_present(as_ints).passed


@pytest.mark.parametrize("hint", list(PRESENT_MISTAKES))
def test_a_list_answer_gets_the_hint_its_tensor_gets(hint):
    """A known slip returned as a list of bools is named exactly as the same slip returned as a tensor."""
    wrong = PRESENT_MISTAKES[hint]
    as_tensor = check_classes_present(wrong)
    as_list = check_classes_present(lambda m, c: wrong(m, c).tolist())
    as_tuple = check_classes_present(lambda m, c: tuple(wrong(m, c).tolist()))
    assert f"Hint: {hint}." in as_tensor.message
    assert as_list.message == as_tensor.message == as_tuple.message
    assert not as_list.passed and as_list.attempted


def test_a_list_of_zero_d_tensors_passes_like_a_tensor():
    assert check_classes_present(lambda m, c: list(solution_classes_present(m, c).unbind())).passed


def test_same_answer_reads_lists_beside_tensors_and_still_tells_values_apart():
    assert _same_answer([1, 2, 3], torch.tensor([1, 2, 3]))
    assert _same_answer(torch.tensor([True, False]), (True, False))
    assert _same_answer([torch.tensor(4), torch.tensor(5)], torch.tensor([4, 5]))
    assert not _same_answer([1, 2, 4], torch.tensor([1, 2, 3]))
    assert not _same_answer([1, 2], torch.tensor([[1, 2]]))             # shapes differ
    assert not _same_answer([1.0, 2.0], torch.tensor([1, 2]))           # float against integer
    assert not _same_answer(["a"], torch.tensor([1]))                   # not a number at all
    assert tensor_answer("text") == "text" and tensor_answer(["a", 1]) == ["a", 1]


# --- wide_net ---------------------------------------------------------------------------------------

def _dilated(num_classes: int) -> nn.Module:
    """Another right answer: five dilated 3x3 convolutions (1+2(1+2+4+8+4) = 39 px), no pooling."""
    layers, width = [], 3
    for d in (1, 2, 4, 8, 4):
        layers += [nn.Conv2d(width, 16, 3, padding=d, dilation=d), nn.ReLU()]
        width = 16
    return nn.Sequential(*layers, nn.Conv2d(16, num_classes, 1))


def test_field_extent_measures_the_known_receptive_fields():
    assert _field_extent(LocalNet(6)) == 5
    assert _field_extent(_dilated(6)) == 39
    assert _field_extent(PooledNet(6)) == 46 >= WIDE_FIELD  # 38 px per 1/8 cell, two cells mixed


def test_wide_net_accepts_another_design():
    assert check_wide_net(_dilated).passed


def test_wide_net_says_how_far_a_narrow_net_sees():
    result = check_wide_net(lambda c: nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(),
                                                    nn.Conv2d(8, c, 7, padding=3)))
    assert not result.passed and "receptive field is 11 px" in result.message and "Hint" not in result.message


def test_wide_net_rejects_a_net_too_big_to_train_in_seconds():
    result = check_wide_net(lambda c: PooledNet(c, widths=(64, 128, 256, 256)))
    assert not result.passed and f"keep it under {MAX_PARAMETERS:,}" in result.message


def test_wide_net_rejects_what_is_not_a_module_and_reports_a_crash():
    assert "expected an nn.Module, got list" in check_wide_net(lambda c: [c]).message
    crash = check_wide_net(lambda c: nn.Conv2d(4, c, 3))  # expects 4 colour channels
    assert crash.attempted and not crash.passed and "raised RuntimeError" in crash.message
