"""Shared test set-up: small, offline, deterministic, on the CPU."""
import os

import matplotlib
import pytest
import torch


matplotlib.use("Agg")  # no display in CI
os.environ.setdefault("SEGLIB_PROFILE", "quick")


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    """Every test starts from the same random state, on one thread: the tensors in tests
    are small enough that threads gain nothing, and on a busy 2-core machine they spin-wait."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
