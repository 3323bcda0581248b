"""Checkpoints that survive a crash, and the random-number state needed to resume exactly.

A Colab session can disconnect at any moment, including while a checkpoint is being
written. :func:`save_checkpoint` therefore writes to a temporary file in the same folder
and then renames it over the old one (``os.replace`` is atomic): the file on disk is
always either the old checkpoint or the new one, never half of each.

:func:`load_checkpoint` uses ``torch.load(weights_only=True)``, which refuses to run
arbitrary pickled code. So a checkpoint holds only tensors and plain containers: state
dicts, integers, lists, and the RNG states below stored as tensors.

On Colab, keep checkpoints on Google Drive so that a disconnect loses nothing::

    from google.colab import drive; drive.mount("/content/drive")
    %env SEGLIB_CHECKPOINTS=/content/drive/MyDrive/seglib-checkpoints
    fit(..., checkpoint=seglib.paths.checkpoint_root() / "fcn8s.pt")
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used (corrupt, truncated, or not ours)."""


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them "the" checkpoint
        os.replace(tmp_name, path)
    except BaseException:  # includes KeyboardInterrupt: never leave a stray temp file
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = None) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain containers only)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it is truncated, corrupt or not a seglib checkpoint "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            "Delete it, or pass resume=False to fit, to start again.") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return state


# --- Reproducibility: seeding and the RNG state that a checkpoint carries -------------------

def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds CUDA and MPS


def rng_state() -> dict:
    """Every global random state, as tensors and plain values (``weights_only``-safe)."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(words, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
