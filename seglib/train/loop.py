"""The training loop every lesson uses: :func:`fit`.

One call trains a segmentation model with the recipe of the papers (SGD with momentum,
weight decay, the per-iteration "poly" learning rate, cross-entropy that skips the 255
"ignore" pixels), validates it after every epoch, and keeps a checkpoint that a Colab
disconnect cannot spoil. Re-running the same cell after a disconnect carries on from the
last saved step and ends with exactly the weights an unbroken run would have.

How an exact resume works:

- The batch order of epoch ``e`` comes from a generator seeded with ``(seed, e)``, so a
  resumed run can rebuild it and start at batch ``k`` without loading batches ``0..k-1``.
- The checkpoint stores the model, optimizer, scheduler and AMP scaler states, the
  running loss of the epoch, and every global random state (augmentation and dropout
  draw from them), so the remaining batches see the same random numbers.

Bit-identical resumes hold for ``num_workers=0``. With worker processes the batch order
is still the same, but each worker's augmentation stream restarts.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from seglib.constants import IGNORE_INDEX
from seglib.device import pick_device
from seglib.errors import DatasetError
from seglib.train.checkpoint import (CheckpointError, load_checkpoint, rng_state, save_checkpoint,
                                     seed_everything, set_rng_state)
from seglib.train.evaluate import autocast, autocast_dtype, evaluate, to_device
from seglib.train.history import History
from seglib.train.schedule import poly_lr_lambda

OptimizerSpec = str | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def fit(model: nn.Module, train_data: Dataset | DataLoader, val_data: Dataset | DataLoader | None = None, *,
        num_classes: int, epochs: int, lr: float = 1e-3, optimizer: OptimizerSpec = "sgd",
        momentum: float = 0.9, weight_decay: float = 5e-4, batch_size: int = 16, poly_power: float = 0.9,
        seed: int = 0, device: torch.device | str | None = None, amp: bool | None = None,
        channels_last: bool | None = None, checkpoint: str | Path | None = None,
        checkpoint_every: int = 50, resume: bool = True,
        class_weights: Sequence[float] | torch.Tensor | None = None, ignore_index: int = IGNORE_INDEX,
        progress: bool = True, num_workers: int = 0) -> History:
    """Train ``model`` on ``train_data`` for ``epochs`` epochs; return the :class:`History`.

    ``train_data``/``val_data`` are datasets of ``(image, mask)`` (batched here with
    ``batch_size``, shuffled in a seeded order) or ready DataLoaders. ``optimizer`` is
    ``"sgd"`` (momentum, weight decay), ``"adam"`` or a function ``params -> Optimizer``.
    The learning rate follows ``lr * (1 - step / total_steps) ** poly_power`` per iteration.
    On CUDA, mixed precision (``amp``) and ``channels_last`` are on unless set to False.

    With ``checkpoint`` (a file path; on Colab put it on Google Drive, see
    ``seglib.paths.checkpoint_root()``) the state is saved after every epoch and every
    ``checkpoint_every`` steps; with ``resume=True`` an existing checkpoint is picked up
    where it stopped.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    device = pick_device(device)
    amp = device.type == "cuda" if amp is None else amp
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    batches = _Batches(train_data, batch_size, seed, num_workers, pin_memory=device.type == "cuda")
    schedule = poly_lr_lambda(epochs * len(batches), poly_power)
    opt = make_optimizer(model, optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)
    trainer = _Trainer(
        model=model, optimizer=opt, scheduler=LambdaLR(opt, schedule),
        scaler=torch.amp.GradScaler(device.type, enabled=amp and autocast_dtype(device) == torch.float16),
        loss_fn=nn.CrossEntropyLoss(weight=_weights(class_weights, num_classes, device), ignore_index=ignore_index),
        device=device, amp=amp, channels_last=channels_last, num_classes=num_classes, ignore_index=ignore_index,
        config={"seed": seed, "batch_size": batch_size, "steps_per_epoch": len(batches), "num_classes": num_classes})
    if checkpoint is not None and resume and Path(checkpoint).expanduser().exists():
        trainer.load(load_checkpoint(checkpoint, map_location="cpu"), Path(checkpoint))
        print(f"Resumed from {checkpoint}: epoch {trainer.epoch + 1}/{epochs}, step {trainer.step}/{len(batches)}."
              if trainer.epoch < epochs else
              f"Resumed from {checkpoint}: all {trainer.epoch} epochs are already done "
              "(pass resume=False to train again).")
    else:
        seed_everything(seed)
    for epoch in range(trainer.epoch, epochs):
        seconds = _train_epoch(trainer, batches, epoch, epochs, checkpoint, checkpoint_every, progress)
        start = time.perf_counter()
        val = None if val_data is None else evaluate(
            model, val_data, num_classes, ignore_index=ignore_index, device=device, batch_size=batch_size,
            amp=amp, channels_last=channels_last, num_workers=num_workers)
        trainer.history.append(trainer.running_loss / trainer.step,
                               lr=trainer.scheduler.base_lrs[0] * schedule(epoch * len(batches)),  # at epoch start
                               seconds=seconds + time.perf_counter() - start, val=val)
        trainer.epoch, trainer.step = epoch + 1, 0
        if checkpoint is not None:
            save_checkpoint(checkpoint, trainer.state())
    return trainer.history


def make_optimizer(model: nn.Module, optimizer: OptimizerSpec, lr: float, momentum: float = 0.9,
                   weight_decay: float = 5e-4) -> torch.optim.Optimizer:
    """``"sgd"`` (the papers' choice), ``"adam"``, or your own ``params -> Optimizer`` function."""
    params = [p for p in model.parameters() if p.requires_grad]
    if callable(optimizer):
        return optimizer(params)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or a function params -> Optimizer, got {optimizer!r}")


@dataclass
class _Trainer:
    """Everything that changes while training, and how to save and restore it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: LambdaLR
    scaler: torch.amp.GradScaler
    loss_fn: nn.Module
    device: torch.device
    amp: bool
    channels_last: bool
    num_classes: int
    ignore_index: int
    config: dict
    history: History = field(default_factory=History)
    epoch: int = 0            # the epoch in progress (0-based)
    step: int = 0             # batches done in that epoch
    running_loss: float = 0.0  # sum of those batches' losses
    elapsed: float = 0.0      # seconds spent on that epoch so far
    epoch_rng: dict | None = None  # global RNG state when the epoch began

    def train_step(self, images: torch.Tensor, masks: torch.Tensor) -> float:
        """One forward/backward/update on a batch; returns the batch's loss.

        A batch whose pixels are all ``ignore_index`` (a random crop inside VOC's border,
        say) is skipped: its loss is undefined and would turn every weight into NaN.
        """
        _check_masks(masks, self.num_classes, self.ignore_index, f"epoch {self.epoch + 1}, batch {self.step + 1}")
        if not (masks != self.ignore_index).any():  # nothing labelled: the loss would be 0/0 = NaN
            self._next_lr()
            return 0.0
        images = to_device(images, self.device, self.channels_last)
        masks = masks.to(self.device, non_blocking=True).long()
        with autocast(self.device, self.amp):
            logits = self.model(images)
        _check_logits(logits, masks, self.num_classes)
        loss = self.loss_fn(logits.float(), masks)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._next_lr()
        return loss.item()

    def _next_lr(self) -> None:
        """Advance the poly schedule by one iteration, whether or not the weights moved."""
        with warnings.catch_warnings():  # a skipped update (empty batch, fp16 overflow) is intended
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            self.scheduler.step()

    def state(self) -> dict:
        """A ``weights_only``-safe snapshot: enough to continue exactly from here."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "epoch": self.epoch, "step": self.step, "running_loss": self.running_loss,
                "elapsed": self.elapsed, "rng": rng_state(), "epoch_rng": self.epoch_rng,
                "history": self.history.as_dict(), "config": dict(self.config)}

    def load(self, state: dict, path: Path) -> None:
        """Restore a :meth:`state` snapshot; refuse one written for other data or settings."""
        changed = {k: (state.get("config", {}).get(k), v) for k, v in self.config.items()
                   if state.get("config", {}).get(k) != v}
        if changed:
            detail = ", ".join(f"{k}: {old} then, {new} now" for k, (old, new) in changed.items())
            raise CheckpointError(f"checkpoint {path} was written with other settings ({detail}); "
                                  "pass resume=False or another checkpoint path to start afresh.")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path} does not fit this model/optimizer ({exc}); "
                                  "pass resume=False or another checkpoint path.") from exc
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.running_loss, self.elapsed = state["running_loss"], state["elapsed"]
        self.epoch_rng, self.history = state["epoch_rng"], History.from_dict(state["history"])
        set_rng_state(state["rng"])


def _train_epoch(trainer: _Trainer, batches: "_Batches", epoch: int, epochs: int,
                 checkpoint: str | Path | None, every: int, progress: bool) -> float:
    """Train one epoch (or its remainder after a resume); return the seconds it took in all."""
    trainer.model.train()
    start = time.perf_counter() - trainer.elapsed
    bar = tqdm(_epoch_batches(trainer, batches, epoch), total=len(batches), initial=trainer.step,
               desc=f"epoch {epoch + 1}/{epochs}", disable=not progress)
    for batch in bar:
        trainer.running_loss += trainer.train_step(batch[0], batch[1])
        trainer.step += 1
        bar.set_postfix(loss=f"{trainer.running_loss / trainer.step:.3f}", refresh=False)
        if checkpoint is not None and trainer.scheduler.last_epoch % every == 0 and trainer.step < len(batches):
            trainer.elapsed = time.perf_counter() - start
            save_checkpoint(checkpoint, trainer.state())
    bar.close()
    trainer.elapsed = 0.0
    return time.perf_counter() - start


