"""Every exercise check, every lesson: solutions pass, stubs are "not attempted", and each
known mistake is rejected with its hint. Lesson-specific cases live in test_exercises_lessonNN.py."""
import pytest

from seglib.exercises import lesson00, lesson01, lesson02, lesson03, lesson04


# (check, solution, known mistakes {hint: wrong implementation})
CHECKS = [
    (lesson00.check_pixel_counts, lesson00.solution_pixel_counts, {}),
    (lesson00.check_bounding_box, lesson00.solution_bounding_box, {}),
    (lesson01.check_label_ids_to_train_ids, lesson01.solution_label_ids_to_train_ids, lesson01.LOOKUP_MISTAKES),
    (lesson01.check_class_pixel_counts, lesson01.solution_class_pixel_counts, lesson01.COUNT_MISTAKES),
    (lesson02.check_confusion_matrix, lesson02.solution_confusion_matrix, lesson02.CONFUSION_MISTAKES),
    (lesson02.check_iou_per_class, lesson02.solution_iou_per_class, lesson02.IOU_MISTAKES),
    (lesson02.check_pixel_accuracy, lesson02.solution_pixel_accuracy, lesson02.ACCURACY_MISTAKES),
    (lesson02.check_mask_iou, lesson02.solution_mask_iou, lesson02.MASK_IOU_MISTAKES),
    (lesson03.check_bilinear_kernel, lesson03.solution_bilinear_kernel, lesson03.BILINEAR_MISTAKES),
    (lesson03.check_transposed_output_size, lesson03.solution_transposed_output_size, lesson03.SIZE_MISTAKES),
    (lesson03.check_conv_transpose2d, lesson03.solution_conv_transpose2d, lesson03.CONV_TRANSPOSE_MISTAKES),
    (lesson04.check_convolutionalize_linear, lesson04.solution_convolutionalize_linear,
     lesson04.CONVOLUTIONALIZE_MISTAKES),
    (lesson04.check_score_map_size, lesson04.solution_score_map_size, lesson04.SCORE_SIZE_MISTAKES),
    (lesson04.check_crop_add, lesson04.solution_crop_add, lesson04.CROP_ADD_MISTAKES),
]
NAMES = [check.__module__.rsplit(".", 1)[-1] + "." + check.__name__ for check, _, _ in CHECKS]


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check,solution,_", CHECKS, ids=NAMES)
def test_solution_passes(check, solution, _):
    result = check(solution)
    assert result.passed and result.attempted and "all" in result.message


@pytest.mark.parametrize("check,_,__", CHECKS, ids=NAMES)
def test_stub_is_not_attempted(check, _, __):
    result = check(_stub)
    assert not result.passed and not result.attempted and "not attempted" in repr(result)


MISTAKES = [(check, hint, wrong) for check, _, mistakes in CHECKS for hint, wrong in mistakes.items()]


@pytest.mark.parametrize("check,hint,wrong", MISTAKES,
                         ids=[f"{c.__name__}: {h[:40]}" for c, h, _ in MISTAKES])
def test_each_known_mistake_is_rejected_and_named(check, hint, wrong):
    result = check(wrong)
    assert not result.passed and result.attempted
    assert "✗" in result.message and f"Hint: {hint}." in result.message
