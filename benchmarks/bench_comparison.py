"""Lesson 08's table over seeds 0-4: every network on every lesson's data, at one budget.

For each seed, task (``seglib.compare.TASKS``) and network (``seglib.compare.NETWORKS``) it
trains for ``STEPS`` steps, scores on held-out images and stores the scores (and, for seed 0,
the label maps of the first validation images) in ``seglib/results/comparison.json`` and
``seglib/results/comparison_predictions.npz``, which lesson 08 reads. Seeds already stored are kept,
so seeds can run in separate processes (one per core). About 3 minutes a seed on an idle core.

    python benchmarks/bench_comparison.py [--seeds 0 1 2 3 4] [--controls]

``--controls`` trains only the ``CONTROLS`` rows (equal rates on shapes, touching without the weight map)
and stores them under ``"controls"``; about 1 minute a seed.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from seglib.compare import (
    BATCH,
    CONTROLS,
    N_VAL,
    NETWORKS,
    STEPS,
    STORED,
    TASKS,
    score_network,
    train_network,
)
from seglib.core import atomic_write, set_threads
from seglib.sweep import machine, update_json


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


def run(seed: int) -> tuple[dict, dict]:
    scores, pictures = {}, {}
    for task in TASKS:
        for network in NETWORKS:
            row, labels = trained_and_scored(f"{task:<9} {network}", network, task, seed)
            scores.setdefault(task, {})[network] = row
            pictures[f"{task}/{network}"] = labels[:SHOWN].numpy().astype(np.uint8)
    return scores, pictures


def run_controls(seed: int) -> dict:
    return {name: trained_and_scored(name, network, task, seed, lr=lr, border_weights=border_weights)[0]
            for name, (network, task, lr, border_weights) in CONTROLS.items()}


def update_controls(path: Path, seed: int, scores: dict) -> dict:
    """Add one seed's control rows to the stored file (under its lock, atomically)."""
    def add(stored: dict) -> None:
        stored.setdefault("controls", {})[str(seed)] = scores
        stored["controls protocol"] = {
            name: {"network": n, "task": t, "new layers' rate": lr or NETWORKS[n][1], "weight map": w}
            for name, (n, t, lr, w) in CONTROLS.items()}
    return update_json(path, add)


def update(path: Path, seed: int, scores: dict) -> dict:
    """Add one seed's scores to the stored file, under its lock and atomically (``seglib.sweep.update_json``:
    other processes may add their seeds at the same time)."""
    def add(stored: dict) -> None:
        stored.setdefault("seeds", {})[str(seed)] = scores
        stored["protocol"] = {"steps": STEPS, "batch": BATCH, "validation images": N_VAL,
                              "tasks": {t: {"lesson": v.lesson, "column": v.column, "size": v.config.size}
                                        for t, v in TASKS.items()},
                              "rates": {n: lr for n, (_, lr) in NETWORKS.items()}}
        stored["machine"] = machine()
    return update_json(path, add)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--controls", action="store_true", help="train only the CONTROLS rows")
    args = parser.parse_args()
    set_threads()
    STORED.mkdir(exist_ok=True)
    if args.controls:
        for seed in args.seeds:
            update_controls(STORED / "comparison.json", seed, run_controls(seed))
        return
    for seed in args.seeds:
        scores, pictures = run(seed)
        stored = update(STORED / "comparison.json", seed, scores)
        if seed == 0:
            atomic_write(STORED / "comparison_predictions.npz",
                         lambda f, p=pictures: np.savez_compressed(f, **p))
    for task, spec in TASKS.items():
        print(f"{task} ({spec.column}), seeds {sorted(stored['seeds'])}:")
        for network in NETWORKS:
            values = [s[task][network][spec.column] for s in stored["seeds"].values()]
            print(f"  {network:<11} {np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
