"""Reproduce a lesson's full profile on a GPU, in one command: ``python -m seglib.reproduce 04``.

Gets the data, trains with a checkpoint per stage (the same command resumes after a disconnect), scores
and writes ``results/<lesson>.json``; ``--smoke`` runs the same code on tiny fixture data on the CPU
(what CI runs); ``--rehearse`` runs the full profile's path on generated data at the real sizes with random
weights, a few steps per stage, killing itself mid-epoch and resuming, and measures it (see ``rehearse``).
Shown in notebooks/08_comparison.ipynb, section 7.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.models import VGG16_Weights

from seglib import train as _train
from seglib.core import DatasetError, atomic_write, checkpoint_root, data_root, pick_device, results_root
from seglib.datasets import VOCSegmentation, check_dataset_folder
from seglib.download import U373, U373_URL, download_u373, download_voc2012
from seglib.fixtures import VOC2012_SIZES, make_cell_tracking_tree, make_voc_tree
from seglib.train import evaluate, fit
from seglib.transforms import train_transforms


__all__ = ["RECIPES", "NoGPUError", "Recipe", "Rehearsal", "StepProbe", "main", "rehearse", "reproduce",
           "results_root"]


class NoGPUError(RuntimeError):
    """The full profile was asked for on a machine without a CUDA GPU."""


@dataclass(frozen=True)
class Rehearsal:
    """A rehearsal of the full profile: generated data at the real sizes (VOC's 1,464 + 1,449 images of about
    500 x 375; U373's frames of 696 x 520), random weights in place of ImageNet's, ``steps`` training steps
    per stage (one epoch of a subset), ``val`` images scored, loader ``workers`` (None: fit's own choice),
    and, if ``kill_after``, a kill after that many steps of the first stage and a resume."""

    steps: int = 20
    batch: int | None = None           # None: the recipe's batch
    val: int = 10
    width: float = 1.0                 # VGG's channel multiplier (U-Net: 64 x width channels); 1 = real size
    n_train: int = VOC2012_SIZES["n_train"]
    n_val: int = VOC2012_SIZES["n_val"]
    size: tuple[int, int] = VOC2012_SIZES["size"]        # (height, width) of the VOC images
    cell_size: tuple[int, int] = (520, 696)               # (height, width) of the U373 frames
    workers: int | None = None
    kill_after: int | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "val", "n_train", "n_val"):
            if getattr(self, name) < 1:
                raise ValueError(f"Rehearsal.{name} must be >= 1, got {getattr(self, name)}")
        if self.kill_after is not None and not 1 <= self.kill_after < self.steps:
            raise ValueError(f"Rehearsal.kill_after must be in 1..steps-1 = 1..{self.steps - 1} (a kill "
                             f"mid-epoch), got {self.kill_after}")


PAUSED = "rehearsal: paused to be killed"
"""What a rehearsal's child process prints (with the checkpoint and step) when it waits for its SIGKILL."""


class SimulatedKill(RuntimeError):
    """Raised in place of a SIGKILL by a rehearsal that simulates its kill in-process (the tests)."""


class StepProbe:
    """Times every training step of a rehearsal, from outside ``fit``: a step starts at the model's forward
    (its batch is loaded) and ends when the optimizer has stepped (on CUDA after a synchronize); the gap
    between one step's end and the next one's start is the wait for data. ``kill_after``: in the first stage,
    at the start of step ``kill_after + 1`` (its checkpoint written), ``"pause"`` (wait for a SIGKILL) or
    ``"raise"`` (``SimulatedKill``)."""

    def __init__(self, kill_after: int | None = None, kill: str = "pause") -> None:
        if kill not in ("pause", "raise"):
            raise ValueError(f"kill must be 'pause' or 'raise', got {kill!r}")
        self.kill_after, self.kill, self.stages = kill_after, kill, []

    @contextlib.contextmanager
    def watch(self, model: torch.nn.Module, name: str, batch: int, steps_per_epoch: int,
              checkpoint: Path) -> Iterator[dict]:
        """Record the steps ``fit`` takes on ``model`` inside the block into ``self.stages``."""
        called, starts, ends = time.perf_counter(), [], {}
        first_stage = not self.stages
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

        def start(module: torch.nn.Module, args: tuple) -> None:
            if not module.training:  # scoring, not training
                return
            if first_stage and self.kill_after is not None and len(starts) == self.kill_after:
                self._kill(checkpoint, len(starts))
            starts.append(time.perf_counter())

        def end(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
            sync()
            ends[len(starts) - 1] = time.perf_counter()  # a step skipped (all-ignore, fp16 overflow): no end

        hooks = [model.register_forward_pre_hook(start),
                 register_optimizer_step_post_hook(end)]
        record = {"stage": name, "batch": batch, "steps_per_epoch": steps_per_epoch}
        try:
            yield record
        finally:
            for hook in hooks:
                hook.remove()
            timed = [i for i in range(1, len(starts)) if i in ends and i - 1 in ends]
            busy = sum(ends[i] - ends[i - 1] for i in timed)
            waited = sum(starts[i] - ends[i - 1] for i in timed)
            record.update(steps=len(starts), timed_steps=len(timed),
                          start_s=round(ends[0] - called, 3) if 0 in ends else None,
                          images_per_s=round(batch * len(timed) / busy, 3) if busy else None,
                          data_wait_share=round(waited / busy, 4) if busy else None,
                          _busy=busy, _waited=waited)
            self.stages.append(record)

    def _kill(self, checkpoint: Path, step: int) -> None:
        if self.kill == "raise":
            raise SimulatedKill(f"killed (simulated) at the start of step {step + 1}; "
                                f"{checkpoint} holds step {step}")
        print(f"{PAUSED}: {checkpoint} step {step}", flush=True)
        time.sleep(600)
        raise RuntimeError(f"rehearsal: waited 600 s at step {step + 1} for a SIGKILL that never came")

    def totals(self) -> dict:
        """Images per second and the share of time spent waiting for data over every timed step."""
        busy = sum(s["_busy"] for s in self.stages)
        images = sum(s["batch"] * s["timed_steps"] for s in self.stages)
        waited = sum(s["_waited"] for s in self.stages)
        return {"images_per_s": round(images / busy, 3) if busy else None,
                "data_wait_share": round(waited / busy, 4) if busy else None,
                "timed_steps": sum(s["timed_steps"] for s in self.stages)}


@dataclass(frozen=True)
class Setup:
    """What one run uses: real data on a GPU, the fixture tree on the CPU (``smoke``), or generated data at
    the real sizes with random weights (``rehearsal``, watched by ``probe``)."""

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
            return vgg16(1 / 16, batch_norm=True, pool5_size=2) if batch_norm else vgg16(width=1 / 8)
        if self.rehearsal is not None:
            return vgg16(self.rehearsal.width, batch_norm=batch_norm,
                         pool5_size=max(1, min(7, crop // 32)) if batch_norm else 7)
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
        batch = self.rehearsal.batch or batch
        data = Subset(data, range(min(len(data), self.rehearsal.steps * batch)))
        probe = self.probe or StepProbe()
        every = 0.0 if probe.kill_after is not None else _train.CHECKPOINT_EVERY_S  # a save after every step
        with probe.watch(model, name, batch, -(-len(data) // batch), checkpoint), _attribute(
                _train, "CHECKPOINT_EVERY_S", every):
            return fit(model, data, epochs=1, lr=lr, batch_size=batch, progress=False, checkpoint=checkpoint,
                       **kwargs)


@contextlib.contextmanager
def _attribute(owner: object, name: str, value: object) -> Iterator[None]:
    """Set ``owner.name`` to ``value`` inside the block only."""
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


@dataclass(frozen=True)
class Recipe:
    """A lesson's full profile: the network, its data, the paper's figure to compare with."""

    lesson: str
    network: str
    dataset: str
    paper: str
    run: Callable[[Setup], dict]


def _rehearsal_tree(folder: Path, build: Callable[[Path], Path]) -> Path:
    """``build(folder)`` once, then reused while its ``COMPLETE`` marker is there (a build cut short is
    done again)."""
    if not (folder / "COMPLETE").exists():
        build(folder)
        (folder / "COMPLETE").write_text("generated by seglib.reproduce's rehearsal\n")
    return folder


def _rehearsal_voc(setup: Setup) -> Path:
    """The generated VOC-format tree at the rehearsal's counts and size (built once, then reused)."""
    r = setup.rehearsal
    folder = setup.data / f"rehearsal-voc-{r.size[0]}x{r.size[1]}-{r.n_train}-{r.n_val}"
    return _rehearsal_tree(folder, lambda root: make_voc_tree(root, r.n_train, r.n_val, r.size,
                                                              portrait=VOC2012_SIZES["portrait"]))


def _voc_splits(setup: Setup, crop: int, resize_val: bool = False) -> tuple[VOCSegmentation, DataLoader]:
    """VOC 2012 (md5-checked; smoke: a tiny fixture tree; rehearsal: the generated tree, crops at most its
    images' shorter side, ``val`` images scored): random ``crop`` px (smoke: 64 px) training crops,
    validation images whole or resized to ``crop``."""
    from seglib.transforms import eval_transforms
    if setup.smoke:
        root, crop = make_voc_tree(setup.data / "voc-fixture", n_train=4, n_val=2), 64
    elif setup.rehearsal is not None:
        root, crop = _rehearsal_voc(setup), min(crop, *setup.rehearsal.size)
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
        r = setup.rehearsal
        frames = max(math.ceil(r.steps * (r.batch or 1) / 4), r.val)  # 4 training tiles per frame
        folder = setup.data / f"rehearsal-u373-{r.cell_size[0]}x{r.cell_size[1]}-{frames}"
        return _rehearsal_tree(folder, lambda root: make_cell_tracking_tree(root, frames, r.cell_size))
    return check_dataset_folder(download_u373(setup.data), ["01", "02"], U373,
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
    if setup.smoke:
        depth, width = 2, 4
    else:
        depth, width = 4, max(1, round(64 * (setup.rehearsal.width if setup.rehearsal else 1)))
    train_images, train_cells = _cell_frames(root, "01")
    side = min(train_images.shape[-2:])
    tile = max(n for n in valid_sizes(400, depth) if (output_size(n, depth) or 0) <= min(side, 388))
    out = output_size(tile, depth)
    model = UNet(1, 2, width=width, depth=depth)
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


def no_gpu_message(lesson: str) -> str:
    """What to do when there is no GPU: Colab, or the smoke run."""
    return (f"No CUDA GPU here: lesson {lesson}'s full profile ({RECIPES[lesson].network} on "
            f"{RECIPES[lesson].dataset}) needs one: hours on a Colab GPU, days on a CPU.\n"
            f"On Colab: Runtime > Change runtime type > GPU, mount Google Drive, set SEGLIB_CHECKPOINTS to a "
            f"Drive folder so a disconnect loses nothing, then run `!python -m seglib.reproduce {lesson}`.\n"
            f"To check the pipeline here instead: `python -m seglib.reproduce {lesson} --smoke` "
            f"(tiny fixture data, the same code, seconds).")


def _hardware() -> str:
    return (torch.cuda.get_device_name() if torch.cuda.is_available()
            else platform.processor() or platform.machine())


def _write_json(path: Path, record: dict) -> Path:
    return atomic_write(path, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))


def _check_lesson(lesson: str) -> Recipe:
    if lesson not in RECIPES:
        raise ValueError(f"no full profile for lesson {lesson!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[lesson]


def reproduce(lesson: str, smoke: bool = False, data: Path | None = None,
              checkpoints: Path | None = None, results: Path | None = None) -> Path:
    """Run ``lesson``'s recipe, write ``results/<lesson>.json`` (``<lesson>-smoke.json``), return its path."""
    recipe = _check_lesson(lesson)
    if not smoke and not torch.cuda.is_available():
        raise NoGPUError(no_gpu_message(lesson))
    work = Path(data or data_root())
    setup = Setup(smoke, work, Path(checkpoints or (work / "smoke" if smoke else checkpoint_root())))
    setup.checkpoints.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    scores = recipe.run(setup)
    record = {"lesson": lesson, "network": recipe.network, "dataset": recipe.dataset,
              "smoke": smoke, "paper": recipe.paper, "scores": scores, "hardware": _hardware(),
              "minutes": round((time.perf_counter() - start) / 60, 2),
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    return _write_json(Path(results or results_root()) / f"{lesson}{'-smoke' if smoke else ''}.json", record)


# --- The rehearsal: the full profile's path at full size, a kill and a resume, measured -------------------

@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` inside the block (``None``: leave it as it is)."""
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class _Tee(io.TextIOBase):
    """Writes to the real stdout and keeps a copy (to read fit's "Resumed from ..." line)."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _rehearsal_setup(work: Path, checkpoints: Path, rehearsal: Rehearsal, probe: StepProbe) -> Setup:
    return Setup(False, work, checkpoints, rehearsal, probe)


def _checkpoint_position(path: Path) -> dict:
    """Epoch and step a checkpoint holds, read without loading its tensors (``mmap``)."""
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {"epoch": int(state["epoch"]), "step": int(state["step"])}


def _child_argv(lesson: str, r: Rehearsal, work: Path, checkpoints: Path) -> list[str]:
    """The command that runs this rehearsal in a child process that waits, mid-epoch, for its SIGKILL."""
    argv = [sys.executable, "-m", "seglib.reproduce", lesson, "--rehearse", "--data", str(work),
            "--checkpoints", str(checkpoints), "--steps", str(r.steps), "--val", str(r.val),
            "--width", repr(r.width), "--images", f"{r.n_train},{r.n_val}",
            "--size", "x".join(map(str, r.size)), "--cell-size", "x".join(map(str, r.cell_size)),
            "--pause-at", str(r.kill_after)]
    argv += ["--batch", str(r.batch)] if r.batch else []
    return argv + (["--workers", str(r.workers)] if r.workers is not None else [])


def _kill_child(lesson: str, r: Rehearsal, work: Path, checkpoints: Path, timeout: float) -> dict:
    """Run the rehearsal in a child process; SIGKILL it when it reports that the first stage's checkpoint
    after ``kill_after`` steps is written (it is then at the start of the next step, mid-epoch)."""
    package = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(_child_argv(lesson, r, work, checkpoints), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env)
    guard = threading.Timer(timeout, child.kill)  # a child that never reaches its kill point is ended too
    guard.start()
    lines, killed_at = [], None
    try:
        for line in child.stdout:
            lines.append(line)
            print(f"  [child {child.pid}] {line}", end="", flush=True)
            if line.startswith(PAUSED):
                killed_at = time.perf_counter()
                os.kill(child.pid, signal.SIGKILL)
                break
        code = child.wait()
    finally:
        guard.cancel()
        child.stdout.close()
    if killed_at is None:
        raise RuntimeError(f"the rehearsal's child process ended (code {code}) before its kill point:\n"
                           + "".join(lines[-20:]))
    checkpoint = Path(lines[-1][len(PAUSED) + 2:].rsplit(" step ", 1)[0])
    return {"how": "SIGKILL to a child process", "returncode": code, "checkpoint": checkpoint}


def _simulated_kill(lesson: str, setup: Setup) -> dict:
    """The same kill in-process: the probe raises where the child would wait for its SIGKILL."""
    try:
        RECIPES[lesson].run(setup)
    except SimulatedKill as exc:
        checkpoint = Path(str(exc).split("; ", 1)[1].rsplit(" holds", 1)[0])
        return {"how": "simulated in-process (an exception at the kill point)", "returncode": None,
                "checkpoint": checkpoint}
    raise RuntimeError("the rehearsal finished without reaching its kill point")


def rehearse(lesson: str, rehearsal: Rehearsal = Rehearsal(), data: Path | None = None,
             checkpoints: Path | None = None, results: Path | None = None, kill: str = "sigkill",
             timeout: float = 3600.0) -> Path:
    """Rehearse ``lesson``'s full profile anywhere (a GPU is used if there is one): its recipe on generated
    data at the real sizes, random weights, ``rehearsal.steps`` steps per stage with loader workers,
    augmentation, AMP on CUDA, checkpoints; with ``rehearsal.kill_after``, first a run killed mid-epoch
    (``kill="sigkill"``: a child process; ``"simulate"``: in-process), then the run that resumes from its
    checkpoint and finishes; scoring; ``results/<lesson>-rehearsal.json`` with images per second (data
    loading included), the share of time waiting for data, peak memory and the kill-and-resume check."""
    recipe = _check_lesson(lesson)
    if kill not in ("sigkill", "simulate"):
        raise ValueError(f"kill must be 'sigkill' or 'simulate', got {kill!r}")
    work = Path(data or data_root() / "rehearsal")
    checkpoints = Path(checkpoints or work / "checkpoints" / lesson)
    checkpoints.mkdir(parents=True, exist_ok=True)
    for old in checkpoints.glob("reproduce-*.pt"):  # a rehearsal starts from nothing
        old.unlink()
    start, device = time.perf_counter(), pick_device()
    workers = (str(rehearsal.workers) if rehearsal.workers is not None
               else None if device.type == "cuda" else "2")  # on a GPU: fit's own number
    with _environment("SEGLIB_WORKERS", workers):
        workers_used = _train._workers(device)
        generate = time.perf_counter()
        (_u373 if lesson == "07" else _rehearsal_voc)(_rehearsal_setup(work, checkpoints, rehearsal, None))
        generate = time.perf_counter() - generate
        killed = None
        if rehearsal.kill_after is not None:
            killed = (_kill_child(lesson, replace(rehearsal, workers=int(workers_used)), work, checkpoints,
                                  timeout) if kill == "sigkill" else
                      _simulated_kill(lesson, _rehearsal_setup(work, checkpoints, rehearsal,
                                                               StepProbe(rehearsal.kill_after, "raise"))))
            killed["at_kill"] = _checkpoint_position(killed["checkpoint"])
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        probe, tee = StepProbe(), _Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            scores = recipe.run(_rehearsal_setup(work, checkpoints, rehearsal, probe))
    record = {"lesson": lesson, "network": recipe.network, "rehearsal": True,
              "dataset": f"generated at the real sizes, not {recipe.dataset}; random weights, not ImageNet's",
              "config": asdict(rehearsal), "device": str(device), "hardware": _hardware(),
              "amp": str(_train._autocast(device).fast_dtype).removeprefix("torch.") if device.type == "cuda"
              else None, "loader_workers": workers_used, "tree_seconds": round(generate, 1),
              **probe.totals(), **_peak_memory(device),
              "stages": [{k: v for k, v in s.items() if not k.startswith("_")} for s in probe.stages],
              "scores": scores}
    if killed is not None:
        record["kill_and_resume"] = _resume_check(killed, probe.stages[0], tee.copy.getvalue())
    record.update(minutes=round((time.perf_counter() - start) / 60, 2), torch=torch.__version__,
                  date=time.strftime("%Y-%m-%d"))
    return _write_json(Path(results or results_root()) / f"{lesson}-rehearsal.json", record)


def _peak_memory(device: torch.device) -> dict:
    """Peak memory of this process: CUDA's ``max_memory_allocated``, else the resident set size's peak."""
    if device.type == "cuda":
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2 ** 20),
                "peak_memory_kind": "torch.cuda.max_memory_allocated"}
    import resource
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"peak_memory_mb": round(peak_kb / 1024), "peak_memory_kind": "peak resident set size (ru_maxrss)"}


def _resume_check(killed: dict, first: dict, log: str) -> dict:
    """Did the run after the kill resume from the checkpoint and finish the epoch with the same steps?"""
    at_kill, after = killed["at_kill"], _checkpoint_position(killed["checkpoint"])
    prefix = f"Resumed from {killed['checkpoint']}"
    resumed_line = next((line for line in log.splitlines() if line.startswith(prefix)), None)
    total = at_kill["step"] + first["steps"]
    result = {"how": killed["how"], "child_returncode": killed["returncode"], "stage": first["stage"],
              "checkpoint_at_kill": at_kill, "resumed": resumed_line, "steps_after_resume": first["steps"],
              "steps_total": total, "steps_per_epoch": first["steps_per_epoch"], "checkpoint_at_end": after}
    result["ok"] = bool(resumed_line and f"step {at_kill['step']}/" in resumed_line and at_kill["epoch"] == 0
                        and total == first["steps_per_epoch"] and after == {"epoch": 1, "step": 0})
    return result


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
            RECIPES[args.lesson].run(_rehearsal_setup(work, Path(args.checkpoints), r,
                                                      StepProbe(r.kill_after)))
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
