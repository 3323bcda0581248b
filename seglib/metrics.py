"""The confusion matrix ``n_ij`` (pixels of class ``i`` predicted as ``j``), the FCN paper's four metrics
read off it, boundary bands, the ISBI 2012 Rand error, and the what/where and instance scores of lessons 04
and 07. A class absent from both truth and prediction has IoU 0/0 = NaN and is left out of the means, as the
benchmark code does.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seglib.core import IGNORE_INDEX, validate_instances, validate_labels


def _counts(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n_ii``, ``t_i`` (row sums: ground truth) and column sums (prediction), as float64."""
    if cm.dim() != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix is square [C, C], got shape {tuple(cm.shape)}")
    cm = cm.double()
    return cm.diagonal(), cm.sum(dim=1), cm.sum(dim=0)


def iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """``n_ii / (t_i + sum_j n_ji - n_ii)`` per class: NaN if absent from both, 0 if only predicted.
    First used in notebooks/02_metrics.ipynb, section 5."""
    correct, truth, predicted = _counts(cm)
    return correct / (truth + predicted - correct)


def mean_iou(cm: torch.Tensor) -> float:
    """The mean of :func:`iou_per_class`, leaving out classes absent from both (NaN).
    First used in notebooks/02_metrics.ipynb, section 5."""
    return iou_per_class(cm).nanmean().item()


def segmentation_metrics(cm: torch.Tensor) -> dict:
    """``pixel_accuracy``, ``mean_accuracy``, ``mean_iou``, ``fw_iou`` (floats) and per-class ``iou``,
    ``accuracy`` (float64 tensors, NaN where undefined). Built in notebooks/02_metrics.ipynb, section 3."""
    correct, truth, _ = _counts(cm)
    iou, accuracy = iou_per_class(cm), correct / truth
    present = truth > 0
    return {
        "pixel_accuracy": (correct.sum() / truth.sum()).item(),
        "mean_accuracy": accuracy.nanmean().item(),
        "mean_iou": iou.nanmean().item(),
        "fw_iou": ((truth[present] * iou[present]).sum() / truth.sum()).item(),
        "iou": iou,
        "accuracy": accuracy,
    }


class ConfusionMatrix:
    """A ``[C, C]`` pixel count summed over batches: rows = ground truth, columns = prediction.

    Built in notebooks/02_metrics.ipynb, section 2.

    >>> cm = ConfusionMatrix(num_classes=3)
    >>> cm.update(torch.tensor([[[0, 1, 2]]]), torch.tensor([[[0, 2, 255]]]))
    >>> cm.matrix.tolist()
    [[1, 0, 0], [0, 0, 0], [0, 1, 0]]
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 device: torch.device | str | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} is one of the classes [0, {num_classes}); "
                             "it must lie outside them (255 by convention)")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self._device = None if device is None else torch.device(device)
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=self._device)

    def reset(self) -> None:
        """Start counting again from zero."""
        self.matrix = torch.zeros_like(self.matrix)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: ``pred`` labels ``[N, H, W]`` or logits ``[N, C, H, W]``; ``target`` ``[N, H, W]``.
        Ignored pixels are left out; a bad target raises ``DatasetError``, a bad prediction ``ValueError``."""
        c = self.num_classes
        if pred.dim() == target.dim() + 1:
            if pred.shape[1] != c:
                raise ValueError(f"logits have {pred.shape[1]} channels but num_classes is {c} "
                                 f"(logits shape {tuple(pred.shape)})")
            pred = pred.argmax(dim=1)
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape "
                             f"{tuple(target.shape)}")
        target = torch.as_tensor(target)
        counted = (target >= 0) & (target < c)  # cheap tests here; validate_labels words the errors
        if target.is_floating_point() or not (counted | (target == self.ignore_index)).all():
            validate_labels(target, c, "target", self.ignore_index)
        if pred.is_floating_point() or (pred.numel() and not (0 <= pred.min() and pred.max() < c)):
            try:
                validate_labels(pred, c, "prediction", ignore_index=None)
            except ValueError as exc:  # a model's output, not the data: a plain ValueError
                raise ValueError(f"{exc} (pass logits as [N, C, H, W])") from None
        index = (c * target.long() + pred.long()).masked_fill_(~counted, c * c)  # a spare bin for ignored
        counts = torch.bincount(index.flatten(), minlength=c * c + 1)[: c * c]
        if self._device is None and self.matrix.device != counts.device:
            self.matrix = self.matrix.to(counts.device)  # follow the data
        # out of place, so a matrix made under torch.inference_mode() keeps working outside it
        self.matrix = self.matrix + counts.to(self.matrix.device).view(c, c)

    def compute(self) -> dict:
        """The metrics of :func:`segmentation_metrics` for everything counted so far."""
        return segmentation_metrics(self.matrix)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes}, pixels={int(self.matrix.sum())})"


