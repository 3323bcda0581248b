"""Lesson 01's table, the one row lesson 08's benchmark does not hold: the 5 x 5 local net
(seglib.models.local.LocalNet, trained exactly as lesson 08 trains it: Adam 1e-2, 150 steps of 8 fresh
images, U-Net's weight map) on "touching" at lesson 01's defaults (gaps of 1-2 px as dark as the
background, 96 px images), scored on pixels, pairs kept apart and mask AP. The variants at the settings
the later lessons use (faint 1 px gaps for touching) are lesson 08's local-only runs, seeds 0-4, in
seglib/results/comparison.json. Stores seglib/results/local.json; about 50 s of CPU a seed at 1x.

    python benchmarks/bench_local.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

from seglib import compare, sweep
from seglib.synthetic import SyntheticConfig


DEFAULTS = SyntheticConfig(size=compare.TASKS["touching"].config.size, variant="touching")
"""Lesson 01's "touching": the generator's defaults (1-2 px gaps, full contrast) at lesson 08's size."""
ROW = "touching, lesson 01 defaults"


def scores(seed: int, multiple: int) -> sweep.Scores:
    steps = multiple * compare.STEPS
    model = compare.train_network("local-only", "touching", seed, steps=steps, config=DEFAULTS)
    return {ROW: compare.score_network(model, "touching", seed, config=DEFAULTS)[0]}


if __name__ == "__main__":
    sweep.main("local", scores, steps=compare.STEPS, description=__doc__,
               metrics=["separation", "AP", "mIoU"],
               protocol={"network": "local-only", "lr": compare.NETWORKS["local-only"][1],
                         "batch": compare.BATCH, "val images": compare.N_VAL, "loss": "U-Net's weight map",
                         "config": repr(DEFAULTS)})
