"""Learnable upsampling: transposed convolution and its bilinear initialisation.

FCN upsamples coarse class scores with ``nn.ConvTranspose2d`` layers whose weights start
as bilinear interpolation (Long et al., 2015), so training begins from a sensible,
smooth upsampling and can only improve on it.
"""
from __future__ import annotations

import torch
from torch import nn


def bilinear_kernel_1d(kernel_size: int) -> torch.Tensor:
    """A 1-D tent: weight falls off linearly with distance from the kernel's centre.

    For ``kernel_size = 2 * factor`` (even) or ``2 * factor - 1`` (odd) this is exactly
    the weighting that bilinear upsampling by ``factor`` gives to neighbouring inputs.
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
    """A ``ConvTranspose2d`` that upsamples ``channels`` maps exactly ``factor`` times.

    kernel ``2 * factor``, stride ``factor``, padding ``factor // 2``: the output is
    ``factor * H`` by ``factor * W`` (for even ``factor``), aligned with the input, and
    each channel is upsampled on its own (channel ``c`` reads only input channel ``c``).
    """
    if factor < 2 or factor % 2:
        raise ValueError(f"factor must be an even integer >= 2, got {factor}")
    layer = nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor,
                               padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        kernel = bilinear_kernel(2 * factor)
        for c in range(channels):
            layer.weight[c, c] = kernel
    layer.weight.requires_grad_(trainable)
    return layer
