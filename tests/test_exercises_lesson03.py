"""seglib.exercises.lesson03: the checks accept the solutions and reject (and name) the usual mistakes."""
import torch
import torch.nn.functional as F

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


def test_least_squares_check_accepts_every_right_answer():
    def float32_result(x, t, k, border=2):  # the same kernel as float32
        return ex.solution_least_squares_kernel(x, t, k, border).float() + 0.0

    def as_list(x, t, k, border=2):
        return ex.solution_least_squares_kernel(x, t, k, border).tolist()

    def batched_float64(x, t, k, border=2):
        return ex.solution_least_squares_kernel(x, t, k, border).double()[None, None]

    def pinv(x, t, k, border=2):  # normal equations through a pseudo-inverse, in float32
        from seglib.models.upsampling import interior, same_size_padding
        p, op = same_size_padding(k, 2)
        cols = [interior(F.conv_transpose2d(x, w.view(1, 1, k, k), stride=2, padding=p, output_padding=op),
                         border).flatten() for w in torch.eye(k * k)]
        a = torch.stack(cols, 1)
        return (torch.linalg.pinv(a.T @ a) @ a.T @ interior(t, border).flatten()).view(k, k)

    for answer in (float32_result, as_list, batched_float64, pinv):
        result = ex.check_least_squares_kernel(answer)
        assert result.passed and "Hint" not in result.message, (answer.__name__, result.message)


def test_least_squares_check_rejects_near_misses_with_a_reason():
    almost = ex.check_least_squares_kernel(lambda x, t, k, border=2:
                                           ex.solution_least_squares_kernel(x, t, k, border) * 1.01)
    assert not almost.passed and "relative error" in almost.message
    words = ex.check_least_squares_kernel(lambda x, t, k, border=2: "a kernel")
    assert not words.passed and "nested list" in words.message
    bilinear = ex.check_least_squares_kernel(lambda x, t, k, border=2: bilinear_kernel(k))
    assert not bilinear.passed and "Hint" not in bilinear.message
