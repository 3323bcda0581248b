"""Quick (CPU, offline data, seconds) versus full (GPU, real dataset, paper sizes) profile.

Every lesson reads its profile once near the top::

    PROFILE = get_profile()          # SEGLIB_PROFILE=quick|full, else full only on CUDA

CI always runs the quick profile; the full profile's code path is exercised in CI on
tiny fixture data (see ``seglib.data.fixtures``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Profile:
    """What a lesson should run: ``name`` is ``"quick"`` or ``"full"``."""

    name: str

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    @property
    def full(self) -> bool:
        return self.name == "full"


def get_profile(name: str | None = None) -> Profile:
    """Choose the profile: explicit ``name``, then ``$SEGLIB_PROFILE``, then full iff CUDA is present."""
    name = name or os.environ.get("SEGLIB_PROFILE", "auto")
    if name == "auto":
        name = "full" if torch.cuda.is_available() and not os.environ.get("CI") else "quick"
    if name not in ("quick", "full"):
        raise ValueError(f"profile must be 'quick', 'full' or 'auto', got {name!r}")
    return Profile(name)
