"""Where datasets and checkpoints live, on a laptop, in CI and on Colab.

Relative paths break on Colab (the notebook's folder is not the repository), so every
lesson asks this module instead of writing ``../data``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def repo_root() -> Path | None:
    """The course checkout this package was installed from (editable install), if any."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() and (here / "notebooks").is_dir() else None


def data_root() -> Path:
    """Folder for downloaded datasets: ``$SEGLIB_DATA``, else the checkout's ``data/``,
    else ``/content/data`` on Colab, else ``~/seglib-data``. Created if missing."""
    if "SEGLIB_DATA" in os.environ:
        root = Path(os.environ["SEGLIB_DATA"]).expanduser()
    elif repo_root() is not None:
        root = repo_root() / "data"
    elif "google.colab" in sys.modules:
        root = Path("/content/data")
    else:
        root = Path.home() / "seglib-data"
    root.mkdir(parents=True, exist_ok=True)
    return root


def checkpoint_root() -> Path:
    """Folder for checkpoints: ``$SEGLIB_CHECKPOINTS``, else ``<data_root>/checkpoints``.

    On Colab, point ``SEGLIB_CHECKPOINTS`` at your mounted Google Drive so a disconnect
    loses nothing.
    """
    root = Path(os.environ.get("SEGLIB_CHECKPOINTS", data_root() / "checkpoints")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root
