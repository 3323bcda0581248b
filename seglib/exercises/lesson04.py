"""Checks and solutions for lesson 04 (FCN), section 8: the score map's size, the reference FCN's
crop-then-add fusion, fixed 2x upsamplers, and FCN-4s (one more skip, from pool2)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seglib.exercises.core import CheckResult, cases, run_checks
from seglib.models.fcn import FCN, pad_to_multiple, zero_conv1x1
from seglib.models.upsampling import bilinear_upsampler
from seglib.models.vgg import vgg16


def solution_score_map_size(height: int, width: int) -> tuple[int, int]:
    """Five 2x2 max-pools divide by 32, rounding down; fc6's 7x7 window then removes 6.
    The solution under the exercise in notebooks/04_fcn.ipynb, section 8."""
    return height // 32 - 6, width // 32 - 6


def solution_crop_add(upsampled: torch.Tensor, skip: torch.Tensor, offset: int) -> torch.Tensor:
    """Cut a window of ``upsampled``'s size out of ``skip``, ``offset`` pixels in from the top left.
    The solution under the exercise in notebooks/04_fcn.ipynb, section 8."""
    h, w = upsampled.shape[-2:]
    return upsampled + skip[..., offset:offset + h, offset:offset + w]


def solution_freeze_upsamplers(model: nn.Module) -> None:
    """Stop training the 2x upsamplers (the released code's ``lr_mult: 0``).
    The solution under the exercise in notebooks/04_fcn.ipynb, section 8."""
    for name in ("upscore2", "upscore_pool4"):
        if hasattr(model, name):
            getattr(model, name).requires_grad_(False)


class SolutionFCN4s(FCN):
    """FCN-8s plus a skip from pool2 (1/4), fused like the others, and a final 4x upsampler.
    The solution under the exercise in notebooks/04_fcn.ipynb, section 8."""

    def __init__(self, num_classes: int, vgg: nn.Module) -> None:
        super().__init__(num_classes, "8s", vgg=vgg)
        pools = [i for i, m in enumerate(self.backbone.pool3) if isinstance(m, nn.MaxPool2d)]
        self.pool2 = self.backbone.pool3[:pools[1] + 1]
        channels = [m for m in self.pool2 if isinstance(m, nn.Conv2d)][-1].out_channels
        self.upscore_pool3 = bilinear_upsampler(num_classes, 2)
        self.score_pool2 = zero_conv1x1(channels, num_classes)
        self.upscore = bilinear_upsampler(num_classes, 4, trainable=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(self.normalize(x), 32)
        f = self.backbone(x)
        score = self.upscore2(self.coarse_scores(f)) + self.score_pool4(f["pool4"])
        score = self.upscore_pool4(score) + self.score_pool3(f["pool3"])
        score = self.upscore_pool3(score) + self.score_pool2(self.pool2(x))
        return self.upscore(score)[..., :h, :w]


SCORE_SIZE_MISTAKES: dict[str, Callable] = {
    "the pooling was rounded up; VGG's max-pools (torchvision, no ceil_mode) round down: "
    "use height // 32":
        lambda h, w: (-(-h // 32) - 6, -(-w // 32) - 6),
    "off by one: a 7x7 window fits n - 7 + 1 = n - 6 times into n cells, not n - 7":
        lambda h, w: (h // 32 - 7, w // 32 - 7),
    "fc6 is forgotten: pool5 is height // 32, but fc6's 7x7 window (no padding) then "
    "removes 6 cells":
        lambda h, w: (h // 32, w // 32),
    "the pooling was rounded to the nearest integer; max-pools round down":
        lambda h, w: (round(h / 32) - 6, round(w / 32) - 6),
    "height and width are swapped":
        lambda h, w: (w // 32 - 6, h // 32 - 6),
}

CROP_ADD_MISTAKES: dict[str, Callable] = {
    "the window was taken from the bottom right; Caffe's Crop counts offset from the top left":
        lambda up, skip, off: up + skip[..., skip.shape[-2] - up.shape[-2]:, skip.shape[-1] - up.shape[-1]:],
    "the offset was applied to the rows only; it applies to both rows and columns":
        lambda up, skip, off: up + skip[..., off:off + up.shape[-2], :up.shape[-1]],
    "the window was centred; the reference implementation crops at a fixed offset from the top left":
        lambda up, skip, off: up + skip[..., (skip.shape[-2] - up.shape[-2]) // 2:
                                        (skip.shape[-2] - up.shape[-2]) // 2 + up.shape[-2],
                                        (skip.shape[-1] - up.shape[-1]) // 2:
                                        (skip.shape[-1] - up.shape[-1]) // 2 + up.shape[-1]],
}


def _compare_size(got: object, expected: tuple[int, int]) -> str | None:
    """A pair of whole numbers: accept a tuple, list or torch.Size; say what is wrong otherwise."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected a pair (rows, columns) like {expected}, got {got!r}"
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) for v in got):
        return f"expected whole numbers {expected}, got {tuple(got)!r}"
    got = (int(got[0]), int(got[1]))
    return None if got == expected else f"expected {expected}, got {got}"


