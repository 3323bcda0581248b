"""Checks and solutions for lesson 05 (ParseNet), section 7: L2Norm, the parameters global context
adds to FCN-32s, replication unpooling, and global max pooling measured against the average."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from seglib.exercises.core import CheckResult, cases, not_attempted, run_checks
from seglib.models.parsenet import L2Norm as SolutionL2Norm


def solution_context_overhead(channels: int, num_classes: int) -> int:
    """Early fusion on FCN-32s: the classifier reads ``channels`` more inputs (one weight per class
    each; the biases stay), and two L2Norms bring one scale per channel each."""
    return channels * num_classes + 2 * channels


CONTEXT_OVERHEAD_MISTAKES: dict[str, Callable] = {
    "the two L2Norm layers have learnable scales too: one per channel, for the local and the "
    "global features":
        lambda c, k: c * k,
    "only one L2Norm counted; the local and the global features are normalised separately":
        lambda c, k: c * k + c,
    "the classifier's biases are not new: FCN-32s's score_fr already has one per class":
        lambda c, k: c * k + k + 2 * c,
    "that is the whole fused classifier; FCN-32s already had the local half of it":
        lambda c, k: 2 * c * k + k + 2 * c,
}


def check_context_overhead(fn: Callable[[int, int], int]) -> CheckResult:
    """``fn(channels, num_classes)``: parameters ParseNet (early fusion, L2Norm on both) adds to FCN-32s."""
    return run_checks("context_overhead", fn, cases(solution_context_overhead, [
        ("VGG16's fc7 (4096 channels), PASCAL VOC's 21 classes", 4096, 21),
        ("the lesson's width-1/8 fc7 (512 channels), 3 classes", 512, 3),
        ("PASCAL-Context: 4096 channels, 60 classes", 4096, 60),
        ("a toy: 8 channels, 2 classes", 8, 2),
    ]), comparer=_compare_count, mistakes=CONTEXT_OVERHEAD_MISTAKES)


def _compare_count(got: object, expected: int) -> str | None:
    if isinstance(got, bool) or not isinstance(got, (int, float)) or got != int(got):
        return f"expected a whole number of parameters, got {got!r}"
    return None if int(got) == expected else f"expected {expected:,}, got {int(got):,}"


def solution_replicate(pooled: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Copy every cell of ``pooled`` ``[N, C, h, w]`` over its block of the ``size`` map: ``H / h`` rows
    and ``W / w`` columns each. For a global vector (``h = w = 1``) this is ``expand``."""
    (h, w), (height, width) = pooled.shape[-2:], size
    return pooled.repeat_interleave(height // h, dim=2).repeat_interleave(width // w, dim=3)


REPLICATE_MISTAKES: dict[str, Callable] = {
    "repeat tiles the whole grid side by side; replication copies each cell over its own block "
    "(repeat_interleave, or expand for a 1x1 grid)":
        lambda p, size: p.repeat(1, 1, size[0] // p.shape[-2], size[1] // p.shape[-1]),
    "interpolation blends neighbouring cells; replication unpooling copies each cell unchanged":
        lambda p, size: F.interpolate(p, size=tuple(size), mode="bilinear", align_corners=False),
    "the cell went to the top-left corner of its block only (as max-unpooling without switches "
    "would); replication fills the whole block":
        lambda p, size: F.max_unpool2d(p, _corner_indices(p, size), kernel_size=(size[0] // p.shape[-2],
                                       size[1] // p.shape[-1]), output_size=tuple(size)),
    "height and width are swapped":
        lambda p, size: p.repeat_interleave(size[1] // p.shape[-2], dim=2)
                         .repeat_interleave(size[0] // p.shape[-1], dim=3),
}


def _corner_indices(pooled: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flat indices of each block's top-left pixel in the ``size`` map (for the max-unpool mistake)."""
    (h, w), (height, width) = pooled.shape[-2:], size
    rows = torch.arange(h).view(h, 1) * (height // h)
    cols = torch.arange(w).view(1, w) * (width // w)
    return (rows * width + cols).expand_as(pooled).contiguous()


def check_replicate(fn: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]) -> CheckResult:
    """``fn(pooled, (H, W))``: each cell of ``pooled`` ``[N, C, h, w]`` copied over its H/h x W/w block."""
    g = torch.Generator().manual_seed(5)
    return run_checks("replicate", fn, cases(solution_replicate, [
        ("a global vector: 1x1 to 4x4 (ParseNet's case)", torch.randn(1, 3, 1, 1, generator=g), (4, 4)),
        ("a global vector to 3x7, two images", torch.randn(2, 5, 1, 1, generator=g), (3, 7)),
        ("a 2x2 grid to 4x6: blocks of 2x3", torch.randn(1, 2, 2, 2, generator=g), (4, 6)),
        ("a 3x1 grid to 6x5: blocks of 2x5", torch.randn(2, 1, 3, 1, generator=g), (6, 5)),
        ("to the same size: nothing to do", torch.randn(1, 2, 2, 3, generator=g), (2, 3)),
    ]), mistakes=REPLICATE_MISTAKES)


def _l2norm_problem(cls: type) -> str | None:
    """What is wrong with ``cls(channels, scale)`` as an L2Norm, or ``None``."""
    g = torch.Generator().manual_seed(0)
    for channels, scale, shape, why in [(4, 10.0, (2, 4, 3, 5), "4 channels, scale 10"),
                                        (16, 20.0, (1, 16, 6, 2), "16 channels, scale 20"),
                                        (3, 1.0, (3, 3, 1, 1), "a global vector [N, C, 1, 1], scale 1")]:
        module = cls(channels, scale)
        gammas = [p for p in module.parameters() if p.numel() == channels]
        if len(list(module.parameters())) != 1 or not gammas:
            return (f"{why}: expected exactly one learnable parameter with one scale per channel "
                    f"({channels} values), got shapes {[tuple(p.shape) for p in module.parameters()]}")
        if not torch.allclose(gammas[0].detach().flatten(), torch.full((channels,), scale)):
            start = gammas[0].detach().flatten().tolist()[:4]
            return f"{why}: the scales should start at {scale}, got {start}..."
        x = torch.randn(*shape, generator=g) * torch.rand(1, 1, *shape[2:], generator=g) * 50
        expected = SolutionL2Norm(channels, scale)(x)
        got = module(x)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return (f"{why}: expected an output of shape {tuple(expected.shape)}, "
                    f"got {getattr(got, 'shape', got)}")
        if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            norms = got.detach().norm(dim=1)
            return (f"{why}: values differ from y = gamma * x / ||x|| over channels at each position; "
                    f"your output's norm over channels ranges {norms.min():.3g}..{norms.max():.3g}, "
                    f"expected {scale:g} everywhere")
    x = torch.randn(1, 4, 2, 2, generator=g)
    x[..., 0, 0] = 0.0  # a position where every channel is zero (ReLU features often are)
    x.requires_grad_(True)
    module = cls(4, 10.0)
    module(x).sum().backward()
    if not torch.isfinite(x.grad).all():
        return ("an all-zero position gives NaN gradients: put eps inside the square root, "
                "sqrt(sum x^2 + eps), not after it")
    if next(module.parameters()).grad is None:
        return "no gradient reaches the scale: it must be an nn.Parameter used in forward"
    return None


def check_l2norm(cls: type) -> CheckResult:
    """``cls(channels, scale)`` must be an L2Norm: norm ``scale`` over channels at every position,
    one learnable scale per channel, finite gradients at all-zero positions."""
    name = "L2Norm"
    try:
        problem = _l2norm_problem(cls)
    except NotImplementedError:
        return not_attempted(name)
    except Exception as exc:
        return CheckResult(name, False, True, f"✗ {name}: raised {type(exc).__name__}: {exc}")
    if problem is not None:
        return CheckResult(name, False, True, f"✗ {name}: {problem}")
    return CheckResult(name, True, True, f"✓ {name}: all 4 cases pass.")


def solution_global_max(x: torch.Tensor) -> torch.Tensor:
    """The largest value of each channel over the whole image: ``[N, C, H, W]`` to ``[N, C, 1, 1]``."""
    return x.amax(dim=(2, 3), keepdim=True)


GLOBAL_MAX_MISTAKES: dict[str, Callable] = {
    "that is the global average, the pooling the tiny net already has":
        lambda x: x.mean(dim=(2, 3), keepdim=True),
    "the maximum is taken over the channels; take it over the positions (dims 2 and 3)":
        lambda x: x.amax(dim=1, keepdim=True),
    "keep the two spatial dimensions (keepdim=True): replicate expects [N, C, 1, 1]":
        lambda x: x.amax(dim=(2, 3)),
}


def check_global_max(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(x)``: each channel's maximum over all positions, ``[N, C, 1, 1]``."""
    g = torch.Generator().manual_seed(4)
    return run_checks("global_max", fn, cases(solution_global_max, [
        ("two images, 3 channels, 4x5", torch.randn(2, 3, 4, 5, generator=g)),
        ("one image, 8 channels, 1x7 (a single row)", torch.randn(1, 8, 1, 7, generator=g)),
        ("ReLU features: mostly zero, a few bright positions",
         torch.relu(torch.randn(1, 4, 6, 6, generator=g) - 2)),
    ]), mistakes=GLOBAL_MAX_MISTAKES)


def compare_pools(pool: Callable[[torch.Tensor], torch.Tensor], seeds: tuple[int, ...] = (0, 1, 2),
                  multiple: int = 1) -> dict[str, dict[int, dict[str, float]]]:
    """Lesson 05's tiny net trained as in section 5 with its global average and with ``pool`` instead,
    on seeds ``seeds``: ``{"average" | "yours": {seed: {"mIoU", "what", "follows"}}}``. About 4 s a run."""
    from seglib import context
    from seglib.models.pooled import PooledNet

    def yours() -> PooledNet:
        return PooledNet(context.NUM_CLASSES, context.TINY_WIDTHS, global_context=True, pool=pool)

    results: dict[str, dict[int, dict[str, float]]] = {"average": {}, "yours": {}}
    for seed in seeds:
        sets = context.data(seed)
        for row, make in (("average", None), ("yours", yours)):
            model = context.train("tiny net + global average", sets["train"], seed, multiple, make=make)
            results[row][seed] = context.scores(model, sets)
    return results
