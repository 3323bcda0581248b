"""Using a trained model: label maps for new images, and the FCN paper's metrics on a dataset."""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from seglib.constants import IGNORE_INDEX
from seglib.device import model_device
from seglib.metrics import ConfusionMatrix


def autocast_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the hardware supports it (no loss scaling needed), else float16 on old GPUs."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Mixed precision on ``device`` when ``enabled``; a no-op otherwise."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=autocast_dtype(device))


def to_device(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a batch ``[N, C, H, W]`` to ``device``, in channels-last memory order if asked."""
    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Switch the model to eval mode (BatchNorm statistics, no dropout) and back afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def predict(model: nn.Module, images: torch.Tensor | Sequence[torch.Tensor],
            device: torch.device | str | None = None, batch_size: int = 32) -> torch.Tensor:
    """Label maps for ``images``: ``[N, 3, H, W]`` gives ``[N, H, W]``; one ``[3, H, W]`` gives ``[H, W]``.

    The argmax over the model's logits, on the CPU, as int64. ``device=None`` keeps the
    model where it is.
    """
    single = isinstance(images, torch.Tensor) and images.dim() == 3
    batch = images.unsqueeze(0) if single else (images if isinstance(images, torch.Tensor) else torch.stack(list(images)))
    if batch.dim() != 4:
        raise ValueError(f"images must be [N, C, H, W] or [C, H, W], got shape {tuple(batch.shape)}")
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    use_amp = device.type == "cuda"
    labels = []
    with eval_mode(model):
        for chunk in batch.split(batch_size):
            with autocast(device, use_amp):
                labels.append(model(to_device(chunk, device, use_amp)).argmax(dim=1).cpu())
    out = torch.cat(labels)
    return out[0] if single else out


def evaluate(model: nn.Module, data: Dataset | DataLoader, num_classes: int, *,
             ignore_index: int = IGNORE_INDEX, device: torch.device | str | None = None,
             batch_size: int = 32, amp: bool | None = None, channels_last: bool | None = None,
             num_workers: int = 0, progress: bool = False) -> dict:
    """Score the model on ``data`` (a dataset of ``(image, mask)`` or a DataLoader of batches).

    Returns ``ConfusionMatrix.compute()`` (``pixel_accuracy``, ``mean_accuracy``,
    ``mean_iou``, ``fw_iou``, per-class ``iou`` and ``accuracy``) plus ``confusion``, the
    int64 ``[C, C]`` matrix on the CPU (rows: ground truth, columns: prediction).
    AMP and channels-last default to on for CUDA, off elsewhere.
    """
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    amp = device.type == "cuda" if amp is None else amp
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    loader = data if isinstance(data, DataLoader) else DataLoader(
        data, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=device)
    with eval_mode(model):
        for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
            images, masks = batch[0], batch[1]
            with autocast(device, amp):
                logits = model(to_device(images, device, channels_last))
            matrix.update(logits.float(), masks.to(device))
    metrics = matrix.compute()
    metrics["confusion"] = matrix.matrix.cpu()
    return metrics
