"""Lesson 06's rivals (section 3) at 1x, 2x and 4x its 150 steps over seeds 0-4: what do the switches buy?

For each seed (training and validation data, each model's initialisation, batch order) and budget it
trains, on the "thin" data at 96 px (1,200 training images, 1, 2 or 4 epochs of batches of 8; wires
weigh 5x in the loss), every way of bringing "where" back that the lesson compares: FCN-8s (bilinear
upsampling of scores at 1/8), DeconvNet (switches), the same decoder with bilinear upsampling instead
of switches, SegNet-like (switches, no 1x1 fc code), FCN-2s (FCN-8s plus pool2 and pool1 skips) and the
5x5 local-only net; and scores the paper's ensemble (mean of FCN-8s's and DeconvNet's probabilities).
Stored in seglib/results/deconvnet.json; the lesson plots it and checks its claims on it.

``what`` instead runs the lesson's study of why the switch decoders are erratic on *what* (square
IoU): DeconvNet at 1x with one setting changed at a time (stored in deconvnet_what.json); ``probe``
fits a linear probe on each of DeconvNet's maps: where along the network is disc-or-square still
readable, per pixel and per object (stored in deconvnet_probe.json).

    python benchmarks/bench_deconvnet.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
    python benchmarks/bench_deconvnet.py what [--seeds 0 1 2] [--multiples 1]
    python benchmarks/bench_deconvnet.py probe [--seeds 0 1 2] [--multiples 1]
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from seglib import sweep
from seglib.compare import TASKS, adam, class_weighted_loss
from seglib.metrics import pixel_scores
from seglib.models.deconvnet import DeconvNet, FCN2s, instance_wise
from seglib.models.fcn import FCN
from seglib.models.local import LocalNet
from seglib.models.vgg import VGGBackbone, shapes_vgg16
from seglib.synthetic import SyntheticConfig, SyntheticDataset, make_sample
from seglib.train import fit


STEPS, SIZE, BATCH, N_TRAIN, N_VAL, CLASSES = 150, 96, 8, 1200, 200, 4
WEIGHTS = TASKS["thin"].class_weights  # wires weigh 5x, for every model alike
METRICS = ["mIoU", "band mIoU", "wire", "square"]

MODELS: dict[str, tuple[Callable[[], nn.Module], float]] = {
    "FCN-8s": (lambda: FCN(CLASSES, "8s", vgg=shapes_vgg16()), 1e-3),
    "DeconvNet": (lambda: DeconvNet(CLASSES, vgg=shapes_vgg16()), 5e-3),
    "DeconvNet, bilinear": (lambda: DeconvNet(CLASSES, vgg=shapes_vgg16(), decoder="bilinear"), 5e-3),
    "SegNet-like": (lambda: DeconvNet(CLASSES, vgg=shapes_vgg16(), code=False), 5e-3),
    "FCN-2s": (lambda: FCN2s(CLASSES, vgg=shapes_vgg16()), 1e-3),
    "local-only": (lambda: LocalNet(CLASSES), 1e-2),
}
"""Model -> (constructor, Adam rate of its new layers; 1e-3 for what came from the classifier)."""


@functools.lru_cache(maxsize=1)
def data(seed: int) -> tuple[TensorDataset, torch.Tensor, torch.Tensor]:
    """The training set and the validation images and masks of ``seed`` (the lesson's for seed 0)."""
    train = TensorDataset(*SyntheticDataset(N_TRAIN, SIZE, "thin", seed=10 * seed).materialize())
    images, masks = SyntheticDataset(N_VAL, SIZE, "thin", seed=10 * seed + 1).materialize()
    return train, images, masks


def named(scores: dict[str, float]) -> dict[str, float]:
    """pixel_scores with the thin data's class names."""
    return {"mIoU": scores["mIoU"], "band mIoU": scores["band mIoU"], "what": scores["what"],
            "wire": scores["IoU 1"], "disc": scores["IoU 2"], "square": scores["IoU 3"]}


def train(name: str, train_set: TensorDataset, seed: int, multiple: int,
          make: Callable[[], nn.Module] | None = None, lr: float | None = None,
          weights: tuple[float, ...] = WEIGHTS, pretrained_lr: float = 1e-3,
          batch_size: int = BATCH) -> nn.Module:
    """``name`` (or ``make()``) trained for ``multiple`` x 150 steps, its initialisation seeded by ``seed``
    alone (so any subset of models reproduces the stored numbers)."""
    default_make, default_lr = MODELS.get(name, (None, None))
    make, lr = make or default_make, lr or default_lr
    torch.manual_seed(seed)
    model = make()
    epochs = multiple * STEPS * BATCH // len(train_set)
    fit(model, train_set, epochs=epochs, lr=lr, optimizer=adam(model, lr, pretrained_lr), schedule="constant",
        batch_size=batch_size, loss_fn=class_weighted_loss(weights), seed=seed, progress=False)
    return model.eval()


def probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.eval()(images[i:i + 50]).softmax(1) for i in range(0, len(images), 50)])


