"""Lesson 07's budget sweep on a real image: 125 nuclei from the 2018 Data Science Bowl (the 512 x 512
fluorescence tile and instance mask that the stardist wheel ships, BSD-3; seglib.datasets.nuclei_tile).

Three quarters of the tile, cut into 48 tiles of 68 x 68 (a 1-pixel gap carved where two nuclei
touch), train each row of ``seglib.cells.NUCLEI_RUNS`` with the lesson's recipe (width-8 depth-3
unpadded U-Net, Adam 1e-3, batch 2, elastic deformation): plain cross-entropy, the border weight
map (w0 = 10, sigma = 5), the 3-class target with plain cross-entropy, and the 5 x 5 local net with
the weight map. The held-out quarter (rows 256-511, columns 0-255; 40
nuclei, 20 touching pairs) is predicted by overlap-tile and scored against the nuclei as drawn:
touching pairs kept apart, COCO mask AP and cell IoU, raw and with every component grown back by
1 pixel. The seed sets initialisation, augmentation draws and batch order (the data are fixed).
Stored in seglib/results/unet_nuclei.json row by row: a run resumes with the rows a (seed, multiple)
lacks.

    python benchmarks/bench_unet_nuclei.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

from seglib import sweep
from seglib.cells import NUCLEI_RUNS, nuclei_split, scores, train_run
from seglib.datasets import nuclei_tile


EPOCHS, TILES = 16, 48
STEPS = EPOCHS * TILES // 2  # batch 2


def run(seed: int, multiple: int, stored: sweep.Scores, args) -> sweep.Scores:
    (tiles, cells), test = nuclei_split(*nuclei_tile())
    table = {}
    for name, spec in NUCLEI_RUNS.items():
        if name in stored:
            continue
        table[name] = scores(train_run(spec, tiles, cells, epochs=EPOCHS * multiple, seed=seed), *test)
    return table


if __name__ == "__main__":
    sweep.main("unet_nuclei", run, steps=STEPS, description=__doc__,
               protocol={"data": "stardist img2d/mask2d, train 3 quarters as 48 68-px tiles "
                                 "(contacts carved), test rows 256-511 cols 0-255",
                         "net": "UNet(3, 2|3, channels=8, depth=3) unpadded unless named",
                         "epochs_1x": EPOCHS,
                         "optimizer": "adam 1e-3 constant", "batch": 2, "elastic std": 10.0},
               metrics=["separation", "AP", "AP grown", "IoU"], by_row=True)
