"""Look inside a network: ``FeatureMapExplorer`` shows what a chosen layer computes.

Pick an image, a layer and a channel (or a grid of the first 16 channels) and see that
feature map next to the image and the model's prediction. The logic is in plain,
tested functions (``layer_choices``, ``activations``, ``channel_image``, ``channel_grid``);
``draw_panels`` renders a matplotlib figure to PNG bytes for an ``ipywidgets.Image``, which
needs no interactive backend, so it looks the same in JupyterLab, Notebook and Colab.
"""
from __future__ import annotations

import html
import io
import math
from collections import OrderedDict
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import PIL.Image
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import nn
from torchvision.utils import make_grid

from seglib.core import DatasetError, model_device
from seglib.viz import voc_palette
from seglib.widgets.snapshot import StillThenPanel


# Layers whose outputs are feature maps a learner wants to see.
LAYER_TYPES: tuple[type[nn.Module], ...] = (
    nn.Conv2d, nn.ConvTranspose2d, nn.ReLU,
    nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.MaxUnpool2d,
)


def layer_choices(model: nn.Module) -> list[str]:
    """Names (as in ``model.named_modules()``) of the convolutions, ReLUs and poolings, in order,
    plus any module whose own name contains ``score`` (FCN's class-score layers)."""
    return [
        name for name, module in model.named_modules()
        if name and (isinstance(module, LAYER_TYPES) or "score" in name.rsplit(".", 1)[-1].lower())
    ]


def _check_layer_names(model: nn.Module, layer_names: Sequence[str]) -> dict[str, nn.Module]:
    """Map each name to its module; an unknown name raises a ValueError listing the choices."""
    modules = dict(model.named_modules())
    for name in layer_names:
        if not name or name not in modules:
            raise ValueError(
                f"unknown layer {name!r} in {type(model).__name__}; "
                f"choose one of: {', '.join(layer_choices(model))}"
            )
    return {name: modules[name] for name in layer_names}


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    """``[C, H, W]`` or ``[1, C, H, W]`` -> a float batch of one, ``[1, C, H, W]``."""
    image = torch.as_tensor(image)
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"expected one image [C, H, W] or [1, C, H, W], got shape {list(image.shape)}")
    return image.float()


