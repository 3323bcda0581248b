"""Metrics for semantic segmentation (confusion matrix, FCN's four metrics, a boundary band)
and for instance masks (COCO AP/AR; ``seglib.metrics.coco.evaluate`` runs the whole COCO-style
evaluation, not to be confused with ``seglib.train.evaluate``)."""
from seglib.metrics.boundary import BandConfusionMatrix, band_metrics, boundary_band
from seglib.metrics.coco import (IOU_THRESHOLDS, RECALL_POINTS, average_precision, average_recall,
                                 coco_mask_metrics, interpolated_ap, mask_iou, match,
                                 precision_recall)
from seglib.metrics.confusion import (ConfusionMatrix, accuracy_per_class, frequency_weighted_iou,
                                      iou_per_class, mean_accuracy, mean_iou, pixel_accuracy,
                                      segmentation_metrics)

__all__ = [
    "BandConfusionMatrix", "band_metrics", "boundary_band",
    "ConfusionMatrix", "accuracy_per_class", "frequency_weighted_iou", "iou_per_class",
    "mean_accuracy", "mean_iou", "pixel_accuracy", "segmentation_metrics",
    "IOU_THRESHOLDS", "RECALL_POINTS", "average_precision", "average_recall", "coco_mask_metrics",
    "interpolated_ap", "mask_iou", "match", "precision_recall",
]
