"""seglib.exercises.lesson04: lesson-specific cases (the shared ones are in test_exercises_common.py)."""
import torch
from torch import nn

from seglib.exercises import lesson04 as ex
from seglib.models.vgg import convolutionalize, convolutionalize_linear, vgg16


def test_the_library_version_passes():
    assert ex.check_convolutionalize_linear(convolutionalize_linear).passed


def test_convolutionalize_mistake_written_by_hand_is_named():
    def learner(linear, c, k):  # reshaped channels-last, as a learner might
        conv = nn.Conv2d(c, linear.out_features, k)
        with torch.no_grad():
            conv.weight.copy_(linear.weight.view(linear.out_features, k, k, c).permute(0, 3, 1, 2))
            conv.bias.copy_(linear.bias)
        return conv
    result = ex.check_convolutionalize_linear(learner)
    assert "case 1" in result.message and "[out, k, k, in_channels]" in result.message


def test_convolutionalize_check_explains_a_wrong_return_type():
    result = ex.check_convolutionalize_linear(lambda linear, c, k: linear.weight)
    assert not result.passed and "expected an nn.Conv2d, got Parameter" in result.message


def test_score_map_size_matches_the_real_network():
    net = convolutionalize(vgg16(1 / 16)).eval()
    with torch.no_grad():
        scores = net(torch.rand(1, 3, 255, 288))
    assert tuple(scores.shape[-2:]) == ex.solution_score_map_size(255, 288) == (1, 3)


def test_score_map_size_accepts_lists_and_whole_floats_but_not_a_single_number():
    assert ex.check_score_map_size(lambda h, w: [h / 32 // 1 - 6, w // 32 - 6]).passed
    result = ex.check_score_map_size(lambda h, w: h // 32 - 6)
    assert not result.passed and "expected a pair (rows, columns) like (1, 1), got 1" in result.message


def test_crop_add_check_reports_a_shape_error():
    result = ex.check_crop_add(lambda up, skip, off: up + skip)  # forgot to crop
    assert not result.passed and "case 1" in result.message and "raised RuntimeError" in result.message
