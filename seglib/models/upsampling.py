"""Transposed convolution by hand, its output size, its steps (for the widget), checkerboard
overlaps, and FCN's bilinear initialisation. Built in notebooks/03_upsampling.ipynb."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


# --- the operation, by hand ------------------------------------------------------------

def conv_transpose2d_by_hand(x: torch.Tensor, weight: torch.Tensor, stride: int = 1,
                             padding: int = 0, output_padding: int = 0,
                             bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv_transpose2d`` written out: every input cell stamps a scaled kernel.

    Built in notebooks/03_upsampling.ipynb, section 2.

    ``x`` is ``[N, Cin, H, W]``, ``weight`` is ``[Cin, Cout, k, k]`` (PyTorch's layout for
    transposed convolutions). Input cell ``(i, j)`` adds ``x[:, :, i, j]`` times the kernel
    to the output window that starts at ``(i * stride, j * stride)``; windows overlap when
    ``k > stride`` and their contributions add up. ``padding`` then crops ``padding`` rows
    and columns from every side, and ``output_padding`` keeps that many extra rows and
    columns at the bottom and right. Slow (a Python loop over cells): for teaching only.
    """
    _check_by_hand_inputs(x, weight, stride, padding, output_padding, bias)
    n, _, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    full_h = (h - 1) * stride + kh + output_padding
    full_w = (w - 1) * stride + kw + output_padding
    out = x.new_zeros(n, c_out, full_h, full_w)
    for i in range(h):
        for j in range(w):
            # [N, Cin] x [Cin, Cout, kh, kw] -> [N, Cout, kh, kw]: one stamp per sample
            stamp = torch.tensordot(x[:, :, i, j], weight, dims=1)
            out[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += stamp
    out = out[:, :, padding:full_h - padding, padding:full_w - padding]
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def _check_by_hand_inputs(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int,
                          output_padding: int, bias: torch.Tensor | None) -> None:
    """Raise a ``ValueError`` that names the problem before the loop produces nonsense."""
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"x must be [N, Cin, H, W] and weight [Cin, Cout, k, k]; "
                         f"got x {tuple(x.shape)} and weight {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"x has {x.shape[1]} channels but weight expects {weight.shape[0]} "
                         f"(a transposed-conv weight is [Cin, Cout, k, k], Cin first)")
    if bias is not None and tuple(bias.shape) != (weight.shape[1],):
        raise ValueError(f"bias must have one value per output channel, shape ({weight.shape[1]},); "
                         f"got {tuple(bias.shape)}")
    for size, k in zip(x.shape[-2:], weight.shape[-2:], strict=True):
        transposed_output_size(size, k, stride, padding, output_padding)


# --- shape arithmetic ------------------------------------------------------------------

