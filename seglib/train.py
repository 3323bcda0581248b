"""Training and using a segmentation model: ``fit`` (each epoch one ``train_one_epoch``), ``evaluate``,
``predict``, and checkpoints that resume.

Built in notebooks/00_introduction.ipynb, section 6 (the loop) and section 4 (checkpoints on Colab).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from seglib.core import (
    IGNORE_INDEX,
    CheckpointError,
    DatasetError,
    atomic_write,
    model_device,
    model_mode,
    pick_device,
    validate_images,
    validate_labels,
)
from seglib.metrics import ConfusionMatrix, segmentation_metrics


CHECKPOINT_EVERY_S: float = 300.0
"""Besides after every epoch, ``fit`` saves its checkpoint mid-epoch at most this often (seconds)."""


def _save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` with :func:`seglib.core.atomic_write`: a crash mid-write leaves the previous file."""
    return atomic_write(path, lambda f: torch.save(state, f))


def _load_checkpoint(path: str | Path, map_location: str | torch.device | None = None) -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``: tensors and plain containers only."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: it is truncated, corrupt or not a "
                              f"seglib checkpoint ({type(exc).__name__}). Delete it, or pass another "
                              "checkpoint path, to start again.") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return state


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA (bfloat16, or float16 on GPUs without it); a no-op elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def _memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on CUDA and CPU: faster convolutions (FCN trains in about 0.77x the time on a CPU)."""
    return torch.channels_last if device.type in ("cuda", "cpu") else torch.preserve_format


def _puts_model_back(fn: Callable) -> Callable:
    """Decorate ``fn(model, ...)``: whichever device it runs the model on (the GPU if there is one),
    the model ends where it started, so that ``model(images)`` works afterwards as before."""
    @functools.wraps(fn)
    def wrapper(model: nn.Module, *args, **kwargs):
        home = model_device(model, torch.device("cpu"))
        try:
            return fn(model, *args, **kwargs)
        finally:
            model.to(home)
    return wrapper


def _to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch ``[N, C, H, W]`` on ``device``, in :func:`_memory_format` order."""
    return images.to(device, non_blocking=True).contiguous(memory_format=_memory_format(device))


def _workers(device: torch.device) -> int:
    """Loader processes: ``$SEGLIB_WORKERS`` if set (a rehearsal of the GPU path on a CPU sets it), else none
    on the CPU (resumes stay exact), up to 4 beside a GPU."""
    if os.environ.get("SEGLIB_WORKERS"):
        return int(os.environ["SEGLIB_WORKERS"])
    return min(4, os.cpu_count() or 1) if device.type == "cuda" else 0


def _optimizer(model: nn.Module, optimizer: str | Callable, lr: float) -> torch.optim.Optimizer:
    """The optimizer of the parameters training may change (``requires_grad``), by name or from a function."""
    params = [p for p in model.parameters() if p.requires_grad]
    if callable(optimizer):
        return optimizer(params)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or a function params -> Optimizer, got {optimizer!r}")


SCHEDULES: tuple[str, ...] = ("poly", "constant")
"""``fit``'s learning-rate schedules: before global step ``t`` of ``T``, each parameter group's starting rate
times ``(1 - t / T) ** 0.9`` ("poly"), or times 1 ("constant")."""


