"""Lesson 08's comparison helpers."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seglib.compare import TASKS, class_weighted_loss


def test_class_weighted_loss_weighs_classes_and_follows_the_logits_device():
    loss = class_weighted_loss(TASKS["thin"].class_weights)
    logits, masks = torch.randn(2, 4, 5, 5), torch.randint(0, 4, (2, 5, 5))
    masks[0, 0, 0] = 255  # ignored
    expected = F.cross_entropy(logits, masks, weight=torch.tensor([1.0, 5.0, 1.0, 1.0]), ignore_index=255)
    torch.testing.assert_close(loss(logits, masks), expected)
    assert loss(logits, masks) != F.cross_entropy(logits, masks, ignore_index=255)
    # on a GPU the weights must live where the logits are (the meta device stands in for one here)
    on_meta = loss(logits.to("meta"), masks.to("meta"))
    assert on_meta.device.type == "meta"
