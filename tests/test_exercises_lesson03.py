"""seglib.exercises.lesson03: the checks accept the solutions and reject (and name) the usual mistakes."""
import torch

from seglib.exercises import lesson03 as ex
from seglib.models.upsampling import bilinear_kernel


def test_library_bilinear_kernel_passes():
    assert ex.check_bilinear_kernel(bilinear_kernel).passed


def test_bilinear_mistakes_are_caught_on_the_right_case():
    odd_wrong = ex.check_bilinear_kernel(list(ex.BILINEAR_MISTAKES.values())[1])  # factor - 0.5 always
    assert "case 2 (kernel_size=3" in odd_wrong.message  # passes the even case, fails the odd one
    tent_only = ex.check_bilinear_kernel(lambda k: ex.solution_bilinear_kernel(k)[0])
    assert "expected shape (4, 4), got (4,)" in tent_only.message and "Hint" not in tent_only.message


def test_conv_transpose_check_reports_shape_and_crashes():
    wrong_size = ex.check_conv_transpose2d(lambda x, w, stride=2: torch.zeros(1, 1, 4, 4))
    assert "expected shape (1, 1, 5, 5), got (1, 1, 4, 4)" in wrong_size.message
    crash = ex.check_conv_transpose2d(lambda x, w, stride=2: x[9])
    assert "raised IndexError" in crash.message


def test_conv_transpose_check_catches_channel_mixing_mistake():
    def first_channel_only(x, w, stride=2):  # forgets to sum over input channels
        return ex.solution_conv_transpose2d(x[:, :1], w[:1], stride)
    result = ex.check_conv_transpose2d(first_channel_only)
    assert not result.passed and "case 4" in result.message


def test_phase_means_accepts_other_right_answers():
    def with_masks(output, stride=2):  # boolean phase masks, float32 result
        h, w = output.shape[-2:]
        rows, cols = torch.arange(h)[:, None] % stride, torch.arange(w)[None, :] % stride
        return torch.tensor([[output[..., (rows == r) & (cols == c)].mean().item() for c in range(stride)]
                             for r in range(stride)])

    assert ex.check_phase_means(with_masks).passed
    wrong = ex.check_phase_means(lambda y, stride=2: torch.zeros(stride, stride))
    assert not wrong.passed and "Hint" not in wrong.message
