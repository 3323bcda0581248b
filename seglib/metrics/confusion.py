"""The confusion matrix and the four metrics of the FCN paper computed from it.

Long et al. (2015, "Fully Convolutional Networks for Semantic Segmentation", sec. 5)
report four numbers. With ``n_ij`` the number of pixels of class ``i`` predicted as
class ``j``, ``t_i = sum_j n_ij`` the number of pixels of class ``i`` and ``n_cl`` the
number of classes:

- pixel accuracy          ``sum_i n_ii / sum_i t_i``
- mean accuracy           ``(1/n_cl) sum_i n_ii / t_i``
- mean IoU                ``(1/n_cl) sum_i n_ii / (t_i + sum_j n_ji - n_ii)``
- frequency-weighted IoU  ``(sum_k t_k)^-1 sum_i t_i n_ii / (t_i + sum_j n_ji - n_ii)``

All four are read off one ``C x C`` table, so a whole validation set is scored by
adding up tables batch by batch and dividing once at the end (averaging per-image
scores would give a different, noisier number).

Absent classes. A class that appears neither in the ground truth nor in the prediction
has IoU ``0 / 0``: it is NaN and left out of the means (``nanmean``), as the common
benchmark code does; a class with ``t_i = 0`` is likewise left out of the mean
accuracy. A class that is predicted but absent from the ground truth has IoU 0 and
counts. If every class is absent (an empty matrix), every metric is NaN.
"""
from __future__ import annotations

import torch

from seglib.constants import IGNORE_INDEX
from seglib.errors import DatasetError


