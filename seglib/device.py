"""Pick the fastest device this machine has: CUDA, then Apple's MPS, then the CPU."""
from __future__ import annotations

import torch


def pick_device(prefer: str | None = None) -> torch.device:
    """Return ``prefer`` if given, else the best available device (cuda > mps > cpu)."""
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model: torch.nn.Module, default: torch.device | None = None) -> torch.device:
    """The device ``model``'s weights are on; for a model without weights, ``default``
    (if given) or the best available device."""
    param = next(model.parameters(), None)
    if param is not None:
        return param.device
    return default if default is not None else pick_device()