def _epoch_batches(trainer: _Trainer, batches: "_Batches", epoch: int) -> Iterator:
    """This epoch's batches from where it stopped, with the global RNG exactly as it was there."""
    if trainer.step == 0:  # a fresh epoch
        trainer.running_loss, trainer.elapsed = 0.0, 0.0
        trainer.epoch_rng = rng_state()
        return batches.epoch(epoch)
    resume_rng = rng_state()  # restored from the checkpoint by _Trainer.load
    set_rng_state(trainer.epoch_rng)  # a DataLoader without a generator shuffles with the global RNG
    iterator = batches.epoch(epoch, skip=trainer.step)
    set_rng_state(resume_rng)
    return iterator


class _EpochOrder(Sampler[int]):
    """The dataset indices of one epoch, shuffled by a fixed seed, starting at position ``start``."""

    def __init__(self, size: int, seed: int, start: int = 0) -> None:
        self.size, self.seed, self.start = size, seed, start

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed))
        return iter(order[self.start:].tolist())

    def __len__(self) -> int:
        return max(0, self.size - self.start)


class _Batches:
    """The training batches of every epoch, in an order fixed by ``(seed, epoch)``.

    A dataset is batched here and resumes without loading the skipped batches. A ready
    DataLoader has its generator (if any) reseeded per epoch; skipped batches are loaded
    and dropped, which keeps its workers' random streams where they were.
    """

    def __init__(self, data: Dataset | DataLoader, batch_size: int, seed: int, num_workers: int,
                 pin_memory: bool = False) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.num_workers, self.pin_memory = num_workers, pin_memory
        size = len(data) if isinstance(data, DataLoader) else math.ceil(len(data) / batch_size)
        if size == 0:
            raise DatasetError("the training data is empty: no batch to train on")
        self.length = size

    def __len__(self) -> int:
        return self.length

    def epoch(self, epoch: int, skip: int = 0) -> Iterator:
        """An iterator over epoch ``epoch``'s batches, the first ``skip`` of them left out."""
        seed = self.seed * 10_000 + epoch
        if isinstance(self.data, DataLoader):
            if self.data.generator is not None:
                self.data.generator.manual_seed(seed)
            iterator = iter(self.data)
            for _ in range(skip):
                next(iterator)
            return iterator
        loader = DataLoader(self.data, batch_size=self.batch_size,
                            sampler=_EpochOrder(len(self.data), seed, start=skip * self.batch_size),
                            num_workers=self.num_workers, pin_memory=self.pin_memory,
                            generator=torch.Generator().manual_seed(seed))
        return iter(loader)


def _weights(class_weights: Sequence[float] | torch.Tensor | None, num_classes: int,
             device: torch.device) -> torch.Tensor | None:
    """Per-class loss weights as a float tensor on ``device`` (checked against ``num_classes``)."""
    if class_weights is None:
        return None
    weights = torch.as_tensor(class_weights, dtype=torch.float32)
    if weights.shape != (num_classes,):
        raise ValueError(f"class_weights must have one weight per class ({num_classes}), got shape {tuple(weights.shape)}")
    return weights.to(device)


def _check_masks(masks: torch.Tensor, num_classes: int, ignore_index: int, where: str) -> None:
    """Catch bad labels here, where the message can say which batch, not as a CUDA assert later."""
    if masks.dim() != 3 or masks.is_floating_point():
        raise DatasetError(f"{where}: masks must be integer class indices [N, H, W], "
                           f"got {masks.dtype} of shape {tuple(masks.shape)}")
    bad = (masks != ignore_index) & ((masks < 0) | (masks >= num_classes))
    if bad.any():
        items = bad.flatten(1).any(dim=1).nonzero().flatten().tolist()
        values = torch.unique(masks[bad]).tolist()
        raise DatasetError(f"{where}: items {items} have labels {values[:10]} outside [0, {num_classes}) "
                           f"that are not the ignore index {ignore_index}")


def _check_logits(logits: torch.Tensor, masks: torch.Tensor, num_classes: int) -> None:
    """The model must return ``[N, num_classes, H, W]`` logits at the mask's size."""
    if logits.dim() != 4 or logits.shape[1] != num_classes or logits.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"the model returned shape {tuple(logits.shape)}; expected logits "
                         f"[N, {num_classes}, {masks.shape[-2]}, {masks.shape[-1]}] for masks of shape "
                         f"{tuple(masks.shape)} (num_classes={num_classes}, output at the input's size)")
