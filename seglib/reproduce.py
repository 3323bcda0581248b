"""Reproduce a lesson's full profile on a GPU, in one command: ``python -m seglib.reproduce 04``.

Gets the data, trains with a checkpoint per stage (the same command resumes after a disconnect), scores
and writes ``results/<lesson>.json``; ``--smoke`` runs the same code on tiny fixture data on the CPU
(what CI runs). Shown in notebooks/08_comparison.ipynb, section 7.
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

from seglib.core import DatasetError, checkpoint_root, data_root, pick_device
from seglib.datasets import VOCSegmentation, check_dataset_folder
from seglib.download import download_voc2012
from seglib.fixtures import make_voc_tree
from seglib.train import evaluate, fit
from seglib.transforms import train_transforms


class NoGPUError(RuntimeError):
    """The full profile was asked for on a machine without a CUDA GPU."""


def results_root() -> Path:
    """Where results files go: the checkout's ``results/``, else next to the checkpoints (on Colab: Drive)."""
    checkout = Path(__file__).resolve().parent.parent
    return checkout / "results" if (checkout / "pyproject.toml").exists() else checkpoint_root() / "results"


@dataclass(frozen=True)
class Setup:
    """What one run uses: real data on a GPU, or the fixture tree on the CPU (``smoke``)."""

    smoke: bool
    data: Path
    checkpoints: Path

    def vgg(self) -> torch.nn.Module:
        """VGG16 with ImageNet weights (full), or at 1/8 width from scratch (smoke)."""
        from seglib.models.vgg import vgg16
        return vgg16(width=1 / 8) if self.smoke else vgg16(weights=VGG16_Weights.IMAGENET1K_V1)


@dataclass(frozen=True)
class Recipe:
    """A lesson's full profile: the network, its data, the paper's figure to compare with."""

    lesson: str
    network: str
    dataset: str
    paper: str
    run: Callable[[Setup], dict]


def _voc_splits(setup: Setup, crop: int, resize_val: bool = False) -> tuple[VOCSegmentation, DataLoader]:
    """VOC 2012 (md5-checked; smoke: a tiny fixture tree): random ``crop`` px (smoke: 64 px) training crops,
    validation images whole or resized to ``crop``."""
    from seglib.transforms import eval_transforms
    if setup.smoke:
        root, crop = make_voc_tree(setup.data / "voc-fixture", n_train=4, n_val=2), 64
    else:
        root = download_voc2012(setup.data)
    train = VOCSegmentation(root, "train", transforms=train_transforms(crop))
    val_transforms = eval_transforms(crop) if resize_val else None
    val = DataLoader(VOCSegmentation(root, "val", transforms=val_transforms), batch_size=1)  # sizes differ
    return train, val


def _fit_and_score(setup: Setup, model: torch.nn.Module, name: str, splits: tuple, epochs: int, lr: float,
                   batch: int) -> dict:
    """Train on ``splits[0]`` with checkpoint ``reproduce-<name>.pt`` (a smoke run: 1 epoch, batches of 2);
    the scores on ``splits[1]``."""
    fit(model, splits[0], epochs=1 if setup.smoke else epochs, lr=lr, batch_size=2 if setup.smoke else batch,
        progress=not setup.smoke, checkpoint=setup.checkpoints / f"reproduce-{name}.pt")
    return _summary(evaluate(model, splits[1]))


def _fcn(setup: Setup) -> dict:
    """Lesson 04: FCN-32s, then 16s and 8s each from the previous stage (Long et al., section 4.2)."""
    from seglib.models.fcn import FCN
    splits, coarser, scores = _voc_splits(setup, 320), None, {}
    for variant, lr in (("32s", 1.5e-3), ("16s", 1.5e-5), ("8s", 1.5e-7)):
        model = FCN(21, variant, vgg=setup.vgg())
        if coarser is not None:
            model.init_from(coarser)
        scores[f"fcn{variant}"] = _fit_and_score(setup, model, f"04-fcn{variant}", splits, 68, lr, 8)
        coarser = model
    return scores