SAVED = Path(os.environ.get("SEGLIB_BENCH_MODELS", Path(tempfile.gettempdir()) / "bench_deconvnet"))
"""Where each trained model's weights are kept, so derived rows (ensemble, proposals) need no retraining."""


def scores(seed: int, multiple: int, names: tuple[str, ...] | None = None,
           stored: dict | None = None) -> dict[str, dict[str, float]]:
    """The models ``names`` (default: all of ``MODELS``) not yet in ``stored``, trained for ``multiple`` x 150
    steps on ``seed``'s data and scored; with the stored ones, and the ensemble when both of it are there."""
    train_set, images, masks = data(seed)
    table = dict(stored or {})
    for name in names or MODELS:
        if name in table:
            continue
        start = time.process_time()
        model = train(name, train_set, seed, multiple)
        SAVED.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), SAVED / f"{name}_{seed}_{multiple}.pt")
        table[name] = {**named(pixel_scores(probabilities(model, images), masks)),
                       "cpu s": time.process_time() - start}
        print(f"  seed {seed} {multiple}x {name}: "
              + "  ".join(f"{k} {v:.3f}" for k, v in table[name].items()), flush=True)
    return table


def frozen_encoder() -> nn.Module:
    model = DeconvNet(CLASSES, vgg=shapes_vgg16())
    for part in (model.encoder, model.fc6, model.fc7):
        part.requires_grad_(False)
    return model


WHAT: dict[str, dict] = {
    "encoder frozen": {"make": frozen_encoder},
    "new layers at 1e-3": {"lr": 1e-3},
}
"""Why DeconvNet is erratic on *what*: one setting changed at a time (``train``'s keyword arguments)."""


def what_scores(seed: int, multiple: int, names: tuple[str, ...] | None = None,
                stored: dict | None = None) -> dict[str, dict[str, float]]:
    """DeconvNet as in the rivals' table (its saved weights), scored with running and with batch
    statistics, and retrained with each change of ``WHAT`` not yet in ``stored``."""
    train_set, images, masks = data(seed)
    table = dict(stored or {})
    base = DeconvNet(CLASSES, vgg=shapes_vgg16())
    base.load_state_dict(torch.load(SAVED / f"DeconvNet_{seed}_{multiple}.pt"))
    table["DeconvNet (as in the table)"] = named(pixel_scores(probabilities(base, images), masks))
    table["... scored with batch statistics"] = named(pixel_scores(batch_stats(base, images), masks))
    for label, change in WHAT.items():
        if label in table or (names and label not in names):
            continue
        model = train("DeconvNet", train_set, seed, multiple, **change)
        table[label] = named(pixel_scores(probabilities(model, images), masks))
        print(f"  seed {seed} {label}: " + "  ".join(f"{k} {v:.3f}" for k, v in table[label].items()),
              flush=True)
    return table


