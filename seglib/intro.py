"""Lesson 00's experiment: does naming a shape need a receptive field that reaches its outline?

The 5 x 5 local net and a pooled net whose 46 px receptive field reaches the outline train on the
same 48 px shapes with Adam at a fixed rate for the same steps; both are scored on *where*
(foreground IoU) and *what* (object-class accuracy), next to the references they must beat.
``benchmarks/bench_intro.py`` runs it at 1x, 2x and 4x the steps over seeds 0-4
(``seglib/results/intro.json``); the lesson retrains seed 0 at 1x live.
Built in notebooks/00_introduction.ipynb, section 6.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from seglib.metrics import object_class_accuracy, pixel_scores
from seglib.models.local import LocalNet
from seglib.models.pooled import PooledNet
from seglib.synthetic import CLASSES, SyntheticDataset
from seglib.train import fit


SIZE, N_TRAIN, N_VAL, BATCH, EPOCHS = 48, 1024, 128, 8, 3
STEPS = N_TRAIN // BATCH * EPOCHS
"""The lesson's budget (1x): 384 steps of 8 images, three passes over 1,024 training images."""
NUM_CLASSES = len(CLASSES["shapes"])

NETWORKS: dict[str, tuple[Callable[[int], nn.Module], float]] = {
    "local 5x5": (LocalNet, 3e-3),
    "pooled net": (PooledNet, 1e-2),
}
"""Network -> (constructor from the number of classes, Adam's fixed rate). The local net keeps the
lesson's 3e-3 (at 1e-2 it can collapse to all background); batch norm lets the pooled net take 1e-2."""


def data(seed: int, split: str) -> TensorDataset:
    """Seed ``seed``'s training set (``"train"``, ``N_TRAIN`` images) or validation set (``"val"``).
    First used in notebooks/00_introduction.ipynb, section 6."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    n, offset = (N_TRAIN, 0) if split == "train" else (N_VAL, 1)
    return TensorDataset(*SyntheticDataset(n, size=SIZE, seed=2 * seed + offset).materialize())


def train(network: str, seed: int, multiple: int = 1, **fit_kwargs) -> tuple[nn.Module, dict]:
    """``network`` trained on seed ``seed``'s data for ``multiple`` x ``STEPS`` steps; the model (in eval
    mode) and ``fit``'s history. ``fit_kwargs`` (e.g. ``val_data``, ``progress``) change no weight.
    First used in notebooks/00_introduction.ipynb, section 6."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {sorted(NETWORKS)}, got {network!r}")
    make, lr = NETWORKS[network]
    torch.manual_seed(seed)
    model = make(NUM_CLASSES)
    fit_kwargs.setdefault("progress", False)
    history = fit(model, data(seed, "train"), epochs=EPOCHS * multiple, lr=lr, optimizer="adam",
                  schedule="constant", batch_size=BATCH, seed=seed, **fit_kwargs)
    return model.eval(), history


def scores(logits: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """*where*: IoU of the object map ``p(background) < 0.5`` with the true one; *what*: object-class
    accuracy on the true object pixels; and the mIoU.
    First used in notebooks/00_introduction.ipynb, section 6."""
    found, truth = logits.softmax(dim=1)[:, 0] < 0.5, masks > 0
    return {"where": ((found & truth).sum() / (found | truth).sum()).item(),
            "what": object_class_accuracy(logits, masks), "mIoU": pixel_scores(logits, masks)["mIoU"]}


def references(masks: torch.Tensor) -> dict[str, float]:
    """What a net that learned nothing about shapes scores: *where* if it calls every pixel an object,
    *what* if it always names the commonest shape.
    First used in notebooks/00_introduction.ipynb, section 6."""
    shapes = masks[masks > 0]
    return {"where": (masks > 0).float().mean().item(),
            "what": torch.bincount(shapes).max().item() / shapes.numel()}


def evaluate(model: nn.Module, seed: int) -> dict[str, float]:
    """``scores`` of ``model`` on seed ``seed``'s validation set.
    First used in notebooks/00_introduction.ipynb, section 6."""
    images, masks = data(seed, "val").tensors
    with torch.no_grad():
        return scores(model.eval()(images), masks)
