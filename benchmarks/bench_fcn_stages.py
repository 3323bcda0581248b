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

from seglib import stages, sweep
from seglib.metrics import accuracy_by_distance, pixel_scores


RINGS = (0, 1, 2, 4, 8, 16)  # lesson 04, section 5: accuracy within these distances of a boundary


def scores(seed: int, multiple: int) -> sweep.Scores:
    """Section 4 of lesson 04 (seed 0 at 1x is exactly the lesson's run), every rival added."""
    train, images, masks = stages.data(seed)
    runs = stages.train_stages(train, seed, multiple)
    objects = masks[(masks > 0) & (masks != 255)]
    table = {"always the commonest shape": {"what": torch.bincount(objects).max().item() / objects.numel()}}
    for name, model in runs.items():
        with torch.no_grad():
            logits = torch.cat([model(images[i:i + 50]) for i in range(0, len(images), 50)])
        rings = accuracy_by_distance(logits.argmax(1), masks, RINGS)
        table[name] = {**pixel_scores(logits, masks), **{f"ring {k}": v for k, v in enumerate(rings)}}
    return table


if __name__ == "__main__":
    sweep.main("fcn", scores, steps=stages.STEPS, description=__doc__.splitlines()[0],
               protocol={"size": stages.SIZE, "train": stages.N_TRAIN, "val": stages.N_VAL, "batch": 8,
                         "optimizer": "adam",
                         "rates": {"FCN": stages.RATE, "retuned control": stages.RETUNED_RATE,
                                   "local": stages.LOCAL_RATE},
                         "steps per stage at 1x": stages.STEPS},
               metrics=["mIoU", "band mIoU", "what"])
