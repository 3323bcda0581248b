"""Execute notebooks, each in a fresh kernel, top to bottom, and report run times.

Authors run this (``make notebooks``) before committing so that the stored outputs
are exactly what a fresh run produces and nbval has something to compare against.
``--out DIR`` writes the executed copies there instead of in place (e.g. a run on a GPU,
to check that every cell, asserts included, passes there too).

    python scripts/execute_notebooks.py [--out DIR] notebooks/*.ipynb
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, out: Path, timeout: int = 600) -> float:
    """Run ``path`` in a fresh kernel (in its own folder), write it to ``out``; return its wall time."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    where = {"metadata": {"path": str(path.parent)}}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=where).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(nb, out)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="folder for the executed copies (default: in place)")
    args = parser.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    for path in args.notebooks:
        seconds = execute(path, args.out / path.name if args.out else path)
        print(f"{path}: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
