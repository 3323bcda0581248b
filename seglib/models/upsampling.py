"""Transposed convolution by hand, its output size, its steps (for the widget), checkerboard
overlaps, and FCN's bilinear initialisation. Built in notebooks/03_upsampling.ipynb."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def conv_transpose2d_by_hand(x: torch.Tensor, weight: torch.Tensor, stride: int = 1,
                             padding: int = 0, output_padding: int = 0,
                             bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv_transpose2d`` written out (``weight`` ``[Cin, Cout, k, k]``): cell ``(i, j)`` adds its values
    times the kernel at ``(i * stride, j * stride)``, then ``padding`` crops every side. Section 2.
    First used in notebooks/03_upsampling.ipynb, section 2.
    """
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
        transposed_output_size(size, k, stride, padding, output_padding)  # a clear error for nonsense
    (n, _, h, w), (_, c_out, kh, kw) = x.shape, weight.shape
    full_h, full_w = (h - 1) * stride + kh + output_padding, (w - 1) * stride + kw + output_padding
    out = x.new_zeros(n, c_out, full_h, full_w)
    for i in range(h):
        for j in range(w):
            stamp = torch.tensordot(x[:, :, i, j], weight, dims=1)  # [N, Cout, kh, kw]
            out[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += stamp
    out = out[:, :, padding:full_h - padding, padding:full_w - padding]
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def transposed_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                           output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (``nn.ConvTranspose2d``'s rule): where the
    last window starts plus its width, minus ``padding`` on both sides, plus ``output_padding``. Section 3.
    First used in notebooks/03_upsampling.ipynb, section 3.
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


@dataclass(frozen=True)
class TransposedConvStep:
    """Input cell ``position`` stamped ``contribution`` into ``window`` (top, left, bottom, right;
    exclusive) of the uncropped output; ``partial`` is that output so far, ``output`` it cropped."""

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
    """A one-channel transposed convolution (``x [H, W]``, ``weight [k, k]``) one input cell at a
    time, row by row; the last step's ``output`` equals ``F.conv_transpose2d``.
    First used in notebooks/03_upsampling.ipynb, section 2."""
    if x.dim() != 2 or weight.dim() != 2:
        raise ValueError(f"x must be [H, W] and weight [k, k] (one channel); "
                         f"got {tuple(x.shape)} and {tuple(weight.shape)}")
    (h, w), (kh, kw) = x.shape, weight.shape
    for n, k in ((h, kh), (w, kw)):
        transposed_output_size(n, k, stride, padding)
    partial = x.new_zeros((h - 1) * stride + kh, (w - 1) * stride + kw)
    steps = []
    for i in range(h):
        for j in range(w):
            top, left = i * stride, j * stride
            partial = partial.clone()
            partial[top:top + kh, left:left + kw] += x[i, j] * weight
            steps.append(TransposedConvStep((i, j), (top, left, top + kh, left + kw),
                                            x[i, j] * weight, partial, padding))
    return steps


def overlap_count(kernel_size: int, stride: int, length: int) -> torch.Tensor:
    """How many kernel windows write each output pixel along one axis (no padding): uneven unless
    ``stride`` divides ``kernel_size``, the checkerboard of Odena et al. (2016). Section 6.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    transposed_output_size(length, kernel_size, stride)
    counts = torch.zeros((length - 1) * stride + kernel_size, dtype=torch.int64)
    for i in range(length):
        counts[i * stride:i * stride + kernel_size] += 1
    return counts


def bilinear_kernel(kernel_size: int) -> torch.Tensor:
    """FCN's bilinear kernel ``[k, k]``: the outer product of two tents that reach zero
    ``factor = ceil(k / 2)`` from the centre, e.g. ``[.25, .75, .75, .25]``. Section 5.
    First used in notebooks/03_upsampling.ipynb, section 5."""
    factor, center = (kernel_size + 1) // 2, (kernel_size - 1) / 2
    tent = (1 - (torch.arange(kernel_size, dtype=torch.float64) - center).abs() / factor).float()
    return tent[:, None] * tent[None, :]


def bilinear_upsampler(channels: int, factor: int, trainable: bool = True) -> nn.ConvTranspose2d:
    """A ``ConvTranspose2d`` that upsamples ``channels`` maps ``factor`` times, starting as bilinear (exact
    away from the border). Trainable: a dense ``[C, C]`` weight, as in FCN; fixed: grouped. Section 5.
    First used in notebooks/03_upsampling.ipynb, section 5."""
    if factor < 2 or factor % 2:
        raise ValueError(f"factor must be an even integer >= 2, got {factor}")
    layer = nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor,
                               padding=factor // 2, groups=1 if trainable else channels, bias=False)
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
