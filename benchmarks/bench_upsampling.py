"""Lesson 03's rivals table (section 6) over seeds 0-4 at 1x, 2x and 4x its 200 steps.

The task: upsample smooth random images 2x (24x24 targets, their 12x12 averages as input), scored by
test MSE and by the grid-locked share of the error (the part that depends on a pixel's phase on the
stride grid), both on the interior (a 2-pixel border left out, where padding decides). Rows: nearest,
bilinear and bicubic ``F.interpolate`` (no weights); kernel 3 and kernel 4 transposed convolutions and
resize-then-convolve (8 channels, ReLU, 1x1; Adam 0.02); FCN's recipe (kernel 4, bilinear start,
linear, no bias; Adam 0.002); and the least-squares optimum of each linear form, the best any
training of that linear layer could reach. The weight-free and least-squares rows do not train: they
are stored at every multiple, the same number each time. About 20 s a seed on an idle core.

    python benchmarks/bench_upsampling.py [--seeds 0 1 2 3 4] [--multiples 1 2 4] [--redo]
"""
from __future__ import annotations

from seglib import sweep
from seglib.models.upsampling import upsampling_rivals


STEPS = 200  # the lesson's 1x


def scores(seed: int, multiple: int) -> dict[str, dict[str, float]]:
    return upsampling_rivals(seed, STEPS * multiple)[0]


if __name__ == "__main__":
    sweep.main("upsampling", scores, steps=STEPS, description=__doc__, metrics=["MSE", "grid-locked"],
               protocol={"task": "2x upsampling of smooth_images(256, 2s) -> test smooth_images(64, 2s+1), "
                                 "24x24, interior (border 2)",
                         "batch": 16, "lr": {"trained": 0.02, "FCN": 0.002}, "optimizer": "adam"})
