"""Every exercise check, every lesson: solutions pass, stubs are "not attempted", and each
known mistake is rejected with its hint. Lesson-specific cases live in test_exercises_lessonNN.py."""
import pytest

from seglib.exercises import lesson00, lesson01, lesson02, lesson03, lesson04


# (check, solution, known mistakes {hint: wrong implementation})
CHECKS = [
    (lesson00.check_classes_present, lesson00.solution_classes_present, lesson00.PRESENT_MISTAKES),
    (lesson00.check_wide_net, lesson00.solution_wide_net, lesson00.WIDE_MISTAKES),
    (lesson01.check_label_ids_to_train_ids, lesson01.solution_label_ids_to_train_ids,
     lesson01.LOOKUP_MISTAKES),
    (lesson01.check_class_pixel_counts, lesson01.solution_class_pixel_counts, lesson01.COUNT_MISTAKES),
    (lesson02.check_boundary_band, lesson02.solution_boundary_band, lesson02.BAND_MISTAKES),
    (lesson02.check_mask_iou, lesson02.solution_mask_iou, lesson02.MASK_IOU_MISTAKES),
    (lesson02.check_miou_two_ways, lesson02.solution_miou_two_ways, lesson02.MIOU_MISTAKES),
    (lesson02.check_greedy_match, lesson02.solution_greedy_match, lesson02.MATCH_MISTAKES),
    (lesson02.check_ap_101, lesson02.solution_ap_101, lesson02.AP_MISTAKES),
    (lesson03.check_bilinear_kernel, lesson03.solution_bilinear_kernel, lesson03.BILINEAR_MISTAKES),
    (lesson03.check_conv_transpose2d, lesson03.solution_conv_transpose2d, lesson03.CONV_TRANSPOSE_MISTAKES),
    (lesson03.check_phase_means, lesson03.solution_phase_means, lesson03.PHASE_MISTAKES),
    (lesson03.check_least_squares_kernel, lesson03.solution_least_squares_kernel,
     lesson03.LEAST_SQUARES_MISTAKES),
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


# --- when a hint may be named -------------------------------------------------------------------
# A known mistake's hint is named only when the answer agrees with that mistake on *every* case.

from seglib.exercises.core import (  # noqa: E402
    Case,
    _behaves_like,  # noqa: E402
    run_checks,
)


def _double(x):
    return 2 * x


_DOUBLE_CASES = [Case(f"x = {x}", (x,), expected=2 * x) for x in (0, 1, 2, 3)]


def test_partial_agreement_with_a_mistake_gets_no_hint():
    # wrong on every case, but agrees with "x squared" only where x in (0, 2)
    squared = {"you squared x instead of doubling it": lambda x: x * x}
    result = run_checks("double", lambda x: x * x if x in (0, 2) else x + 10, _DOUBLE_CASES, mistakes=squared)
    assert not result.passed and result.attempted and "Hint" not in result.message
    full = run_checks("double", lambda x: x ** 2, _DOUBLE_CASES, mistakes=squared)
    assert "Hint: you squared x instead of doubling it." in full.message


def test_a_crashing_case_is_not_agreement():
    squared = {"you squared x": lambda x: x * x}

    def crashes_on_three(x):
        if x == 3:
            raise ValueError("three")
        return x * x

    result = run_checks("double", crashes_on_three, _DOUBLE_CASES, mistakes=squared)
    assert not result.passed and "case 2" in result.message and "Hint" not in result.message
    assert not _behaves_like(crashes_on_three, squared["you squared x"], _DOUBLE_CASES)
    # ... and a mistake that itself crashes on a case is never named for a function that does not
    assert not _behaves_like(lambda x: x * x, crashes_on_three, _DOUBLE_CASES)
    assert not _behaves_like(lambda x: x * x, lambda x: x * x, [])


@pytest.mark.parametrize("check,solution,mistakes", CHECKS, ids=NAMES)
def test_no_known_mistake_behaves_like_the_solution(check, solution, mistakes):
    """A mistake indistinguishable from the solution on the check's cases would be named for right answers."""
    result = check(solution)
    assert result.passed and "Hint" not in result.message
    for hint, wrong in mistakes.items():
        assert not check(wrong).passed, hint


def _rewritten(fn):
    """The solution written differently: arguments passed through, result cloned (or, for floats, an
    equal value computed another way). A right answer, so it must pass without a hint."""
    def answer(*args, **kwargs):
        got = fn(*args, **kwargs)
        return got.clone() if hasattr(got, "clone") else got
    return answer


@pytest.mark.parametrize("check,solution,_", CHECKS, ids=NAMES)
def test_a_right_answer_written_differently_passes_without_a_hint(check, solution, _):
    result = check(_rewritten(solution))
    assert result.passed and "Hint" not in result.message


# --- the exercise style in the notebooks ---------------------------------------------------------

import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
STYLED = ["00_introduction", "01_datasets", "02_metrics", "03_upsampling"]


def _cells(name):
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("name", STYLED)
def test_exercises_are_my_functions_with_a_stub_a_check_and_a_solution(name):
    """A learner's function never takes the name of a seglib function the lesson uses (lesson 02's
    old ``iou_per_class`` stub broke section 5 on a re-run): stub, check, collapsed solution."""
    cells = _cells(name)
    exercises = 0
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or "raise NotImplementedError" not in source:
            continue
        exercises += 1
        defined = re.findall(r"^def (\w+)\(", source, re.M)
        assert defined and all(d.startswith("my_") for d in defined), (name, defined)
        assert re.search(r"check_\w+\(" + defined[0] + r"\)", source), f"{name}: no check of {defined[0]}"
        solution = "".join(cells[i + 1]["source"])
        assert cells[i + 1]["cell_type"] == "markdown"
        assert solution.startswith("<details><summary>Solution</summary>")
        assert f"def {defined[0]}(" in solution
    assert exercises >= 2


@pytest.mark.parametrize("name", STYLED)
def test_colab_setup_cell_never_upgrades_what_the_kernel_imported(name):
    setup = next("".join(c["source"]) for c in _cells(name) if "Colab set-up" in "".join(c["source"]))
    assert "--no-deps" in setup and '"google.colab" in sys.modules' in setup
