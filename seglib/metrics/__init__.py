"""Metrics for semantic segmentation (confusion matrix, FCN's four metrics) and for instance masks (COCO AP/AR)."""
from seglib.metrics.coco import (IOU_THRESHOLDS, RECALL_POINTS, average_precision, average_recall,
                                 coco_mask_metrics, evaluate, interpolated_ap, mask_iou, match,
                                 precision_recall)
from seglib.metrics.confusion import (ConfusionMatrix, accuracy_per_class, frequency_weighted_iou,
                                      iou_per_class, mean_accuracy, mean_iou, pixel_accuracy,
                                      segmentation_metrics)

__all__ = [
    "ConfusionMatrix", "accuracy_per_class", "frequency_weighted_iou", "iou_per_class",
    "mean_accuracy", "mean_iou", "pixel_accuracy", "segmentation_metrics",
    "IOU_THRESHOLDS", "RECALL_POINTS", "average_precision", "average_recall", "coco_mask_metrics",
    "evaluate", "interpolated_ap", "mask_iou", "match", "precision_recall",
]
