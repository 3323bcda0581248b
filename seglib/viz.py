"""Pictures of segmentations: colour label maps, image/truth/prediction grids, curves, confusion matrices;
every class in its PASCAL VOC colour in every lesson (the ignore label 255 in VOC's cream)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from seglib.core import IGNORE_INDEX, validate_labels


def voc_palette(n: int = 256) -> torch.Tensor:
    """The VOC colour table, ``uint8 [n, 3]``: the bits of class ``c`` spread over R, G, B.
    First used in notebooks/00_introduction.ipynb, section 1 (colorize's colours).

    >>> voc_palette()[[0, 1, 15, 255]].tolist()
    [[0, 0, 0], [128, 0, 0], [192, 128, 128], [224, 224, 192]]
    """
    c, table = torch.arange(n), torch.zeros(n, 3, dtype=torch.int64)
    for shift in range(7, -1, -1):
        for channel in range(3):
            table[:, channel] |= ((c >> channel) & 1) << shift
        c = c >> 3
    return table.to(torch.uint8)


_PALETTE = voc_palette()


def colorize(mask: torch.Tensor, palette: torch.Tensor | None = None) -> np.ndarray:
    """Colour a label map ``[H, W]``: a uint8 NumPy array ``[H, W, 3]``, ready for ``plt.imshow``.

    >>> colorize(torch.tensor([[0, 1], [15, 255]])).tolist()
    [[[0, 0, 0], [128, 0, 0]], [[192, 128, 128], [224, 224, 192]]]
    First used in notebooks/00_introduction.ipynb, section 1.
    """
    palette = _PALETTE if palette is None else torch.as_tensor(palette, dtype=torch.uint8)
    mask = torch.as_tensor(mask)
    if mask.dim() != 2:
        raise ValueError(f"colorize expects a label map [H, W], got shape {tuple(mask.shape)}")
    validate_labels(mask, len(palette), "colorize", ignore_index=None)
    return palette[mask.long().cpu()].numpy()


def to_uint8_image(image: torch.Tensor) -> torch.Tensor:
    """A float ``[3, H, W]`` image in [0, 1] (clipped) as uint8; uint8 images pass through.
    First used in notebooks/00_introduction.ipynb, section 1."""
    image = torch.as_tensor(image).detach().cpu()
    if image.dtype == torch.uint8:
        return image
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)


def legend_handles(classes: Sequence[int], class_names: Sequence[str] | None = None) -> list[Patch]:
    """One coloured patch per class, named from ``class_names`` when given (255 is "ignore").
    First used in notebooks/02_metrics.ipynb, section 1."""
    def name(c: int) -> str:
        if c == IGNORE_INDEX:
            return "ignore (255)"
        return class_names[c] if class_names is not None and c < len(class_names) else f"class {c}"

    return [Patch(facecolor=(_PALETTE[c].float() / 255).tolist(), edgecolor="grey", label=name(c))
            for c in sorted(classes)]


def show_samples(images: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None = None,
                 preds: Sequence[torch.Tensor] | None = None, class_names: Sequence[str] | None = None,
                 max_items: int = 4) -> Figure:
    """A grid with one column per sample (``images`` ``[N, 3, H, W]``; ``masks``, ``preds`` ``[N, H, W]``) and
    rows image / ground truth / prediction; a legend names the classes that appear.
    First used in notebooks/00_introduction.ipynb, section 6."""
    rows = [("image", images)] + [(title, maps) for title, maps in
                                  (("ground truth", masks), ("prediction", preds)) if maps is not None]
    count = min(len(images), max_items)
    fig, axes = plt.subplots(len(rows), count, figsize=(1.8 * count + 1.6, 1.8 * len(rows)), squeeze=False)
    present: set[int] = set()
    for r, (title, items) in enumerate(rows):
        for i in range(count):
            ax = axes[r, i]
            if title == "image":
                ax.imshow(to_uint8_image(items[i]).permute(1, 2, 0).numpy())
            else:
                ax.imshow(colorize(items[i]), interpolation="nearest")
                present.update(torch.unique(torch.as_tensor(items[i])).tolist())
            ax.set(xticks=[], yticks=[])
            if i == 0:
                ax.set_ylabel(title)
    if present:
        fig.legend(handles=legend_handles(present, class_names), loc="center right", fontsize="small",
                   frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.6 / (1.8 * count + 1.6), 1) if present else None)
    return fig


def plot_confusion(cm: torch.Tensor, class_names: Sequence[str], normalize: bool = True) -> Figure:
    """Show a confusion matrix (rows: ground truth, columns: prediction); ``normalize`` divides each row by
    its total, so a row shows where that class's pixels went (rows without pixels stay blank).
    First used in notebooks/02_metrics.ipynb, section 6."""
    cm = torch.as_tensor(cm).double().cpu()
    if cm.dim() != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"expected a [{len(class_names)}, {len(class_names)}] matrix for "
                         f"{len(class_names)} class names, got shape {tuple(cm.shape)}")
    values = cm / cm.sum(dim=1, keepdim=True) if normalize else cm
    k = len(class_names)
    side = min(3 + 0.25 * k, 7)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    shown = ax.imshow(values.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), class_names, rotation=90)
    ax.set_yticks(range(k), class_names)
    ax.set(xlabel="prediction", ylabel="ground truth",
           title="confusion (row-normalised)" if normalize else "confusion (pixels)")
    if k <= 12:  # numbers stay readable
        cutoff = 0.6 * values.nan_to_num().max().item()  # white text on dark cells
        for (i, j), v in np.ndenumerate(values.numpy()):
            if v == v:  # skip NaN rows
                ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center",
                        fontsize="small", color="white" if v > cutoff else "black")
    fig.tight_layout()
    return fig


def plot_history(history: dict, figsize: tuple[float, float] = (8, 3)) -> Figure:
    """``fit``'s history: training loss on the left; validation mIoU and pixel accuracy on the right.
    First used in notebooks/00_introduction.ipynb, section 6."""
    val = [(k, label) for k, label in (("val_mean_iou", "val mIoU"), ("val_pixel_accuracy", "val pixel acc."))
           if k in history]
    fig, axes = plt.subplots(1, 2 if val else 1, figsize=figsize, squeeze=False)
    epochs = range(1, len(history["train_loss"]) + 1)
    axes[0, 0].plot(epochs, history["train_loss"], marker="o", label="train loss")
    axes[0, 0].set(xlabel="epoch", ylabel="loss", title="training loss")
    for key, label in val:
        axes[0, 1].plot(epochs, history[key], marker="o", label=label)
    if val:
        axes[0, 1].set(xlabel="epoch", ylim=(0, 1), title="validation")
        axes[0, 1].legend(loc="lower right")
    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig
