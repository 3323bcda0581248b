"""Lesson 08's table over seeds 0-4: every network on every lesson's data, at 1x, 2x and 4x its budget.

For each seed, multiple, task (``seglib.compare.TASKS``) and network (``seglib.compare.NETWORKS``) it
trains for multiple x ``STEPS`` steps, scores on held-out images and stores the scores as the row
``"task/network"`` of the sweep ``seglib/results/comparison.json`` (``seglib.sweep``'s format), and,
for seed 0 at 1x, the label maps of the first validation images in
``seglib/results/comparison_predictions.npz``; lesson 08 reads both. It also trains the
``CONTROLS`` rows (equal rates on shapes, touching without the weight map), stored as
``"control: <name>"``. Rows already stored are kept, so seeds can run in separate processes (one per
core). About 3 minutes a seed at 1x on an idle core; 10-12 minutes at 2x and about 23 at 4x with
another seed running on the second core.

    python benchmarks/bench_comparison.py [--seeds 0 1 2 3 4] [--multiples 1 2 4]
"""
from __future__ import annotations

import time

import numpy as np
import torch

from seglib import sweep
from seglib.compare import (
    BATCH,
    CONTROLS,
    N_VAL,
    NETWORKS,
    STEPS,
    STORED,
    TASKS,
    row_name,
    score_network,
    train_network,
)
from seglib.core import atomic_write


SHOWN = 3  # validation images whose predictions lesson 08 draws


def trained_and_scored(label: str, network: str, task: str, seed: int, **options
                       ) -> tuple[dict, torch.Tensor]:
    """``compare.train_network`` then ``score_network``: the scores with the training time, the label maps."""
    start = time.perf_counter()
    model = train_network(network, task, seed, **options)
    seconds = time.perf_counter() - start
    values, labels = score_network(model, task, seed)
    column = TASKS[task].column
    print(f"seed {seed} {label:<30} {column} {values[column]:.3f}  ({seconds:.0f} s)", flush=True)
    return {**values, "seconds": round(seconds, 1)}, labels


def scores(seed: int, multiple: int, stored: dict, args) -> dict:
    """Every row not yet in ``stored`` for seed ``seed`` at ``multiple`` x ``STEPS``, the controls included;
    seed 0 at 1x also stores its networks' first label maps."""
    rows, pictures = {}, {}
    for task in TASKS:
        for network in NETWORKS:
            if (key := row_name(task, network)) not in stored:
                rows[key], labels = trained_and_scored(key, network, task, seed, steps=multiple * STEPS)
                pictures[key] = labels[:SHOWN].numpy().astype(np.uint8)
    for name, (network, task, lr, border_weights) in CONTROLS.items():
        if (key := f"control: {name}") not in stored:
            rows[key] = trained_and_scored(key, network, task, seed, steps=multiple * STEPS, lr=lr,
                                           border_weights=border_weights)[0]
    if seed == 0 and multiple == 1 and pictures:
        path = STORED / "comparison_predictions.npz"
        kept = dict(np.load(path)) if path.exists() else {}
        atomic_write(path, lambda f: np.savez_compressed(f, **kept, **pictures))
    return rows


PROTOCOL = {"steps per multiple": STEPS, "batch": BATCH, "validation images": N_VAL,
            "tasks": {t: {"lesson": v.lesson, "column": v.column, "size": v.config.size}
                      for t, v in TASKS.items()},
            "rates": {n: lr for n, (_, lr) in NETWORKS.items()},
            "controls": {name: {"network": n, "task": t, "new layers' rate": lr or NETWORKS[n][1],
                                        "weight map": w} for name, (n, t, lr, w) in CONTROLS.items()}}


if __name__ == "__main__":
    sweep.main("comparison", scores, steps=STEPS, protocol=PROTOCOL, description=__doc__.splitlines()[0],
               metrics=sorted({spec.column for spec in TASKS.values()}), by_row=True)
