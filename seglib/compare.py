"""The course's networks side by side: each trained on each lesson's data for the same steps, scored
on the failure that data was designed for. Lesson 08's table; ``benchmarks/bench_comparison.py``
runs it for seeds 0-4 at 1x, 2x and 4x ``STEPS`` and stores the sweep the lesson reads in ``STORED``.
Built in notebooks/08_comparison.ipynb, section 3.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import TensorDataset

from seglib.core import IGNORE_INDEX
from seglib.metrics import instance_scores, pixel_scores
from seglib.models.deconvnet import DeconvNet
from seglib.models.fcn import FCN
from seglib.models.local import LocalNet
from seglib.models.parsenet import ParseNet
from seglib.models.unet import UNet, weight_map, weighted_cross_entropy
from seglib.models.vgg import shapes_vgg16
from seglib.synthetic import CLASSES, SyntheticConfig, make_sample
from seglib.train import fit


@dataclass(frozen=True)
class Task:
    """One lesson's data and what it measures: ``scores(logits, masks, instances)`` by name,
    ``column`` the one the data was designed for. First used in notebooks/08_comparison.ipynb, section 3."""

    lesson: str
    column: str
    config: SyntheticConfig
    scores: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, float]]
    class_weights: tuple[float, ...] | None = None


def _pixel_scores(logits: torch.Tensor, masks: torch.Tensor, instances: torch.Tensor) -> dict[str, float]:
    return pixel_scores(logits, masks)


def _instance_scores(logits: torch.Tensor, masks: torch.Tensor, instances: torch.Tensor) -> dict[str, float]:
    """The pixel scores, plus touching pairs kept apart and COCO mask AP (lesson 07)."""
    return {**_pixel_scores(logits, masks, instances), **instance_scores(logits.softmax(1)[:, 1], instances)}


TASKS: dict[str, Task] = {
    "shapes": Task("04", "band mIoU", SyntheticConfig(size=128), _pixel_scores),
    "context": Task("05", "what", SyntheticConfig(size=128, variant="context"), _pixel_scores),
    "thin": Task("06", "IoU 1", SyntheticConfig(size=96, variant="thin"), _pixel_scores,
                 (1.0, 5.0, 1.0, 1.0)),
    "touching": Task("07", "AP", SyntheticConfig(size=96, variant="touching", cell_gap=(1, 1),
                                                 gap_contrast=0.5), _instance_scores),
}
"""Data set -> the lesson that designed it, the score it was designed for (context: boat vs car
on the blobs; thin: the wires' IoU; touching: mask AP), its images, its scores."""

NETWORKS: dict[str, tuple[Callable[[int], nn.Module], float]] = {
    "local-only": (lambda c: LocalNet(c), 1e-2),
    "FCN-8s": (lambda c: FCN(c, "8s", vgg=shapes_vgg16()), 1e-3),
    "ParseNet": (lambda c: ParseNet(c, local="pool3", vgg=shapes_vgg16(), scale=20.0), 3e-3),
    "DeconvNet": (lambda c: DeconvNet(c, vgg=shapes_vgg16()), 5e-3),
    "U-Net": (lambda c: UNet(3, c, channels=8, depth=4, padding="same"), 1e-3),
}
"""Network -> (constructor from the number of classes, Adam rate of its new layers: each lesson's)."""

CONTROLS: dict[str, tuple[str, str, float | None, bool]] = {
    "ParseNet, new layers at 1e-3": ("ParseNet", "shapes", 1e-3, True),
    "FCN-8s, new layers at 3e-3": ("FCN-8s", "shapes", 3e-3, True),
    "U-Net, no weight map": ("U-Net", "touching", None, False),
    "local-only, no weight map": ("local-only", "touching", None, False),
}
"""Control row -> (network, task, new layers' rate or None for the network's own, border weight map on
touching): the table's claims at equal rates, and the touching column without U-Net's loss."""

STEPS, BATCH, N_VAL = 150, 8, 200

STORED = Path(__file__).resolve().parent / "results"
"""The benchmark's stored scores and pictures (package data, so lesson 08 also finds them on Colab)."""


def row_name(task: str, network: str) -> str:
    """The row of ``network`` on ``task``'s data in the stored sweep ``"comparison"`` (and the key of its
    label maps in ``comparison_predictions.npz``). First used in notebooks/08_comparison.ipynb, section 3."""
    return f"{task}/{network}"


def data(task: str, seed: int, n: int, start: int = 0, config: SyntheticConfig | None = None
         ) -> tuple[torch.Tensor, ...]:
    """Images, masks and instance maps of samples ``start .. start+n-1`` of ``task``'s data (drawn with
    ``config`` instead of the task's own, if given: lesson 01 scores the local net at its defaults).
    First used in notebooks/08_comparison.ipynb, section 4."""
    config = config or TASKS[task].config
    samples = [make_sample(start + i, seed, config, return_instances=True) for i in range(n)]
    return tuple(torch.stack(parts) for parts in zip(*samples, strict=True))


def adam(model: nn.Module, new_lr: float, pretrained_lr: float = 1e-3,
         pretrained: Iterable[nn.Parameter] | None = None) -> Callable[[Iterable[nn.Parameter]], Optimizer]:
    """An ``optimizer`` for ``fit``: Adam at ``pretrained_lr`` for the weights from the pretrained classifier
    (``pretrained``, by default ``model.pretrained_parameters()``; none if the model has no such method),
    ``new_lr`` for the others, over exactly the parameters ``fit`` passes (frozen ones stay out).
    Built in notebooks/06_deconvnet.ipynb, section 3."""
    if pretrained is None:
        pretrained = model.pretrained_parameters() if hasattr(model, "pretrained_parameters") else []
    old_ids = {id(p) for p in pretrained}

    def make(params: Iterable[nn.Parameter]) -> Optimizer:
        params = list(params)
        old = [p for p in params if id(p) in old_ids]
        new = [p for p in params if id(p) not in old_ids]
        groups = [{"params": old, "lr": pretrained_lr}] * bool(old)
        groups += [{"params": new, "lr": new_lr}] * bool(new)
        return torch.optim.Adam(groups)
    return make


def class_weighted_loss(weights: tuple[float, ...]) -> Callable:
    """A ``loss_fn`` for ``fit``: cross-entropy with one weight per class, put on the logits' device
    (thin: wires are 2 % of the pixels, weighed 5x; lesson 06, section 3).
    First used in notebooks/06_deconvnet.ipynb, section 3."""
    def loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        weight = torch.tensor(weights, device=logits.device)
        return F.cross_entropy(logits, masks, weight=weight, ignore_index=IGNORE_INDEX)
    return loss


def train_network(network: str, task: str, seed: int, steps: int = STEPS,
                  config: SyntheticConfig | None = None, lr: float | None = None,
                  border_weights: bool = True) -> nn.Module:
    """``network`` trained on ``task``'s data (or ``config``'s) for ``steps`` steps of ``BATCH`` images
    (Adam, new layers at ``lr`` or the network's own rate), each image seen once; on touching with
    U-Net's border weight map unless ``border_weights=False`` (a ``CONTROLS`` row).
    First used in notebooks/08_comparison.ipynb, section 3."""
    images, masks, instances = data(task, 10 * seed, steps * BATCH, config=config)
    make, own_lr = NETWORKS[network]
    lr = own_lr if lr is None else lr
    torch.manual_seed(seed)
    model = make(len(CLASSES[(config or TASKS[task].config).variant]))
    if task == "touching" and border_weights:  # U-Net's border weights for all: architectures compared
        weights = torch.from_numpy(np.stack([weight_map(c.numpy()) for c in instances])).float()
        train_data, loss_fn = TensorDataset(images, masks, weights), weighted_cross_entropy
    else:
        weights = TASKS[task].class_weights
        train_data = TensorDataset(images, masks)
        loss_fn = None if weights is None else class_weighted_loss(weights)
    fit(model, train_data, epochs=1, lr=lr, optimizer=adam(model, lr), schedule="constant", batch_size=BATCH,
        loss_fn=loss_fn, seed=seed, progress=False)
    return model.eval()


def score_network(model: nn.Module, task: str, seed: int, config: SyntheticConfig | None = None
             ) -> tuple[dict[str, float], torch.Tensor]:
    """``task``'s scores of ``model`` on ``N_VAL`` held-out images (of ``config``'s, if given), and its
    label maps.
    First used in notebooks/08_comparison.ipynb, section 3."""
    images, masks, instances = data(task, 10 * seed + 1, N_VAL, config=config)
    with torch.no_grad():
        logits = torch.cat([model(images[i:i + 50]) for i in range(0, N_VAL, 50)])
    return TASKS[task].scores(logits, masks, instances), logits.argmax(1)