def forward_with_activations(
    model: nn.Module, image: torch.Tensor, layer_names: Sequence[str], device: torch.device | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model`` once on one image in eval mode; return its output ``[1, num_classes, H, W]``
    and each named layer's output ``[C, h, w]``, on the CPU.

    Each map is a copy (a later in-place ReLU, as in VGG, cannot change it); a module that
    runs twice keeps its last output. Hooks and train/eval mode are restored even on failure.
    """
    modules = _check_layer_names(model, layer_names)
    batch = _as_batch(image).to(device or model_device(model, torch.device("cpu")))
    captured: dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, (tuple, list)):  # e.g. MaxPool2d(return_indices=True)
                output = output[0]
            captured[name] = output.detach()[0].to("cpu", copy=True)
        return hook

    handles = [module.register_forward_hook(recorder(name)) for name, module in modules.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            output = model(batch)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if isinstance(output, dict):  # torchvision's segmentation models return {"out": logits, ...}
        output = output["out"]
    skipped = [name for name in layer_names if name not in captured]
    if skipped:
        raise ValueError(f"layer {skipped[0]!r} did not run during the forward pass")
    return output.detach().cpu(), captured


def activations(
    model: nn.Module, image: torch.Tensor, layer_names: Sequence[str], device: torch.device | None = None
) -> dict[str, torch.Tensor]:
    """The output of each named layer for one image, ``{name: [C, h, w]}`` on the CPU.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    >>> {k: list(v.shape) for k, v in activations(net, torch.rand(3, 8, 8), ["0"]).items()}
    {'0': [4, 8, 8]}
    """
    return forward_with_activations(model, image, layer_names, device)[1]


def _as_maps(act: torch.Tensor) -> torch.Tensor:
    """``[C, h, w]`` (or a batch of one) as float ``[C, h, w]`` with NaN/inf made finite."""
    act = torch.as_tensor(act).detach().cpu().float()
    if act.ndim == 4 and act.shape[0] == 1:
        act = act[0]
    if act.ndim != 3:
        raise ValueError(f"expected feature maps [C, h, w], got shape {list(act.shape)}")
    return torch.nan_to_num(act)


def channel_image(act: torch.Tensor, channel: int) -> np.ndarray:
    """One channel of ``act`` ``[C, h, w]`` as an ``[h, w]`` array min-max scaled to ``[0, 1]``:
    it shows *where* a filter responds. A constant (e.g. dead ReLU) channel becomes zeros, not NaN."""
    maps = _as_maps(act)
    if not 0 <= channel < maps.shape[0]:
        raise ValueError(
            f"channel {channel} is out of range: this layer has {maps.shape[0]} channels "
            f"(0..{maps.shape[0] - 1})"
        )
    x = maps[channel]
    low, high = x.min(), x.max()
    scaled = (x - low) / (high - low) if high > low else torch.zeros_like(x)
    return scaled.numpy()


def channel_grid(act: torch.Tensor, n: int = 16) -> np.ndarray:
    """The first ``n`` channels of ``act`` ``[C, h, w]`` tiled in a square-ish 2-D array, each
    scaled like ``channel_image``; the 1-pixel gaps are NaN, which matplotlib leaves blank."""
    maps = _as_maps(act)[:n]
    grid = make_grid(maps.unsqueeze(1), nrow=math.ceil(math.sqrt(len(maps))), padding=1,
                     normalize=True, scale_each=True, pad_value=float("nan"))
    return grid[0].numpy()


def _display_image(image: torch.Tensor) -> np.ndarray:
    """An image ``[C, H, W]`` as an ``[H, W, 3]`` (or ``[H, W]``) array for imshow; outside
    ``[0, 1]`` (e.g. normalised) it is min-max scaled, to stay recognisable."""
    x = _as_batch(image)[0].cpu()
    if x.min() < 0 or x.max() > 1:
        x = (x - x.min()) / (x.max() - x.min()).clamp(min=1e-8)
    return x[0].numpy() if x.shape[0] == 1 else x[:3].permute(1, 2, 0).numpy()


def draw_panels(
    image: np.ndarray, feature: np.ndarray, prediction: np.ndarray, feature_title: str,
    legend: Sequence[tuple[str, np.ndarray]] = (), dpi: int = 72,
) -> bytes:
    """image | feature map | prediction (``[H, W, 3]`` uint8) as PNG bytes; ``legend`` pairs
    class names with colours. A ``Figure`` made without pyplot never pops up anywhere."""
    fig = Figure(figsize=(9, 3), dpi=dpi, layout="constrained")
    ax_image, ax_feature, ax_pred = fig.subplots(1, 3)
    ax_image.imshow(image, cmap="gray")
    ax_image.set_title("input")
    ax_feature.imshow(feature, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax_feature.set_title(feature_title, fontsize=9)
    ax_pred.imshow(prediction, interpolation="nearest")
    ax_pred.set_title("prediction")
    if legend:
        handles = [Patch(color=colour / 255, label=name) for name, colour in legend]
        ax_pred.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7,
                       frameon=False)
    for ax in (ax_image, ax_feature, ax_pred):
        ax.set_axis_off()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return _small_png(buffer.getvalue())


def _small_png(png: bytes) -> bytes:
    """Re-save a PNG with a 256-colour palette: about 3x smaller (the notebook stores it), same look."""
    palette_image = PIL.Image.open(io.BytesIO(png)).convert("RGB").quantize(
        colors=256, method=PIL.Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    palette_image.save(buffer, format="png")
    return buffer.getvalue()


class FeatureMapExplorer(StillThenPanel):
    """Interactive feature-map viewer for any ``nn.Module`` with convolution layers.

    ``images``: anything indexable of ``[3, H, W]`` images (a list, a tensor, a dataset of
    ``(image, mask)`` pairs); ``layer_names`` defaults to ``layer_choices(model)``. The
    controls (``image_index``, ``layer``, ``channel``, ``grid``) are attributes code can
    drive; ``picture`` shows the PNG, ``widget`` is the panel. End a cell with the explorer
    to show it: a still PNG first (for readers without a kernel), then the panel.
    """

    def __init__(
        self, model: nn.Module, images: Sequence[Any], layer_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None, device: torch.device | str | None = None,
        grid_size: int = 16, cache_size: int = 32,
    ) -> None:
        if len(images) == 0:
            raise ValueError("FeatureMapExplorer needs at least one image")
        self.model = model if device is None else model.to(device)
        self.device = model_device(self.model, torch.device("cpu"))
        self.images = images
        names = list(layer_names) if layer_names is not None else layer_choices(model)
        if not names:
            raise ValueError(f"{type(model).__name__} has no conv, ReLU, pooling or score layers; "
                             "pass layer_names=")
        self._modules = _check_layer_names(model, names)
        self.class_names = list(class_names) if class_names is not None else None
        self.grid_size = grid_size
        self._palette = voc_palette().numpy()
        self._cache: OrderedDict[tuple[int, str], torch.Tensor] = OrderedDict()
        self._cache_size = cache_size
        self._predictions: dict[int, torch.Tensor] = {}
        self._syncing = False  # True while the channel slider is refitted (no redraw then)
        self._build_controls(names)
        self._sync_channel()
        self.render()

    def _build_controls(self, names: list[str]) -> None:
        """Create the controls, the picture and the panel, and wire every control to ``render``."""
        self.image_index = widgets.IntSlider(0, min=0, max=len(self.images) - 1, description="image",
                                             continuous_update=False)
        self.layer = widgets.Dropdown(
            options=[(f"{n} ({type(self._modules[n]).__name__})", n) for n in names],
            value=names[0], description="layer", layout=widgets.Layout(width="360px"))
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.grid = widgets.ToggleButton(False, description=f"first {self.grid_size} channels", icon="th")
        self.picture = widgets.Image(format="png")
        self.info = widgets.HTML()
        for control, css in [(self.image_index, "image"), (self.layer, "layer"), (self.channel, "channel"),
                             (self.grid, "grid"), (self.picture, "picture")]:
            control.add_class(f"seglib-fm-{css}")  # stable hooks for browser tests and styling
        self.widget = widgets.VBox([
            widgets.HBox([self.image_index, self.layer]),
            widgets.HBox([self.channel, self.grid]),
            self.picture, self.info,
        ])
        self.widget.add_class("seglib-feature-map-explorer")
        for control in (self.image_index, self.layer, self.channel, self.grid):
            control.observe(self._on_change, names="value")

    def _image(self, index: int) -> torch.Tensor:
        """Image ``index`` as a tensor ``[C, H, W]``; a dataset's ``(image, mask)`` pair gives its image."""
        item = self.images[index]
        if isinstance(item, (tuple, list)):
            item = item[0]
        image = torch.as_tensor(item)
        if image.ndim != 3:
            raise DatasetError(f"image {index}: expected a tensor [C, H, W], got shape {list(image.shape)}")
        return image

    def activation(self, index: int, layer: str) -> torch.Tensor:
        """The output ``[C, h, w]`` of ``layer`` for image ``index``, computed once and cached."""
        key = (index, layer)
        if key not in self._cache:
            output, acts = forward_with_activations(self.model, self._image(index), [layer], self.device)
            self._cache[key] = _as_maps(acts[layer])
            self._predictions[index] = output[0].argmax(dim=0)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)  # forget the oldest: big models make big maps
        self._cache.move_to_end(key)
        return self._cache[key]

    def prediction(self, index: int) -> torch.Tensor:
        """The predicted class of every pixel of image ``index``, ``[H, W]`` (argmax over classes)."""
        if index not in self._predictions:
            self.activation(index, self.layer.value)
        return self._predictions[index]

    def _sync_channel(self) -> None:
        """Fit the channel slider to the current layer's channel count without re-rendering twice."""
        channels = self.activation(self.image_index.value, self.layer.value).shape[0]
        self._syncing = True
        try:
            self.channel.max = channels - 1
        finally:
            self._syncing = False

    def _on_change(self, change: dict) -> None:
        """React to a control: refit the channel slider after a layer change, then redraw."""
        if self._syncing:
            return
        try:
            if change["owner"] is self.layer or change["owner"] is self.image_index:
                self._sync_channel()
            self.render()
        except Exception as err:  # show it in the panel: errors in callbacks are otherwise easy to miss
            message = html.escape(f"{type(err).__name__}: {err}")
            self.info.value = f"<span style='color:#b00020'>{message}</span>"

    def _legend(self, prediction: torch.Tensor) -> list[tuple[str, np.ndarray]]:
        """Up to six classes present in the prediction, largest first, with their colours."""
        counts = torch.bincount(prediction.flatten())
        present = [int(c) for c in counts.argsort(descending=True) if counts[c] > 0][:6]
        names = self.class_names or [str(c) for c in range(len(counts))]
        return [(names[c] if c < len(names) else str(c), self._palette[c % 256]) for c in present]

    def render(self) -> None:
        """Redraw the panel for the current controls (the picture's PNG and the info line)."""
        index, layer, channel = self.image_index.value, self.layer.value, self.channel.value
        maps = self.activation(index, layer)
        c, h, w = maps.shape
        if self.grid.value:
            feature = channel_grid(maps, self.grid_size)
            title = f"{layer}: channels 0-{min(self.grid_size, c) - 1} of {c}\n(each its own min-max scale)"
        else:
            feature = channel_image(maps, channel)
            low, high = float(maps[channel].min()), float(maps[channel].max())
            title = f"{layer}: channel {channel} of {c} ({h}x{w})\ndark = {low:.3g}, bright = {high:.3g}"
        prediction = self.prediction(index)
        self.picture.value = draw_panels(
            _display_image(self._image(index)), feature, self._palette[prediction.numpy() % 256],
            title, self._legend(prediction))
        low, high = float(maps[channel].min()), float(maps[channel].max())
        note = "" if low != high else " (all zero: a dead channel here)" if low == 0 else " (constant)"
        self.info.value = (f"image {index} &middot; <b>{html.escape(layer)}</b> "
                           f"({type(self._modules[layer]).__name__}) output {c}&times;{h}&times;{w} &middot; "
                           f"channel {channel}: min {low:.3g}, max {high:.3g}{note}")

    @property
    def png(self) -> bytes:
        """The PNG currently shown (the picture widget keeps it as a memoryview)."""
        return bytes(self.picture.value)

    def _still_png(self) -> bytes:
        return self.png

    def _panel(self) -> widgets.Widget:
        return self.widget
