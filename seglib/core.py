"""What every module shares: the ignore label, the errors, THE label check, devices, the profile, folders."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import torch


IGNORE_INDEX: int = 255
"""Label of pixels left out of the loss and the metrics (VOC's object borders, Cityscapes' void)."""


class DatasetError(ValueError):
    """Bad or missing data: names the file (or sample) and the problem.
    First used in notebooks/01_datasets.ipynb, section 6."""


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used (corrupt, or written for other settings).
    Raised by seglib.train.fit when it cannot resume (not built in a lesson)."""


def listed(items: Sequence, limit: int = 10) -> str:
    """``{1, 2, 3}``: at most ``limit`` items, then how many were left out.
    First used in notebooks/01_datasets.ipynb, section 6."""
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return "{" + ", ".join(str(i) for i in items[:limit]) + "}" + more


def validate_labels(labels: torch.Tensor, num_classes: int, source: str = "labels",
                 ignore_index: int | None = IGNORE_INDEX) -> None:
    """Raise ``DatasetError`` naming ``source`` unless ``labels`` holds integer classes ``0..num_classes-1``
    or the ignore one: the library's one label check. Float labels are refused, never truncated.
    First used in notebooks/01_datasets.ipynb, section 6."""
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        nan = " and contains NaN" if labels.is_floating_point() and labels.isnan().any() else ""
        raise DatasetError(f"{source}: labels must be integer class indices, got dtype {labels.dtype}"
                           f"{nan}; round or convert them on purpose (e.g. .long()) before passing them")
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bad.any():
        ignore = f" and are not the ignore label {ignore_index}" if ignore_index is not None else ""
        raise DatasetError(
            f"{source}: label values {listed(torch.unique(labels[bad]).tolist())} are outside "
            f"0..{num_classes - 1}{ignore}; on a GPU this shows up as 'device-side assert triggered'. "
            "Check the number of classes, or that the file holds class indices (not colours or raw "
            "label ids).")


def validate_instances(instances, source: str = "instances", dims: int = 2) -> torch.Tensor:
    """``instances`` (an array or tensor) as a tensor, after raising ``DatasetError`` naming ``source``
    unless it is an instance map of ``dims`` dimensions (``[H, W]`` or ``[N, H, W]``) holding integer ids:
    0 for the background, one positive id per object. Float maps are refused, never truncated.
    First used in notebooks/07_unet.ipynb, section 1."""
    tensor = torch.as_tensor(instances)
    integer = not (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool)
    if not integer or tensor.dim() != dims:
        raise DatasetError(f"{source}: expected an instance map [{', '.join('NHW'[-dims:])}] of integer "
                           f"ids (0: background, 1, 2, ...: one per object), got dtype {tensor.dtype} and "
                           f"shape {tuple(tensor.shape)}; label it (e.g. scipy.ndimage.label) or convert it "
                           "on purpose")
    if tensor.numel() and tensor.min() < 0:
        raise DatasetError(f"{source}: instance ids must be >= 0, got {tensor.min().item()}")
    return tensor


