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


def test_data_draws_with_a_given_config_instead_of_the_tasks_own():
    from seglib.compare import data
    from seglib.synthetic import ShapesConfig, make_sample

    own = data("touching", seed=3, n=2)
    assert own[0].shape == (2, 3, 96, 96)
    defaults = ShapesConfig(size=32, variant="touching")
    images, masks, instances = data("touching", seed=3, n=2, start=1, config=defaults)
    assert images.shape == (2, 3, 32, 32) and masks.shape == instances.shape == (2, 32, 32)
    image, mask, cells = make_sample(2, 3, defaults, return_instances=True)  # sample start + 1
    assert torch.equal(images[1], image) and torch.equal(masks[1], mask) and torch.equal(instances[1], cells)


def test_train_takes_its_steps_and_config():
    """Two steps on 16 px images: the model comes back in eval mode and scores on that config's data."""
    from seglib.compare import evaluate, train
    from seglib.synthetic import ShapesConfig

    small = ShapesConfig(size=16, min_object_size=4.0, variant="thin")
    model = train("local-only", "thin", seed=0, steps=2, config=small)
    assert not model.training
    scores, labels = evaluate(model, "thin", seed=0, config=small)
    assert labels.shape == (200, 16, 16) and 0.0 <= scores["mIoU"] <= 1.0
