"""Is this machine ready for the course? Versions, the device, problems with their fixes, tips.
Run in notebooks/00_introduction.ipynb, section 5."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys

import torch

from seglib.core import on_colab, pick_device


PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "tqdm", "jupyterlab")
"""Packages reported, in this order; the lessons need all but jupyterlab (Colab has its own UI)."""
REQUIRED = {"torchvision": "0.17", "numpy": "1.24", "matplotlib": "3.7", "ipywidgets": "8.0", "tqdm": "4.60"}
"""Oldest versions the lessons run on; torch's is ``check_environment``'s ``min_torch``."""


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"2.4.1+cu121"`` -> ``(2, 4, 1)``: the leading numbers, enough to compare releases."""
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _installed_version(package: str) -> str | None:
    """The installed version of ``package``, or None if it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _environment_report() -> dict:
    """Everything worth knowing about this machine for the course, as a plain dict."""
    report = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    report.update({name: _installed_version(name) for name in PACKAGES})
    report.update(torch=torch.__version__, torch_cuda_build=torch.version.cuda, device=str(pick_device()),
                  cuda_available=torch.cuda.is_available(), mps_available=torch.backends.mps.is_available(),
                  cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(), colab=on_colab())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        report.update(cuda_device=props.name, cuda_memory_gb=round(props.total_memory / 2**30, 1),
                      cuda_bf16=torch.cuda.is_bf16_supported())
    return report


def check_environment(min_torch: str = "2.2") -> list[str]:
    """Problems that would stop the lessons, each followed by what to do; empty when all is well.
    First used in notebooks/00_introduction.ipynb, section 5."""
    problems = []
    for package, minimum in {"torch": min_torch, **REQUIRED}.items():
        version = _installed_version(package)
        if version is None:
            problems.append(f"{package} is not installed: run `pip install '{package}>={minimum}'` "
                            "(or `pip install -e .` in the course folder).")
        elif _version_tuple(version) < _version_tuple(minimum):
            problems.append(f"{package} {version} is older than the {minimum} the course needs: "
                            f"run `pip install -U '{package}>={minimum}'` and restart the kernel.")
    if sys.version_info < (3, 10):
        problems.append(f"Python {platform.python_version()} is too old: the course needs 3.10 or newer.")
    return problems


def _tips(report: dict) -> list[str]:
    """Friendly advice that is not a problem (e.g. no GPU: the quick profile still runs)."""
    advice = []
    if report["device"] == "cpu":
        advice.append("No GPU found: lessons run their quick CPU profile (small synthetic data). "
                      + ("On Colab: Runtime > Change runtime type > T4 GPU for the full profile."
                         if report["colab"] else "That is all CI needs; the full profile wants a GPU."))
    if report["colab"]:
        advice.append("On Colab, mount Google Drive and set SEGLIB_CHECKPOINTS to a folder there, "
                      "so a disconnect does not lose your training.")
    return advice


def print_environment_report(min_torch: str = "2.2") -> None:
    """Print the report, the problems with their fixes, and tips, for a human.
    First used in notebooks/00_introduction.ipynb, section 5."""
    report = _environment_report()
    print("Environment")
    for key, value in report.items():
        print(f"  {key:<16} {'not installed' if value is None and key in PACKAGES else value}")
    problems = check_environment(min_torch)
    print("\nProblems" if problems else "\nNo problems found: you are ready for the course.")
    for problem in problems:
        print(f"  ✗ {problem}")
    advice = _tips(report)
    if advice:
        print("\nTips")
    for tip in advice:
        print(f"  • {tip}")