def _parsenet(setup: Setup) -> dict:
    """Lesson 05: ParseNet (context from fc7, L2 norm, scales from 10) on FCN-32s's layers."""
    from seglib.models.parsenet import ParseNet
    model = ParseNet(21, local="fc7", scale=10.0, vgg=setup.vgg())
    return {"parsenet": _fit_and_score(setup, model, "05-parsenet", _voc_splits(setup, 320), 30, 1e-3, 8)}


def _deconvnet(setup: Setup) -> dict:
    """Lesson 06: DeconvNet with an ImageNet VGG16-BN encoder, on random 224 px crops (not proposals)."""
    from torchvision.models import VGG16_BN_Weights, vgg16_bn

    from seglib.models.deconvnet import DeconvNet
    from seglib.models.vgg import vgg16
    splits = _voc_splits(setup, 224, resize_val=True)
    vgg = (vgg16(1 / 16, batch_norm=True, pool5_size=2) if setup.smoke
           else vgg16_bn(weights=VGG16_BN_Weights.IMAGENET1K_V1))
    return {"deconvnet": _fit_and_score(setup, DeconvNet(21, vgg=vgg), "06-deconvnet", splits, 30, 1e-2, 16)}


U373 = "PhC-C2DH-U373"
U373_URL = "http://data.celltrackingchallenge.net/training-datasets/PhC-C2DH-U373.zip"


def _u373(setup: Setup) -> Path:
    """The cell tracking challenge's PhC-C2DH-U373 training set (sequences 01, 02), or a tiny fixture."""
    if setup.smoke:
        return make_cell_tracking_tree(setup.data / "u373-fixture")
    root = setup.data / U373
    if not (root / "01").is_dir():
        from torchvision.datasets.utils import download_and_extract_archive
        try:
            download_and_extract_archive(U373_URL, str(setup.data))
        except OSError as exc:
            raise DatasetError(f"could not download {U373_URL} ({exc}). Download it by hand from "
                               "celltrackingchallenge.net (2D datasets, PhC-C2DH-U373, training data) and "
                               f"unzip it in {setup.data}, so that {root / '01'} exists") from exc
    return check_dataset_folder(root, ["01", "02"], U373,
                                f"download {U373_URL} and unzip it in {setup.data}")


