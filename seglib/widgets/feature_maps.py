"""Look inside a network: ``FeatureMapExplorer`` shows a chosen layer's feature map (one channel or a
grid) next to the image and the prediction, as a PNG that looks the same in JupyterLab, Notebook and Colab.
"""
from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import PIL.Image
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import nn
from torchvision.utils import make_grid

from seglib.core import DatasetError, model_device, model_mode
from seglib.viz import voc_palette
from seglib.widgets.snapshot import StillThenPanel


def _layer_choices(model: nn.Module) -> list[str]:
    """Names (as in ``model.named_modules()``) of the convolutions, ReLUs and poolings, in order,
    plus any module whose own name contains ``score`` (FCN's class-score layers)."""
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
             nn.AdaptiveMaxPool2d, nn.MaxUnpool2d)
    return [name for name, module in model.named_modules()
            if name and (isinstance(module, kinds) or "score" in name.rsplit(".", 1)[-1].lower())]


def _modules(model: nn.Module, layer_names: Sequence[str]) -> dict[str, nn.Module]:
    """Map each name to its module; an unknown name raises a ValueError listing the choices."""
    modules = dict(model.named_modules())
    for name in layer_names:
        if not name or name not in modules:
            raise ValueError(f"unknown layer {name!r} in {type(model).__name__}; "
                             f"choose one of: {', '.join(_layer_choices(model))}")
    return {name: modules[name] for name in layer_names}


def _forward_with_activations(model: nn.Module, image: torch.Tensor, layer_names: Sequence[str],
                             device: torch.device | None = None
                             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model`` once on one image in eval mode (hooks and mode restored even on failure); return its
    output ``[1, num_classes, H, W]`` and a copy of each named layer's output ``[C, h, w]``, on the CPU."""
    modules = _modules(model, layer_names)
    batch = torch.as_tensor(image).float()
    batch = batch[None] if batch.ndim == 3 else batch
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"expected one image [C, H, W] or [1, C, H, W], got shape {list(batch.shape)}")
    captured: dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            output = output[0] if isinstance(output, (tuple, list)) else output  # MaxPool2d(return_indices)
            captured[name] = output.detach()[0].to("cpu", copy=True)
        return hook

    handles = [module.register_forward_hook(recorder(name)) for name, module in modules.items()]
    try:
        with model_mode(model), torch.no_grad():
            output = model(batch.to(device or model_device(model, torch.device("cpu"))))
    finally:
        for handle in handles:
            handle.remove()
    output = output["out"] if isinstance(output, dict) else output  # torchvision's {"out": logits}
    skipped = [name for name in layer_names if name not in captured]
    if skipped:
        raise ValueError(f"layer {skipped[0]!r} did not run during the forward pass")
    return output.detach().cpu(), captured


def _channel_image(act: torch.Tensor, channel: int) -> np.ndarray:
    """Channel ``channel`` of ``act`` ``[C, h, w]`` min-max scaled to ``[0, 1]``: it shows *where*
    a filter responds. A constant (e.g. dead ReLU) channel becomes zeros, not NaN."""
    if not 0 <= channel < act.shape[0]:
        raise ValueError(f"channel {channel} is out of range: this layer has {act.shape[0]} channels "
                         f"(0..{act.shape[0] - 1})")
    x = act[channel].float()
    low, high = x.min(), x.max()
    return ((x - low) / (high - low) if high > low else torch.zeros_like(x)).numpy()


def _channel_grid(act: torch.Tensor, n: int = 16) -> np.ndarray:
    """The first ``n`` channels of ``act`` ``[C, h, w]`` tiled in a square-ish 2-D array, each
    scaled like ``_channel_image``; the 1-pixel gaps are NaN, which matplotlib leaves blank."""
    maps = act[:n].float().unsqueeze(1)
    return make_grid(maps, nrow=math.ceil(math.sqrt(len(maps))), padding=1, normalize=True,
                     scale_each=True, pad_value=float("nan"))[0].numpy()


