"""Budget sweeps: every ordering a lesson claims, measured at 1x, 2x and 4x its steps over seeds 0-4.

A lesson's benchmark gives :func:`main` a function ``scores(seed, multiple) -> {model: {metric: value}}``;
each (seed, multiple) is stored in ``seglib/results/<name>.json`` (package data, so Colab has it too) as
soon as it is done, atomically and under a lock, so parallel processes and an interrupted run lose
nothing. The lesson reads it with :func:`load`, plots it with :func:`plot` and checks its claims with
:meth:`Sweep.holds`. The method: "Rivals and budget sweeps" in the README; first used in
notebooks/04_fcn.ipynb, section 5.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seglib.core import atomic_write, set_threads


RESULTS = Path(__file__).resolve().parent / "results"
"""Where the benchmarks store their sweeps (shipped with the package)."""
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
MULTIPLES: tuple[int, ...] = (1, 2, 4)

Scores = dict[str, dict[str, float]]  # model -> metric -> value


@dataclass
class Sweep:
    """One lesson's stored sweep: ``runs[multiple][seed][model][metric]``; ``steps`` is the lesson's 1x.
    First used in notebooks/04_fcn.ipynb, section 5."""

    name: str
    steps: int
    protocol: dict
    runs: dict[int, dict[int, Scores]]

    @property
    def models(self) -> list[str]:
        """Every model, in the order the benchmark first stored them."""
        return list(dict.fromkeys(m for by_seed in self.runs.values() for s in by_seed.values() for m in s))

    @property
    def multiples(self) -> list[int]:
        return sorted(self.runs)

    def seeds(self, multiple: int) -> list[int]:
        return sorted(self.runs.get(multiple, {}))

    def values(self, model: str, metric: str, multiple: int = 1) -> list[float]:
        """``metric`` of ``model`` for each stored seed at ``multiple`` x the steps, in seed order (seeds
        where the model or the metric is missing are left out)."""
        by_seed = self.runs.get(multiple, {})
        return [by_seed[s][model][metric] for s in sorted(by_seed) if metric in by_seed[s].get(model, {})]

    def holds(self, better: str, worse: str, metric: str, margin: float = 0.0,
              multiples: Sequence[int] | None = None) -> dict[int, list[int]]:
        """For each multiple, the seeds on which ``better`` does *not* beat ``worse`` by more than
        ``margin`` on ``metric`` (paired per seed). Empty lists everywhere: the ordering held."""
        failed = {}
        for x in multiples or self.multiples:
            runs = self.runs.get(x, {})
            failed[x] = [s for s in sorted(runs)
                         if not runs[s][better][metric] > runs[s][worse][metric] + margin]
        return failed

    def table(self, metrics: Sequence[str], multiples: Sequence[int] | None = None,
              models: Sequence[str] | None = None) -> str:
        """A text table: one row per model, mean (min-max) over seeds of each metric at each multiple."""
        multiples = list(multiples or self.multiples)
        head = [f"{m} @ {x * self.steps}" for m in metrics for x in multiples]
        rows = [["model", *head]]
        for model in models or self.models:
            cells = []
            for metric in metrics:
                for x in multiples:
                    v = self.values(model, metric, x)
                    cells.append(f"{sum(v) / len(v):.3f} ({min(v):.3f}-{max(v):.3f})" if v else "-")
            rows.append([model, *cells])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _path_of(name: str) -> Path:
    return RESULTS / f"{name}.json"


def load(name: str, path: str | Path | None = None) -> Sweep:
    """The stored sweep ``name`` (from ``seglib/results/``, or ``path``).
    First used in notebooks/04_fcn.ipynb, section 5."""
    path = Path(path) if path is not None else _path_of(name)
    if not path.is_file():
        raise FileNotFoundError(f"no stored sweep at {path}: run the lesson's benchmark "
                                f"(benchmarks/bench_*.py) to make it")
    raw = json.loads(path.read_text())
    runs = {int(x): {int(s): scores for s, scores in by_seed.items()} for x, by_seed in raw["runs"].items()}
    return Sweep(raw["name"], raw["steps"], raw.get("protocol", {}), runs)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (where the OS has ``fcntl``), so read-modify-write
    from parallel benchmark processes never loses a result."""
    try:
        import fcntl
    except ImportError:  # Windows: benchmarks there run one process at a time
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _update_json(path: str | Path, change: Callable[[dict], None]) -> dict:
    """Read the JSON object at ``path`` (``{}`` if there is none), let ``change`` edit it in place, write it
    back with :func:`seglib.core.atomic_write` (indent 1), all under ``path``'s lock: parallel benchmark
    processes never lose each other's results. Returns what was written."""
    path = Path(path)
    with _locked(path):
        raw = json.loads(path.read_text()) if path.exists() else {}
        change(raw)
        text = json.dumps(raw, indent=1) + "\n"
        atomic_write(path, lambda f: f.write(text.encode()))
    return raw


