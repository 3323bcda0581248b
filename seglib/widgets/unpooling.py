"""See what max-pool switches keep: ``UnpoolingExplorer`` shows, for a DeconvNet's pool stage and channel,
the switches, the map unpooled with them against bilinear or nearest upsampling, and the decoder's maps
at that stage. Built in notebooks/06_deconvnet.ipynb, section 4.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from seglib.core import model_mode
from seglib.models.deconvnet import DeconvNet
from seglib.viz import colorize
from seglib.widgets.feature_maps import _png
from seglib.widgets.snapshot import StillThenPanel


def _unpooling_views(activation: torch.Tensor, mode: str = "bilinear") -> dict[str, torch.Tensor]:
    """One channel ``[H, W]`` before pooling -> ``pooled``, ``switches`` (1 where a window's maximum
    was), ``unpooled`` (pooled values at the switches, 0 elsewhere) and ``upsampled`` (``mode``:
    ``"bilinear"`` or ``"nearest"``), all ``[H, W]`` except ``pooled``."""
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    x = activation.float()[None, None]
    pooled, indices = F.max_pool2d(x, 2, stride=2, return_indices=True)
    unpooled = F.max_unpool2d(pooled, indices, 2, stride=2, output_size=x.shape[-2:])
    switches = torch.zeros(x.numel()).index_fill_(0, indices.flatten(), 1.0).view_as(activation)
    upsampled = F.interpolate(pooled, size=x.shape[-2:], mode=mode,
                              **({"align_corners": False} if mode == "bilinear" else {}))
    return {"before": x[0, 0], "pooled": pooled[0, 0], "switches": switches, "unpooled": unpooled[0, 0],
            "upsampled": upsampled[0, 0]}


class UnpoolingExplorer(StillThenPanel):
    """Interactive view of DeconvNet's switches on ``images`` ``[N, 3, H, W]``; the controls ``image_index``,
    ``stage``, ``channel`` and ``mode`` are attributes code can drive.
    First used in notebooks/06_deconvnet.ipynb, section 4."""

    def __init__(self, model: DeconvNet, images: Sequence[torch.Tensor] | torch.Tensor,
                 class_names: Sequence[str] | None = None) -> None:
        if len(images) == 0:
            raise ValueError("UnpoolingExplorer needs at least one image")
        self.model, self.images, self.class_names = model, images, class_names
        self._maps: dict[str, torch.Tensor] = {}
        self._cached = -1
        self.image_index = widgets.IntSlider(0, min=0, max=len(images) - 1, description="image",
                                             continuous_update=False)
        self.stage = widgets.IntSlider(1, min=1, max=5, description="pool stage", continuous_update=False)
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.mode = widgets.ToggleButtons(options=["bilinear", "nearest"], value="bilinear",
                                          description="instead")
        self.picture, self.info = widgets.Image(format="png"), widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.image_index, self.stage]),
                                    widgets.HBox([self.channel, self.mode]), self.picture, self.info])
        self.widget.add_class("seglib-unpooling-explorer")  # stable hooks for the browser test and styling
        self.stage.add_class("seglib-up-stage")
        self.channel.add_class("seglib-up-channel")
        self.picture.add_class("seglib-up-picture")
        self._fit_channel()
        for control in (self.image_index, self.stage, self.channel, self.mode):
            control.observe(self._on_change, names="value")
        self.render()

    def maps(self, index: int) -> dict[str, torch.Tensor]:
        """``DeconvNet.maps`` of image ``index`` (eval mode, batch of one); kept for the image shown."""
        if index != self._cached:
            with model_mode(self.model), torch.no_grad():
                out = self.model.maps(torch.as_tensor(self.images[index]).float()[None])
            self._maps, self._cached = {k: v[0].cpu() for k, v in out.items()}, index
        return self._maps

    def _fit_channel(self) -> None:
        self.channel.max = self.maps(self.image_index.value)[f"conv{self.stage.value}"].shape[0] - 1

    def _on_change(self, change: dict) -> None:
        try:
            if change["owner"] in (self.image_index, self.stage):
                self._fit_channel()  # clamping the channel redraws once more
            self.render()
        except Exception as err:  # show it in the panel: errors in callbacks are otherwise easy to miss
            message = html.escape(f"{type(err).__name__}: {err}")
            self.info.value = f"<span style='color:#b00020'>{message}</span>"

    def render(self) -> None:
        """Redraw both rows for the current controls."""
        index, s, c, mode = self.image_index.value, self.stage.value, self.channel.value, self.mode.value
        maps = self.maps(index)
        views = _unpooling_views(maps[f"conv{s}"][c], mode)
        decoded = [maps[f"unpool{s}"], maps[f"deconv{s}"]]
        dc = c % decoded[0].shape[0]
        fig = Figure(figsize=(9, 4.6), dpi=72, layout="constrained")
        axes = fig.subplots(2, 4)
        h, w = views["before"].shape
        top = [(views["before"], f"conv{s} channel {c} ({h}x{w})\nbefore pool{s}"),
               (views["switches"], f"switches of pool{s}\n(where each 2x2 maximum was)"),
               (views["unpooled"], f"unpooled with them\n({int(views['switches'].sum())} of {h * w} kept)"),
               (views["upsampled"], f"{mode} upsampling\nof the same pooled map")]
        for ax, (image, title) in zip(axes[0], top, strict=True):
            cmap = "gray" if "switches" in title else "viridis"
            ax.imshow(image.numpy(), cmap=cmap, interpolation="nearest")
            ax.set_title(title, fontsize=8)
        image = torch.as_tensor(self.images[index]).float()
        bottom = [(image.permute(1, 2, 0).clamp(0, 1).numpy(), "input"),
                  (decoded[0][dc].numpy(), f"decoder: unpool{s}, channel {dc}\n(sparse: the switches)"),
                  (decoded[1][dc].numpy(), f"after deconv{s}\n(densified)"),
                  (colorize(maps["score"].argmax(0)), "prediction")]
        for ax, (picture, title) in zip(axes[1], bottom, strict=True):
            ax.imshow(picture, cmap="viridis", interpolation="nearest")
            ax.set_title(title, fontsize=8)
        for ax in axes.flat:
            ax.set_axis_off()
        self.picture.value = _png(fig)
        self.info.value = (f"image {index} &middot; stage {s}: pool{s} keeps 1 value in 4; the decoder "
                           "runs unpool5 &rarr; unpool1: move <b>pool stage</b> from 5 to 1 to step through")
