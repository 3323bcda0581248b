"""Lesson 08's comparison helpers."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from seglib import compare
from seglib.compare import TASKS, adam, class_weighted_loss
from seglib.models.deconvnet import DeconvNet
from seglib.models.fcn import FCN
from seglib.models.parsenet import ParseNet
from seglib.models.unet import UNet
from seglib.models.vgg import vgg16
from seglib.train import fit


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


def old_adam(model, new_lr, pretrained_lr=1e-3):
    """compare.adam before it used fit's parameters: attributes by name, every parameter in Adam."""
    pretrained = {id(p) for name in ("backbone", "encoder", "fc6", "fc7")
                  for p in getattr(model, name, nn.Module()).parameters()}
    old = [p for p in model.parameters() if id(p) in pretrained]
    new = [p for p in model.parameters() if id(p) not in pretrained]
    groups = [{"params": old, "lr": pretrained_lr}] * bool(old) + [{"params": new, "lr": new_lr}]
    return lambda params: torch.optim.Adam(groups)


MODELS = {"FCN-8s": lambda: FCN(3, "8s", width=1 / 16),
          "ParseNet": lambda: ParseNet(3, local="pool3", width=1 / 16),
          "DeconvNet": lambda: DeconvNet(3, vgg=vgg16(1 / 16, batch_norm=True, pool5_grid=1)),
          "U-Net": lambda: UNet(3, 3, channels=4, depth=2, padding="same")}


@pytest.mark.parametrize("name", list(MODELS))
def test_adam_trains_exactly_as_before_when_nothing_is_frozen(name):
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    data = TensorDataset(images, (images[:, 0] * 3).long().clamp(max=2))
    trained = []
    for make_optimizer in (old_adam, adam):
        torch.manual_seed(0)
        model = MODELS[name]()
        fit(model, data, epochs=1, lr=5e-3, optimizer=make_optimizer(model, 5e-3), schedule="constant",
            batch_size=4, progress=False)
        trained.append(model.state_dict())
    assert all(torch.equal(trained[0][k], trained[1][k]) for k in trained[0])


def test_adam_takes_only_the_parameters_fit_passes_and_the_models_own_pretrained_ones():
    model = FCN(3, "8s", width=1 / 16)
    classifier = {id(p) for m in (model.backbone, model.fc6, model.fc7) for p in m.parameters()}
    assert {id(p) for p in model.pretrained_parameters()} == classifier
    for p in model.backbone.parameters():
        p.requires_grad_(False)  # frozen: fit passes only what trains
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = adam(model, 5e-3, pretrained_lr=1e-4)(trainable)
    groups = [(g["lr"], {id(p) for p in g["params"]}) for g in optimizer.param_groups]
    fc67 = {id(p) for m in (model.fc6, model.fc7) for p in m.parameters()}
    assert groups == [(1e-4, fc67), (5e-3, {id(p) for p in trainable} - fc67)]
    explicit = adam(model, 5e-3, pretrained=model.fc7.parameters())(trainable)
    assert [len(g["params"]) for g in explicit.param_groups] == [2, len(trainable) - 2]
    deconvnet = DeconvNet(3, vgg=vgg16(1 / 16, batch_norm=True, pool5_grid=1))
    assert {id(p) for p in deconvnet.pretrained_parameters()} == {
        id(p) for m in (deconvnet.encoder, deconvnet.fc6, deconvnet.fc7) for p in m.parameters()}
    unet = UNet(3, 2, channels=4, depth=2)  # trained from scratch: one group
    assert [g["lr"] for g in adam(unet, 5e-3)(unet.parameters()).param_groups] == [5e-3]


def test_data_draws_with_a_given_config_instead_of_the_tasks_own():
    from seglib.compare import data
    from seglib.synthetic import SyntheticConfig, make_sample

    own = data("touching", seed=3, n=2)
    assert own[0].shape == (2, 3, 96, 96)
    defaults = SyntheticConfig(size=32, variant="touching")
    images, masks, instances = data("touching", seed=3, n=2, start=1, config=defaults)
    assert images.shape == (2, 3, 32, 32) and masks.shape == instances.shape == (2, 32, 32)
    image, mask, cells = make_sample(2, 3, defaults, return_instances=True)  # sample start + 1
    assert torch.equal(images[1], image) and torch.equal(masks[1], mask) and torch.equal(instances[1], cells)


def test_train_takes_its_steps_and_config():
    """Two steps on 16 px images: the model comes back in eval mode and scores on that config's data."""
    from seglib.compare import score_network, train_network
    from seglib.synthetic import SyntheticConfig

    small = SyntheticConfig(size=16, min_object_size=4.0, variant="thin")
    model = train_network("local-only", "thin", seed=0, steps=2, config=small)
    assert not model.training
    scores, labels = score_network(model, "thin", seed=0, config=small)
    assert labels.shape == (200, 16, 16) and 0.0 <= scores["mIoU"] <= 1.0


def test_controls_name_real_networks_and_tasks_and_the_weight_map_changes_training():
    for network, task, lr, border_weights in compare.CONTROLS.values():
        assert network in compare.NETWORKS and task in compare.TASKS
        assert lr is None or lr != compare.NETWORKS[network][1] or not border_weights
    with_map = compare.train_network("local-only", "touching", seed=0, steps=2)
    without = compare.train_network("local-only", "touching", seed=0, steps=2, border_weights=False)
    assert not all(torch.equal(a, b) for a, b in zip(with_map.state_dict().values(),
                                                     without.state_dict().values(), strict=True))
