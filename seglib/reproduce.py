"""Reproduce a lesson's full profile on a GPU, in one command: ``python -m seglib.reproduce 04``.

Gets the data, trains with a checkpoint per stage (the same command resumes after a disconnect), scores
and writes ``results/<lesson>.json``; ``--smoke`` runs the same code on tiny fixture data on the CPU
(what CI runs); ``--rehearse`` runs the full profile's path on generated data at the real sizes with random
weights, a few steps per stage, killing itself mid-epoch and resuming, and measures it (``seglib.rehearsal``).
Shown in notebooks/08_comparison.ipynb, section 7.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.models import VGG16_Weights

from seglib.core import DatasetError, atomic_write, checkpoint_root, data_root, pick_device, results_root
from seglib.datasets import VOCSegmentation, validate_dataset_folder
from seglib.download import U373, U373_URL, download_u373, download_voc2012
from seglib.fixtures import make_cell_tracking_tree, make_voc_tree
from seglib.rehearsal import Rehearsal, StepProbe, fit_rehearsal, rehearse, u373_tree, voc_tree
from seglib.train import evaluate, fit
from seglib.transforms import train_transforms


__all__ = ["RECIPES", "NoGPUError", "Recipe", "Setup", "hardware", "main", "recipe_for", "reproduce",
           "results_root", "write_json"]


class NoGPUError(RuntimeError):
    """The full profile was asked for on a machine without a CUDA GPU.
    Raised by seglib.reproduce.reproduce (not built in a lesson)."""


@dataclass(frozen=True)
class Setup:
    """What one run uses: real data on a GPU, the fixture tree on the CPU (``smoke``), or generated data at
    the real sizes with random weights (``rehearsal``, watched by ``probe``).
    First used in notebooks/08_comparison.ipynb, section 7."""

    smoke: bool
    data: Path
    checkpoints: Path
    rehearsal: Rehearsal | None = None
    probe: StepProbe | None = field(default=None, compare=False)

    def vgg(self, batch_norm: bool = False, crop: int = 224) -> torch.nn.Module:
        """VGG16 (with batch norm: VGG16-BN) with ImageNet weights (full); at 1/8 (BN: 1/16) width from
        scratch (smoke); at the rehearsal's width with random weights, fc6 fitting ``crop`` (rehearsal)."""
        from seglib.models.vgg import vgg16
        if self.smoke:
            return vgg16(1 / 16, batch_norm=True, pool5_grid=2) if batch_norm else vgg16(width=1 / 8)
        if self.rehearsal is not None:
            return vgg16(self.rehearsal.width, batch_norm=batch_norm,
                         pool5_grid=max(1, min(7, crop // 32)) if batch_norm else 7)
        if batch_norm:
            from torchvision.models import VGG16_BN_Weights, vgg16_bn
            return vgg16_bn(weights=VGG16_BN_Weights.IMAGENET1K_V1)
        return vgg16(weights=VGG16_Weights.IMAGENET1K_V1)

    def fit(self, model: torch.nn.Module, data: Dataset, name: str, *, epochs: int, lr: float, batch: int,
            **kwargs) -> dict:
        """``fit`` with checkpoint ``reproduce-<name>.pt``: as the recipe says (full), 1 epoch of batches of 2
        (smoke), or one epoch of the first ``steps x batch`` samples, watched by the probe (rehearsal)."""
        checkpoint = self.checkpoints / f"reproduce-{name}.pt"
        if self.smoke:
            return fit(model, data, epochs=1, lr=lr, batch_size=2, progress=False, checkpoint=checkpoint,
                       **kwargs)
        if self.rehearsal is None:
            return fit(model, data, epochs=epochs, lr=lr, batch_size=batch, checkpoint=checkpoint, **kwargs)
        return fit_rehearsal(model, data, name, self.rehearsal, self.probe, checkpoint, lr=lr, batch=batch,
                             **kwargs)


@dataclass(frozen=True)
class Recipe:
    """A lesson's full profile: the network, its data, the paper's figure to compare with."""

    lesson: str
    network: str
    dataset: str
    paper: str
    run: Callable[[Setup], dict]



def _voc_splits(setup: Setup, crop: int, resize_val: bool = False) -> tuple[VOCSegmentation, DataLoader]:
    """VOC 2012 (md5-checked; smoke: a tiny fixture tree; rehearsal: the generated tree, crops at most its
    images' shorter side, ``val`` images scored): random ``crop`` px (smoke: 64 px) training crops,
    validation images whole or resized to ``crop``."""
    from seglib.transforms import eval_transforms
    if setup.smoke:
        root, crop = make_voc_tree(setup.data / "voc-fixture", n_train=4, n_val=2), 64
    elif setup.rehearsal is not None:
        root, crop = voc_tree(setup.data, setup.rehearsal), min(crop, *setup.rehearsal.size)
    else:
        root = download_voc2012(setup.data)
    train = VOCSegmentation(root, "train", transforms=train_transforms(crop))
    val = VOCSegmentation(root, "val", transforms=eval_transforms(crop) if resize_val else None)
    if setup.rehearsal is not None:
        val = Subset(val, range(min(len(val), setup.rehearsal.val)))
    return train, DataLoader(val, batch_size=1)  # sizes differ


def _fit_and_score(setup: Setup, model: torch.nn.Module, name: str, splits: tuple, epochs: int, lr: float,
                   batch: int) -> dict:
    """Train on ``splits[0]`` (see ``Setup.fit``); the scores on ``splits[1]``."""
    setup.fit(model, splits[0], name, epochs=epochs, lr=lr, batch=batch)
    started = time.perf_counter()
    scores = _summary(evaluate(model, splits[1]))
    if setup.probe is not None:
        setup.probe.stages[-1]["scoring_s"] = round(time.perf_counter() - started, 3)
    return scores


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
    from seglib.models.deconvnet import DeconvNet
    splits = _voc_splits(setup, 224, resize_val=True)
    crop = min(224, *setup.rehearsal.size) if setup.rehearsal is not None else 224
    model = DeconvNet(21, vgg=setup.vgg(batch_norm=True, crop=crop))
    return {"deconvnet": _fit_and_score(setup, model, "06-deconvnet", splits, 30, 1e-2, 16)}


def _u373(setup: Setup) -> Path:
    """The cell tracking challenge's PhC-C2DH-U373 training set (sequences 01, 02), a tiny fixture (smoke),
    or generated frames at the rehearsal's size, as many as its steps and scoring read (rehearsal)."""
    if setup.smoke:
        return make_cell_tracking_tree(setup.data / "u373-fixture")
    if setup.rehearsal is not None:
        return u373_tree(setup.data, setup.rehearsal)
    return validate_dataset_folder(download_u373(setup.data), ["01", "02"], U373,
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
    from seglib.datasets import CellTiles
    from seglib.metrics import ConfusionMatrix
    from seglib.models.unet import (
        UNet,
        output_size,
        predict_tiles,
        valid_sizes,
        weight_map,
        weighted_cross_entropy,
    )
    root = _u373(setup)
    if setup.smoke:
        depth, channels = 2, 4
    else:
        depth, channels = 4, max(1, round(64 * (setup.rehearsal.width if setup.rehearsal else 1)))
    train_images, train_cells = _cell_frames(root, "01")
    side = min(train_images.shape[-2:])
    tile = max(n for n in valid_sizes(400, depth) if (output_size(n, depth) or 0) <= min(side, 388))
    out = output_size(tile, depth)
    model = UNet(1, 2, channels=channels, depth=depth)
    tiles = CellTiles(*_corner_tiles(train_images, train_cells, out), model.margin, weight_map)
    setup.fit(model, tiles, "07-unet", epochs=100, lr=0.01, batch=1, loss_fn=weighted_cross_entropy,
              optimizer=lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.99),
              schedule="constant")  # the paper gives momentum 0.99 and no rate schedule
    val_images, val_cells = _cell_frames(root, "02")
    if setup.rehearsal is not None:
        val_images, val_cells = val_images[:setup.rehearsal.val], val_cells[:setup.rehearsal.val]
    started = time.perf_counter()
    model.to(pick_device()).eval()  # fit hands the model back on the CPU; tiles are predicted on the GPU
    cm = ConfusionMatrix(2)
    with torch.no_grad():
        for image, cells in zip(val_images, val_cells, strict=True):
            cm.update(predict_tiles(model, image[None].to(next(model.parameters()).device), tile).cpu(),
                      (cells > 0).long()[None])
    if setup.probe is not None:
        setup.probe.stages[-1]["scoring_s"] = round(time.perf_counter() - started, 3)
    metrics = _summary(cm.compute())
    return {"unet": {**metrics, "cell IoU": round(cm.compute()["iou"][1].item(), 4)}}


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


def _no_gpu_message(lesson: str) -> str:
    """What to do when there is no GPU: Colab, or the smoke run."""
    return (f"No CUDA GPU here: lesson {lesson}'s full profile ({RECIPES[lesson].network} on "
            f"{RECIPES[lesson].dataset}) needs one: hours on a Colab GPU, days on a CPU.\n"
            f"On Colab: Runtime > Change runtime type > GPU, mount Google Drive, set SEGLIB_CHECKPOINTS to a "
            f"Drive folder so a disconnect loses nothing, then run `!python -m seglib.reproduce {lesson}`.\n"
            f"To check the pipeline here instead: `python -m seglib.reproduce {lesson} --smoke` "
            f"(tiny fixture data, the same code, seconds).")


def hardware() -> str:
    """The GPU's name, else the CPU's. First used in notebooks/08_comparison.ipynb, section 7."""
    return (torch.cuda.get_device_name() if torch.cuda.is_available()
            else platform.processor() or platform.machine())


def write_json(path: Path, record: dict) -> Path:
    """Write ``record`` to ``path`` as indented JSON, atomically (a reader never sees half a file).
    First used in notebooks/08_comparison.ipynb, section 7."""
    return atomic_write(path, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))


def recipe_for(lesson: str) -> Recipe:
    """``lesson``'s recipe; a lesson without a full profile is refused, naming the ones there are."""
    if lesson not in RECIPES:
        raise ValueError(f"no full profile for lesson {lesson!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[lesson]


def reproduce(lesson: str, smoke: bool = False, data: Path | None = None,
              checkpoints: Path | None = None, results: Path | None = None) -> Path:
    """Run ``lesson``'s recipe, write ``results/<lesson>.json`` (``<lesson>-smoke.json``), return its path.
    First used in notebooks/08_comparison.ipynb, section 7."""
    recipe = recipe_for(lesson)
    if not smoke and not torch.cuda.is_available():
        raise NoGPUError(_no_gpu_message(lesson))
    work = Path(data or data_root())
    setup = Setup(smoke, work, Path(checkpoints or (work / "smoke" if smoke else checkpoint_root())))
    setup.checkpoints.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    scores = recipe.run(setup)
    record = {"lesson": lesson, "network": recipe.network, "dataset": recipe.dataset,
              "smoke": smoke, "paper": recipe.paper, "scores": scores, "hardware": hardware(),
              "minutes": round((time.perf_counter() - start) / 60, 2),
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    return write_json(Path(results or results_root()) / f"{lesson}{'-smoke' if smoke else ''}.json", record)



def _pair(text: str, sep: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(sep))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two integers as A{sep}B, got {text!r}") from None
    return a, b


def _rehearsal_from(args: argparse.Namespace) -> Rehearsal:
    """The rehearsal the command line asks for (``--kill-after`` defaults to half the steps; 0: no kill)."""
    kill_after = args.steps // 2 if args.kill_after is None else (args.kill_after or None)
    if args.pause_at is not None:
        kill_after = args.pause_at
    n_train, n_val = args.images
    return Rehearsal(steps=args.steps, batch=args.batch, val=args.val, width=args.width, n_train=n_train,
                     n_val=n_val, size=args.size, cell_size=args.cell_size, workers=args.workers,
                     kill_after=kill_after)


def main(argv: list[str] | None = None) -> int:
    """The command line ``python -m seglib.reproduce LESSON [--smoke | --rehearse ...]``; exit code 2 with the
    reason on stderr when there is no GPU or bad data. Named in notebooks/08_comparison.ipynb, section 9."""
    parser = argparse.ArgumentParser(prog="python -m seglib.reproduce", description=__doc__.split("\n")[0])
    parser.add_argument("lesson", choices=sorted(RECIPES))
    parser.add_argument("--smoke", action="store_true", help="tiny fixture data on the CPU")
    parser.add_argument("--data", type=Path, help="dataset folder (default: seglib.core.data_root(); "
                        "rehearsal: <data_root>/rehearsal)")
    parser.add_argument("--checkpoints", type=Path, help="checkpoint folder (default: checkpoint_root())")
    parser.add_argument("--results", type=Path, help="where <lesson>.json goes (default: results/)")
    rehearsal = parser.add_argument_group("rehearsal", "the full profile's path on generated data at the "
                                          "real sizes, random weights, a kill mid-epoch and a resume")
    rehearsal.add_argument("--rehearse", action="store_true", help="rehearse instead of training for real")
    rehearsal.add_argument("--steps", type=int, default=20, help="training steps per stage (default 20)")
    rehearsal.add_argument("--batch", type=int, help="batch size (default: the recipe's)")
    rehearsal.add_argument("--val", type=int, default=10, help="validation images scored (default 10)")
    rehearsal.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1: real)")
    rehearsal.add_argument("--images", type=lambda t: _pair(t, ","), default=(1464, 1449),
                           help="train,val images of the generated VOC tree (default 1464,1449)")
    rehearsal.add_argument("--size", type=lambda t: _pair(t, "x"), default=(375, 500),
                           help="HxW of its images (default 375x500; a quarter turned to 500x375)")
    rehearsal.add_argument("--cell-size", type=lambda t: _pair(t, "x"), default=(520, 696),
                           help="HxW of the generated U373 frames (default 520x696)")
    rehearsal.add_argument("--workers", type=int,
                           help="loader processes (default: fit's on a GPU, 2 on a CPU)")
    rehearsal.add_argument("--kill-after", type=int, help="SIGKILL after this many steps of the first "
                           "stage, then resume (default: half the steps; 0: no kill)")
    rehearsal.add_argument("--pause-at", type=int, help=argparse.SUPPRESS)  # the child that is killed
    args = parser.parse_args(argv)
    try:
        if args.pause_at is not None:  # the child process: runs until its kill point, then waits for SIGKILL
            r = _rehearsal_from(args)
            work = Path(args.data or data_root() / "rehearsal")
            RECIPES[args.lesson].run(Setup(False, work, Path(args.checkpoints), r, StepProbe(r.kill_after)))
            return 1
        if args.rehearse:
            path = rehearse(args.lesson, _rehearsal_from(args), args.data, args.checkpoints, args.results)
        else:
            path = reproduce(args.lesson, args.smoke, args.data, args.checkpoints, args.results)
    except (NoGPUError, DatasetError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {path}:\n{path.read_text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