def _machine() -> str:
    """How the stored numbers were measured: ``"x86_64 CPU, 1 torch thread, torch 2.x"``."""
    return f"{platform.machine()} CPU, 1 torch thread, torch {torch.__version__}"


def _store(path: Path, name: str, steps: int, protocol: dict, multiple: int, seed: int,
          scores: Scores, merge: bool = False) -> None:
    """Add one (multiple, seed) to the stored sweep, atomically and under the lock; with ``merge``, its
    rows join the ones already stored for it (a benchmark that adds rows, or runs several at once)."""
    def add(raw: dict) -> None:
        if raw.get("steps", steps) != steps or raw.get("protocol", protocol) != protocol:
            raise ValueError(f"{path} was stored with other settings (steps {raw.get('steps')}, protocol "
                             f"{raw.get('protocol')}): delete it, or pass --redo, to measure afresh")
        clean = {m: {k: round(float(v), 6) for k, v in s.items() if not math.isnan(float(v))}
                 for m, s in scores.items()}
        by_seed = raw.setdefault("runs", {}).setdefault(str(multiple), {})
        by_seed[str(seed)] = {**by_seed.get(str(seed), {}), **clean} if merge else clean
        raw.update(name=name, steps=steps, protocol=protocol, machine=_machine())
    _update_json(path, add)


def main(name: str, scores: Callable[..., Scores], *, steps: int, protocol: dict,
         description: str, metrics: Sequence[str], by_row: bool = False,
         add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> Sweep:
    """A benchmark's command line: ``[--seeds ...] [--multiples ...] [--redo] [--out PATH]`` (and whatever
    ``add_arguments`` adds). Runs every (seed, multiple) not yet stored as ``scores(seed, multiple)``,
    stores each as it finishes, prints the table; returns the sweep. ``by_row``: a benchmark that
    resumes row by row gets every (seed, multiple) as ``scores(seed, multiple, stored_rows, args)`` and
    its rows are merged into what is stored. First used in notebooks/04_fcn.ipynb, section 5."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--multiples", type=int, nargs="+", default=list(MULTIPLES))
    parser.add_argument("--redo", action="store_true", help="measure again what is already stored")
    parser.add_argument("--out", type=Path, default=_path_of(name), help="default: seglib/results/NAME.json")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    set_threads()
    if args.redo and args.out.exists():
        args.out.unlink()
    for multiple in args.multiples:
        for seed in args.seeds:
            stored = load(name, args.out).runs.get(multiple, {}).get(seed) if args.out.exists() else None
            if stored is not None and not by_row:
                continue
            start = time.perf_counter()
            result = scores(seed, multiple, stored or {}, args) if by_row else scores(seed, multiple)
            _store(args.out, name, steps, protocol, multiple, seed, result, merge=by_row)
            print(f"{name}: seed {seed} at {multiple}x ({multiple * steps} steps) in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    sweep = load(name, args.out)
    print(sweep.table(metrics))
    return sweep


def plot(sweep: Sweep, metric: str, ax=None, models: Sequence[str] | None = None, title: str | None = None,
         xlabel: str = "training steps"):
    """Score against steps, one line per model: the mean over seeds, its min-max band shaded, each seed
    a dot. A line that catches up with more steps is a speed effect, not an inability.
    First used in notebooks/04_fcn.ipynb, section 5."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    for model in models or sweep.models:
        points = [(x * sweep.steps, sweep.values(model, metric, x)) for x in sweep.multiples]
        points = [(steps, v) for steps, v in points if v]
        xs = [steps for steps, _ in points]
        (line,) = ax.plot(xs, [sum(v) / len(v) for _, v in points], marker="o", label=model)
        ax.fill_between(xs, [min(v) for _, v in points], [max(v) for _, v in points],
                        color=line.get_color(), alpha=0.15)
        for steps, v in points:
            ax.scatter([steps] * len(v), v, s=8, alpha=0.5, color=line.get_color())
    ax.set_xscale("log", base=2)
    ax.set_xticks([x * sweep.steps for x in sweep.multiples], [str(x * sweep.steps) for x in sweep.multiples])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(title or f"{sweep.name}: {metric}, seeds {sweep.seeds(sweep.multiples[0])}")
    ax.legend(fontsize=7)
    return ax
