"""seglib.metrics.boundary: boundary pixels, bands around them, and metrics counted only there."""
import pytest
import torch

from seglib.core import DatasetError
from seglib.metrics import BandConfusionMatrix, boundary_band, boundary_pixels


def square(size: int = 8, lo: int = 2, hi: int = 6, label: int = 1) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.long)
    mask[lo:hi, lo:hi] = label
    return mask


def test_boundary_pixels_are_both_sides_of_every_edge():
    edge = boundary_pixels(square())
    ring_inside = square() == 1
    ring_inside[3:5, 3:5] = False                      # the 4x4 square's own outline: 12 pixels
    outside = torch.zeros(8, 8, dtype=torch.bool)
    outside[1, 2:6] = outside[6, 2:6] = outside[2:6, 1] = outside[2:6, 6] = True  # 4-neighbours outside
    assert torch.equal(edge, ring_inside | outside)
    assert boundary_pixels(torch.zeros(5, 5, dtype=torch.long)).sum() == 0   # no edge, no boundary


def test_the_ignore_label_counts_as_a_label_for_boundaries():
    mask = torch.zeros(1, 5, dtype=torch.long)
    mask[0, 2] = 255
    assert boundary_pixels(mask).tolist() == [[False, True, True, True, False]]


def test_band_grows_by_one_pixel_per_side():
    line = torch.tensor([[0] * 6 + [1] * 6])
    assert boundary_band(line, 0).nonzero()[:, 1].tolist() == [5, 6]
    assert boundary_band(line, 2).nonzero()[:, 1].tolist() == [3, 4, 5, 6, 7, 8]
    assert boundary_band(square(16, 4, 12), 20).all()   # wider than the image: everything


def test_band_keeps_the_input_shape_and_rejects_bad_input():
    batch = torch.stack([square(), square(label=2)])
    assert boundary_band(batch, 1).shape == (2, 8, 8)
    assert boundary_band(square(), 1).shape == (8, 8)
    with pytest.raises(ValueError, match="radius"):
        boundary_band(square(), -1)
    with pytest.raises(ValueError, match="integer labels"):
        boundary_band(square().float(), 1)


def band_metrics(pred, target, num_classes, radius):
    matrix = BandConfusionMatrix(num_classes, radius)
    matrix.update(pred, target)
    return matrix.compute()


def test_band_keeps_both_sides_of_the_edge_only():
    target = square(12, 3, 9)
    kept = target.masked_fill(~boundary_band(target, 1), 255)
    assert kept[0, 0] == 255 and kept[6, 6] == 255     # far outside and deep inside
    assert kept[3, 3] == 1 and kept[2, 3] == 0          # the two sides of the edge


def test_band_confusion_counts_only_pixels_near_boundaries():
    target = square(12, 3, 9).unsqueeze(0)
    blob = torch.zeros_like(target)
    blob[:, 4:8, 4:8] = 1                                # right inside, wrong along the outline
    matrix = BandConfusionMatrix(num_classes=2, radius=0)
    matrix.update(blob, target)
    assert matrix.matrix.sum() == boundary_band(target, 0).sum() == 44
    # The band: the object's 20 outline pixels, all missed (the blob lies strictly inside
    # them), and the 24 background pixels just outside, all right.
    assert matrix.matrix.tolist() == [[24, 0], [20, 0]]
    whole = band_metrics(blob, target, 2, radius=100)["mean_iou"]
    near = band_metrics(blob, target, 2, radius=0)["mean_iou"]
    assert near < whole                                  # a blob looks worse near boundaries


def test_band_metrics_on_logits_and_perfect_predictions():
    target = torch.stack([square(), square(label=2)])
    logits = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float()
    result = band_metrics(logits, target, num_classes=3, radius=1)
    assert result["mean_iou"] == 1.0 and result["pixel_accuracy"] == 1.0


def test_band_confusion_validates_like_the_confusion_matrix():
    with pytest.raises(ValueError, match="radius"):
        BandConfusionMatrix(2, radius=1.5)
    matrix = BandConfusionMatrix(2, radius=1)
    with pytest.raises(DatasetError, match="outside"):
        matrix.update(torch.zeros(1, 8, 8, dtype=torch.long), square(label=7).unsqueeze(0))
