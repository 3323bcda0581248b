"""Lesson 04's experiment: the local-only net, FCN-32s, the control trained on, the paper's stages
(FCN-16s from 32s, FCN-8s from 16s) and the rivals a sceptic tries (the control at a retuned rate,
FCN-8s trained in one go), on the ``"shapes"`` data. Shared by the lesson and
``benchmarks/bench_fcn_stages.py``, so the lesson's live run is the benchmark's seed 0.
Built in notebooks/04_fcn.ipynb, section 4."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from seglib.models.fcn import FCN
from seglib.models.local import LocalNet
from seglib.models.vgg import shapes_vgg16
from seglib.synthetic import CLASSES, SyntheticDataset
from seglib.train import fit


SIZE, N_TRAIN, N_VAL, STEPS = 128, 1200, 200, 150
"""Images of 128 x 128; S = 150 steps per stage at 1x: one epoch of 1,200 images in batches of 8."""
RATE, RETUNED_RATE, LOCAL_RATE = 1e-3, 3e-4, 1e-2
"""Adam's fixed rate for every FCN, the control's retuned one, and the small local net's."""
NUM_CLASSES = len(CLASSES["shapes"])


def data(seed: int, n_train: int = N_TRAIN, n_val: int = N_VAL, size: int = SIZE
         ) -> tuple[TensorDataset, torch.Tensor, torch.Tensor]:
    """Seed ``seed``'s training set and validation images and masks (data seeds 10 seed and 10 seed + 1).
    Built in notebooks/04_fcn.ipynb, section 3."""
    train = TensorDataset(*SyntheticDataset(n_train, size=size, seed=10 * seed).materialize())
    images, masks = SyntheticDataset(n_val, size=size, seed=10 * seed + 1).materialize()
    return train, images, masks


def _fcn(variant: str) -> FCN:
    return FCN(NUM_CLASSES, variant, vgg=shapes_vgg16())


def train_stages(train: TensorDataset, seed: int, multiple: int = 1, rivals: bool = True
                 ) -> dict[str, nn.Module]:
    """Every model of the lesson's table trained on ``train``, in eval mode: ``multiple`` x S steps for
    the local net and FCN-32s, then 2 x ``multiple`` x S more for the control and for the stages (S each);
    with ``rivals``, the control at ``RETUNED_RATE`` and FCN-8s at once (3 x ``multiple`` x S).
    Built in notebooks/04_fcn.ipynb, section 4."""
    def trained(model: nn.Module, stages: int, lr: float = RATE) -> nn.Module:
        fit(model, train, epochs=stages * multiple, lr=lr, optimizer="adam", schedule="constant", seed=seed,
            progress=False)
        return model.eval()

    def copy_of(model: FCN) -> FCN:
        twin = _fcn("32s")
        twin.load_state_dict(model.state_dict())
        return twin

    torch.manual_seed(seed)
    runs = {"local-only": trained(LocalNet(NUM_CLASSES), 1, lr=LOCAL_RATE),
            "FCN-32s": trained(_fcn("32s"), 1)}
    runs["FCN-32s, trained on"] = trained(copy_of(runs["FCN-32s"]), 2)
    if rivals:
        runs["FCN-32s, trained on at 3e-4"] = trained(copy_of(runs["FCN-32s"]), 2, lr=RETUNED_RATE)
    runs["FCN-16s (from 32s)"] = trained(_fcn("16s").init_from(runs["FCN-32s"]), 1)
    runs["FCN-8s (from 16s)"] = trained(_fcn("8s").init_from(runs["FCN-16s (from 32s)"]), 1)
    if rivals:
        runs["FCN-8s at once"] = trained(_fcn("8s"), 3)
    return runs
