"""Reproduce a lesson's full profile on a GPU, in one command: ``python -m seglib.reproduce 04``.

Gets the data (checksum-verified), trains with a checkpoint per stage (run the same command
again after a disconnect and it resumes where it stopped), scores with the lesson's metrics and
writes ``results/<lesson>.json``, which lesson 08 and the README read. Without a GPU it refuses
and says what to do; ``--smoke`` runs the very same code on a tiny fixture tree on the CPU in
seconds (what CI runs). Built for notebooks/08_comparison.ipynb, section 6.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision.models import VGG16_Weights

from seglib.core import DatasetError, checkpoint_root, data_root
from seglib.datasets import VOCSegmentation
from seglib.download import download_voc2012
from seglib.fixtures import make_voc_tree
from seglib.train import evaluate, fit
from seglib.transforms import train_transforms


class NoGPUError(RuntimeError):
    """The full profile was asked for on a machine without a CUDA GPU."""


def results_root() -> Path:
    """Where results files go: the checkout's ``results/``, else ``<data_root>/results`` (a pip install)."""
    checkout = Path(__file__).resolve().parent.parent
    return checkout / "results" if (checkout / "pyproject.toml").exists() else data_root() / "results"


@dataclass(frozen=True)
class Setup:
    """What one run uses: real data on a GPU, or the fixture tree on the CPU (``smoke``)."""

    smoke: bool
    data: Path
    checkpoints: Path

    def voc(self) -> Path:
        """The VOC 2012 folder: downloaded and md5-checked once, or a tiny fixture tree."""
        if self.smoke:
            return make_voc_tree(self.data / "voc-fixture", n_train=4, n_val=2)
        return download_voc2012(self.data)

    def backbone(self) -> Callable[[], torch.nn.Module]:
        """VGG16 with ImageNet weights (full), or at 1/8 width from scratch (smoke)."""
        from seglib.models.vgg import vgg16
        if self.smoke:
            return lambda: vgg16(width=1 / 8)
        return lambda: vgg16(weights=VGG16_Weights.IMAGENET1K_V1)


@dataclass(frozen=True)
class Recipe:
    """A lesson's full profile: the network, its data, the paper's figure to compare with."""

    lesson: str
    network: str
    dataset: str
    paper: str
    run: Callable[[Setup], dict]


def _voc_splits(setup: Setup, crop: int) -> tuple[VOCSegmentation, DataLoader]:
    root = setup.voc()
    train = VOCSegmentation(root, "train", transforms=train_transforms(crop))
    val = DataLoader(VOCSegmentation(root, "val"), batch_size=1)  # VOC images differ in size
    return train, val


def _fcn(setup: Setup) -> dict:
    """Lesson 04: FCN-32s, then 16s and 8s each from the previous stage (Long et al., section 4.2)."""
    from seglib.models.fcn import FCN
    train, val = _voc_splits(setup, 64 if setup.smoke else 320)
    epochs, batch = (1, 2) if setup.smoke else (68, 8)
    coarser, scores = None, {}
    for variant, lr in (("32s", 1.5e-3), ("16s", 1.5e-5), ("8s", 1.5e-7)):
        model = FCN(21, variant, vgg=setup.backbone()())
        if coarser is not None:
            model.init_from(coarser)
        fit(model, train, epochs=epochs, lr=lr, batch_size=batch, progress=not setup.smoke,
            checkpoint=setup.checkpoints / f"reproduce-04-fcn{variant}.pt")
        scores[f"fcn{variant}"] = _summary(evaluate(model, val))
        coarser = model
    return scores


def _summary(metrics: dict) -> dict:
    return {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}


RECIPES: dict[str, Recipe] = {
    "04": Recipe("04", "FCN-32s -> 16s -> 8s (VGG16, ImageNet)", "PASCAL VOC 2012 train -> val",
                 "FCN-8s 62.7 % mIoU on a VOC 2011 val subset (Long et al. 2015, Table 2); "
                 "62.2 % on VOC 2012 test (Table 3)", _fcn),
}


def no_gpu_message(lesson: str) -> str:
    """What to do when there is no GPU: Colab, or the smoke run."""
    return (f"No CUDA GPU here: lesson {lesson}'s full profile ({RECIPES[lesson].network} on "
            f"{RECIPES[lesson].dataset}) needs one - hours on a Colab GPU, weeks on a CPU.\n"
            f"On Colab: Runtime > Change runtime type > GPU, mount Google Drive, set SEGLIB_CHECKPOINTS to a "
            f"Drive folder so a disconnect loses nothing, then run `!python -m seglib.reproduce {lesson}`.\n"
            f"To check the pipeline here instead: `python -m seglib.reproduce {lesson} --smoke` "
            f"(tiny fixture data, the same code, seconds).")


def reproduce(lesson: str, smoke: bool = False, data: Path | None = None,
              checkpoints: Path | None = None, results: Path | None = None) -> Path:
    """Run ``lesson``'s recipe, write ``results/<lesson>.json`` (``<lesson>-smoke.json``), return its path."""
    if lesson not in RECIPES:
        raise ValueError(f"no full profile for lesson {lesson!r}; choose one of {sorted(RECIPES)}")
    if not smoke and not torch.cuda.is_available():
        raise NoGPUError(no_gpu_message(lesson))
    work = Path(data or data_root())
    setup = Setup(smoke, work, Path(checkpoints or (work / "smoke" if smoke else checkpoint_root())))
    setup.checkpoints.mkdir(parents=True, exist_ok=True)
    recipe, start = RECIPES[lesson], time.perf_counter()
    scores = recipe.run(setup)
    record = {"lesson": lesson, "network": recipe.network, "dataset": recipe.dataset,
              "smoke": smoke, "paper": recipe.paper, "scores": scores,
              "hardware": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor()
              or platform.machine(), "minutes": round((time.perf_counter() - start) / 60, 2),
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    results = Path(results or results_root())
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{lesson}{'-smoke' if smoke else ''}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglib.reproduce", description=__doc__.split("\n")[0])
    parser.add_argument("lesson", choices=sorted(RECIPES))
    parser.add_argument("--smoke", action="store_true", help="tiny fixture data on the CPU")
    parser.add_argument("--data", type=Path, help="dataset folder (default: seglib.core.data_root())")
    parser.add_argument("--checkpoints", type=Path, help="checkpoint folder (default: checkpoint_root())")
    parser.add_argument("--results", type=Path, help="where <lesson>.json goes (default: results/)")
    args = parser.parse_args(argv)
    try:
        path = reproduce(args.lesson, args.smoke, args.data, args.checkpoints, args.results)
    except (NoGPUError, DatasetError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {path}:\n{path.read_text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
