"""Lesson 04's experiment (sections 4-5) and its rivals at 1x, 2x and 4x the lesson's steps, seeds 0-4.

For each seed (data, initialisation, batch order) and multiple m (S = 150 steps, one epoch of 1,200
images, becomes m * S): the local-only net; FCN-32s from the shipped shape classifier (m S steps);
then, for the same 2 m S further steps, the control (FCN-32s trained on, at the lesson's rate and at a
retuned one) or the paper's stages (FCN-16s from 32s, FCN-8s from 16s); and FCN-8s trained in one go
from the classifier for all 3 m S steps (the reference implementation's "at-once" rival). Scores: mIoU,
boundary-band mIoU, "what" (object-class accuracy) and pixel accuracy by distance to a boundary.
Stored in seglib/results/fcn.json, which lesson 04 plots. About 12 minutes a seed on an idle core.

    python benchmarks/bench_fcn_stages.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from seglib import sweep
from seglib.metrics import accuracy_by_distance, pixel_scores
from seglib.models.fcn import FCN
from seglib.models.local import LocalNet
from seglib.models.vgg import shapes_vgg16
from seglib.synthetic import SyntheticDataset
from seglib.train import fit


SIZE, N_TRAIN, N_VAL, STEPS, C = 128, 1200, 200, 150, 6
RATE, RETUNED_RATE, LOCAL_RATE = 1e-3, 3e-4, 1e-2
RINGS = (0, 1, 2, 4, 8, 16)  # lesson 04, section 5: accuracy within these distances of a boundary


def scores(seed: int, multiple: int) -> sweep.Scores:
    """Section 4 of lesson 04 (seed 0 at 1x is exactly the lesson's run), every rival added."""
    train = TensorDataset(*SyntheticDataset(N_TRAIN, size=SIZE, seed=10 * seed).materialize())
    images, masks = SyntheticDataset(N_VAL, size=SIZE, seed=10 * seed + 1).materialize()

    def trained(model, stages, lr=RATE):
        fit(model, train, epochs=stages * multiple, lr=lr, optimizer="adam", schedule="constant", seed=seed,
            progress=False)
        return model.eval()

    def copy_of(model):
        twin = FCN(C, "32s", vgg=shapes_vgg16())
        twin.load_state_dict(model.state_dict())
        return twin

    torch.manual_seed(seed)
    runs = {"local-only": trained(LocalNet(C), 1, lr=LOCAL_RATE),
            "FCN-32s": trained(FCN(C, "32s", vgg=shapes_vgg16()), 1)}
    runs["FCN-32s, trained on"] = trained(copy_of(runs["FCN-32s"]), 2)
    runs["FCN-32s, trained on at 3e-4"] = trained(copy_of(runs["FCN-32s"]), 2, lr=RETUNED_RATE)
    fcn16 = FCN(C, "16s", vgg=shapes_vgg16()).init_from(runs["FCN-32s"])
    runs["FCN-16s (from 32s)"] = trained(fcn16, 1)
    runs["FCN-8s (from 16s)"] = trained(FCN(C, "8s", vgg=shapes_vgg16()).init_from(fcn16), 1)
    runs["FCN-8s at once"] = trained(FCN(C, "8s", vgg=shapes_vgg16()), 3)
    objects = masks[(masks > 0) & (masks != 255)]
    table = {"always the commonest shape": {"what": torch.bincount(objects).max().item() / objects.numel()}}
    for name, model in runs.items():
        with torch.no_grad():
            logits = torch.cat([model(images[i:i + 50]) for i in range(0, N_VAL, 50)])
        rings = accuracy_by_distance(logits.argmax(1), masks, RINGS)
        table[name] = {**pixel_scores(logits, masks), **{f"ring {k}": v for k, v in enumerate(rings)}}
    return table


if __name__ == "__main__":
    sweep.main("fcn", scores, steps=STEPS, description=__doc__.splitlines()[0],
               protocol={"size": SIZE, "train": N_TRAIN, "val": N_VAL, "batch": 8, "optimizer": "adam",
                         "rates": {"FCN": RATE, "retuned control": RETUNED_RATE, "local": LOCAL_RATE},
                         "steps per stage at 1x": STEPS},
               metrics=["mIoU", "band mIoU", "what"])
