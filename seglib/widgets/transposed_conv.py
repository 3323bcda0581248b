"""A widget that steps through a transposed convolution one input cell at a time, so the learner can watch
windows overlap, tile or leave gaps as stride and kernel size change; ``plot_steps`` draws a few steps.
The arithmetic is ``seglib.models.upsampling.transposed_conv_steps``; this module only draws it.
"""
from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from seglib.models.upsampling import TransposedConvStep, transposed_conv_steps, transposed_output_size
from seglib.widgets.snapshot import StillThenPanel


def _default_kernel(kernel_size: int = 3) -> torch.Tensor:
    """``1 .. k*k`` row by row: distinct values show where each kernel entry lands."""
    return torch.arange(1.0, kernel_size * kernel_size + 1).view(kernel_size, kernel_size)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2g}"


def _draw_grid(ax: Axes, values: torch.Tensor, title: str, vmax: float | None = None,
               box: tuple[int, int, int, int] | None = None,
               keep: tuple[int, int, int, int] | None = None) -> None:
    """Draw ``values`` as a grid of numbered cells; outline ``box`` in red, ``keep`` dashed (boxes are
    ``(top, left, bottom, right)``, exclusive ends)."""
    values = values.detach().double().numpy()
    vmax = vmax or max(np.abs(values).max(), 1e-8)
    ax.imshow(values, cmap="RdBu_r", vmin=-vmax, vmax=vmax, alpha=0.8)
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, _fmt(v), ha="center", va="center", fontsize=8)
    for rect, style in ((keep, dict(edgecolor="black", linestyle="--")),
                        (box, dict(edgecolor="red", linewidth=2.5))):
        if rect is not None:
            top, left, bottom, right = rect
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, **style))
    ax.set_title(title, fontsize=9)
    ax.set(xticks=[], yticks=[])


def plot_steps(x: torch.Tensor, kernel: torch.Tensor, stride: int = 2, padding: int = 0,
               steps: tuple[int, ...] = (0, 1, 3), figsize: tuple[float, float] = (8, 2.6)) -> Figure:
    """A static picture: the input, the kernel, and the output after each of ``steps``.
    First used in notebooks/03_upsampling.ipynb, section 2."""
    all_steps = transposed_conv_steps(x, kernel, stride, padding)
    vmax = all_steps[-1].partial.abs().max().item()
    fig = Figure(figsize=figsize, layout="constrained")
    widths = [x.shape[1], kernel.shape[1]] + [all_steps[0].partial.shape[1]] * len(steps)
    axes = fig.subplots(1, 2 + len(steps), gridspec_kw={"width_ratios": widths})
    _draw_grid(axes[0], x, "input x")
    _draw_grid(axes[1], kernel, "kernel")
    for ax, t in zip(axes[2:], steps, strict=True):
        step = all_steps[t]
        _draw_grid(ax, step.partial, f"after step {t + 1}: x{list(step.position)}", vmax=vmax,
                   box=step.window)
    return fig


class TransposedConvStepper(StillThenPanel, widgets.VBox):
    """Step through ``x`` (``[H, W]``) transposed-convolved with ``kernel`` (``[k, k]``): Play and a step
    slider over the input cells, stride and kernel-size sliders (a new size takes ``_default_kernel``).
    First used in notebooks/03_upsampling.ipynb, section 2."""

    def __init__(self, x: torch.Tensor | None = None, kernel: torch.Tensor | None = None,
                 stride: int = 2, padding: int = 0) -> None:
        self.x = torch.as_tensor([[1.0, 2.0], [3.0, 4.0]] if x is None else x).float()  # the worked example
        self.kernel = (_default_kernel() if kernel is None else torch.as_tensor(kernel)).float()
        if self.x.dim() != 2 or self.kernel.dim() != 2 or self.kernel.shape[0] != self.kernel.shape[1]:
            raise ValueError(f"x must be [H, W] and kernel square [k, k]; got "
                             f"{tuple(self.x.shape)} and {tuple(self.kernel.shape)}")
        self.padding = padding
        self.steps = transposed_conv_steps(self.x, self.kernel, stride, padding)
        last = len(self.steps) - 1
        self.step = widgets.IntSlider(value=0, min=0, max=last, description="step")
        self.play = widgets.Play(value=0, min=0, max=last, interval=1200, description="Play")
        widgets.jslink((self.play, "value"), (self.step, "value"))
        self.stride = widgets.IntSlider(value=stride, min=1, max=4, description="stride")
        self.kernel_size = widgets.IntSlider(value=self.kernel.shape[0], min=1, max=5,
                                             description="kernel size")
        self.caption = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.step.observe(lambda _: self._draw(), names="value")
        self.stride.observe(lambda _: self._rebuild(), names="value")
        self.kernel_size.observe(lambda _: self._rebuild(new_kernel=True), names="value")
        super().__init__([widgets.HBox([self.play, self.step]), widgets.HBox([self.stride, self.kernel_size]),
                          self.caption, self.image])
        self.add_class("seglib-transposed-conv-stepper")  # stable hooks for the browser test and styling
        self.step.add_class("seglib-tc-step")
        self.image.add_class("seglib-tc-picture")
        self._draw()

    def _still_png(self) -> bytes:
        return bytes(self.image.value)

    def _panel(self) -> widgets.Widget:
        return self

    @property
    def current(self) -> TransposedConvStep:
        """The step the slider points at."""
        return self.steps[self.step.value]

    def _rebuild(self, new_kernel: bool = False) -> None:
        """Recompute the steps after a stride or kernel-size change; keep the slider in range."""
        kernel = _default_kernel(self.kernel_size.value) if new_kernel else self.kernel
        try:
            steps = transposed_conv_steps(self.x, kernel, self.stride.value, self.padding)
        except ValueError as err:  # e.g. padding crops away everything: say so, keep the old steps
            self.caption.value = f"<b>Not possible:</b> {err}"
            return
        self.kernel, self.steps = kernel, steps
        self.step.max = self.play.max = len(steps) - 1  # clamping the slider draws once more
        self._draw()

    def _draw(self) -> None:
        """Input (current cell), kernel, this step's stamp and the output so far; then the caption."""
        x, kernel, step = self.x, self.kernel, self.current
        (i, j), s, p, k = step.position, self.stride.value, self.padding, kernel.shape[0]
        rows, cols = step.partial.shape
        fig = Figure(figsize=(10, 2.8), layout="constrained")
        axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [x.shape[1], k, k, cols]})
        _draw_grid(axes[0], x, "input x", box=(i, j, i + 1, j + 1))
        _draw_grid(axes[1], kernel, "kernel")
        _draw_grid(axes[2], step.contribution, f"x[{i},{j}] = {_fmt(x[i, j].item())} × kernel")
        _draw_grid(axes[3], step.partial, "output so far" + (" (kept: dashed)" if p else ""),
                   vmax=self.steps[-1].partial.abs().max().item(), box=step.window,
                   keep=(p, p, rows - p, cols - p) if p else None)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        self.image.value = buffer.getvalue()
        out = [transposed_output_size(n, k, s, p) for n in x.shape]
        self.caption.value = (
            f"step {self.step.value + 1} of {len(self.steps)}: input cell ({i}, {j}) adds "
            f"{_fmt(x[i, j].item())} × kernel at output rows {i * s}–{i * s + k - 1}, "
            f"columns {j * s}–{j * s + k - 1}. Output size: (n − 1)·{s} − 2·{p} + {k} → {out[0]} × {out[1]}.")
