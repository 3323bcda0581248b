"""Lesson 00's experiment at 1x, 2x and 4x its 384 steps over seeds 0-4: the 5 x 5 local net against a
pooled net whose 46 px receptive field reaches the outline, same data, same steps, Adam at a fixed rate.
Stores where (foreground IoU), what (object-class accuracy) and mIoU per model, and per seed the
references ("every pixel an object", "always the commonest shape") in seglib/results/intro.json.
About 10 s of CPU a seed at 1x (both nets).

    python benchmarks/bench_intro.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

from seglib import intro, sweep


def scores(seed: int, multiple: int) -> sweep.Scores:
    result = {name: intro.evaluate(intro.train(name, seed, multiple)[0], seed) for name in intro.NETWORKS}
    result["reference"] = intro.references(intro.data(seed, "val").tensors[1])
    return result


if __name__ == "__main__":
    sweep.main("intro", scores, steps=intro.STEPS, description=__doc__, metrics=["what", "where"],
               protocol={"size": intro.SIZE, "train images": intro.N_TRAIN, "val images": intro.N_VAL,
                         "batch": intro.BATCH, "optimizer": "adam, fixed rate",
                         "rates": {k: lr for k, (_, lr) in intro.NETWORKS.items()}})
