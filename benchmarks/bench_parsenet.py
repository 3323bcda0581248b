"""Lesson 05's experiment (sections 1 and 5) and its rivals at 1x, 2x and 4x the lesson's steps, seeds 0-4.

For each seed (data, initialisation, batch order) and multiple m (S = 75 steps, one epoch of 600
images, becomes m * S), every model of ``seglib.context.MODELS`` trains on the ``"context"`` data
(grey blobs whose class only the far-away frame's colour tells): FCN-32s and FCN-8s from the shipped
shape classifier; pool3 alone, normalised and raw (no context: what the fused models would be
without their global branch); ParseNet (pool3 + global fc7, L2Norm, scales from 20) and its
ablations (scale fixed at 1, raw concatenation, raw concatenation across a 100x gap); a tiny net
from scratch (about 10 k parameters) with and without one global-average branch. Scores: mIoU,
"what" (boat vs car on blob pixels) and "follows" (share of blob pixels whose class changes with
the frame). Stored in seglib/results/parsenet.json, which lesson 05 plots. About 95 s a seed at 1x
on an idle core.

    python benchmarks/bench_parsenet.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

from seglib import context, sweep


def scores(seed: int, multiple: int) -> sweep.Scores:
    """Every model's scores for seed ``seed`` at ``multiple`` x the lesson's steps."""
    sets = context.data(seed)
    table = {name: context.scores(context.train(name, sets["train"], seed, multiple), sets)
             for name in context.MODELS}
    table["(commonest class)"] = {"what": context.chance(sets)}
    return table


if __name__ == "__main__":
    sweep.main("parsenet", scores, steps=context.STEPS, description=__doc__.splitlines()[0],
               metrics=["mIoU", "what", "follows"],
               protocol={"data": "context, 128 px, 600 train / 100 val / 50 swapped scenes",
                         "optimizer": f"Adam, fixed rate {context.LR} ({context.TINY_LR} for the tiny nets)",
                         "batch": context.BATCH, "steps_per_multiple": context.STEPS})
