"""Lesson 05's experiment: does a far-away cue reach the classifier, and how fast?

Grey blobs are boats or cars only by the colour of a frame at the image border (the ``"context"``
data). Every model trains for the same steps with Adam at a fixed rate: FCN-32s and FCN-8s from the
shipped shape classifier, ParseNet (pool3 + global fc7) and its ablations, and a tiny net from scratch
with and without one global-average branch. ParseNet's rows again on the classifier without batch norm,
whose layers' scales really differ, train at its own lower rate for 4x the steps (``PLAIN_MODELS``).
Scores: mIoU, *what* (boat vs car on blob pixels) and *follows the frame* (the causal test: redraw
the scenes with the other frame, count the blob pixels whose class changes with it).
``benchmarks/bench_parsenet.py`` runs it at 1x, 2x and 4x the steps over seeds 0-4
(``seglib/results/parsenet.json``, ``parsenet_plain.json``); the lesson retrains seed 0 at 1x live.
Built in notebooks/05_parsenet.ipynb, sections 1 and 5.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from seglib.metrics import object_class_accuracy, pixel_scores
from seglib.models.fcn import FCN
from seglib.models.parsenet import ParseNet
from seglib.models.pooled import PooledNet
from seglib.models.vgg import shapes_vgg16
from seglib.synthetic import CLASSES, SyntheticDataset
from seglib.train import fit


SIZE, N_TRAIN, N_VAL, N_SWAP, BATCH, LR = 128, 600, 100, 50, 8, 2e-3
STEPS = N_TRAIN // BATCH
"""The lesson's budget (1x): 75 steps of 8 images, one pass over 600 training images."""
NUM_CLASSES = len(CLASSES["context"])
TINY_WIDTHS = (8, 16, 24, 24)
"""The tiny net's channels: about 10 k parameters, 1/30 of the shape classifier's."""
TINY_LR = 1e-2
"""The tiny nets' fixed rate: batch norm lets a net from scratch take it (lesson 00's pooled net too)."""


def _parsenet(batch_norm: bool = True, **options) -> ParseNet:
    return ParseNet(NUM_CLASSES, local="pool3", vgg=shapes_vgg16(batch_norm), **options)


MODELS: dict[str, tuple[Callable[[], nn.Module], float]] = {
    "FCN-32s": (lambda: FCN(NUM_CLASSES, "32s", vgg=shapes_vgg16()), LR),
    "FCN-8s": (lambda: FCN(NUM_CLASSES, "8s", vgg=shapes_vgg16()), LR),
    "pool3 only (no context)": (lambda: _parsenet(scale=20.0, context=False), LR),
    "pool3 only, no norm": (lambda: _parsenet(l2_norm=False, context=False), LR),
    "ParseNet": (lambda: _parsenet(scale=20.0), LR),
    "L2 norm, scale fixed at 1": (lambda: _parsenet(scale=1.0, learn_scale=False), LR),
    "concat, no norm": (lambda: _parsenet(l2_norm=False), LR),
    "tiny net": (lambda: PooledNet(NUM_CLASSES, TINY_WIDTHS), TINY_LR),
    "tiny net + global average": (lambda: PooledNet(NUM_CLASSES, TINY_WIDTHS, global_context=True), TINY_LR),
}
"""Model -> (constructor, Adam's fixed rate). Every pretrained model starts from the shape classifier."""

