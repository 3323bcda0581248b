"""Shared test set-up: small, offline, deterministic, on the CPU."""
import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # no display in CI
os.environ.setdefault("SEGLIB_PROFILE", "quick")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    yield
