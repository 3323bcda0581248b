"""Lesson 03 exercises (upsampling): the bilinear kernel, transposed convolution by hand, the
``stride x stride`` phase means that detect checkerboards, and the least-squares kernel (the best any
training of a linear upsampler can reach); a ``check_*`` and a ``solution_*`` for each."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from seglib.exercises.core import CheckResult, cases, compare, run_checks
from seglib.models.upsampling import interior, same_size_padding


def solution_bilinear_kernel(kernel_size: int) -> torch.Tensor:
    """Outer product of two 1-D tents centred at ``(kernel_size - 1) / 2``, zero ``factor`` away.
    The solution under the exercise in notebooks/03_upsampling.ipynb, section 6."""
    factor = (kernel_size + 1) // 2            # 2 for kernel sizes 3 and 4
    center = (kernel_size - 1) / 2             # the middle cell (odd) or between two (even)
    tent = 1 - (torch.arange(kernel_size) - center).abs() / factor
    return tent[:, None] * tent[None, :]


def solution_conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """Each input cell (i, j) adds its value times the kernel to the window at (i*s, j*s).
    The solution under the exercise in notebooks/03_upsampling.ipynb, section 6."""
    return _stamp(x, weight, stride)


def _stamp(x: torch.Tensor, weight: torch.Tensor, stride: int, overwrite: bool = False) -> torch.Tensor:
    """The solution's loop; ``overwrite`` is the usual slip of ``=`` for ``+=``."""
    n, _, h, w = x.shape
    _, c_out, k, _ = weight.shape
    out = torch.zeros(n, c_out, (h - 1) * stride + k, (w - 1) * stride + k)
    for i in range(h):
        for j in range(w):
            stamp = torch.einsum("nc,cokl->nokl", x[:, :, i, j], weight)  # sum over Cin
            window = out[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            window.copy_(stamp if overwrite else window + stamp)
    return out


def solution_phase_means(output: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """``[stride, stride]``: entry ``(r, c)`` is the mean of every ``output[..., i, j]`` with
    ``i % stride == r`` and ``j % stride == c`` (over all leading dimensions too).
    First used in notebooks/03_upsampling.ipynb, section 6."""
    return _phases(output, stride, lambda r, c: output[..., r::stride, c::stride])


def _phases(output: torch.Tensor, stride: int, phase: Callable) -> torch.Tensor:
    return torch.stack([torch.stack([phase(r, c).double().mean() for c in range(stride)])
                        for r in range(stride)])


def solution_least_squares_kernel(inputs: torch.Tensor, targets: torch.Tensor, kernel_size: int,
                                  border: int = 2) -> torch.Tensor:
    """The ``[k, k]`` kernel (no bias) whose stride-2 transposed convolution of ``inputs`` (padded by
    ``same_size_padding``) is closest to ``targets`` in MSE, ``border`` pixels left out.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    return _least_squares(inputs, targets, kernel_size, border)


def _least_squares(inputs: torch.Tensor, targets: torch.Tensor, k: int, border: int,
                   flip: bool = False, column_major: bool = False) -> torch.Tensor:
    """The solution's solve; ``flip`` and ``column_major`` are the usual slips."""
    padding, output_padding = same_size_padding(k, 2)
    columns = []
    for j in range(k * k):
        unit = torch.zeros(k * k)
        unit[j] = 1.0                                  # one weight at 1, the rest 0
        out = F.conv_transpose2d(inputs, unit.view(1, 1, k, k), stride=2, padding=padding,
                                 output_padding=output_padding)
        columns.append(interior(out, border).flatten())  # the output is linear in each weight
    design = torch.stack(columns, dim=1).double()
    wanted = interior(targets, border).flatten().double()
    gram, rhs = design.T @ design, design.T @ wanted      # the normal equations, in float64
    kernel = torch.linalg.solve(gram, rhs).view(k, k).float()
    kernel = kernel.T if column_major else kernel
    return kernel.flip(-2, -1) if flip else kernel


# --- the usual mistakes ---

def _tent(kernel_size: int, center: float, reach: float) -> torch.Tensor:
    tent = 1 - (torch.arange(kernel_size) - center).abs() / reach
    return tent[:, None] * tent[None, :]


BILINEAR_MISTAKES: dict[str, Callable] = {
    "the centre is at kernel_size // 2; for an even size it lies between two cells, at "
    "(kernel_size - 1) / 2":
        lambda k: _tent(k, k // 2, (k + 1) // 2),
    "the centre is at factor - 0.5, which is right only for even sizes; for an odd size the "
    "centre is the middle cell, (kernel_size - 1) / 2":
        lambda k: _tent(k, (k + 1) // 2 - 0.5, (k + 1) // 2),
    "the tent falls to zero kernel_size / 2 away; it should reach zero factor = "
    "ceil(kernel_size / 2) away (this differs for odd sizes)":
        lambda k: _tent(k, (k - 1) / 2, k / 2),
    "the tent is not normalised (factor - distance instead of 1 - distance / factor): the "
    "centre must weigh 1 and the weights fall linearly to 0":
        lambda k: solution_bilinear_kernel(k) * ((k + 1) // 2) ** 2,
    "the kernel is scaled to sum to 1; bilinear weights are 1 at the centre (each output "
    "pixel's weights from its input neighbours sum to 1, not the kernel's)":
        lambda k: solution_bilinear_kernel(k) / solution_bilinear_kernel(k).sum(),
}

CONV_TRANSPOSE_MISTAKES: dict[str, Callable] = {
    "windows start kernel_size apart (stride and kernel swapped); they start stride apart, "
    "at (i * stride, j * stride)":
        lambda x, w, stride=2: solution_conv_transpose2d(x, w, w.shape[-1]),
    "overlapping windows overwrite each other (=); contributions must add up (+=)":
        lambda x, w, stride=2: _stamp(x, w, stride, overwrite=True),
    "the kernel is flipped; a transposed convolution stamps the kernel as it is":
        lambda x, w, stride=2: solution_conv_transpose2d(x, w.flip(-2, -1), stride),
}


PHASE_MISTAKES: dict[str, Callable] = {
    "rows and columns are swapped: entry (r, c) is the phase of row r and column c, "
    "output[..., r::stride, c::stride]":
        lambda y, stride=2: solution_phase_means(y, stride).T,
    "the phases step by 1, not by the stride: take every stride-th row and column, "
    "starting at r and c (output[..., r::stride, c::stride])":
        lambda y, stride=2: _phases(y, stride, lambda r, c: y[..., r:, c:]),
    "only the rows were split into phases; split the columns too":
        lambda y, stride=2: _phases(y, stride, lambda r, c: y[..., r::stride, :]),
}


LEAST_SQUARES_MISTAKES: dict[str, Callable] = {
    "the kernel comes out transposed: weight j sits at row j // kernel_size, column j % kernel_size "
    "(view(k, k) of the solution, not a column-major reshape)":
        lambda x, t, k, border=2: _least_squares(x, t, k, border, column_major=True),
    "the kernel is flipped: a transposed convolution stamps the kernel as it is, so the weights "
    "solve for the stamp, not for a convolution's flipped kernel":
        lambda x, t, k, border=2: _least_squares(x, t, k, border, flip=True),
    "the border was fitted too: leave border pixels out of every column and of the targets "
    "(interior(out, border))":
        lambda x, t, k, border=2: _least_squares(x, t, k, 0),
}


# --- the checks ---

def check_bilinear_kernel(fn: Callable[[int], torch.Tensor]) -> CheckResult:
    """``fn(kernel_size)`` must return the ``[k, k]`` bilinear kernel, even and odd ``k``.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    return run_checks("bilinear_kernel", fn, cases(solution_bilinear_kernel, [
        ("kernel_size=4 (even: factor 2, FCN's 2x upsampling)", 4),
        ("kernel_size=3 (odd: centre on the middle cell)", 3),
        ("kernel_size=8 (even: factor 4)", 8),
        ("kernel_size=5 (odd: factor 3)", 5),
        ("kernel_size=2 (the smallest even kernel)", 2),
    ]), mistakes=BILINEAR_MISTAKES)


def check_conv_transpose2d(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """``fn(x, weight, stride)`` must equal ``F.conv_transpose2d`` (no padding).
    First used in notebooks/03_upsampling.ipynb, section 6."""
    g = torch.Generator().manual_seed(3)

    def ints(*shape: int) -> torch.Tensor:  # small integers keep the expected values exact
        return torch.randint(-3, 4, shape, generator=g).float()

    settings = [  # (x, weight, stride, why)
        (torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), torch.arange(1.0, 10.0).view(1, 1, 3, 3), 2,
         "the 2x2 input and 3x3 kernel of the worked example"),
        (ints(1, 1, 3, 3), ints(1, 1, 4, 4), 2, "kernel 4, stride 2 (as in FCN)"),
        (ints(1, 1, 2, 5), ints(1, 1, 3, 3), 2, "a non-square 2x5 input"),
        (ints(2, 3, 2, 3), ints(3, 2, 3, 3), 2, "batch 2, 3 input and 2 output channels"),
        (ints(1, 1, 3, 2), ints(1, 1, 3, 3), 1, "stride 1"),
        (ints(1, 2, 2, 2), ints(2, 1, 2, 2), 3, "stride 3 > kernel 2: gaps between windows"),
    ]
    return run_checks("conv_transpose2d", fn, cases(lambda x, w, s: F.conv_transpose2d(x, w, stride=s), [
        (f"x {tuple(x.shape)}, weight {tuple(w.shape)}, stride={s}: {why}", x, w, s)
        for x, w, s, why in settings
    ]), mistakes=CONV_TRANSPOSE_MISTAKES)


def check_phase_means(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """``fn(output, stride)`` must return the ``[stride, stride]`` phase means.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    g = torch.Generator().manual_seed(6)
    return run_checks("phase_means", fn, cases(solution_phase_means, [
        ("a constant map: every phase 0.5, stride=2", torch.full((1, 1, 6, 6), 0.5), 2),
        ("row + 10 * column on a 6x6 grid, stride=2", torch.arange(6.0)[:, None] + 10 * torch.arange(6.0), 2),
        ("a 2x4 checkerboard of four values, stride=2", torch.tensor([[1.0, 2, 1, 2], [3, 4, 3, 4]]), 2),
        ("a batch [2, 3, 7, 5]: odd sizes, phases of unequal size, stride=2",
         torch.rand(2, 3, 7, 5, generator=g), 2),
        ("stride 3 on a 9x8 map, stride=3", torch.rand(1, 1, 9, 8, generator=g), 3),
    ]), rtol=1e-6, mistakes=PHASE_MISTAKES)


def _kernel_answer(got, expected: torch.Tensor) -> str | None:
    """A tensor or a nested list, ``[k, k]`` or ``[1, 1, k, k]``, any float dtype; float32 rounding
    (e.g. normal equations solved in float32) is within the tolerance."""
    if not isinstance(got, torch.Tensor):
        try:
            got = torch.tensor(got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            return f"expected a [k, k] tensor or a nested list of numbers, got {type(got).__name__}"
    if got.dim() == 4 and tuple(got.shape[:2]) == (1, 1):
        got = got[0, 0]
    return compare(got, expected, rtol=1e-3)


def check_least_squares_kernel(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """``fn(inputs, targets, kernel_size, border)`` must return the least-squares ``[k, k]`` kernel.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    g = torch.Generator().manual_seed(11)

    def data(n: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:  # targets no kernel fits exactly
        return torch.rand(n, 1, h, w, generator=g), torch.rand(n, 1, 2 * h, 2 * w, generator=g)

    settings = [("kernel 4 (FCN's), border 2, 4 images of 6x6", *data(4, 6, 6), 4, 2),
                ("kernel 3 (odd: output_padding 1), border 2", *data(4, 6, 6), 3, 2),
                ("kernel 2 (no overlap), border 0", *data(3, 5, 5), 2, 0),
                ("kernel 5 on a non-square 5x7 input, border 3", *data(4, 5, 7), 5, 3),
                ("kernel 6, border 2", *data(6, 6, 6), 6, 2)]
    return run_checks("least_squares_kernel", fn, cases(solution_least_squares_kernel, settings),
                      comparer=_kernel_answer, mistakes=LEAST_SQUARES_MISTAKES)