def boundary_pixels(target: torch.Tensor) -> torch.Tensor:
    """Boolean map, True where a 4-neighbour has another label (both sides of every edge; the ignore label
    counts as a label: VOC's 255 band sits on the object outlines).
    First used in notebooks/00_introduction.ipynb, section 6 (pixel_scores' band mIoU)."""
    if target.dim() not in (2, 3) or target.is_floating_point():
        raise ValueError(f"target must be integer labels [H, W] or [N, H, W], got {target.dtype} "
                         f"of shape {tuple(target.shape)}")
    labels = target.reshape(-1, *target.shape[-2:])
    edge = torch.zeros_like(labels, dtype=torch.bool)
    vertical = labels[:, 1:] != labels[:, :-1]
    horizontal = labels[:, :, 1:] != labels[:, :, :-1]
    edge[:, 1:] |= vertical
    edge[:, :-1] |= vertical
    edge[:, :, 1:] |= horizontal
    edge[:, :, :-1] |= horizontal
    return edge.view_as(target)


def boundary_band(target: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """The pixels at most ``radius`` px (chessboard distance) from a boundary pixel: the "trimap" of Kohli
    et al. (2009), where coarse predictions go wrong. Built in notebooks/02_metrics.ipynb, section 7."""
    if int(radius) != radius or radius < 0:
        raise ValueError(f"radius must be an integer >= 0, got {radius!r}")
    edge = boundary_pixels(target).reshape(-1, 1, *target.shape[-2:]).float()
    band = F.max_pool2d(edge, kernel_size=2 * radius + 1, stride=1, padding=radius)  # a square dilation
    return band.bool().view_as(target)


class BandConfusionMatrix(ConfusionMatrix):
    """A :class:`ConfusionMatrix` that counts only pixels within ``radius`` px of a boundary: its mIoU is the
    boundary-band mIoU (notebooks/02_metrics.ipynb, section 7).

    >>> cm = BandConfusionMatrix(num_classes=2, radius=0)
    >>> cm.update(torch.tensor([[[0, 0, 1, 1]]]), torch.tensor([[[0, 0, 0, 1]]]))
    >>> cm.matrix.tolist()   # only the two pixels beside the 0|1 edge are counted
    [[0, 1], [0, 1]]
    First used in notebooks/04_fcn.ipynb, section 4.
    """

    def __init__(self, num_classes: int, radius: int = 2, ignore_index: int = IGNORE_INDEX,
                 device: torch.device | str | None = None) -> None:
        super().__init__(num_classes, ignore_index=ignore_index, device=device)
        boundary_band(torch.zeros(1, 1, dtype=torch.long), radius)  # validate radius now, not at update
        self.radius = radius

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """As :meth:`ConfusionMatrix.update`, counting only the band's pixels."""
        validate_labels(target, self.num_classes, "target", self.ignore_index)
        super().update(pred, target.masked_fill(~boundary_band(target, self.radius), self.ignore_index))


def rand_scores(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """The ISBI 2012 challenge's Rand scores of a segmentation: integer maps of segment ids, ``truth``'s
    0 (the membranes) left out. Over pairs of distinct pixels inside true segments: ``"precision"`` = of the
    pairs ``pred`` puts together, the share ``truth`` also does (merges lower it); ``"recall"`` = of the
    pairs ``truth`` puts together, the share ``pred`` does (splits lower it); ``"error"`` = 1 - their
    harmonic mean (Arganda-Carreras et al., 2015, Front. Neuroanat. 9:142; as
    ``skimage.metrics.adapted_rand_error``). Built in notebooks/02_metrics.ipynb, section 9."""
    if pred.shape != truth.shape or pred.is_floating_point() or truth.is_floating_point():
        raise ValueError(f"pred and truth must be integer segment ids of one shape, got {pred.dtype} "
                         f"{tuple(pred.shape)} and {truth.dtype} {tuple(truth.shape)}")
    inside = truth != 0
    if not inside.any():
        raise ValueError("truth has no pixel inside a segment (every label is 0)")
    t = torch.unique(truth[inside], return_inverse=True)[1]
    p = torch.unique(pred[inside], return_inverse=True)[1]
    joint = torch.bincount(t * (int(p.max()) + 1) + p).double()  # pixels in true segment i and predicted j

    def pairs(sizes: torch.Tensor) -> float:
        return (sizes * (sizes - 1) / 2).sum().item()
    together = pairs(joint)
    in_pred, in_truth = pairs(torch.bincount(p).double()), pairs(torch.bincount(t).double())
    return {"error": 1 - 2 * together / (in_pred + in_truth) if in_pred + in_truth else 0.0,
            "precision": together / in_pred if in_pred else 1.0,
            "recall": together / in_truth if in_truth else 1.0}


def _check_logits(logits: torch.Tensor, target: torch.Tensor, source: str) -> None:
    """Float logits ``[N, C, H, W]`` for labels ``[N, H, W]`` of the same N, H, W, within the C classes."""
    shape = (logits.shape[0], *logits.shape[2:]) if logits.dim() == 4 else None
    if shape is None or not logits.is_floating_point() or target.shape != shape:
        raise ValueError(f"{source}: expected float logits [N, C, H, W] and labels [N, H, W] of the same "
                         f"N, H, W; got logits {logits.dtype} {tuple(logits.shape)} and labels "
                         f"{tuple(target.shape)}")
    validate_labels(target, logits.shape[1], f"{source}: target")


def object_class_accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    """The "what" score: on ground-truth object pixels, how often the best *object* class (background's
    logit left out; chance about ``1 / (C - 1)``) is right. Built in notebooks/04_fcn.ipynb, section 4."""
    _check_logits(logits, target, "object_class_accuracy")
    objects = (target > 0) & (target != IGNORE_INDEX)
    guess = logits[:, 1:].argmax(dim=1) + 1
    return (guess[objects] == target[objects]).float().mean().item()


def accuracy_by_distance(pred: torch.Tensor, target: torch.Tensor,
                         edges: tuple[int, ...] = (0, 1, 2, 4, 8, 16)) -> list[float]:
    """Pixel accuracy in rings around the ground-truth boundaries: ring ``k`` holds the pixels more than
    ``edges[k-1]`` and at most ``edges[k]`` px away, the last everything farther (NaN if empty).
    Built in notebooks/04_fcn.ipynb, section 5."""
    if pred.shape != target.shape or pred.is_floating_point():
        raise ValueError(f"accuracy_by_distance: expected predicted labels of the target's shape "
                         f"{tuple(target.shape)}, got {pred.dtype} {tuple(pred.shape)} (logits: argmax(1))")
    valid, right = target != IGNORE_INDEX, pred == target
    band = boundary_pixels(target).reshape(-1, 1, *target.shape[-2:]).float()
    accuracy, seen, reach = [], torch.zeros_like(valid), 0
    for edge in (*edges, None):
        while edge is not None and reach < edge:  # grow the band one pixel at a time: a 3x3 dilation
            band, reach = F.max_pool2d(band, 3, stride=1, padding=1), reach + 1
        inside = band.bool().view_as(target) if edge is not None else torch.ones_like(valid)
        ring = inside & ~seen & valid
        n = ring.sum().item()
        accuracy.append((right & ring).sum().item() / n if n else float("nan"))  # NaN: an empty ring
        seen |= inside
    return accuracy


def touching_pairs(instances: torch.Tensor, reach: int = 3) -> torch.Tensor:
    """Pairs ``[P, 2]`` (a < b) of instance ids whose pixels come within ``reach`` pixels (chessboard
    distance) of each other: the cells that only a thin gap keeps apart.
    First used in notebooks/07_unet.ipynb, section 1."""
    instances = validate_instances(instances, "touching_pairs")
    h, w = instances.shape
    padded = F.pad(instances, (reach, reach, reach, reach))
    pairs = []
    for dy in range(reach + 1):
        for dx in range(-reach, reach + 1):
            other = padded[reach + dy:reach + dy + h, reach + dx:reach + dx + w]
            hit = (instances > 0) & (other > 0) & (other != instances)
            pairs.append(torch.stack([instances[hit], other[hit]], 1))
    pairs = torch.cat(pairs).sort(dim=1).values
    return torch.unique(pairs, dim=0) if len(pairs) else pairs.view(0, 2)


def predicted_components(foreground: torch.Tensor) -> torch.Tensor:
    """Connected components (4-neighbourhood) of a boolean map ``[H, W]``: ids 1..K, 0 elsewhere.
    First used in notebooks/07_unet.ipynb, section 1."""
    from scipy import ndimage
    return torch.from_numpy(ndimage.label(foreground.cpu().numpy())[0]).long()


def grow_components(components: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Components ``[H, W]`` (ids 1..K) each grown by ``pixels`` into the background around it, never into
    another component (``skimage.segmentation.expand_labels``): gives back the outline a border-aware loss
    (the weight map, the 3-class target) shaves off every cell. Built in notebooks/07_unet.ipynb,
    section 5."""
    from skimage.segmentation import expand_labels
    if pixels < 0:
        raise ValueError(f"grow_components: pixels must be >= 0, got {pixels}")
    return torch.from_numpy(expand_labels(components.cpu().numpy(), distance=pixels)).long()


def separation(foreground: torch.Tensor, instances: torch.Tensor, reach: int = 3,
               grow: int = 0) -> tuple[int, int]:
    """``(separated, touching)``: of the touching ground-truth pairs, how many lie in different
    predicted components (grown by ``grow`` pixels, :func:`grow_components`). Each cell belongs to the
    component covering most of its pixels; a cell no component covers is not separated from anything.
    Built in notebooks/07_unet.ipynb, section 5."""
    instances = validate_instances(instances, "separation: instances")
    if foreground.shape != instances.shape or foreground.dtype != torch.bool:
        raise ValueError(f"separation: expected a boolean foreground map of the instances' shape "
                         f"{tuple(instances.shape)}, got {foreground.dtype} {tuple(foreground.shape)}")
    pairs = touching_pairs(instances, reach)
    components = grow_components(predicted_components(foreground), grow)
    joint = torch.zeros(int(instances.max()) + 1, int(components.max()) + 1, dtype=torch.long)
    ones = torch.ones(instances.numel(), dtype=torch.long)
    joint.index_put_((instances.flatten(), components.flatten()), ones, accumulate=True)
    joint[:, 0] = 0
    owner = torch.where(joint.sum(1) > 0, joint.argmax(1), 0)
    a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
    return int(((a != b) & (a > 0) & (b > 0)).sum()), len(pairs)


def instance_scores(probs: torch.Tensor, instances: torch.Tensor, reach: int = 3,
                    grow: int = 0) -> dict[str, float]:
    """Cell probabilities ``[N, H, W]`` against instance maps ``[N, H, W]``: ``"separation"`` (touching
    pairs kept apart / touching pairs) and COCO mask ``"AP"``, each predicted component (p > 0.5, grown
    by ``grow`` pixels: :func:`grow_components`) one instance scored by its mean probability before
    growing. Built in notebooks/07_unet.ipynb, section 5."""
    from seglib.coco import coco_mask_metrics
    instances = validate_instances(instances, "instance_scores: instances", dims=3)
    if probs.shape != instances.shape or not probs.is_floating_point():
        raise ValueError(f"instance_scores: expected cell probabilities [N, H, W] of the instances' shape "
                         f"{tuple(instances.shape)}, got {probs.dtype} {tuple(probs.shape)} (for two-class "
                         "logits: logits.softmax(1)[:, 1])")
    predictions, targets, kept, pairs = [], [], 0, 0
    for p, cells in zip(probs, instances, strict=True):
        s, t = separation(p > 0.5, cells, reach, grow)
        kept, pairs = kept + s, pairs + t
        found = predicted_components(p > 0.5)
        comps = grow_components(found, grow)
        masks = comps[None] == torch.arange(1, int(comps.max()) + 1)[:, None, None]
        scores = (torch.stack([p[found == k].mean() for k in range(1, len(masks) + 1)]) if len(masks)
                  else torch.zeros(0))
        labels = torch.ones(len(masks), dtype=torch.long)
        predictions.append({"masks": masks, "scores": scores, "labels": labels})
        truth = cells[None] == torch.arange(1, int(cells.max()) + 1)[:, None, None]
        targets.append({"masks": truth, "labels": torch.ones(len(truth), dtype=torch.long)})
    return {"separation": kept / max(pairs, 1), "AP": coco_mask_metrics(predictions, targets)["AP"]}


def pixel_scores(logits: torch.Tensor, target: torch.Tensor, band_radius: int = 2) -> dict[str, float]:
    """The scores every lesson's table reports: mIoU, boundary-band mIoU, "what" (object-class accuracy)
    and each class's IoU (``"IoU 0"``, ...). Built in notebooks/04_fcn.ipynb, section 4."""
    _check_logits(logits, target, "pixel_scores")
    whole, band = ConfusionMatrix(logits.shape[1]), BandConfusionMatrix(logits.shape[1], radius=band_radius)
    whole.update(logits, target)
    band.update(logits, target)
    scores = whole.compute()
    return {"mIoU": scores["mean_iou"], "band mIoU": band.compute()["mean_iou"],
            "what": object_class_accuracy(logits, target),
            **{f"IoU {c}": v for c, v in enumerate(scores["iou"].tolist())}}
