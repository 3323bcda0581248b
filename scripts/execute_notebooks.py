"""Execute notebooks in place, each in a fresh kernel, top to bottom, and report run times.

Authors run this (``make notebooks``) before committing so that the stored outputs
are exactly what a fresh run produces and nbval has something to compare against.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor


def execute(path: Path, timeout: int = 600) -> float:
    """Run one notebook in place in a fresh kernel; return its wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": str(path.parent)}}
    )
    elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


def main(paths: list[str]) -> None:
    for p in paths:
        seconds = execute(Path(p))
        print(f"{p}: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