PLAIN_LR, PLAIN_EPOCHS = 1e-4, 4
"""The plain classifier's rows: the rate it was trained at (at 2e-3, which the batch-normalised one
takes, no row learns the cue), and 4 epochs (300 steps) a 1x: at 1e-4 nothing learns it in 75."""
PLAIN_MODELS: dict[str, tuple[Callable[[], nn.Module], float]] = {
    "plain: ParseNet": (lambda: _parsenet(False, scale=20.0), PLAIN_LR),
    "plain: concat, no norm": (lambda: _parsenet(False, l2_norm=False), PLAIN_LR),
    "plain: pool3 only, no norm": (lambda: _parsenet(False, l2_norm=False, context=False), PLAIN_LR),
    "plain: ParseNet, 10x rate": (lambda: _parsenet(False, scale=20.0), 10 * PLAIN_LR),
    "plain: concat, no norm, 10x rate": (lambda: _parsenet(False, l2_norm=False), 10 * PLAIN_LR),
}
"""The same ParseNet rows on the classifier without batch norm (``shapes_vgg16(batch_norm=False)``), whose
pool3 is about 65x smaller than its global fc7: the real scale gap of section 5; and the rival a sceptic
tries first, the same two fused models at 10x the rate."""


def data(seed: int) -> dict[str, TensorDataset]:
    """Seed ``seed``'s ``"train"`` and ``"val"`` sets, and the ``"water"``/``"grass"`` versions of the first
    ``N_SWAP`` validation scenes (identical but for the frame's colour)."""
    sets = {"train": SyntheticDataset(N_TRAIN, size=SIZE, variant="context", seed=10 * seed),
            "val": SyntheticDataset(N_VAL, size=SIZE, variant="context", seed=10 * seed + 1)}
    for cue in ("water", "grass"):
        sets[cue] = SyntheticDataset(N_SWAP, size=SIZE, variant="context", seed=10 * seed + 1,
                                     context_cue=cue)
    return {name: TensorDataset(*d.materialize()) for name, d in sets.items()}


def train(name: str, train_set: TensorDataset, seed: int, multiple: int = 1,
          make: Callable[[], nn.Module] | None = None) -> nn.Module:
    """Model ``name`` of :data:`MODELS` or :data:`PLAIN_MODELS` (or ``make()`` in its place, at ``name``'s
    rate: exercise 4's variant) built under ``seed`` and trained for ``multiple`` x its 1x (``STEPS``,
    ``PLAIN_EPOCHS`` x ``STEPS`` for the plain rows); in eval mode.
    First used in notebooks/05_parsenet.ipynb, section 5."""
    every = MODELS | PLAIN_MODELS
    if name not in every:
        raise ValueError(f"model must be one of {list(every)}, got {name!r}")
    own_make, lr = every[name]
    torch.manual_seed(seed)
    model = (make or own_make)()
    epochs = multiple * (PLAIN_EPOCHS if name in PLAIN_MODELS else 1)
    fit(model, train_set, epochs=epochs, lr=lr, optimizer="adam", schedule="constant",
        batch_size=BATCH, seed=seed, progress=False)
    return model.eval()


def follows_the_frame(model: nn.Module, water: TensorDataset, grass: TensorDataset) -> float:
    """Fraction of blob pixels named boat in the water version and car in the grass one: 1 when every
    decision follows the frame, 0 when none does. Built in notebooks/05_parsenet.ipynb, section 1."""
    with torch.no_grad():
        boat = {cue: model(d.tensors[0])[:, 1:].argmax(dim=1) == 0 for cue, d in (("w", water), ("g", grass))}
    blobs = water.tensors[1] > 0
    return (boat["w"] & ~boat["g"])[blobs].float().mean().item()


def scores(model: nn.Module, sets: dict[str, TensorDataset]) -> dict[str, float]:
    """mIoU, what and follows-the-frame of a trained ``model`` on ``sets`` (from :func:`data`)."""
    images, masks = sets["val"].tensors
    with torch.no_grad():
        logits = model(images)
    return {"mIoU": pixel_scores(logits, masks)["mIoU"], "what": object_class_accuracy(logits, masks),
            "follows": follows_the_frame(model, sets["water"], sets["grass"])}


def chance(sets: dict[str, TensorDataset]) -> float:
    """*what* of always naming the commonest object class on the validation blobs."""
    masks = sets["val"].tensors[1]
    objects = masks[masks > 0]
    return torch.bincount(objects).max().item() / objects.numel()
