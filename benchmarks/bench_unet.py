"""Lesson 07's budget sweep on the synthetic "touching" cells: the border weight map against its rivals.

For each seed (30 training and 20 held-out "touching" images with faint 1-pixel gaps, drawn with
data seeds 10 * seed and 10 * seed + 1; initialisation, augmentation draws and batch order from
the seed) and each multiple of the lesson's 10 epochs (150 steps), it trains the rows of
``seglib.cells.SYNTHETIC_RUNS``: the lesson's narrow unpadded U-Net (width 8, depth 3) with plain
cross-entropy, class-balanced weights, a class weight alone (background x 10), the full weight map
(w0 = 10, sigma = 5) with and without elastic deformation, a 3-class target (background / cell /
1-pixel outline) with plain cross-entropy, and two other networks with the weight map: the padded
U-Net and the 5 x 5 local net. Each row is scored on the held-out images and on the same images
elastically bent: touching pairs kept apart, COCO mask AP and cell IoU, raw and with every
component grown back by 1 pixel. Stored in seglib/results/unet.json row by row: a run resumes with
the rows a (seed, multiple) lacks. The real nuclei tile is benchmarks/bench_unet_nuclei.py.

    python benchmarks/bench_unet.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

from seglib import sweep
from seglib.cells import SYNTHETIC_RUNS, bent, border_scores, scores, synthetic_cells, train_run


EPOCHS, N_TRAIN, N_VAL = 10, 30, 20
STEPS = EPOCHS * N_TRAIN // 2  # batch 2


def run(seed: int, multiple: int, stored: sweep.Scores, args) -> sweep.Scores:
    train_data, val = synthetic_cells(N_TRAIN, 10 * seed), synthetic_cells(N_VAL, 10 * seed + 1)
    val_bent = bent(*val, seed)
    table = {}
    for name, spec in SYNTHETIC_RUNS.items():
        if name in stored:
            continue
        model = train_run(spec, *train_data, epochs=EPOCHS * multiple, seed=seed)
        row = scores(model, *val)
        row.update({f"bent {k}": v for k, v in scores(model, *val_bent).items()})
        if name == "plain CE":  # the image border: mirrored context against zeros
            row.update(border_scores(model, *val))
        table[name] = row
    return table


if __name__ == "__main__":
    sweep.main("unet", run, steps=STEPS, description=__doc__,
               protocol={"data": "touching, 68 px, cell_gap 1, gap_contrast 0.5, 30 train / 20 val",
                         "net": "UNet(3, 2|3, channels=8, depth=3) unpadded unless named",
                         "epochs_1x": EPOCHS,
                         "optimizer": "adam 1e-3 constant", "batch": 2, "elastic std": 10.0},
               metrics=["separation", "AP", "AP grown", "IoU"], by_row=True)
