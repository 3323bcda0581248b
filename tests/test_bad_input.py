"""Bad input reaching the public functions: a clear error naming the argument and the problem, never
torch's own message from deep inside, nor a silent answer."""
from __future__ import annotations

import re

import pytest
import torch

from seglib.core import DatasetError, validate_instances
from seglib.metrics import (
    accuracy_by_distance,
    instance_scores,
    object_class_accuracy,
    pixel_scores,
    separation,
    touching_pairs,
)
from seglib.models.local import LocalNet


LOGITS = torch.randn(2, 3, 8, 8)
TARGET = torch.randint(0, 3, (2, 8, 8))


def test_local_net_names_the_channels_it_expects():
    message = "LocalNet input: got shape (2, 1, 8, 8); expected [N, 3, H, W]"
    with pytest.raises(ValueError, match=re.escape(message)):
        LocalNet(3)(torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("score", [pixel_scores, object_class_accuracy])
def test_scores_refuse_labels_for_logits_other_shapes_and_float_targets(score):
    name = score.__name__
    with pytest.raises(ValueError, match=re.escape(f"{name}: expected float logits [N, C, H, W]")):
        score(TARGET, TARGET)  # labels where logits belong
    with pytest.raises(ValueError, match=re.escape("and labels (2, 4, 8)")):
        score(LOGITS, TARGET[:, :4])
    with pytest.raises(DatasetError, match=f"{name}: target: labels must be integer"):
        score(LOGITS, TARGET.float())  # object_class_accuracy used to answer
    assert 0 <= object_class_accuracy(LOGITS, TARGET) <= 1


def test_accuracy_by_distance_wants_labels_of_the_targets_shape():
    with pytest.raises(ValueError, match=re.escape("got torch.float32 (2, 3, 8, 8) (logits: argmax(1))")):
        accuracy_by_distance(LOGITS, TARGET)
    assert len(accuracy_by_distance(LOGITS.argmax(1), TARGET)) == 7  # six edges, then everything farther


def test_instance_metrics_refuse_float_or_mismatched_maps():
    with pytest.raises(DatasetError, match="touching_pairs: expected an instance map"):
        touching_pairs(torch.rand(8, 8))  # used to count 936 'pairs'
    with pytest.raises(ValueError, match=re.escape("boolean foreground map of the instances' shape (6, 6)")):
        separation(torch.rand(8, 8) > 0.5, torch.zeros(6, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=re.escape("(for two-class logits: logits.softmax(1)[:, 1])")):
        instance_scores(torch.rand(2, 2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long))
    with pytest.raises(DatasetError, match="instance_scores: instances: .*N, H, W"):
        instance_scores(torch.rand(2, 8, 8), torch.rand(2, 8, 8))


def test_validate_instances_is_the_one_instance_map_check():
    assert validate_instances(torch.zeros(4, 4, dtype=torch.uint8)).dtype == torch.uint8
    message = "my map: expected an instance map [H, W] of integer"
    for bad in (torch.zeros(4, 4, dtype=torch.bool), torch.zeros(4, 4), torch.zeros(1, 4, 4).long()):
        with pytest.raises(DatasetError, match=re.escape(message)):
            validate_instances(bad, "my map")