def _scheduler(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int) -> LambdaLR:
    """``schedule`` on each parameter group's own starting rate, stepped once per batch (a ``LambdaLR``,
    as torchvision's reference trains segmentation models)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "poly":
        return LambdaLR(optimizer, lambda t: (1 - t / total_steps) ** 0.9)
    return LambdaLR(optimizer, lambda t: 1.0)


_HYPERPARAMETERS = ("lr", "momentum", "dampening", "nesterov", "betas", "eps", "weight_decay", "alpha",
                    "amsgrad")


def _describe(optimizer: str | Callable, opt: torch.optim.Optimizer) -> dict[str, str]:
    """What a resume must find unchanged about the optimizer: its name (a function's module and qualified
    name) and what it built (class, and each group's size and hyperparameters: two lambdas differ here)."""
    qualname = getattr(optimizer, "__qualname__", type(optimizer).__name__)
    name = optimizer if isinstance(optimizer, str) else f"{getattr(optimizer, '__module__', '?')}.{qualname}"
    groups = "; ".join(f"{len(g['params'])} tensors, " + ", ".join(f"{k} {g[k]}" for k in _HYPERPARAMETERS
                                                                       if k in g) for g in opt.param_groups)
    return {"optimizer": name, "optimizer_built": f"{type(opt).__name__} ({groups})"}


def train_one_epoch(model: nn.Module, batches: Iterable[tuple[Sequence[torch.Tensor], list[int]]],
                    optimizer: torch.optim.Optimizer, scheduler: LambdaLR, loss_fn: Callable, *,
                    device: torch.device, scaler: torch.amp.GradScaler,
                    after_step: Callable[[float | None], None]) -> float:
    """One pass over ``batches`` (each ``(images, masks, *extras)`` and its samples' indices): the loop of
    notebooks/00_introduction.ipynb, section 6 (forward, loss, ``zero_grad``, backward, ``step``), plus a
    check of each batch, mixed precision and the schedule's step. ``after_step(loss)`` gets each step's loss
    (None for a batch with no labelled pixel). Returns the rate of the last step."""
    model.train()
    rate = optimizer.param_groups[0]["lr"]
    for (images, masks, *extras), indices in batches:       # extras: e.g. U-Net's per-pixel weights
        validate_images(images, f"train_data[{indices[0]}]'s image (batched)")
        with _autocast(device):
            logits = model(_to_device(images, device))
        _check_batch(masks, logits, indices)
        loss = None
        if (masks != IGNORE_INDEX).any():  # an all-ignore crop has no loss (0/0): no step
            loss = loss_fn(logits.float(), masks.to(device).long(), *(e.to(device) for e in extras))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # loss.backward(), scaled against float16 underflow on a GPU
            scaler.step(optimizer)         # optimizer.step(), unless the scaled gradients overflowed
            scaler.update()
        rate = optimizer.param_groups[0]["lr"]
        with warnings.catch_warnings():    # torch warns if the first batch took no optimizer step
            warnings.simplefilter("ignore", UserWarning)
            scheduler.step()               # the rate of the next step
        after_step(None if loss is None else loss.item())
    return rate


@_puts_model_back
def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | DataLoader | None = None, *,
        epochs: int, lr: float, optimizer: str | Callable = "sgd", schedule: str = "poly",
        batch_size: int = 8, loss_fn: Callable | None = None, checkpoint: str | Path | None = None,
        seed: int = 0, progress: bool = True) -> dict:
    """Train ``model`` on ``(image, mask)`` pairs; return the history as a dict of per-epoch lists.

    ``optimizer``: ``"sgd"`` (momentum 0.9, weight decay 5e-4), ``"adam"`` (both at rate ``lr``) or a
    ``params -> Optimizer`` function (its own rates). ``schedule`` (one of ``SCHEDULES``, whatever the
    optimizer): ``"poly"`` multiplies each group's starting rate by ``(1 - step / steps) ** 0.9``,
    ``"constant"`` keeps it. ``loss_fn(logits, masks, *extras)`` (default: cross-entropy without the 255
    pixels) gets a sample's items after ``(image, mask)``, e.g. U-Net's weights. ``val_data``: a dataset
    or a DataLoader. ``checkpoint``: saved after every epoch (and every ``CHECKPOINT_EVERY_S`` s); if it
    exists, training resumes from it, exactly on a CPU. Trains on the GPU if there is one and leaves the
    model on the device it came on. Each epoch is one :func:`train_one_epoch`.
    First used in notebooks/00_introduction.ipynb, section 6.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if isinstance(train_data, DataLoader):
        raise TypeError("train_data must be a dataset of (image, mask) pairs, not a DataLoader: fit "
                        "batches it itself (pass batch_size=...), so that a resumed run is exact")
    if len(train_data) == 0:
        raise DatasetError(f"train_data is empty ({type(train_data).__name__} with 0 samples)")
    device = pick_device()  # cuda > mps > cpu; hide a GPU with CUDA_VISIBLE_DEVICES="" to train on the CPU
    model.to(device, memory_format=_memory_format(device))
    steps = -(-len(train_data) // batch_size)  # batches per epoch
    opt = _optimizer(model, optimizer, lr)
    settings = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
                "samples": len(train_data), **_describe(optimizer, opt), "schedule": schedule}
    scheduler = _scheduler(opt, schedule, epochs * steps)
    float16 = device.type == "cuda" and not torch.cuda.is_bf16_supported()  # bfloat16 needs no scaling
    scaler = torch.amp.GradScaler("cuda", enabled=float16)
    loss_fn = loss_fn or (lambda logits, masks: F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX))
    workers = _workers(device)
    state = {"epoch": 0, "step": 0, "running_loss": 0.0, "elapsed": 0.0, "history": {}}
    if checkpoint is not None:
        checkpoint = Path(checkpoint).expanduser()
        for leftover in checkpoint.parent.glob(f"{checkpoint.name}.tmp-*"):  # from a killed save
            leftover.unlink(missing_ok=True)
    if checkpoint is not None and checkpoint.exists():
        state = _resume(checkpoint, model, opt, scheduler, scaler, settings)
        print(f"Resumed from {checkpoint}: epoch {state['epoch'] + 1}/{epochs}, step {state['step']}/{steps}."
              if state["epoch"] < epochs else f"Resumed from {checkpoint}: all {epochs} epochs are "
              "already done (delete the checkpoint or pass another path to train again).")
    else:
        torch.manual_seed(seed)
    save = functools.partial(_save, checkpoint, model, opt, scheduler, scaler, settings, state)
    sampler: list[int] = []  # refilled every epoch: one loader and its workers serve the whole run
    loader = DataLoader(train_data, batch_size, sampler=sampler, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(seed))  # leaves the global RNG alone
    for epoch in range(state["epoch"], epochs):
        start, saved_at = time.perf_counter() - state["elapsed"], time.perf_counter()
        order = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        sampler[:] = order[state["step"] * batch_size:].tolist()  # this epoch's order, from where it stopped
        bar = tqdm(loader, f"epoch {epoch + 1}/{epochs}", steps, initial=state["step"], disable=not progress)

        def after_step(loss: float | None, bar=bar, start=start) -> None:
            """Count the step, show the mean loss, save mid-epoch when ``CHECKPOINT_EVERY_S`` has passed."""
            nonlocal saved_at
            state["step"] += 1
            state["running_loss"] += 0.0 if loss is None else loss
            bar.set_postfix(loss=f"{state['running_loss'] / state['step']:.3f}", refresh=False)
            if checkpoint is not None and time.perf_counter() - saved_at > CHECKPOINT_EVERY_S \
                    and state["step"] < steps:
                save(elapsed=time.perf_counter() - start)
                saved_at = time.perf_counter()

        indices = (chunk.tolist() for chunk in order.split(batch_size)[state["step"]:])
        rate = train_one_epoch(model, zip(bar, indices, strict=True), opt, scheduler, loss_fn, device=device,
                               scaler=scaler, after_step=after_step)
        row = {"train_loss": state["running_loss"] / steps, "lr": rate}
        if val_data is not None:
            scores = evaluate(model, val_data, batch_size=batch_size, device=device)
            row.update({f"val_{k}": v for k, v in scores.items() if isinstance(v, float)})
        row["seconds"] = time.perf_counter() - start
        for key, value in row.items():
            state["history"].setdefault(key, []).append(value)
        state.update(epoch=epoch + 1, step=0, running_loss=0.0, elapsed=0.0)
        if checkpoint is not None:
            save()
    return state["history"]


def _check_batch(masks: torch.Tensor, logits: torch.Tensor, indices: list[int]) -> None:
    """Logits at the masks' size, labels within the model's classes; errors name ``train_data[i]``."""
    if logits.dim() != 4 or logits.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"the model returned shape {tuple(logits.shape)} for masks {tuple(masks.shape)}; "
                         f"expected logits [N, num_classes, {masks.shape[-2]}, {masks.shape[-1]}]")
    for index, mask in zip(indices, masks, strict=True):
        validate_labels(mask, logits.shape[1], f"train_data[{index}]'s mask")


def _save(path: Path, model, opt, scheduler, scaler, settings: dict, state: dict, **changes) -> None:
    """Save the run, with ``state`` updated by ``changes`` (e.g. the time spent so far mid-epoch)."""
    state.update(changes)
    _save_checkpoint(path, {**state, "model": model.state_dict(), "optimizer": opt.state_dict(),
                           "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                           "settings": settings, "rng": torch.get_rng_state(),
                           "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []})


def _legacy_settings(before: dict, settings: dict) -> dict:
    """The settings of a checkpoint from before fit stored ``schedule`` as fit spells them now. That fit
    scheduled "sgd" alone ("poly", the same formula per step) and ran every other optimizer at its
    constant rate; it named an optimizer function by ``__name__`` and did not record what it built."""
    if not before or "schedule" in before:  # no settings at all: refused as before
        return before
    name, now = before.get("optimizer"), settings["optimizer"]
    legacy = {**before, "schedule": "poly" if name == "sgd" else "constant",
              "optimizer_built": before.get("optimizer_built", settings["optimizer_built"])}  # unrecorded
    if name not in ("sgd", "adam") and now.rsplit(".", 1)[-1] == name:  # a function: its __name__ then
        legacy["optimizer"] = now
    return legacy


def _seek(scheduler: LambdaLR, opt: torch.optim.Optimizer, t: int, path: Path) -> None:
    """Put ``scheduler`` (never stepped) at global step ``t``, each group at its rate for step ``t``, after
    checking that the loaded optimizer holds the rate this schedule gave step ``t - 1`` (what the old fit
    left there): a function named "sgd", say, ran at a constant rate and is refused, not resumed on poly."""
    last = [base * rate(max(t - 1, 0)) for base, rate in zip(scheduler.base_lrs, scheduler.lr_lambdas,
                                                              strict=True)]
    if not all(math.isclose(g["lr"], lr, rel_tol=1e-9) for g, lr in zip(opt.param_groups, last, strict=True)):
        raise CheckpointError(f"checkpoint {path} predates saved schedules and its rate "
                              f"{opt.param_groups[0]['lr']:g} at step {t} is not what this schedule gives "
                              f"({last[0]:g}): resume it with the schedule it ran on, or start afresh")
    rates = [base * rate(t) for base, rate in zip(scheduler.base_lrs, scheduler.lr_lambdas, strict=True)]
    for group, lr in zip(opt.param_groups, rates, strict=True):
        group["lr"] = lr
    scheduler.load_state_dict({**scheduler.state_dict(), "last_epoch": t, "_step_count": t + 1,
                               "_last_lr": rates})


def _resume(path: Path, model, opt, scheduler, scaler, settings: dict) -> dict:
    """Load ``path`` into model, optimizer, schedule and RNG; refuse it if any setting changed. A
    checkpoint from before the schedule was saved resumes at the rate that fit gave (``_legacy_settings``)."""
    saved = _load_checkpoint(path, map_location="cpu")
    before = _legacy_settings(saved.get("settings", {}), settings)
    changed = [f"{k}: {before.get(k)} then, {v} now" for k, v in settings.items() if before.get(k) != v]
    if changed:
        raise CheckpointError(f"checkpoint {path} was written with other settings ({'; '.join(changed)}): "
                              "use the same settings, or another checkpoint path to start afresh")
    try:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        if "scheduler" in saved:
            scheduler.load_state_dict(saved["scheduler"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit this model/optimizer ({exc}); "
                              "use another checkpoint path to start afresh") from exc
    if "scheduler" not in saved:  # saved before the schedule was: it is at the checkpoint's global step
        _seek(scheduler, opt, saved["epoch"] * -(-settings["samples"] // settings["batch_size"])
              + saved["step"], path)
    scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["rng"])
    if saved["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
    return {k: saved[k] for k in ("epoch", "step", "running_loss", "elapsed", "history")}


@_puts_model_back
def evaluate(model: nn.Module, data: Dataset | DataLoader, num_classes: int | None = None, *,
             batch_size: int = 8, device: str | torch.device | None = None, progress: bool = False) -> dict:
    """The FCN paper's metrics (``ConfusionMatrix.compute()`` and ``confusion``, on the CPU) of ``model`` on
    ``data``: ``(image, mask)`` pairs or a DataLoader of batches. ``num_classes`` defaults to the logits',
    ``device`` to the best one. First used in notebooks/00_introduction.ipynb, section 6."""
    device = pick_device(device)
    model.to(device)
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
    if len(loader) == 0:
        raise DatasetError(f"evaluate: the data is empty ({type(data).__name__} with 0 samples)")
    matrix = None
    with model_mode(model), torch.inference_mode():
        for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
            images, masks = batch[0], batch[1]
            validate_images(images, "evaluate: images")
            with _autocast(device):
                logits = model(_to_device(images, device)).float()
            matrix = matrix or ConfusionMatrix(num_classes or logits.shape[1], device=device)
            matrix.update(logits, masks.to(device))
    confusion = matrix.matrix.cpu()
    return {**segmentation_metrics(confusion), "confusion": confusion}


@_puts_model_back
def predict(model: nn.Module, images: torch.Tensor | Sequence[torch.Tensor],
            batch_size: int = 32) -> torch.Tensor:
    """Label maps (argmax of the logits, int64, on the CPU): ``[N, 3, H, W]`` gives ``[N, H, W]``,
    one ``[3, H, W]`` gives ``[H, W]``. Runs on the best device.
    For learners' own models (README, ``seglib.train``); no lesson or benchmark calls it."""
    single = isinstance(images, torch.Tensor) and images.dim() == 3
    batch = images.unsqueeze(0) if single else images
    batch = batch if isinstance(batch, torch.Tensor) else torch.stack(list(batch))
    validate_images(batch, "predict: images")
    device = pick_device()
    with model_mode(model.to(device)), torch.inference_mode(), _autocast(device):
        labels = torch.cat([model(_to_device(chunk, device)).argmax(dim=1).cpu()
                            for chunk in batch.split(batch_size)])
    return labels[0] if single else labels