def _png(fig: Figure) -> bytes:
    """The figure as a PNG with a 256-colour palette: about 3x smaller (the notebook stores it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    image = PIL.Image.open(buffer).convert("RGB").quantize(colors=256, method=PIL.Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()


class FeatureMapExplorer(StillThenPanel):
    """Interactive feature-map viewer for any ``nn.Module`` with convolution layers, on ``images`` (anything
    indexable of ``[3, H, W]`` images or ``(image, mask)`` pairs); the controls ``image_index``, ``layer``,
    ``channel`` and ``grid`` are attributes code can drive.
    First used in notebooks/04_fcn.ipynb, section 6."""

    def __init__(self, model: nn.Module, images: Sequence[Any], layer_names: Sequence[str] | None = None,
                 class_names: Sequence[str] | None = None, device: torch.device | str | None = None,
                 grid_size: int = 16) -> None:
        if len(images) == 0:
            raise ValueError("FeatureMapExplorer needs at least one image")
        self.model = model if device is None else model.to(device)
        self.device = model_device(self.model, torch.device("cpu"))
        self.images, self.class_names, self.grid_size = images, class_names, grid_size
        names = list(layer_names) if layer_names is not None else _layer_choices(model)
        if not names:
            raise ValueError(f"{type(model).__name__} has no conv, ReLU, pooling or score layers; "
                             "pass layer_names=")
        self._modules = _modules(model, names)
        self._palette = voc_palette().numpy()
        self._cache: dict[str, torch.Tensor] = {}  # layer -> maps of image _cached, the one shown
        self._cached, self._prediction = -1, torch.zeros(0)
        self.image_index = widgets.IntSlider(0, min=0, max=len(images) - 1, description="image",
                                             continuous_update=False)
        options = [(f"{n} ({type(self._modules[n]).__name__})", n) for n in names]
        self.layer = widgets.Dropdown(options=options, value=names[0], description="layer",
                                      layout=widgets.Layout(width="360px"))
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.grid = widgets.ToggleButton(False, description=f"first {grid_size} channels", icon="th")
        self.picture = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.image_index, self.layer]),
                                    widgets.HBox([self.channel, self.grid]), self.picture, self.info])
        self.widget.add_class("seglib-feature-map-explorer")  # stable hooks for browser tests and styling
        for control, css in [(self.image_index, "image"), (self.layer, "layer"), (self.channel, "channel"),
                             (self.grid, "grid"), (self.picture, "picture")]:
            control.add_class(f"seglib-fm-{css}")
        self.channel.max = self.activation(0, names[0]).shape[0] - 1
        for control in (self.image_index, self.layer, self.channel, self.grid):
            control.observe(self._on_change, names="value")
        self.render()

    def _image(self, index: int) -> torch.Tensor:
        """Image ``index`` as a tensor ``[C, H, W]``; a dataset's ``(image, mask)`` pair gives its image."""
        item = self.images[index]
        image = torch.as_tensor(item[0] if isinstance(item, (tuple, list)) else item)
        if image.ndim != 3:
            raise DatasetError(f"image {index}: expected a tensor [C, H, W], got shape {list(image.shape)}")
        return image

    def activation(self, index: int, layer: str) -> torch.Tensor:
        """The output ``[C, h, w]`` of ``layer`` for image ``index``; the shown image's maps are kept."""
        if index != self._cached:
            self._cache, self._cached = {}, index
        if layer not in self._cache:
            output, acts = _forward_with_activations(self.model, self._image(index), [layer], self.device)
            self._cache[layer] = torch.nan_to_num(acts[layer].float())
            self._prediction = output[0].argmax(dim=0)
        return self._cache[layer]

    def prediction(self, index: int) -> torch.Tensor:
        """The predicted class of every pixel of image ``index``, ``[H, W]`` (argmax over classes)."""
        self.activation(index, self.layer.value)
        return self._prediction

    def _on_change(self, change: dict) -> None:
        """React to a control: after a layer or image change fit the channel slider (clamping it
        redraws once more), then redraw."""
        try:
            if change["owner"] in (self.layer, self.image_index):
                self.channel.max = self.activation(self.image_index.value, self.layer.value).shape[0] - 1
            self.render()
        except Exception as err:  # show it in the panel: errors in callbacks are otherwise easy to miss
            message = html.escape(f"{type(err).__name__}: {err}")
            self.info.value = f"<span style='color:#b00020'>{message}</span>"

    def _legend(self, prediction: torch.Tensor) -> list[tuple[str, np.ndarray]]:
        """Up to six classes present in the prediction, largest first, with their colours."""
        counts = torch.bincount(prediction.flatten())
        present = [int(c) for c in counts.argsort(descending=True) if counts[c] > 0][:6]
        names = self.class_names or []
        return [(names[c] if c < len(names) else str(c), self._palette[c % 256]) for c in present]

    def render(self) -> None:
        """Redraw the picture (image | feature map | prediction) and the info line for the controls."""
        index, layer, channel = self.image_index.value, self.layer.value, self.channel.value
        maps = self.activation(index, layer)
        c, h, w = maps.shape
        low, high = float(maps[channel].min()), float(maps[channel].max())
        if self.grid.value:
            feature = _channel_grid(maps, self.grid_size)
            title = f"{layer}: channels 0-{min(self.grid_size, c) - 1} of {c}\n(each its own min-max scale)"
        else:
            feature = _channel_image(maps, channel)
            title = f"{layer}: channel {channel} of {c} ({h}x{w})\ndark = {low:.3g}, bright = {high:.3g}"
        image = self._image(index).float().cpu()
        if image.min() < 0 or image.max() > 1:  # e.g. normalised: min-max scale it to stay recognisable
            image = (image - image.min()) / (image.max() - image.min()).clamp(min=1e-8)
        prediction = self.prediction(index)
        fig = Figure(figsize=(9, 3), dpi=72, layout="constrained")
        axes = fig.subplots(1, 3)
        axes[0].imshow((image[0] if image.shape[0] == 1 else image[:3].permute(1, 2, 0)).numpy(), cmap="gray")
        axes[1].imshow(feature, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        axes[2].imshow(self._palette[prediction.numpy() % 256], interpolation="nearest")
        axes[0].set_title("input")
        axes[1].set_title(title, fontsize=9)
        axes[2].set_title("prediction")
        for ax in axes:
            ax.set_axis_off()
        legend = [Patch(color=colour / 255, label=name) for name, colour in self._legend(prediction)]
        axes[2].legend(handles=legend, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
        self.picture.value = _png(fig)
        note = "" if low != high else " (all zero: a dead channel here)" if low == 0 else " (constant)"
        self.info.value = (f"image {index} &middot; <b>{html.escape(layer)}</b> "
                           f"({type(self._modules[layer]).__name__}) output {c}&times;{h}&times;{w} &middot; "
                           f"channel {channel}: min {low:.3g}, max {high:.3g}{note}")
