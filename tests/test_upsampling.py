"""seglib.models.upsampling: the by-hand transposed convolution, its sizes, steps and kernels."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglib.models.upsampling import (
    LINEAR_FORMS,
    UPSAMPLERS,
    _train_upsampler,
    _transposed_linear,
    _upsampler,
    bilinear_kernel,
    bilinear_upsampler,
    conv_transpose2d_by_hand,
    grid_locked_error,
    interior,
    least_squares_fit,
    overlap_count,
    phase_error_stats,
    same_size_padding,
    smooth_images,
    transposed_conv_steps,
    transposed_output_size,
    upsampling_rivals,
)


# every (kernel, stride, padding, output_padding) that PyTorch accepts on a 3x5 input
SETTINGS = [(k, s, p, op)
            for k, s, p, op in itertools.product([1, 2, 3, 4, 5], [1, 2, 3], [0, 1, 2], [0, 1, 2])
            if op < s and (3 - 1) * s - 2 * p + k + op >= 1]


@pytest.mark.parametrize("k,s,p,op", SETTINGS)
def test_by_hand_matches_pytorch(k, s, p, op):
    x = torch.randn(2, 3, 3, 5)  # batch 2, 3 channels, non-square
    w = torch.randn(3, 2, k, k)
    b = torch.randn(2)
    expected = F.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op)
    got = conv_transpose2d_by_hand(x, w, stride=s, padding=p, output_padding=op, bias=b)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_by_hand_worked_example():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = torch.ones(1, 1, 3, 3)
    out = conv_transpose2d_by_hand(x, w, stride=2)
    assert out.shape == (1, 1, 5, 5)
    # the centre pixel is written by all four windows; the corners by one each
    assert out[0, 0, 2, 2] == 10 and out[0, 0, 0, 0] == 1 and out[0, 0, 4, 4] == 4
    assert out[0, 0, 0, 2] == 3  # top middle: windows of x[0,0] and x[0,1]


def test_by_hand_non_square_kernel():
    x, w = torch.randn(1, 2, 3, 4), torch.randn(2, 1, 2, 3)
    torch.testing.assert_close(conv_transpose2d_by_hand(x, w, stride=2),
                               F.conv_transpose2d(x, w, stride=2))


@pytest.mark.parametrize("x_shape,w_shape,kwargs,match", [
    ((1, 3, 4, 4), (2, 1, 3, 3), {}, "3 channels but weight expects 2"),
    ((3, 4, 4), (3, 1, 3, 3), {}, r"x must be \[N, Cin, H, W\]"),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"stride": 2, "output_padding": 2},
     "output_padding=2 must be smaller than stride=2"),
    ((1, 1, 1, 1), (1, 1, 1, 1), {"padding": 1}, "gives an output of -1"),
])
def test_by_hand_rejects_bad_input(x_shape, w_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_transpose2d_by_hand(torch.zeros(x_shape), torch.zeros(w_shape), **kwargs)


def test_by_hand_rejects_bias_of_wrong_size():
    with pytest.raises(ValueError, match="one value per output channel"):
        conv_transpose2d_by_hand(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 3, 3), bias=torch.zeros(3))


@pytest.mark.parametrize("size,k,s,p,op,d", [
    (7, 4, 2, 1, 0, 1), (8, 3, 2, 1, 0, 1), (8, 3, 2, 1, 1, 1), (15, 3, 2, 1, 0, 1), (1, 5, 3, 0, 2, 1),
    (5, 3, 1, 1, 0, 1), (3, 16, 8, 4, 0, 1), (6, 3, 1, 0, 0, 2), (6, 3, 2, 2, 1, 3), (9, 64, 32, 16, 0, 1),
])
def test_output_size_matches_conv_transpose2d(size, k, s, p, op, d):
    layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, dilation=d)
    actual = layer(torch.zeros(1, 1, size, size + 1)).shape[-2:]
    assert transposed_output_size(size, k, s, p, op, d) == actual[0]
    assert transposed_output_size(size + 1, k, s, p, op, d) == actual[1]


def test_output_size_known_values():
    assert transposed_output_size(7, 4, 2, 1) == 14          # FCN's 2x upsampling
    assert transposed_output_size(8, 3, 2, 1) == 15          # a stride-2 conv maps 15 and 16 to 8 ...
    assert transposed_output_size(8, 3, 2, 1, 1) == 16      # ... output_padding picks 16


@pytest.mark.parametrize("args,match", [
    ((8, 3, 2, 1, 2), "output_padding=2 must be smaller than stride=2"),
    ((8, 3, 1, 0, 1), "output_padding=1 must be smaller than stride=1"),
    ((1, 1, 1, 1), "gives an output of -1"),
    ((0, 3), "size must be an integer >= 1"),
    ((4, 3, 0), "stride must be an integer >= 1"),
    ((4, 3, 1, -1), "padding must be an integer >= 0"),
    ((4, 2.5), "kernel_size must be an integer"),
])
def test_output_size_rejects_invalid_settings(args, match):
    with pytest.raises(ValueError, match=match):
        transposed_output_size(*args)


def test_output_padding_allowed_below_dilation():  # PyTorch's rule: smaller than stride OR dilation
    assert transposed_output_size(4, 3, 1, 0, 1, 2) == nn.ConvTranspose2d(
        1, 1, 3, output_padding=1, dilation=2)(torch.zeros(1, 1, 4, 4)).shape[-1]


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (2, 1), (3, 1)])
def test_steps_accumulate_to_conv_transpose2d(stride, padding):
    x, w = torch.randn(3, 2), torch.randn(3, 3)
    steps = transposed_conv_steps(x, w, stride, padding)
    assert len(steps) == 6
    assert [s.position for s in steps] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    running = torch.zeros_like(steps[0].partial)
    for step in steps:  # step t holds the sum of the first t contributions
        top, left, bottom, right = step.window
        running[top:bottom, left:right] += step.contribution
        torch.testing.assert_close(step.partial, running)
    expected = F.conv_transpose2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]
    torch.testing.assert_close(steps[-1].output, expected)


def test_steps_windows_and_contributions():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = torch.arange(9.0).view(3, 3)
    steps = transposed_conv_steps(x, w, stride=2)
    assert steps[1].window == (0, 2, 3, 5) and steps[2].window == (2, 0, 5, 3)
    torch.testing.assert_close(steps[3].contribution, 4 * w)
    assert steps[0].partial.shape == (5, 5)
    assert steps[0].partial[3:].abs().sum() == 0  # nothing written below the first window yet


def test_steps_reject_batched_input():
    with pytest.raises(ValueError, match="one channel"):
        transposed_conv_steps(torch.zeros(1, 1, 2, 2), torch.zeros(3, 3))


def test_overlap_count_known_values():
    assert overlap_count(3, 2, 4).tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 1]
    assert overlap_count(4, 2, 4).tolist() == [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]
    assert overlap_count(2, 3, 2).tolist() == [1, 1, 0, 1, 1]  # stride > kernel leaves gaps


@pytest.mark.parametrize("k,s", [(2, 1), (3, 1), (3, 2), (4, 2), (5, 2), (6, 2), (4, 3), (6, 3), (8, 4),
                                 (16, 8)])
def test_overlap_is_even_in_the_interior_iff_kernel_divisible_by_stride(k, s):
    counts = overlap_count(k, s, 10)
    interior = counts[k:-k]
    assert counts.sum() == 10 * k
    assert (interior.unique().numel() == 1) == (k % s == 0)
    ones = F.conv_transpose1d(torch.ones(1, 1, 10), torch.ones(1, 1, k), stride=s)[0, 0]
    assert counts.tolist() == ones.long().tolist()


def test_bilinear_kernel_known_values():
    tent = torch.tensor([0.25, 0.75, 0.75, 0.25])
    k = bilinear_kernel(4)
    torch.testing.assert_close(k, tent[:, None] * tent[None, :])
    assert bilinear_kernel(3)[1].tolist() == [0.5, 1.0, 0.5]  # odd: the middle row is the tent
    assert k[1, 1] == 0.5625 and k[0, 0] == 0.0625


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_upsampler_equals_interpolate_in_the_interior(factor):
    x = torch.randn(1, 3, 6, 7)
    up = bilinear_upsampler(3, factor)
    got = up(x)
    expected = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert got.shape == expected.shape == (1, 3, 6 * factor, 7 * factor)
    b = factor // 2  # the outer factor/2 pixels read past the edge, where the layer sees zeros
    torch.testing.assert_close(got[..., b:-b, b:-b], expected[..., b:-b, b:-b], rtol=1e-5, atol=1e-5)
    for edge in (got[..., b - 1, :] - expected[..., b - 1, :], got[..., :, -b] - expected[..., :, -b]):
        assert edge.abs().max() > 1e-3  # ... so the border ring differs


def test_bilinear_upsampler_keeps_channels_apart():
    up = bilinear_upsampler(2, 2)
    x = torch.zeros(1, 2, 4, 4)
    x[0, 1] = 1.0
    out = up(x)
    assert out[0, 0].abs().sum() == 0 and out[0, 1].sum() > 0
    assert up.weight.requires_grad and not bilinear_upsampler(2, 2, trainable=False).weight.requires_grad


@pytest.mark.parametrize("factor", [1, 3, 0])
def test_bilinear_upsampler_rejects_odd_factors(factor):
    with pytest.raises(ValueError, match="even integer"):
        bilinear_upsampler(1, factor)


# --- section 6: the experiment's parts ------------------------------------------------------------

@pytest.mark.parametrize("k,s", [(2, 2), (3, 2), (4, 2), (5, 2), (8, 2), (3, 3), (4, 3), (6, 3), (8, 4)])
def test_same_size_padding_makes_the_output_exactly_stride_times_larger(k, s):
    p, op = same_size_padding(k, s)
    assert nn.ConvTranspose2d(1, 1, k, s, p, op)(torch.zeros(1, 1, 5, 7)).shape[-2:] == (5 * s, 7 * s)


def test_same_size_padding_known_values_and_errors():
    assert same_size_padding(4, 2) == (1, 0) and same_size_padding(3, 2) == (1, 1)
    with pytest.raises(ValueError, match="smaller than stride"):
        same_size_padding(1, 2)


def test_smooth_images_are_seeded_and_smooth():
    a, b = smooth_images(3, seed=4), smooth_images(3, seed=4)
    assert a.shape == (3, 1, 24, 24) and torch.equal(a, b) and not torch.equal(a, smooth_images(3, seed=5))
    assert a.min() >= 0 and a.max() <= 1
    assert (a[..., 1:, :] - a[..., :-1, :]).abs().max() < 0.25  # neighbours differ by little


def test_interior_drops_the_border():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    assert interior(x, 2).tolist() == [[[[14.0, 15.0], [20.0, 21.0]]]]
    assert interior(x, 0) is x


@pytest.mark.parametrize("kind", UPSAMPLERS)
def test_every_upsampler_doubles_the_size(kind):
    assert _upsampler(kind)(torch.rand(2, 1, 12, 10)).shape == (2, 1, 24, 20)


def test_fcn_recipe_starts_as_bilinear_interpolation_and_unknown_kinds_fail():
    x = torch.rand(2, 1, 12, 12)
    with torch.no_grad():
        got = _upsampler("FCN: kernel 4, bilinear start")(x)
    expected = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(interior(got, 1), interior(expected, 1))
    with pytest.raises(ValueError, match="unknown upsampler 'kernel 5'"):
        _upsampler("kernel 5")


def test_training_lowers_the_interior_error():
    targets = smooth_images(32, seed=0)
    inputs = F.avg_pool2d(targets, 2)
    torch.manual_seed(0)
    model = _upsampler("resize, then conv 3x3")

    def mse():
        with torch.no_grad():
            return F.mse_loss(interior(model(inputs)), interior(targets)).item()
    before = mse()
    _train_upsampler(model, inputs, targets, steps=30, lr=0.02)
    assert mse() < before / 3


def test_least_squares_recovers_a_known_kernel_and_beats_any_other():
    inputs = torch.rand(8, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    linear, n = _transposed_linear(4)
    truth = torch.randn(n, generator=torch.Generator().manual_seed(2))
    params = least_squares_fit(linear, n, inputs, linear(inputs, truth), border=1)
    torch.testing.assert_close(params, truth, rtol=1e-4, atol=1e-4)
    targets = smooth_images(16, seed=3, size=12)
    inputs = F.avg_pool2d(targets, 2)
    best = least_squares_fit(linear, n, inputs, targets, border=2)

    def mse(p):
        return F.mse_loss(interior(linear(inputs, p)), interior(targets)).item()
    bilinear = torch.cat([bilinear_kernel(4).flatten(), torch.zeros(1)])
    assert mse(best) < mse(bilinear) and mse(best) <= mse(best + 1e-3 * torch.randn(n)) + 1e-9


def test_least_squares_refuses_an_affine_function():
    with pytest.raises(ValueError, match="not linear"):
        least_squares_fit(lambda x, p: F.interpolate(x, scale_factor=2) + p.sum() + 1, 1,
                          torch.rand(1, 1, 4, 4), torch.rand(1, 1, 8, 8))


def test_linear_forms_match_their_layers():
    x = torch.rand(2, 1, 6, 6)
    for name, make in LINEAR_FORMS.items():
        linear, n = make()
        assert linear(x, torch.randn(n)).shape == (2, 1, 12, 12), name


def test_phase_error_stats_known_values():
    target = torch.zeros(1, 1, 8, 8)
    output = torch.zeros(1, 1, 8, 8)
    output[..., 0::2, 1::2] = 1.0            # phase (0, 1) is off by 1
    output[..., 1::2, 1::2] = -2.0           # phase (1, 1) by -2
    means, squares = phase_error_stats(output, target, stride=2, border=1)
    assert means.tolist() == [[0.0, 1.0], [0.0, -2.0]] and squares.tolist() == [[0.0, 1.0], [0.0, 4.0]]
    with pytest.raises(ValueError, match="one shape"):
        phase_error_stats(output, target[..., :7])
    with pytest.raises(ValueError, match="less than one 2x2 cell"):
        phase_error_stats(output[..., :5, :5], target[..., :5, :5], border=2)


# Constructed cases: what the measure must call grid-locked, and what it must not.
TEST_TARGETS = smooth_images(64, seed=1)
TEST_INPUTS = F.avg_pool2d(TEST_TARGETS, 2)
BILINEAR = F.interpolate(TEST_INPUTS, scale_factor=2, mode="bilinear", align_corners=False)
ROWS, COLS = torch.arange(24)[:, None], torch.arange(24)[None, :]


def _blur(x):
    g = torch.tensor([1.0, 2.0, 1.0])
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), (g[:, None] * g[None, :] / 16)[None, None])


def _kernel(weight, k=None):
    k = weight.shape[-1]
    return F.conv_transpose2d(TEST_INPUTS, weight[None, None], None, 2, *same_size_padding(k, 2))


@pytest.mark.parametrize("name,output", [
    ("nearest: loses detail, alike at every phase", F.interpolate(TEST_INPUTS, scale_factor=2)),
    ("bilinear", BILINEAR),
    ("bicubic", F.interpolate(TEST_INPUTS, scale_factor=2, mode="bicubic", align_corners=False)),
    ("bilinear, then blurred: a smooth blur", _blur(BILINEAR)),
    ("bilinear, then a constant offset", BILINEAR + 0.05),
])
def test_errors_alike_at_every_phase_are_not_grid_locked(name, output):
    assert grid_locked_error(output, TEST_TARGETS) < 0.05, name


@pytest.mark.parametrize("name,output,low", [
    ("a +-0.02 diagonal checkerboard added", BILINEAR + 0.02 * (1 - 2 * ((ROWS + COLS) % 2)), 0.3),
    ("one phase in four brighter by 0.02", BILINEAR + 0.02 * ((ROWS % 2) * (COLS % 2)), 0.1),
    ("kernel 4: bilinear plus an alternating +-0.01", _kernel(bilinear_kernel(4) + 0.01 * (1 - 2 * (
        (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2))), 0.3),
    ("kernel 3 of ones: overlap 1, 2, 4", _kernel(torch.ones(3, 3) / 2.25), 0.9),
])
def test_known_checkerboards_are_grid_locked(name, output, low):
    assert grid_locked_error(output, TEST_TARGETS) > low, name


def test_grid_locked_error_bounds():
    assert grid_locked_error(TEST_TARGETS, TEST_TARGETS) == 0.0
    phase_only = TEST_TARGETS + 0.1 * ((ROWS % 2) * (COLS % 2))  # all of the error is on one phase
    assert grid_locked_error(phase_only, TEST_TARGETS) == pytest.approx(0.75)  # var of (0,0,0,.1)/mean sq
    assert 0.0 <= grid_locked_error(_kernel(bilinear_kernel(3)), TEST_TARGETS) <= 1.0


def test_bilinear_kernel_3_is_flat_inside_but_its_one_tap_phase_errs_more():
    """Uneven overlap does not force a checkerboard on a constant input; kernel 3's (0, 0) phase reads
    one input pixel, so even its least-squares optimum errs most there."""
    flat = F.conv_transpose2d(torch.ones(1, 1, 8, 8), bilinear_kernel(3)[None, None], None, 2, 1, 1)
    assert interior(flat).unique().tolist() == [1.0]
    targets = smooth_images(128, seed=0)
    linear, n = _transposed_linear(3)
    params = least_squares_fit(linear, n, F.avg_pool2d(targets, 2), targets)
    _, squares = phase_error_stats(linear(TEST_INPUTS, params), TEST_TARGETS)
    assert squares.argmax().item() == 0 and squares[0, 0] > 1.3 * squares[1, 1]
    assert grid_locked_error(linear(TEST_INPUTS, params), TEST_TARGETS) > 0.5


def test_upsampling_rivals_rows_and_orderings():
    scores, models = upsampling_rivals(seed=0, steps=5, n_train=32, n_test=16)
    assert set(models) == set(UPSAMPLERS)
    assert list(scores)[:3] == ["nearest", "bilinear", "bicubic"]
    assert {f"least squares: {name}" for name in LINEAR_FORMS} <= set(scores)
    mse = {k: v["MSE"] for k, v in scores.items()}
    assert mse["bicubic"] < mse["bilinear"] < mse["nearest"]
    assert mse["least squares: kernel 4"] < mse["least squares: kernel 4, no bias"] <= mse["bilinear"]
