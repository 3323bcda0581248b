"""Lesson 00's checks accept the solutions and reject the usual wrong answers with a useful message."""
from __future__ import annotations

import torch
from torchvision.ops import masks_to_boxes

from seglib.exercises.lesson00 import check_bounding_box, check_classes_present, solution_bounding_box
from seglib.synthetic import ShapesConfig, make_sample


def stub(*args):
    raise NotImplementedError


# --- bounding_box ---------------------------------------------------------------------------------

def test_bounding_box_solution_passes_and_agrees_with_torchvision():
    assert check_bounding_box(solution_bounding_box).passed
    _, _, instances = make_sample(4, seed=0, config=ShapesConfig(size=96), return_instances=True)
    masks = torch.stack([instances == k for k in range(1, int(instances.max()) + 1)])
    ours = torch.stack([solution_bounding_box(m) for m in masks])
    assert torch.equal(ours.float(), masks_to_boxes(masks))


def test_bounding_box_accepts_a_list():
    assert check_bounding_box(lambda m: solution_bounding_box(m).tolist()).passed


def test_bounding_box_reports_a_crash_with_its_case():
    result = check_bounding_box(lambda m: m.float().mean(dim=5))
    assert result.attempted and not result.passed
    assert "case 1" in result.message and "raised IndexError" in result.message


def test_bounding_box_rejects_swapped_axes():
    result = check_bounding_box(lambda m: solution_bounding_box(m)[[1, 0, 3, 2]])
    assert not result.passed and "case 1" in result.message and "x and y are swapped" in result.message


def test_bounding_box_rejects_exclusive_ends():
    result = check_bounding_box(lambda m: solution_bounding_box(m) + torch.tensor([0, 0, 1, 1]))
    assert not result.passed and "one too large" in result.message


def test_bounding_box_rejects_wrong_order():
    result = check_bounding_box(lambda m: solution_bounding_box(m)[[0, 2, 1, 3]])
    assert not result.passed and "not [x_min, x_max, y_min, y_max]" in result.message


def test_bounding_box_rejects_a_box_from_the_first_and_last_pixel_only():
    """Taking the first and last True pixel in reading order fails on the J-shape (case 2)."""
    def first_last(m):
        rows, cols = torch.nonzero(m, as_tuple=True)
        return torch.stack([cols[0], rows[0], cols[-1], rows[-1]])
    result = check_bounding_box(first_last)
    assert not result.passed and "case 2 (a J-shape)" in result.message


def test_bounding_box_stub_is_not_attempted():
    assert not check_bounding_box(stub).attempted


def test_classes_present_accepts_right_answers_and_explains_wrong_ones():
    def with_a_loop(mask, num_classes):  # another right answer: a list of bools
        return [c != 0 and bool((mask == c).any()) for c in range(num_classes)]

    def as_ints(mask, num_classes):      # 0/1 int64 is fine too
        present = torch.bincount(mask[mask != 255].flatten(), minlength=num_classes)[:num_classes] > 0
        present[0] = False
        return present.long()

    assert check_classes_present(with_a_loop).passed
    assert check_classes_present(as_ints).passed
    with_background = check_classes_present(
        lambda m, c: torch.bincount(m[m != 255].flatten(), minlength=c)[:c] > 0)
    assert not with_background.passed and "background (class 0) is not an object" in with_background.message
    counted_255 = check_classes_present(
        lambda m, c: (torch.bincount(m.flatten(), minlength=c) > 0).index_fill(0, torch.tensor([0]), False))
    assert not counted_255.passed and "255 is the ignore label" in counted_255.message
