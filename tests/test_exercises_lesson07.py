"""seglib.exercises.lesson07: solutions pass, stubs are "not attempted", known mistakes get their hint,
and other correct answers pass without one."""
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from seglib.exercises import lesson07 as ex
from seglib.models.unet import UNet, center_crop, output_size, weight_map


CHECKS = [(ex.check_output_size, ex.solution_output_size, ex.SIZE_MISTAKES),
          (ex.check_center_crop, ex.solution_center_crop, ex.CROP_MISTAKES),
          (ex.check_weight_map, ex.solution_weight_map, ex.WEIGHT_MISTAKES)]


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check,solution,mistakes", CHECKS, ids=lambda v: getattr(v, "__name__", ""))
def test_solution_passes_stub_waits_and_every_mistake_gets_its_hint(check, solution, mistakes):
    assert check(solution).passed
    stub = check(_stub)
    assert not stub.passed and not stub.attempted
    for hint, wrong in mistakes.items():
        result = check(wrong)
        assert not result.passed and result.attempted and hint in result.message


def test_library_versions_and_other_correct_answers_pass_without_a_hint():
    assert ex.check_output_size(output_size).passed
    assert ex.check_center_crop(center_crop).passed
    assert ex.check_center_crop(lambda skip, size: TF.center_crop(skip, list(size))).passed
    assert ex.check_weight_map(weight_map).passed
    assert ex.check_weight_map(lambda inst, w0, sigma: weight_map(inst, w0, sigma).tolist()).passed


def test_output_size_solution_matches_the_real_network_and_rejects_a_float_none_mixup():
    model = UNet(1, 2, channels=2, depth=1).eval()
    for n in (30, 32, 34):
        assert model(torch.zeros(1, 1, n, n)).shape[-1] == ex.solution_output_size(n, 1)
    result = ex.check_output_size(lambda n, depth=4: output_size(n, depth) or 0)
    assert not result.passed and "expected None, got 0" in result.message


def test_brute_force_weight_map_by_hand():
    cells = np.array([[1, 0, 2]])
    # w_c: 3 pixels, 1 background, 2 cell: 3 / (2 * 1) = 1.5 and 3 / (2 * 2) = 0.75
    # the gap pixel: d1 = d2 = 1: 1.5 + 10 * exp(-4 / 50)
    expected = [0.75, 1.5 + 10 * np.exp(-4 / 50), 0.75]
    np.testing.assert_allclose(ex.brute_force_weight_map(cells)[0], expected, rtol=1e-6)