def batch_stats(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Probabilities with every BatchNorm normalising by its batch of 50 (running statistics untouched)."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    with torch.no_grad():
        probs = torch.cat([model(images[i:i + 50]).softmax(1) for i in range(0, len(images), 50)])
    model.load_state_dict(saved)
    return probs


def instances_of(seed: int, n: int) -> torch.Tensor:
    """The instance maps of the first ``n`` samples of data seed ``seed`` (as ``SyntheticDataset``
    draws them)."""
    config = SyntheticConfig(size=SIZE, variant="thin")
    return torch.stack([make_sample(i, seed, config, return_instances=True)[2] for i in range(n)])


def val_instances(seed: int) -> torch.Tensor:
    """The instance maps of ``seed``'s validation images (the same samples ``data`` draws)."""
    return instances_of(10 * seed + 1, N_VAL)


def derived(seed: int, multiple: int, stored: dict) -> dict[str, dict[str, float]]:
    """Rows computed from the saved FCN-8s and DeconvNet, no training: the ensemble as the paper's text
    says (mean of probabilities) and as its released code does (product), and each net instance-wise."""
    _, images, masks = data(seed)
    instances = val_instances(seed)
    table, probs = dict(stored), {}
    for name in ("FCN-8s", "DeconvNet"):
        model = MODELS[name][0]()
        model.load_state_dict(torch.load(SAVED / f"{name}_{seed}_{multiple}.pt"))
        probs[name] = probabilities(model, images)
        table[f"{name}, instance-wise (oracle boxes)"] = named(pixel_scores(
            instance_wise(model, images, instances, seed), masks))
    mean = (probs["FCN-8s"] + probs["DeconvNet"]) / 2
    table["ensemble FCN-8s + DeconvNet (mean)"] = named(pixel_scores(mean, masks))
    product = probs["FCN-8s"] * probs["DeconvNet"]
    table["ensemble FCN-8s + DeconvNet (product)"] = named(pixel_scores(product, masks))
    return table


PROBED: dict[str, tuple[str, ...]] = {
    "classifier as shipped": ("pool3", "pool4", "pool5"),
    "FCN-8s": ("pool3", "pool4", "pool5", "fc7"),
    "DeconvNet": ("pool3", "pool4", "pool5", "fc7", "deconv5", "deconv4", "deconv3", "deconv2", "deconv1"),
    "SegNet-like": ("pool3", "pool4", "pool5", "deconv5", "deconv4", "deconv3", "deconv2", "deconv1"),
    "DeconvNet, encoder frozen": ("pool5", "fc7", "deconv5", "deconv3", "deconv1"),
}
"""Network -> the maps a linear probe reads, in the order the image flows through them."""
N_PROBE = 300  # training images the probes are fitted on


def maps_of(network: str, model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The named maps of ``network`` on ``images``: ``DeconvNet.maps``; FCN's backbone and fc7; the shipped
    classifier's pool3-pool5 on raw images (what it was trained on)."""
    if isinstance(model, DeconvNet):
        return model.maps(images)
    if network == "FCN-8s":
        features = model.backbone(model.normalize(images))
        return {**features, "fc7": model.fc7_map(features)}
    return VGGBackbone(model.features)(images)


def object_features(network: str, model: nn.Module, images: torch.Tensor, masks: torch.Tensor,
                    instances: torch.Tensor, name: str) -> tuple[torch.Tensor, ...]:
    """Map ``name`` upsampled (bilinear) to the image: its features on every disc or square pixel, and
    averaged over each disc or square; with their labels (1 = square)."""
    pixels, pixel_labels, objects, object_labels = [], [], [], []
    with torch.no_grad():
        for i in range(0, len(images), 50):
            h = maps_of(network, model, images[i:i + 50])[name]
            h = nn.functional.interpolate(h, size=images.shape[-2:], mode="bilinear", align_corners=False)
            for f, m, inst in zip(h, masks[i:i + 50], instances[i:i + 50], strict=True):
                shape = (m == 2) | (m == 3)
                pixels.append(f[:, shape].T)
                pixel_labels.append((m[shape] == 3).long())
                for k in inst[shape].unique().tolist():
                    where = shape & (inst == k)
                    objects.append(f[:, where].mean(1))
                    object_labels.append(int(m[where].mode().values == 3))
    return torch.cat(pixels), torch.cat(pixel_labels), torch.stack(objects), torch.tensor(object_labels)


def probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                   seed: int, most: int = 20000) -> float:
    """Test accuracy of a logistic regression (L-BFGS, a little L2) fitted on at most ``most`` rows."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(train_x), generator=g)[:most]
    x, y = train_x[pick], train_y[pick].float()
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, test_x = (x - mean) / std, (test_x - mean) / std
    w, b = torch.zeros(x.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + 1e-3 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return ((test_x @ w + b > 0).long() == test_y).float().mean().item()


def own_answer(model: nn.Module, images: torch.Tensor, masks: torch.Tensor) -> float:
    """How often the network itself calls a disc pixel disc and a square pixel square."""
    answer = probabilities(model, images)[:, 2:].argmax(1)
    shape = (masks == 2) | (masks == 3)
    return (answer[shape] == (masks[shape] == 3).long()).float().mean().item()


def probe_scores(seed: int, multiple: int, names: tuple[str, ...] | None = None,
                 stored: dict | None = None) -> dict[str, dict[str, float]]:
    """Is disc-or-square in the maps? A linear probe per map of the shipped classifier, the trained FCN-8s
    and the trained DeconvNet, per pixel and per object (the map averaged over the object), fitted on
    training images and scored on the validation images; beside them, what each network answers."""
    train_set, images, masks = data(seed)
    fit_images, fit_masks = train_set.tensors[0][:N_PROBE], train_set.tensors[1][:N_PROBE]
    fit_instances, val_inst = instances_of(10 * seed, N_PROBE), val_instances(seed)
    table = dict(stored or {})
    for network, probed in PROBED.items():
        if all(f"{network}: {name}" in table for name in probed):
            continue                                      # stored already: no need to train it again
        if network == "classifier as shipped":
            model = shapes_vgg16().eval()
        else:
            change = WHAT["encoder frozen"] if network == "DeconvNet, encoder frozen" else {}
            model = train(network.split(",")[0], train_set, seed, multiple, **change)
            table[f"{network}: its own scores"] = {"per pixel": own_answer(model, images, masks)}
        for name in probed:
            px, py, ox, oy = object_features(network, model, fit_images, fit_masks, fit_instances, name)
            tx, ty, vx, vy = object_features(network, model, images, masks, val_inst, name)
            row = table[f"{network}: {name}"] = {"per pixel": probe_accuracy(px, py, tx, ty, seed),
                                                 "per object": probe_accuracy(ox, oy, vx, vy, seed)}
            print(f"  seed {seed} {multiple}x probe {network}: {name}: "
                  + "  ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    shape = masks[(masks == 2) | (masks == 3)]
    table["always the commoner shape"] = {"per pixel": max((shape == 2).float().mean().item(),
                                                           (shape == 3).float().mean().item())}
    return table

STUDIES: dict[str, tuple[str, Callable[..., dict], list[str]]] = {
    "rivals": ("deconvnet", scores, METRICS),
    "what": ("deconvnet_what", what_scores, METRICS),
    "derive": ("deconvnet", lambda seed, x, names, stored: derived(seed, x, stored), METRICS),
    "probe": ("deconvnet_probe", probe_scores, ["per pixel", "per object"]),
}
"""Study -> (stored sweep, ``run(seed, multiple, names, stored)``, the metrics its table prints)."""


def main() -> None:
    """``sweep.main``, row by row: each study trains what its defaults (or ``--models``) ask at each (seed,
    multiple) and is not stored, and stores its rows beside the stored ones."""
    study = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in STUDIES else "rivals"  # the study comes first
    name, run, metrics = STUDIES[study]

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", nargs="?", choices=STUDIES, default="rivals")
        parser.add_argument("--models", nargs="+", choices=[*MODELS, *WHAT], help="default: every model")

    sweep.main(name, lambda seed, x, stored, args: run(seed, x, tuple(args.models or ()) or None, stored),
               steps=STEPS, protocol=PROTOCOL, description=__doc__.splitlines()[0], metrics=metrics,
               by_row=True, add_arguments=add_arguments)


PROTOCOL = {"data": "thin", "size": SIZE, "train": N_TRAIN, "val": N_VAL, "batch": BATCH,
            "rates": {name: lr for name, (_, lr) in MODELS.items()}, "wire weight": WEIGHTS[1]}


if __name__ == "__main__":
    main()