def check_score_map_size(fn: Callable[[int, int], tuple[int, int]]) -> CheckResult:
    """``fn(height, width)`` must give the ``(rows, columns)`` of the convolutionalized VGG16's scores.
    First used in notebooks/04_fcn.ipynb, section 8."""
    return run_checks("score_map_size", fn, cases(solution_score_map_size, [
        ("224x224: ImageNet's 224x224: one window", 224, 224),
        ("256x288: one extra 32-pixel step down, two across", 256, 288),
        ("500x375: a typical VOC photo", 500, 375),
        ("255x479: just below multiples of 32: pooling rounds down", 255, 479),
        ("240x464: halfway between multiples of 32", 240, 464),
    ]), comparer=_compare_size, mistakes=SCORE_SIZE_MISTAKES)


def check_crop_add(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """``fn(upsampled, skip, offset)`` must crop ``skip`` to ``upsampled``'s size at ``offset`` and add.
    First used in notebooks/04_fcn.ipynb, section 8."""
    g = torch.Generator().manual_seed(5)
    settings = [  # (upsampled shape, skip shape, offset, why)
        ((1, 1, 4, 4), (1, 1, 7, 7), 1, "a 4x4 map inside a 7x7 skip, offset 1"),
        ((1, 2, 5, 6), (1, 2, 12, 14), 2, "non-square, 2 channels, offset 2"),
        ((2, 3, 8, 8), (2, 3, 8, 8), 0, "same size: offset 0 is a plain sum"),
        ((1, 21, 34, 34), (1, 21, 46, 46), 5, "FCN-16s's fusion: score_pool4 cropped at offset 5"),
        ((1, 21, 70, 70), (1, 21, 90, 90), 9, "FCN-8s's fusion: score_pool3 cropped at offset 9"),
    ]
    return run_checks("crop_add", fn, cases(solution_crop_add, [
        (f"upsampled {up}, skip {skip}, offset {off}: {why}",
         torch.randn(*up, generator=g), torch.randn(*skip, generator=g), off)
        for up, skip, off, why in settings
    ]), mistakes=CROP_ADD_MISTAKES)


def _frozen_after(fn: Callable[[nn.Module], None], variant: str) -> tuple[str, ...]:
    """Names of the parameters that no longer require gradients after ``fn(FCN-<variant>)``."""
    torch.manual_seed(0)
    model = FCN(3, variant, vgg=vgg16(1 / 16))
    fn(model)
    return tuple(name for name, p in model.named_parameters() if not p.requires_grad)


def check_freeze_upsamplers(fn: Callable[[nn.Module], None]) -> CheckResult:
    """After ``fn(model)`` exactly the 2x upsamplers' parameters are frozen, for every variant.
    First used in notebooks/04_fcn.ipynb, section 8."""
    return run_checks("freeze_upsamplers", lambda v: _frozen_after(fn, v), cases(
        lambda v: _frozen_after(solution_freeze_upsamplers, v), [
            ("FCN-32s: it has no 2x upsampler: nothing changes", "32s"),
            ("FCN-16s: upscore2 only", "16s"), ("FCN-8s: upscore2 and upscore_pool4", "8s")]),
        comparer=_compare_names)


def _compare_names(got: tuple[str, ...], expected: tuple[str, ...]) -> str | None:
    if got == expected:
        return None
    extra, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
    return (f"frozen parameters should be {list(expected)}"
            + (f"; also frozen: {extra}" if extra else "")
            + (f"; still trainable: {missing}" if missing else ""))


def _fcn4s_outputs(cls: type, size: tuple[int, int], skip_weight: float) -> torch.Tensor:
    """Logits of ``cls(3, narrow VGG)`` on a fixed input, after ``init_from`` a random FCN-8s and
    (when ``skip_weight`` is nonzero) a constant pool2 score layer."""
    torch.manual_seed(0)
    fcn8 = FCN(3, "8s", vgg=vgg16(1 / 16)).eval()
    for name in ("score_fr", "score_pool4", "score_pool3"):
        nn.init.normal_(getattr(fcn8, name).weight, std=0.05)
    model = cls(3, vgg16(1 / 16)).init_from(fcn8).eval()
    with torch.no_grad():
        model.score_pool2.weight.fill_(skip_weight)
        return model(torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1)))


def check_fcn4s(cls: type) -> CheckResult:
    """``cls(num_classes, vgg)``: logits of the input's size, FCN-8s's sum at 1/8 upsampled 2x
    plus ``score_pool2``, then 4x; compared with the solution on two sizes.
    First used in notebooks/04_fcn.ipynb, section 8."""
    return run_checks("FCN4s", lambda *args: _fcn4s_outputs(cls, *args), cases(
        lambda *args: _fcn4s_outputs(SolutionFCN4s, *args), [
            ("input 64x64, score_pool2 at zero", (64, 64), 0.0),
            ("input 45x77, an awkward size, score_pool2 at zero", (45, 77), 0.0),
            ("input 45x77, score_pool2 switched on", (45, 77), 0.01)]), rtol=1e-4)
