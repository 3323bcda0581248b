"""What happened during training, epoch by epoch: losses, validation metrics, learning rate, time.

``fit`` returns a :class:`History`; it also travels inside every checkpoint (as plain
lists, via :meth:`History.as_dict`), so a resumed run carries on the same curves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: Validation metrics kept per epoch (the floats of ``ConfusionMatrix.compute()``).
VAL_METRICS = ("pixel_accuracy", "mean_accuracy", "mean_iou", "fw_iou")


@dataclass
class History:
    """Per-epoch lists. ``val`` maps a metric name to its per-epoch values (empty without validation).

    >>> h = History()
    >>> h.append(train_loss=1.0, lr=0.1, seconds=2.0, val={"mean_iou": 0.3})
    >>> h.append(train_loss=0.5, lr=0.05, seconds=2.0, val={"mean_iou": 0.4})
    >>> h.best("mean_iou"), h["train_loss"]
    ((2, 0.4), [1.0, 0.5])
    """

    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    val: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def __getitem__(self, name: str) -> list[float]:
        """``history["train_loss"]``, ``history["lr"]``, ``history["seconds"]`` or a validation metric."""
        if name in ("train_loss", "lr", "seconds"):
            return getattr(self, name)
        if name in self.val:
            return self.val[name]
        raise KeyError(f"no {name!r} in this history; it has train_loss, lr, seconds"
                       + "".join(f", {k}" for k in self.val))

    def append(self, train_loss: float, lr: float, seconds: float, val: dict | None = None) -> None:
        """Record one epoch; from ``val`` only the float metrics are kept."""
        self.train_loss.append(float(train_loss))
        self.lr.append(float(lr))
        self.seconds.append(float(seconds))
        for name, value in (val or {}).items():
            if isinstance(value, (int, float)):
                self.val.setdefault(name, []).append(float(value))

    @property
    def last(self) -> dict[str, float]:
        """The latest epoch as one dict, e.g. ``{"epoch": 3, "train_loss": ..., "mean_iou": ...}``."""
        if not len(self):
            return {}
        row = {"epoch": len(self), "train_loss": self.train_loss[-1], "lr": self.lr[-1],
               "seconds": self.seconds[-1]}
        row.update({name: values[-1] for name, values in self.val.items()})
        return row

    def best(self, metric: str = "mean_iou") -> tuple[int, float]:
        """``(epoch, value)`` of the best epoch (1-based): the highest metric, or the lowest loss."""
        values = self[metric]
        if not values:
            raise ValueError(f"no epochs recorded for {metric!r}")
        pick = min if metric == "train_loss" else max
        epoch = pick(range(len(values)), key=lambda i: values[i])
        return epoch + 1, values[epoch]

    def as_dict(self) -> dict:
        """Plain lists and dicts only, so it can go into a ``weights_only`` checkpoint."""
        return {"train_loss": list(self.train_loss), "lr": list(self.lr), "seconds": list(self.seconds),
                "val": {name: list(values) for name, values in self.val.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        """The inverse of :meth:`as_dict`."""
        return cls(train_loss=list(data["train_loss"]), lr=list(data["lr"]),
                   seconds=list(data["seconds"]),
                   val={name: list(values) for name, values in data.get("val", {}).items()})

    def plot(self, figsize: tuple[float, float] = (8, 3)) -> Figure:
        """Training loss on the left; validation mIoU and pixel accuracy on the right (if any)."""
        panels = 2 if self.val else 1
        fig, axes = plt.subplots(1, panels, figsize=figsize, squeeze=False)
        epochs = range(1, len(self) + 1)
        ax = axes[0, 0]
        ax.plot(epochs, self.train_loss, marker="o", label="train loss")
        ax.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
        if self.val:
            ax = axes[0, 1]
            for name, label in (("mean_iou", "val mIoU"), ("pixel_accuracy", "val pixel acc.")):
                if name in self.val:
                    ax.plot(epochs, self.val[name], marker="o", label=label)
            ax.set(xlabel="epoch", ylim=(0, 1), title="validation")
            ax.legend(loc="lower right")
        for ax in axes.flat:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        fig.tight_layout()
        return fig
