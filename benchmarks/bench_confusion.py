"""How fast does ``ConfusionMatrix.update`` count pixels? One bincount versus numpy's ``np.add.at``.

A VOC-sized validation pass is about 1,449 images of ~500x375 pixels (~270 M pixels);
counting them must cost far less than running the network. This script counts 40
images of 512x512 (~10.5 M pixels, 21 classes, ~5 % ignore pixels) and prints
pixels per second and milliseconds per full pass for:

- ``ConfusionMatrix.update`` (validity checks + one ``torch.bincount``) on all 40
  images at once and in batches of 8 as an evaluation loop would call it, on the CPU
  and, when there is one, on the GPU;
- a naive numpy version that adds 1 to each ``(target, pred)`` cell with ``np.add.at``.

Usage: ``python benchmarks/bench_confusion.py [--repeats 5] [--threads N]``. On a busy
machine the numbers swing a lot; ``--threads 1`` makes them steadier.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from seglib.core import IGNORE_INDEX
from seglib.metrics import ConfusionMatrix


def make_data(n: int = 40, size: int = 512, num_classes: int = 21, device: str = "cpu"):
    """Random predictions and targets, with about 5 % ignore pixels in the target."""
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, num_classes, (n, size, size), generator=gen)
    target[torch.rand(n, size, size, generator=gen) < 0.05] = IGNORE_INDEX
    pred = torch.randint(0, num_classes, (n, size, size), generator=gen)
    return pred.to(device), target.to(device)


def numpy_add_at(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """The naive way: one unbuffered increment per pixel."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    keep = target != IGNORE_INDEX
    np.add.at(cm, (target[keep], pred[keep]), 1)
    return cm


def best_time(fn, repeats: int, sync=lambda: None) -> float:
    """Best wall time of ``repeats`` runs (after one warm-up), in seconds."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, seconds: float, pixels: int) -> None:
    print(f"{name:<34} {seconds * 1e3:9.1f} ms/pass   {pixels / seconds / 1e6:9.1f} M pixels/s", flush=True)


def main(repeats: int, threads: int | None = None) -> None:
    if threads:
        torch.set_num_threads(threads)
    num_classes = 21
    pred, target = make_data(num_classes=num_classes)
    pixels = target.numel()
    print(f"{pred.shape[0]} images of {pred.shape[1]}x{pred.shape[2]}: {pixels / 1e6:.1f} M pixels, "
          f"{num_classes} classes, torch threads: {torch.get_num_threads()}")

    cm = ConfusionMatrix(num_classes)
    report("ConfusionMatrix.update (cpu)", best_time(lambda: cm.update(pred, target), repeats), pixels)
    batches = list(zip(pred.split(8), target.split(8), strict=True))
    report("  same, in batches of 8 (cpu)", best_time(lambda: [cm.update(p, t) for p, t in batches], repeats),
           pixels)

    p_np, t_np = pred.numpy(), target.numpy()
    reference = numpy_add_at(p_np, t_np, num_classes)
    report("numpy np.add.at (cpu)", best_time(lambda: numpy_add_at(p_np, t_np, num_classes), repeats), pixels)

    check = ConfusionMatrix(num_classes)
    check.update(pred, target)
    assert np.array_equal(check.matrix.numpy(), reference), "the two methods disagree"

    if torch.cuda.is_available():
        pred_gpu, target_gpu = pred.cuda(), target.cuda()
        gpu = ConfusionMatrix(num_classes)
        report("ConfusionMatrix.update (cuda)", best_time(lambda: gpu.update(pred_gpu, target_gpu), repeats,
                                                          torch.cuda.synchronize), pixels)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the best is reported")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    main(args.repeats, args.threads)
