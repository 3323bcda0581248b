"""Lesson 05's experiment (sections 1 and 5) and its rivals at 1x, 2x and 4x the lesson's steps, seeds 0-4.

For each seed (data, initialisation, batch order) and multiple m (S = 75 steps, one epoch of 600
images, becomes m * S), every model of ``seglib.context.MODELS`` trains on the ``"context"`` data
(grey blobs whose class only the far-away frame's colour tells): FCN-32s and FCN-8s from the shipped
shape classifier; pool3 alone, normalised and raw (no context: what the fused models would be
without their global branch); ParseNet (pool3 + global fc7, L2Norm, scales from 20) and its
ablations (scale fixed at 1, raw concatenation); a tiny net
from scratch (about 10 k parameters) with and without one global-average branch. Scores: mIoU,
"what" (boat vs car on blob pixels) and "follows" (share of blob pixels whose class changes with
the frame). Stored in seglib/results/parsenet.json, which lesson 05 plots. About 95 s a seed at 1x
on an idle core.

With ``--plain``: ``seglib.context.PLAIN_MODELS``, ParseNet, raw concatenation and raw pool3 on the
classifier without batch norm (pool3 about 65x smaller than global fc7: a real scale gap), at its own
rate 1e-4 and a 1x of 300 steps, and the two fused models at 10x that rate; stored in
seglib/results/parsenet_plain.json. About 100 s a seed at 1x. Rows already stored are not trained again.

    python benchmarks/bench_parsenet.py [--plain] [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

import sys

from seglib import context, sweep


def scores(seed: int, multiple: int, stored: sweep.Scores, args) -> sweep.Scores:
    """Scores of every model not in ``stored``, for seed ``seed`` at ``multiple`` x the lesson's steps."""
    sets = context.data(seed)
    table = {name: context.scores(context.train(name, sets["train"], seed, multiple), sets)
             for name in (context.PLAIN_MODELS if PLAIN else context.MODELS) if name not in stored}
    table["(commonest class)"] = {"what": context.chance(sets)}
    return table


PLAIN = "--plain" in sys.argv


if __name__ == "__main__":
    if PLAIN:
        sys.argv.remove("--plain")
    steps = context.STEPS * (context.PLAIN_EPOCHS if PLAIN else 1)
    rates = (f"{context.PLAIN_LR} (the classifier without batch norm; 10x for the 10x-rate rows)" if PLAIN
             else f"{context.LR} ({context.TINY_LR} for the tiny nets)")
    sweep.main("parsenet_plain" if PLAIN else "parsenet", scores, steps=steps, by_row=True,
               description=__doc__.splitlines()[0], metrics=["mIoU", "what", "follows"],
               protocol={"data": "context, 128 px, 600 train / 100 val / 50 swapped scenes",
                         "optimizer": f"Adam, fixed rate {rates}", "batch": context.BATCH,
                         "steps_per_multiple": steps})