def _cell_frames(root: Path, sequence: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames with a reference segmentation: images ``[N, 1, H, W]`` in [0, 1], instances ``[N, H, W]``.
    The challenge's gold truth (``01_GT/SEG``, a few frames) if present, else its silver truth (``01_ST``)."""
    import tifffile
    folders = [root / f"{sequence}_{kind}" / "SEG" for kind in ("GT", "ST")]
    masks = next((found for folder in folders if (found := sorted(folder.glob("man_seg*.tif")))), [])
    if not masks:
        raise DatasetError(f"no man_seg*.tif in {folders[0]} or {folders[1]}")
    images, cells = [], []
    for mask in masks:
        frame = root / sequence / f"t{mask.stem.removeprefix('man_seg')}.tif"
        image = torch.from_numpy(tifffile.imread(frame).astype("float32"))
        images.append(((image - image.min()) / (image.max() - image.min() + 1e-6))[None])
        cells.append(torch.from_numpy(tifffile.imread(mask).astype("int64")))
    return torch.stack(images), torch.stack(cells)


def _corner_tiles(images: torch.Tensor, cells: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The four corner ``side x side`` windows of every frame (U-Net's large training tiles)."""
    h, w = images.shape[-2:]
    corners = [(0, 0), (0, w - side), (h - side, 0), (h - side, w - side)]
    return (torch.cat([images[..., y:y + side, x:x + side] for y, x in corners]),
            torch.cat([cells[..., y:y + side, x:x + side] for y, x in corners]))


def _unet(setup: Setup) -> dict:
    """Lesson 07: U-Net on PhC-U373, the paper's recipe: one large tile per step, momentum 0.99,
    border weight map, elastic deformation; trained on sequence 01, scored on 02 (cell IoU)."""
    from seglib.metrics import ConfusionMatrix
    from seglib.models.unet import (
        UNet,
        output_size,
        predict_tiles,
        valid_sizes,
        weight_map,
        weighted_cross_entropy,
    )
    from seglib.transforms import CellTiles
    root = _u373(setup)
    depth, width = (2, 4) if setup.smoke else (4, 64)
    train_images, train_cells = _cell_frames(root, "01")
    side = min(train_images.shape[-2:])
    tile = max(n for n in valid_sizes(400, depth) if (output_size(n, depth) or 0) <= min(side, 388))
    out = output_size(tile, depth)
    model = UNet(1, 2, width=width, depth=depth)
    tiles = CellTiles(*_corner_tiles(train_images, train_cells, out), model.margin, weight_map)

    fit(model, tiles, epochs=1 if setup.smoke else 100, lr=0.01, batch_size=1, loss_fn=weighted_cross_entropy,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.99), progress=not setup.smoke,
        checkpoint=setup.checkpoints / "reproduce-07-unet.pt")
    val_images, val_cells = _cell_frames(root, "02")
    model.to(pick_device()).eval()  # fit hands the model back on the CPU; tiles are predicted on the GPU
    cm = ConfusionMatrix(2)
    with torch.no_grad():
        for image, cells in zip(val_images, val_cells, strict=True):
            cm.update(predict_tiles(model, image[None].to(next(model.parameters()).device), tile).cpu(),
                      (cells > 0).long()[None])
    metrics = _summary(cm.compute())
    return {"unet": {**metrics, "cell IoU": round(cm.compute()["iou"][1].item(), 4)}}


def make_cell_tracking_tree(root: str | Path, frames: int = 2, size: tuple[int, int] = (96, 112)) -> Path:
    """A tiny tree in the cell tracking challenge's format (``01/t000.tif``, ``01_ST/SEG/man_seg000.tif``,
    and the same for ``02``) with synthetic touching cells: the full profile's code path, offline."""
    import tifffile

    from seglib.synthetic import ShapesConfig, make_sample
    root = Path(root)
    config = ShapesConfig(size=max(size), variant="touching")
    for s, sequence in enumerate(("01", "02")):
        (root / sequence).mkdir(parents=True, exist_ok=True)
        (root / f"{sequence}_ST" / "SEG").mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            image, _, cells = make_sample(t, seed=s, config=config, return_instances=True)
            tifffile.imwrite(root / sequence / f"t{t:03d}.tif",
                             (image.mean(0)[:size[0], :size[1]] * 65535).numpy().astype("uint16"))
            tifffile.imwrite(root / f"{sequence}_ST" / "SEG" / f"man_seg{t:03d}.tif",
                             cells[:size[0], :size[1]].numpy().astype("uint16"))
    return root


def _summary(metrics: dict) -> dict:
    return {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}


RECIPES: dict[str, Recipe] = {
    "04": Recipe("04", "FCN-32s -> 16s -> 8s (VGG16, ImageNet)", "PASCAL VOC 2012 train -> val",
                 "FCN-8s 62.7 % mIoU on a VOC 2011 val subset (Long et al. 2015, Table 2); "
                 "62.2 % on VOC 2012 test (Table 3)", _fcn),
    "05": Recipe("05", "ParseNet on FCN-32s (VGG16, ImageNet)", "PASCAL VOC 2012 train -> val",
                 "69.8 % mIoU on VOC 2012 test on DeepLab-LargeFOV, 67.3 % without context; 40.4 % on "
                 "PASCAL-Context (Liu et al. 2015)", _parsenet),
    "06": Recipe("06", "DeconvNet (VGG16-BN, ImageNet), whole-image crops", "PASCAL VOC 2012 train -> val",
                 "69.6 % mIoU on VOC 2012 test with proposals, 72.5 % as EDeconvNet + CRF (Noh et al. 2015)",
                 _deconvnet),
    "07": Recipe("07", "U-Net (paper size, unpadded)", f"{U373} sequence 01 -> 02",
                 "IoU 0.9203 on the PhC-U373 challenge test set (Ronneberger et al. 2015, Table 2)", _unet),
}


def no_gpu_message(lesson: str) -> str:
    """What to do when there is no GPU: Colab, or the smoke run."""
    return (f"No CUDA GPU here: lesson {lesson}'s full profile ({RECIPES[lesson].network} on "
            f"{RECIPES[lesson].dataset}) needs one: hours on a Colab GPU, days on a CPU.\n"
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
