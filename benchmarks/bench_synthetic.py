"""How fast the synthetic datasets draw samples: samples per second, one process, per variant.

Training a small network on a CPU eats a few thousand 64x64 samples per second, so the
generators must keep up without worker processes. Prints, for each variant, the best of
a few repeats, both as wall-clock time and as the CPU time of this process (the second
is steadier when other programs share the machine).

    python benchmarks/bench_synthetic.py [--n 1000] [--size 64] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import torch

from seglib.synthetic import CLASSES, SyntheticConfig, SyntheticDataset, make_sample


def rate(draw, n: int, repeats: int) -> tuple[float, float]:
    """Best samples/second over ``repeats`` runs of ``draw(i)`` for i < n: (wall, CPU)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            draw(i)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return n / best_wall, n / max(best_cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per run")
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant; the best counts")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"{args.size}x{args.size} samples, single process, best of {args.repeats} x {args.n}")
    print(f"{'what':<30}{'samples/s (wall)':>18}{'samples/s (CPU)':>18}")
    for variant in CLASSES:
        config = SyntheticConfig(size=args.size, variant=variant)
        wall, cpu = rate(lambda i, config=config: make_sample(i, 0, config), args.n, args.repeats)
        print(f"{'make_sample ' + variant:<30}{wall:>18,.0f}{cpu:>18,.0f}")
    dataset = SyntheticDataset(args.n, size=args.size)
    wall, cpu = rate(dataset.__getitem__, args.n, args.repeats)
    print(f"{'SyntheticDataset[i] shapes':<30}{wall:>18,.0f}{cpu:>18,.0f}")


if __name__ == "__main__":
    main()
