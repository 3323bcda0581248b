"""Transposed convolution by hand, its output size, its steps (for the widget), checkerboard
overlaps, FCN's bilinear initialisation, and section 6's experiment: trained upsamplers against
interpolation without weights and against their least-squares optimum, with the grid-locked share of
their error. Built in notebooks/03_upsampling.ipynb."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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
    exclusive) of the uncropped output; ``partial`` is that output so far, ``output`` it cropped.
    First used in notebooks/03_upsampling.ipynb, section 2."""

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


# --- Section 6: what an upsampler can learn, against interpolation without weights -------------------

def same_size_padding(kernel_size: int, stride: int) -> tuple[int, int]:
    """``(padding, output_padding)`` that make a transposed convolution exactly ``stride`` times larger,
    from ``(n - 1) s - 2p + k + op = s n``: e.g. kernel 4 -> (1, 0), kernel 3 -> (1, 1). Section 6.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    if kernel_size < stride:
        raise ValueError(f"kernel_size={kernel_size} is smaller than stride={stride}: the stamps leave "
                         f"gaps and no padding makes the output exactly {stride} times larger")
    padding, output_padding = (kernel_size - stride + 1) // 2, (kernel_size - stride) % 2
    transposed_output_size(1, kernel_size, stride, padding, output_padding)  # a clear error if impossible
    return padding, output_padding


def smooth_images(n: int, seed: int, size: int = 24) -> torch.Tensor:
    """Smooth random images ``[n, 1, size, size]``: 5x5 uniform values, bilinearly enlarged. The
    section 6 task upsamples their 2x2 averages back. Section 6.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    coarse = torch.rand(n, 1, 5, 5, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def interior(x: torch.Tensor, border: int = 2) -> torch.Tensor:
    """``x`` without its outer ``border`` pixels, where a transposed convolution reads zeros past the
    edge and ``F.interpolate`` repeats the edge: scores there measure padding, not upsampling.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    return x[..., border:x.shape[-2] - border, border:x.shape[-1] - border] if border else x


UPSAMPLERS = ("kernel 3, stride 2", "kernel 4, stride 2", "resize, then conv 3x3",
              "FCN: kernel 4, bilinear start")
"""The trained upsamplers of section 6; the first three add a ReLU and a 1x1 convolution (8 channels)."""


def _upsampler(kind: str) -> nn.Module:
    """A fresh 2x upsampler ``[N, 1, h, w] -> [N, 1, 2h, 2w]`` of the ``kind`` named in ``UPSAMPLERS``:
    FCN's is one linear bilinear-initialised layer without bias (as in FCN); the others are the layer
    with 8 output channels, a ReLU and a 1x1 convolution. Section 6."""
    if kind == "FCN: kernel 4, bilinear start":
        return bilinear_upsampler(1, 2)
    layers = {"kernel 3, stride 2": lambda: nn.ConvTranspose2d(1, 8, 3, 2, *same_size_padding(3, 2)),
              "kernel 4, stride 2": lambda: nn.ConvTranspose2d(1, 8, 4, 2, *same_size_padding(4, 2)),
              "resize, then conv 3x3": lambda: nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                              nn.Conv2d(1, 8, 3, padding=1))}
    if kind not in layers:
        raise ValueError(f"unknown upsampler {kind!r}; choose one of {UPSAMPLERS}")
    return nn.Sequential(layers[kind](), nn.ReLU(), nn.Conv2d(8, 1, 1))


def _train_upsampler(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, steps: int,
                    lr: float, batch_size: int = 16, border: int = 2) -> nn.Module:
    """Adam on the interior MSE, batches taken in order (cycling), so a run is fixed by the model's
    initialisation alone. Returns ``model``, trained in place. Section 6."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        batch = torch.arange(step * batch_size, (step + 1) * batch_size) % len(inputs)
        loss = F.mse_loss(interior(model(inputs[batch]), border), interior(targets[batch], border))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def least_squares_fit(linear: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n_params: int,
                      inputs: torch.Tensor, targets: torch.Tensor, border: int = 2) -> torch.Tensor:
    """The ``n_params`` parameters ``p`` minimising the interior MSE of ``linear(inputs, p)`` against
    ``targets``, for any ``linear`` that is linear in ``p`` (a transposed convolution in its kernel and
    bias): column ``j`` of the design matrix is the output for the ``j``-th unit vector; the normal
    equations, solved in float64. No training of that layer can score lower on these images. Section 6.
    Explained in notebooks/03_upsampling.ipynb, section 6 (the bound in its table)."""
    if linear(inputs[:1], torch.zeros(n_params)).abs().max() > 0:
        raise ValueError("linear(inputs, 0) must be all zeros: the function is not linear in its "
                         "parameters (an affine part belongs in a parameter, e.g. a bias times ones)")
    columns = [interior(linear(inputs, unit), border).flatten() for unit in torch.eye(n_params)]
    design = torch.stack(columns, dim=1).double()
    wanted = interior(targets, border).flatten().double()[:, None]
    return torch.linalg.lstsq(design.T @ design, design.T @ wanted).solution.flatten().float()


def _transposed_linear(kernel_size: int, stride: int = 2, bias: bool = True) -> tuple[Callable, int]:
    """A one-channel transposed convolution as ``(fn(x, params), n_params)``: ``params`` is the
    flattened ``[k, k]`` kernel, then the bias; sized by :func:`same_size_padding`. Section 6."""
    padding, output_padding = same_size_padding(kernel_size, stride)
    k2 = kernel_size * kernel_size

    def fn(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, params[:k2].view(1, 1, kernel_size, kernel_size),
                                  params[k2:] if bias else None, stride, padding, output_padding)
    return fn, k2 + int(bias)


def _resize_conv_linear(kernel_size: int = 3, factor: int = 2) -> tuple[Callable, int]:
    """Nearest upsampling then one ``k x k`` convolution with bias, as ``(fn(x, params), n_params)``."""
    k2 = kernel_size * kernel_size

    def fn(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.interpolate(x, scale_factor=factor, mode="nearest"),
                        params[:k2].view(1, 1, kernel_size, kernel_size), params[k2:],
                        padding=kernel_size // 2)
    return fn, k2 + 1


LINEAR_FORMS = {"kernel 3": lambda: _transposed_linear(3), "kernel 4": lambda: _transposed_linear(4),
                "resize, conv 3x3": lambda: _resize_conv_linear(3),
                "kernel 4, no bias": lambda: _transposed_linear(4, bias=False)}
"""Each trained upsampler's linear form (drop the ReLU; FCN's is linear already, without bias)."""


def phase_error_stats(output: torch.Tensor, target: torch.Tensor, stride: int = 2,
                      border: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and mean square of the error ``output - target`` in each phase ``(row % stride, column %
    stride)`` of the output grid, over the interior of every image: two ``[stride, stride]`` tensors.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    if output.shape != target.shape or output.dim() < 2:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} must be maps "
                         f"[..., H, W] of one shape")
    error = (output - target).double()
    h, w = error.shape[-2:]
    if h - 2 * border < stride or w - 2 * border < stride:
        raise ValueError(f"a {h}x{w} map without a border of {border} holds less than one "
                         f"{stride}x{stride} cell")
    means, squares = torch.zeros(stride, stride, dtype=torch.float64), torch.zeros(stride, stride,
                                                                                   dtype=torch.float64)
    for r in range(stride):
        for c in range(stride):
            top, left = border + (r - border) % stride, border + (c - border) % stride
            phase = error[..., top:h - border:stride, left:w - border:stride]
            means[r, c], squares[r, c] = phase.mean(), phase.pow(2).mean()
    return means, squares


def grid_locked_error(output: torch.Tensor, target: torch.Tensor, stride: int = 2,
                      border: int = 2) -> float:
    """The share of the interior MSE that depends on where a pixel sits on the stride grid: the
    spread of the phases' mean errors (a pattern that repeats every ``stride`` pixels, Odena's
    checkerboard) plus the worse phases' excess error variance over the best phase's. 0 when every
    phase errs alike (nearest, bilinear, any blur), 1 when the whole error is grid-locked. Lost
    detail that every phase loses alike does not count. Section 6.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    means, squares = (t.flatten() for t in phase_error_stats(output, target, stride, border))
    variances = squares - means ** 2
    pattern = (means - means.mean()).pow(2).mean()
    uneven = variances.mean() - variances.min()
    mse = squares.mean()
    return 0.0 if mse == 0 else ((pattern + uneven) / mse).item()


def upsampling_rivals(seed: int, steps: int, n_train: int = 256, n_test: int = 64,
                      border: int = 2) -> tuple[dict[str, dict[str, float]], dict[str, nn.Module]]:
    """Section 6's table for one seed: test MSE and grid-locked share (interior) of the weight-free
    interpolations, every trained upsampler after ``steps`` Adam steps, and the least-squares optimum
    of each linear form; plus the trained models. Seed ``s`` draws training images from seed ``2s``,
    test images from ``2s + 1``, and initialises every model with ``torch.manual_seed(s)``.
    Used by benchmarks/bench_upsampling.py and the lesson.
    First used in notebooks/03_upsampling.ipynb, section 6."""
    train_targets, test_targets = smooth_images(n_train, 2 * seed), smooth_images(n_test, 2 * seed + 1)
    train_inputs, test_inputs = F.avg_pool2d(train_targets, 2), F.avg_pool2d(test_targets, 2)

    def score(output: torch.Tensor) -> dict[str, float]:
        return {"MSE": F.mse_loss(interior(output, border), interior(test_targets, border)).item(),
                "grid-locked": grid_locked_error(output, test_targets, 2, border)}

    scores: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for mode in ("nearest", "bilinear", "bicubic"):
            options = {} if mode == "nearest" else {"align_corners": False}
            scores[mode] = score(F.interpolate(test_inputs, scale_factor=2, mode=mode, **options))
    models = {}
    for kind in UPSAMPLERS:
        torch.manual_seed(seed)
        lr = 0.002 if kind.startswith("FCN") else 0.02  # FCN's layer starts at a good answer: fine-tune
        models[kind] = _train_upsampler(_upsampler(kind), train_inputs, train_targets, steps, lr,
                                       border=border)
        with torch.no_grad():
            scores[kind] = score(models[kind](test_inputs))
    for name, make in LINEAR_FORMS.items():
        linear, n_params = make()
        params = least_squares_fit(linear, n_params, train_inputs, train_targets, border)
        scores[f"least squares: {name}"] = score(linear(test_inputs, params))
    return scores, models