def _diag_rows_cols(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``n_ii``, ``t_i`` (row sums: ground truth) and ``sum_j n_ji`` (column sums: prediction)."""
    if cm.dim() != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix is square [C, C], got shape {tuple(cm.shape)}")
    cm = cm.double()
    return cm.diagonal(), cm.sum(dim=1), cm.sum(dim=0)


def pixel_accuracy(cm: torch.Tensor) -> float:
    """``sum_i n_ii / sum_i t_i``: the share of labelled pixels that are right (NaN if none)."""
    correct, gt_count, _ = _diag_rows_cols(cm)
    return (correct.sum() / gt_count.sum()).item()


def accuracy_per_class(cm: torch.Tensor) -> torch.Tensor:
    """``n_ii / t_i`` for each class (its recall); NaN for a class with no ground-truth pixel."""
    correct, gt_count, _ = _diag_rows_cols(cm)
    return correct / gt_count


def mean_accuracy(cm: torch.Tensor) -> float:
    """``(1/n_cl) sum_i n_ii / t_i`` over the classes that occur in the ground truth (``t_i > 0``)."""
    return accuracy_per_class(cm).nanmean().item()


def iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """``n_ii / (t_i + sum_j n_ji - n_ii)``: intersection over union for each class.

    NaN for a class absent from both ground truth and prediction (``0 / 0``);
    0 for a class that is only predicted.
    """
    correct, gt_count, pred_count = _diag_rows_cols(cm)
    return correct / (gt_count + pred_count - correct)


def mean_iou(cm: torch.Tensor) -> float:
    """The mean of :func:`iou_per_class`, leaving out classes absent from both (NaN)."""
    return iou_per_class(cm).nanmean().item()


def frequency_weighted_iou(cm: torch.Tensor) -> float:
    """``(sum_k t_k)^-1 sum_i t_i IoU_i``: each class's IoU weighted by its pixel count.

    A class with ``t_i = 0`` has weight 0, so it drops out whatever its IoU.
    """
    _, gt_count, _ = _diag_rows_cols(cm)
    iou = iou_per_class(cm)
    present = gt_count > 0
    return ((gt_count[present] * iou[present]).sum() / gt_count.sum()).item()


def segmentation_metrics(cm: torch.Tensor) -> dict:
    """All of the above in one dict.

    Keys: ``pixel_accuracy``, ``mean_accuracy``, ``mean_iou``, ``fw_iou`` (floats) and
    ``iou``, ``accuracy`` (per-class float64 tensors, NaN where undefined).
    """
    return {
        "pixel_accuracy": pixel_accuracy(cm),
        "mean_accuracy": mean_accuracy(cm),
        "mean_iou": mean_iou(cm),
        "fw_iou": frequency_weighted_iou(cm),
        "iou": iou_per_class(cm),
        "accuracy": accuracy_per_class(cm),
    }


class ConfusionMatrix:
    """Accumulates a ``[C, C]`` pixel confusion matrix over batches: rows = ground truth, columns = prediction.

    >>> cm = ConfusionMatrix(num_classes=3)
    >>> cm.update(torch.tensor([[[0, 1, 2]]]), torch.tensor([[[0, 2, 255]]]))
    >>> cm.matrix.tolist()
    [[1, 0, 0], [0, 0, 0], [0, 1, 0]]

    The counting is one ``torch.bincount`` on the tensors' own device (CUDA, MPS or
    CPU): pixel ``(t, p)`` goes to bin ``C * t + p``, which is row ``t``, column ``p``
    of the flattened matrix; ignored pixels go to a spare last bin that is thrown away
    (cheaper than cutting them out with a boolean mask). With ``device=None`` the
    matrix follows the data.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 device: torch.device | str | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} is one of the classes [0, {num_classes}); "
                             "it must lie outside them (255 by convention)")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._fixed_device = None if device is None else torch.device(device)
        self._matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64,
                                   device=self._fixed_device)

    @property
    def matrix(self) -> torch.Tensor:
        """The counts so far: int64 ``[C, C]``, ``matrix[i, j]`` = pixels of class ``i`` predicted as ``j``."""
        return self._matrix

    def reset(self) -> None:
        """Start counting again from zero."""
        self._matrix = torch.zeros_like(self._matrix)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch: ``pred`` labels ``[N, H, W]`` or logits ``[N, C, H, W]``; ``target`` ``[N, H, W]``.

        Pixels whose target is ``ignore_index`` are left out. A target value outside
        ``[0, C)`` that is not ``ignore_index`` raises :class:`seglib.DatasetError`
        (it is a labelling bug, never something to drop silently); a predicted label
        outside ``[0, C)`` raises ``ValueError``.
        """
        pred = self._labels(pred, target)
        target = target.long()
        c = self.num_classes
        counted = (target >= 0) & (target < c)  # real class labels; the rest must be ignore_index
        self._check_target(target, counted)
        # pixel (t, p) -> bin c*t + p, i.e. row t, column p; ignored pixels -> one spare bin c*c
        index = (c * target + pred).masked_fill_(~counted, c * c)
        counts = torch.bincount(index.flatten(), minlength=c * c + 1)[: c * c]
        if self._fixed_device is None and self._matrix.device != counts.device:
            self._matrix = self._matrix.to(counts.device)  # follow the data
        # out of place, so a matrix made under torch.inference_mode() keeps working outside it
        self._matrix = self._matrix + counts.to(self._matrix.device).view(c, c)

    def compute(self) -> dict:
        """The metrics of :func:`segmentation_metrics` for everything counted so far."""
        return segmentation_metrics(self._matrix)

    def _labels(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Turn logits ``[N, C, H, W]`` into labels by argmax over classes; check shapes."""
        if pred.dim() == target.dim() + 1:
            if pred.shape[1] != self.num_classes:
                raise ValueError(f"logits have {pred.shape[1]} channels but num_classes is {self.num_classes} "
                                 f"(logits shape {tuple(pred.shape)})")
            pred = pred.argmax(dim=1)
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape "
                             f"{tuple(target.shape)}")
        if pred.is_floating_point():
            raise ValueError(f"labels must be integers, got {pred.dtype} (pass logits as [N, C, H, W])")
        low, high = torch.aminmax(pred) if pred.numel() else (0, 0)
        if low < 0 or high >= self.num_classes:
            bad = torch.unique(pred[(pred < 0) | (pred >= self.num_classes)]).tolist()
            raise ValueError(f"prediction contains labels {bad} outside [0, {self.num_classes})")
        return pred.long()

    def _check_target(self, target: torch.Tensor, counted: torch.Tensor) -> None:
        """Refuse target values outside ``[0, C)`` other than ``ignore_index``: a labelling bug."""
        bad = ~counted & (target != self.ignore_index)
        if bad.any():
            raise DatasetError(f"target contains values {torch.unique(target[bad]).tolist()} outside "
                               f"[0, {self.num_classes}) that are not the ignore index {self.ignore_index}")

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, pixels={int(self._matrix.sum())})"
