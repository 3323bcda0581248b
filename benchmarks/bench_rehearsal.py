"""The full profile rehearsed at full size: ``seglib.rehearsal.rehearse`` on a generated VOC tree at VOC's
real counts and sizes (1,464 + 1,449 images of 500 x 375 or 375 x 500), full-width VGG16 with random weights,
loader worker processes, the recipe's augmentation and 320 px crops (AMP on CUDA), a child process
SIGKILLed mid-epoch after ``--kill-after`` steps, the resume from its checkpoint, scoring and the results
file. Stores, in ``seglib/results/rehearsal_cpu.json`` (``rehearsal_gpu.json`` on CUDA): images per second
over the timed steps (data loading included; a fit's first step, with its start-up, is left out), the share
of that time spent waiting for data, peak memory (CPU: the process's peak resident set size; CUDA:
``max_memory_allocated``) and the kill-and-resume check.

On a CPU a full-width step takes most of a minute, so the default is lesson 05 (one stage: ParseNet on
FCN-32s's layers), 4 steps of batch 1, the kill after 1 step, 1 image scored; on a GPU pass e.g.
``--lesson 04 --steps 40 --kill-after 20 --val 50`` (batches as the recipe).

    nice -n 10 python benchmarks/bench_rehearsal.py [--lesson 05] [--steps 4] [--kill-after 1] [--batch 1]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from seglib.core import atomic_write, data_root, set_threads
from seglib.rehearsal import Rehearsal, rehearse


RESULTS = Path(__file__).resolve().parent.parent / "seglib" / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", default="05", choices=["04", "05", "06", "07"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--kill-after", type=int, default=1)
    parser.add_argument("--batch", type=int, help="default: 1 on a CPU, the recipe's on a GPU")
    parser.add_argument("--val", type=int, default=1)
    parser.add_argument("--images", default="1464,1449", help="train,val images of the generated tree")
    parser.add_argument("--workers", type=int, help="loader processes (default: 2 on a CPU, fit's on a GPU)")
    parser.add_argument("--data", type=Path, help="where the tree and checkpoints go "
                        "(default: data_root()/rehearsal)")
    parser.add_argument("--out", type=Path, help="default: seglib/results/rehearsal_cpu.json (or _gpu)")
    args = parser.parse_args(argv)
    set_threads()
    cuda = torch.cuda.is_available()
    n_train, n_val = (int(n) for n in args.images.split(","))
    rehearsal = Rehearsal(steps=args.steps, batch=args.batch or (None if cuda else 1), val=args.val,
                          n_train=n_train, n_val=n_val, workers=args.workers, kill_after=args.kill_after)
    with tempfile.TemporaryDirectory() as scratch:
        path = rehearse(args.lesson, rehearsal, data=args.data or data_root() / "rehearsal",
                        results=Path(scratch))
        record = json.loads(path.read_text())
    record["benchmark"] = {"script": "benchmarks/bench_rehearsal.py", "description": __doc__.split("\n")[0],
                           "threads": torch.get_num_threads()}
    out = args.out or RESULTS / f"rehearsal_{'gpu' if cuda else 'cpu'}.json"
    atomic_write(out, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))
    check = record["kill_and_resume"]
    print(f"\n{record['network']} on {record['hardware']} ({record['device']}, AMP {record['amp']}), "
          f"{record['loader_workers']} loader workers, batch {record['stages'][0]['batch']}:\n"
          f"  {record['images_per_s']} images/s over {record['timed_steps']} timed steps (data loading "
          f"included), {100 * record['data_wait_share']:.1f} % of it waiting for data\n"
          f"  peak memory {record['peak_memory_mb']} MB ({record['peak_memory_kind']})\n"
          f"  kill and resume: {check['how']}, killed with {check['checkpoint_at_kill']} on disk, "
          f"{check['resumed']!r}, {check['steps_after_resume']} steps after it, {check['steps_total']} of "
          f"{check['steps_per_epoch']} in all: {'OK' if check['ok'] else 'FAILED'}\n  stored in {out}")
    return out


if __name__ == "__main__":
    main()
