"""What a network costs: multiply-adds and activation memory (counted, so they run on the ``meta`` device
without memory), and inference time. Built in notebooks/08_comparison.ipynb, section 2.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from seglib.core import model_mode


def multiply_adds(model: nn.Module, images: torch.Tensor) -> int:
    """Multiply-adds of one forward pass on ``images`` (convolutions and matrix products; FLOPs / 2),
    counted in evaluation mode. First used in notebooks/08_comparison.ipynb, section 2."""
    with model_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(images)
    return counter.get_total_flops() // 2


def activation_bytes(model: nn.Module, images: torch.Tensor) -> int:
    """Bytes of the tensors a training forward pass keeps for the backward pass (each storage once): what
    a step holds on top of weights, gradients and optimizer state, growing with image size and batch.
    First used in notebooks/08_comparison.ipynb, section 2."""
    seen: dict[int, int] = {}
    held: list[torch.Tensor] = []  # keeps ids unique while counting

    def keep(t: torch.Tensor) -> torch.Tensor:
        if not (t.is_leaf and t.requires_grad):  # weights are not activations
            held.append(t)
            key = id(t) if t.device.type == "meta" else t.untyped_storage().data_ptr()  # meta: no address
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        return t

    with model_mode(model, training=True), torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        model(images.requires_grad_(False))
    return sum(seen.values())


def seconds_per_image(model: nn.Module, images: torch.Tensor, repeats: int = 3) -> float:
    """Median wall time of one inference pass over ``images`` (in eval mode), divided by the batch size.
    First used in notebooks/08_comparison.ipynb, section 2."""
    times = []
    with model_mode(model), torch.inference_mode():
        model(images)  # warm-up: first calls pick algorithms and allocate
        for _ in range(repeats):
            start = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] / len(images)
