"""Lesson 00 exercises: read a mask like data (the classes present: multi-label classification for
free), and build a net whose receptive field reaches a whole object, then train and score it."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from seglib.core import IGNORE_INDEX
from seglib.exercises.core import Case, CheckResult, cases, compare, run_checks, tensor_answer
from seglib.models.local import LocalNet
from seglib.models.parsenet import empirical_receptive_field
from seglib.models.pooled import PooledNet
from seglib.synthetic import SyntheticConfig, make_sample


def solution_classes_present(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """bool ``[num_classes]``: ``True`` for each object class in ``mask``; background (0) and 255 never.
    First used in notebooks/00_introduction.ipynb, section 7."""
    present = torch.zeros(num_classes, dtype=torch.bool)
    present[mask[(mask != IGNORE_INDEX) & (mask != 0)].unique()] = True
    return present


def _present(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(mask.flatten(), minlength=num_classes) > 0


PRESENT_MISTAKES: dict[str, Callable] = {
    "background (class 0) is not an object: its entry is always False":
        lambda m, c: _present(m[m != IGNORE_INDEX], c)[:c],
    "one entry per class 0..num_classes-1; 255 is the ignore label, not a class":
        lambda m, c: _present(m, c).index_fill(0, torch.tensor([0]), False),
}

def _compare_present(got: Any, expected: torch.Tensor) -> str | None:
    """A bool (or 0/1) vector of length ``num_classes``; a list is fine too."""
    got = tensor_answer(got)
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and (
            got.is_floating_point() or not set(got.unique().tolist()) <= {0, 1}):
        return f"expected True/False values, got dtype {got.dtype} with values {got.unique().tolist()[:5]}"
    problem = compare(got, expected, rtol=0.0)
    if problem is None or not problem.startswith("values differ"):
        return problem
    c = int((got.bool() != expected).nonzero()[0])
    return f"class {c}: expected {bool(expected[c])}, got {bool(got[c])}"


def check_classes_present(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Run your ``classes_present`` on known masks and say what is wrong, if anything.
    First used in notebooks/00_introduction.ipynb, section 7."""
    shapes = make_sample(3, seed=0, config=SyntheticConfig(size=32))[1]
    shapes[0, :] = IGNORE_INDEX  # a VOC-like ignore strip
    return run_checks("classes_present", fn, cases(solution_classes_present, [
        ("classes 1 and 2 on background; class 3 absent", torch.tensor([[0, 1, 1], [2, 2, 0]]), 4),
        ("background only: no object class", torch.tensor([[0, 0], [0, 0]]), 3),
        ("255 is ignored, not a class", torch.tensor([[255, 2], [2, 255]]), 3),
        ("the last class, 5, is present", torch.tensor([[5, 5], [1, 255]]), 6),
        ("a 32x32 synthetic mask with a 255 strip on top", shapes, 6),
    ]), comparer=_compare_present, mistakes=PRESENT_MISTAKES)




# --- Exercise 2: a net that sees a whole object -------------------------------------------------

WIDE_FIELD, MAX_PARAMETERS = 36, 250_000
"""The largest objects of lesson 00's 48 px images are 36 px across (3/4 of the image); a net must stay
small enough to train in seconds on a CPU."""


def solution_wide_net(num_classes: int) -> nn.Module:
    """The lesson's pooled net (``seglib.models.pooled.PooledNet``): four conv blocks, three 2x pools,
    bilinear upsampling back to the input's size; 46 px receptive field, 61 k parameters.
    The solution under the exercise in notebooks/00_introduction.ipynb, section 7."""
    return PooledNet(num_classes)


def _field_extent(model: nn.Module, size: int = 96) -> int:
    """Rows spanned by the centre pixel's empirical receptive field on ``size`` px random images
    (``seglib.models.parsenet.empirical_receptive_field``, in eval mode)."""
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    rows = (empirical_receptive_field(model, images).sum(dim=1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1) if len(rows) else 0


def _probe(fn: Callable[[int], nn.Module]) -> Callable[[int, int, int], dict]:
    """What the check reads off ``fn(num_classes)``: the output's shape for an ``h x w`` input, its
    receptive field and its parameter count (a dict, so a known mistake is matched case by case)."""
    def probe(num_classes: int, h: int, w: int) -> dict:
        torch.manual_seed(0)
        model = fn(num_classes)
        if not isinstance(model, nn.Module):
            return {"type": type(model).__name__}
        model.eval()
        with torch.no_grad():
            shape = tuple(model(torch.rand(1, 3, h, w)).shape)
        field = _field_extent(model) if shape[-2:] == (h, w) else 0  # no centre pixel to probe otherwise
        return {"type": "Module", "shape": shape, "field": field,
                "parameters": sum(p.numel() for p in model.parameters())}
    return probe


def _compare_wide(got: dict, expected: dict) -> str | None:
    if got["type"] != "Module":
        return f"expected an nn.Module, got {got['type']}"
    if got["shape"] != expected["shape"]:
        return (f"expected logits of shape {expected['shape']} (one score per class per pixel, at the "
                f"input's size), got {got['shape']}")
    if got["field"] < WIDE_FIELD:
        return (f"the receptive field is {got['field']} px; it must reach {WIDE_FIELD} px to see the largest "
                f"objects whole: stack more 3x3 convolutions, dilate them, or pool and upsample back")
    if got["parameters"] > MAX_PARAMETERS:
        return f"{got['parameters']:,} parameters: keep it under {MAX_PARAMETERS:,} so it trains in seconds"
    return None


class _Unpadded(nn.Sequential):
    def __init__(self, num_classes: int) -> None:
        super().__init__(*[m for i in range(10) for m in (nn.Conv2d(3 if i == 0 else 16, 16, 3), nn.ReLU())],
                         nn.Conv2d(16, num_classes, 1))


class _NotUpsampled(PooledNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


WIDE_MISTAKES: dict[str, Callable] = {
    "that is the 5 x 5 local net: two 3x3 convolutions see 5 px, far less than an object":
        LocalNet,
    "the logits are at 1/8 of the input's size: upsample them back "
    "(F.interpolate(..., size=x.shape[-2:], mode='bilinear'))":
        _NotUpsampled,
    "every unpadded 3x3 convolution trims 2 px: give each padding=1 so the logits keep the input's size":
        _Unpadded,
}


def check_wide_net(fn: Callable[[int], nn.Module]) -> CheckResult:
    """Build ``fn(num_classes)`` and check it: logits at the input's size for any input size, a
    receptive field of at least ``WIDE_FIELD`` px, at most ``MAX_PARAMETERS`` parameters.
    First used in notebooks/00_introduction.ipynb, section 7."""
    settings = [("6 classes, a 48x48 image", 6, 48, 48), ("6 classes, a 40x56 image", 6, 40, 56),
                ("3 classes, a 64x64 image", 3, 64, 64)]
    return run_checks("wide_net", _probe(fn),
                      [Case(why, (c, h, w), {"shape": (1, c, h, w)}) for why, c, h, w in settings],
                      comparer=_compare_wide,
                      mistakes={hint: _probe(wrong) for hint, wrong in WIDE_MISTAKES.items()})
