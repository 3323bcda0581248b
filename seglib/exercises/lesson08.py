"""Lesson 08 exercises (comparison): a convolution's multiply-adds by formula, and the peak bytes of
one float32 training step; a ``check_*`` and a ``solution_*`` for each."""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

from seglib.exercises.core import CheckResult, cases, run_checks


def _out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def solution_conv_multiply_adds(conv: nn.Conv2d, height: int, width: int) -> int:
    """One multiply-add per weight per output position: ``H_out W_out C_out (C_in / groups) k_h k_w``.
    The solution under the exercise in notebooks/08_comparison.ipynb, section 9."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    positions = _out(height, kh, sh, ph, dh) * _out(width, kw, sw, pw, dw)
    return positions * conv.out_channels * conv.in_channels // conv.groups * kh * kw


OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}
"""Tensors the size of the weights that each optimizer keeps (Adam: two running moments)."""


def solution_training_bytes(parameters: int, activation_bytes: int, optimizer: str) -> int:
    """float32 weights + their gradients + the optimizer's state, plus the saved activations.
    The solution under the exercise in notebooks/08_comparison.ipynb, section 9."""
    return 4 * parameters * (2 + OPTIMIZER_STATES[optimizer]) + activation_bytes


# --- the usual mistakes ---

def _macs_on_input(conv: nn.Conv2d, height: int, width: int) -> int:
    kh, kw = conv.kernel_size
    return height * width * conv.out_channels * conv.in_channels // conv.groups * kh * kw


MACS_MISTAKES: dict[str, Callable] = {
    "this counts one position per *input* pixel; count the output positions, which stride, "
    "padding and dilation change: (H + 2p - d(k - 1) - 1) // s + 1":
        _macs_on_input,
    "a grouped convolution connects each output channel to in_channels / groups inputs only":
        lambda conv, h, w: solution_conv_multiply_adds(conv, h, w) * conv.groups,
    "this is the parameter count (a weight is used once per output position, not once)":
        lambda conv, h, w: conv.weight.numel(),
}

BYTES_MISTAKES: dict[str, Callable] = {
    "the gradients are missing: backward writes one float per weight":
        lambda p, a, opt: 4 * p * (1 + OPTIMIZER_STATES[opt]) + a,
    "a float32 number takes 4 bytes, not 1":
        lambda p, a, opt: p * (2 + OPTIMIZER_STATES[opt]) + a,
    "Adam keeps two tensors per weight (first and second moments), momentum SGD one, plain SGD none":
        lambda p, a, opt: 4 * p * (2 + (opt != "sgd")) + a,
}


# --- the checks ---

def check_conv_multiply_adds(fn: Callable[[nn.Conv2d, int, int], int]) -> CheckResult:
    """``fn(conv, height, width)`` must give the multiply-adds of ``conv`` on one image.
    First used in notebooks/08_comparison.ipynb, section 9."""
    return run_checks("conv_multiply_adds", fn, cases(solution_conv_multiply_adds, [
        ("3x3, 3 -> 8 channels, padding 1, on 10x10", nn.Conv2d(3, 8, 3, padding=1), 10, 10),
        ("7x7 fc6-style, 4 -> 16, no padding, on 9x9", nn.Conv2d(4, 16, 7), 9, 9),
        ("3x3 stride 2 on an odd 11x15 input", nn.Conv2d(2, 4, 3, stride=2, padding=1), 11, 15),
        ("1x1 scoring layer, 64 -> 21, on 16x16", nn.Conv2d(64, 21, 1), 16, 16),
        ("3x3 dilation 2, padding 2, on 12x12", nn.Conv2d(4, 4, 3, padding=2, dilation=2), 12, 12),
        ("grouped 3x3, 8 -> 8, groups 4, on 8x8", nn.Conv2d(8, 8, 3, padding=1, groups=4), 8, 8),
    ]), rtol=0, mistakes=MACS_MISTAKES)


def check_training_bytes(fn: Callable[[int, int, str], int]) -> CheckResult:
    """``fn(parameters, activation_bytes, optimizer)`` must give a float32 step's peak bytes.
    First used in notebooks/08_comparison.ipynb, section 9."""
    return run_checks("training_bytes", fn, cases(solution_training_bytes, [
        ("FCN-8s (134,270,278 weights) with Adam, 900 MB of activations", 134_270_278, 900_000_000, "adam"),
        ("a small net, plain SGD", 1_000, 5_000, "sgd"),
        ("a small net, SGD with momentum", 1_000, 5_000, "momentum"),
        ("no activations kept (inference-like), Adam", 10, 0, "adam"),
    ]), rtol=0, mistakes=BYTES_MISTAKES)