def validate_images(images: torch.Tensor, source: str = "images", channels: int | None = None) -> None:
    """Raise ``ValueError`` unless ``images`` is a float batch ``[N, C, H, W]`` (with ``C == channels``).
    First used in notebooks/00_introduction.ipynb, section 6."""
    shape = tuple(images.shape)
    if not images.is_floating_point():
        raise ValueError(f"{source}: got dtype {images.dtype}; expected float images in [0, 1] "
                         "(for uint8 images: images.float() / 255)")
    if images.dim() != 4 or (channels is not None and shape[1] != channels):
        expected = f"[N, {channels or 'C'}, H, W]"
        hint = (" (channels last? use images.permute(0, 3, 1, 2))"
                if images.dim() == 4 and shape[-1] == (channels or 3) else "")
        raise ValueError(f"{source}: got shape {shape}; expected {expected}{hint}")


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return ``prefer`` if given, else the best available device (cuda > mps > cpu).
    First used in notebooks/00_introduction.ipynb, section 4."""
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model: torch.nn.Module, default: torch.device | None = None) -> torch.device:
    """The device ``model``'s weights are on; for a model without weights, ``default`` or the best one.
    First used in notebooks/00_introduction.ipynb, section 6."""
    param = next(model.parameters(), None)
    return param.device if param is not None else (default or pick_device())


@contextlib.contextmanager
def model_mode(model: torch.nn.Module, training: bool = False) -> Iterator[torch.nn.Module]:
    """``with model_mode(model):`` runs the block in eval mode (``training=True``: in training mode) and
    puts back the mode the model had, even after an error: helpers that run a model leave it as they
    found it, every submodule's own mode included (e.g. batch norm frozen in eval mode). The one place the
    library saves and restores ``model.training``.
    First used in notebooks/00_introduction.ipynb, section 6."""
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def set_threads(n: int | None = None) -> int:
    """Use ``n`` CPU threads for torch (default: ``$SEGLIB_THREADS``, else 1: on a busy machine more threads
    than free cores spin-wait for each other and make each step many times slower); return the number.
    First used in notebooks/00_introduction.ipynb, its set-up cell (before section 1)."""
    n = n or int(os.environ.get("SEGLIB_THREADS", "1"))
    torch.set_num_threads(n)
    return n


def get_profile(run_full: bool = False) -> str:
    """``"full"`` (real data, paper sizes) when asked for, by ``run_full=True`` or ``SEGLIB_PROFILE=full``;
    ``"quick"`` (synthetic data, seconds on a CPU) otherwise. A GPU alone never switches it.
    First used in notebooks/00_introduction.ipynb, section 4."""
    name = "full" if run_full else os.environ.get("SEGLIB_PROFILE", "quick")
    if name not in ("quick", "full"):
        raise ValueError(f"SEGLIB_PROFILE must be 'quick' or 'full', got {name!r}")
    return name


def on_colab() -> bool:
    """True inside a Google Colab runtime. First used in notebooks/00_introduction.ipynb, section 5."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def data_root() -> Path:
    """Folder for datasets: ``$SEGLIB_DATA``, else the checkout's ``data/``, else ``/content/data``
    on Colab, else ``~/seglib-data``. Created if missing.
    First used in notebooks/01_datasets.ipynb, section 2."""
    checkout = Path(__file__).resolve().parent.parent
    if "SEGLIB_DATA" in os.environ:
        root = Path(os.environ["SEGLIB_DATA"]).expanduser()
    elif (checkout / "pyproject.toml").exists() and (checkout / "notebooks").is_dir():
        root = checkout / "data"
    elif on_colab():
        root = Path("/content/data")
    else:
        root = Path.home() / "seglib-data"
    root.mkdir(parents=True, exist_ok=True)
    return root


def checkpoint_root() -> Path:
    """Folder for checkpoints: ``$SEGLIB_CHECKPOINTS`` (on Colab: a Google Drive folder),
    else ``<data_root>/checkpoints``. First used in notebooks/04_fcn.ipynb, section 7."""
    root = Path(os.environ.get("SEGLIB_CHECKPOINTS", data_root() / "checkpoints")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def results_root() -> Path:
    """Folder for the full profiles' results files: the checkout's ``results/``, else
    ``<checkpoint_root>/results`` (on Colab: beside the checkpoints, on Drive). Not created here.
    First used in notebooks/08_comparison.ipynb, its set-up cell (before section 1)."""
    checkout = Path(__file__).resolve().parent.parent
    return checkout / "results" if (checkout / "pyproject.toml").exists() else checkpoint_root() / "results"


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path`` (``<name>.tmp-<pid>-*``), flush it to disk,
    then ``os.replace`` it over ``path``: a crash mid-write leaves the previous file intact.
    The one atomic write of the library (checkpoints, stored results).
    First used in notebooks/04_fcn.ipynb, section 7 (fit's checkpoints)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.tmp-{os.getpid()}-")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt included
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