def transposed_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                           output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (``nn.ConvTranspose2d``'s rule).

    ``(size - 1) * stride`` is where the last window starts, ``dilation * (kernel_size - 1) + 1``
    is how wide a window is, ``- 2 * padding`` crops both sides, ``+ output_padding`` adds
    rows back on one side. ``output_padding`` exists because a stride-``s`` convolution
    maps ``s`` different input sizes to the same output size; it picks which one to go
    back to, so it must be smaller than ``stride`` (or than ``dilation``).
    """
    for name, value, low in (("size", size, 1), ("kernel_size", kernel_size, 1),
                             ("stride", stride, 1), ("dilation", dilation, 1),
                             ("padding", padding, 0), ("output_padding", output_padding, 0)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if output_padding >= max(stride, dilation):
        raise ValueError(f"output_padding={output_padding} must be smaller than stride={stride} "
                         f"(or dilation={dilation}): it only chooses among the {stride} sizes "
                         f"that a stride-{stride} convolution maps to the same output")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"size={size}, kernel_size={kernel_size}, stride={stride}, "
                         f"padding={padding} gives an output of {out}: padding crops away "
                         f"everything; use a smaller padding")
    return out


# --- the same computation, step by step (what the widget shows) --------------------------

@dataclass(frozen=True)
class TransposedConvStep:
    """One step: input cell ``position`` stamped ``contribution`` into ``window`` of the output.

    ``window`` is ``(top, left, bottom, right)`` (bottom/right exclusive) in the *uncropped*
    output, whose size is ``(H - 1) * stride + k``; ``partial`` is that uncropped output
    after this step, and ``output`` is ``partial`` with ``padding`` cropped from every side,
    which after the last step equals ``F.conv_transpose2d``.
    """

    position: tuple[int, int]
    window: tuple[int, int, int, int]
    contribution: torch.Tensor
    partial: torch.Tensor
    padding: int

    @property
    def output(self) -> torch.Tensor:
        p = self.padding
        return self.partial[p:self.partial.shape[0] - p, p:self.partial.shape[1] - p]


def transposed_conv_steps(x: torch.Tensor, weight: torch.Tensor, stride: int = 1,
                          padding: int = 0) -> list[TransposedConvStep]:
    """Record a single-channel transposed convolution one input cell at a time (row by row).

    ``x`` is ``[H, W]`` and ``weight`` is ``[k, k]``. Step ``t`` holds the sum of the first
    ``t + 1`` contributions, so the last step is the full result.
    """
    if x.dim() != 2 or weight.dim() != 2:
        raise ValueError(f"x must be [H, W] and weight [k, k] (one channel); "
                         f"got {tuple(x.shape)} and {tuple(weight.shape)}")
    (h, w), (kh, kw) = x.shape, weight.shape
    for n, k in ((h, kh), (w, kw)):
        transposed_output_size(n, k, stride, padding)  # a clear error for an impossible setting
    partial = x.new_zeros((h - 1) * stride + kh, (w - 1) * stride + kw)
    steps = []
    for i in range(h):
        for j in range(w):
            top, left = i * stride, j * stride
            contribution = x[i, j] * weight
            partial = partial.clone()
            partial[top:top + kh, left:left + kw] += contribution
            steps.append(TransposedConvStep((i, j), (top, left, top + kh, left + kw),
                                            contribution, partial, padding))
    return steps


def overlap_count(kernel_size: int, stride: int, length: int) -> torch.Tensor:
    """How many kernel windows write each output pixel, along one axis (no padding).

    ``length`` input cells give ``(length - 1) * stride + kernel_size`` output pixels. Away
    from the ends every pixel is written equally often only when ``kernel_size`` is
    divisible by ``stride``; otherwise the counts alternate, and in 2-D (the outer product
    of two such rows) they form the checkerboard of Odena et al. (2016).
    """
    transposed_output_size(length, kernel_size, stride)  # validates the arguments
    counts = torch.zeros((length - 1) * stride + kernel_size, dtype=torch.int64)
    for i in range(length):
        counts[i * stride:i * stride + kernel_size] += 1
    return counts


# --- bilinear initialisation (FCN) ------------------------------------------------------

def bilinear_kernel_1d(kernel_size: int) -> torch.Tensor:
    """A 1-D tent: weight falls off linearly with distance from the kernel's centre.

    The centre is ``(kernel_size - 1) / 2`` and the tent reaches zero one ``factor`` away,
    with ``factor = ceil(kernel_size / 2)``. For ``kernel_size = 2 * factor`` (even) or
    ``2 * factor - 1`` (odd) this is exactly the weighting that bilinear upsampling by
    ``factor`` gives to neighbouring inputs, e.g. ``[0.25, 0.75, 0.75, 0.25]`` for 4.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    positions = torch.arange(kernel_size, dtype=torch.float64)
    return (1 - (positions - center).abs() / factor).float()


def bilinear_kernel(kernel_size: int) -> torch.Tensor:
    """The 2-D bilinear kernel ``(kernel_size, kernel_size)``: outer product of two tents."""
    tent = bilinear_kernel_1d(kernel_size)
    return tent[:, None] * tent[None, :]


def bilinear_upsampler(channels: int, factor: int, trainable: bool = True) -> nn.ConvTranspose2d:
    """A ``ConvTranspose2d`` that upsamples ``channels`` maps exactly ``factor`` times, starting as bilinear.

    Kernel ``2 * factor``, stride ``factor``, padding ``factor // 2``: ``factor * H`` by
    ``factor * W``, aligned with the input. Each channel is upsampled on its own: a trainable
    layer holds the kernel on the diagonal of a dense ``[C, C]`` weight (training may mix
    channels, as in FCN); a fixed one is grouped (``groups=channels``), the same output for
    less work. Away from the border it equals ``F.interpolate(mode="bilinear")``; at the
    border it sees zeros where ``F.interpolate`` repeats the edge.
    Built in notebooks/03_upsampling.ipynb, section 5.
    """
    if factor < 2 or factor % 2:
        raise ValueError(f"factor must be an even integer >= 2, got {factor}")
    groups = 1 if trainable else channels
    layer = nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor,
                               padding=factor // 2, groups=groups, bias=False)
    with torch.no_grad():
        kernel = bilinear_kernel(2 * factor)
        if trainable:
            layer.weight.zero_()
            for c in range(channels):
                layer.weight[c, c] = kernel
        else:
            layer.weight.copy_(kernel.expand_as(layer.weight))
    layer.weight.requires_grad_(trainable)
    return layer
