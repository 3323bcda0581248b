"""Lesson 00's checks beyond the shared ones in test_exercises_common.py: other right answers, other slips."""
from __future__ import annotations

import torch
from torchvision.ops import masks_to_boxes

from seglib.exercises.lesson00 import check_bounding_box, check_classes_present, solution_bounding_box
from seglib.synthetic import ShapesConfig, make_sample


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


def test_bounding_box_rejects_a_box_from_the_first_and_last_pixel_only():
    """Taking the first and last True pixel in reading order fails on the J-shape (case 2)."""
    def first_last(m):
        rows, cols = torch.nonzero(m, as_tuple=True)
        return torch.stack([cols[0], rows[0], cols[-1], rows[-1]])
    result = check_bounding_box(first_last)
    assert not result.passed and "case 2 (a J-shape)" in result.message


def test_classes_present_accepts_right_answers_written_differently():
    def with_a_loop(mask, num_classes):  # another right answer: a list of bools
        return [c != 0 and bool((mask == c).any()) for c in range(num_classes)]

    def as_ints(mask, num_classes):      # 0/1 int64 is fine too
        present = torch.bincount(mask[mask != 255].flatten(), minlength=num_classes)[:num_classes] > 0
        present[0] = False
        return present.long()

    assert check_classes_present(with_a_loop).passed
    assert check_classes_present(as_ints).passed
