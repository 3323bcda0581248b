"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer and Darrell, CVPR 2015) on VGG16.

The network, part by part, named as in the authors' reference implementation:

- ``normalize``: ImageNet's mean and standard deviation, as VGG16's weights expect;
- ``backbone``: VGG16's conv layers, read after ``pool3`` (1/8 of the input size),
  ``pool4`` (1/16) and ``pool5`` (1/32);
- ``fc6`` (7x7 conv), ``fc7`` (1x1 conv): VGG's fully connected layers, convolutionalized;
- ``score_fr``: a 1x1 conv giving coarse class scores at 1/32;
- FCN-16s adds ``score_pool4`` (class scores from pool4) and ``upscore2`` (2x upsampling
  of the coarse scores), and sums them at 1/16;
- FCN-8s adds ``score_pool3`` and ``upscore_pool4`` (2x) and sums again at 1/8;
- ``upscore``: the last upsampling, 32x, 16x or 8x, back to the input size.

Score layers start at zero, so a freshly added skip changes nothing until it learns;
upsamplers start as bilinear interpolation. The 2x ones learn; the final one stays
fixed bilinear interpolation, as in the paper.

Any input size, and why the original padded by 100 pixels
    The reference implementation pads every image by 100 pixels and runs fc6 as a 7x7
    convolution *without* padding. Without that margin a small image would shrink to
    nothing: fc6 needs a 7x7 pool5 map, i.e. a 224x224 input. The margin (and the crop
    offsets that undo it) keeps every input size valid and the output aligned with the
    input, but the network then computes on (H + 200) x (W + 200) pixels: 17 times the
    work for a 64x64 image, twice for 500x500.

    Here fc6 is a 7x7 convolution with padding 3 ("same" size), and the input is padded
    at the bottom and right up to a multiple of 32. Then pool3, pool4 and pool5 are
    exactly 1/8, 1/16 and 1/32 of the padded input; cell ``i`` of each sits over the same
    pixels in all three; every upsampler (kernel 2f, stride f, padding f/2) is exactly
    f times and centred; and cropping the output back to H x W leaves it aligned with
    the input. Same weights, same alignment, any size (odd ones included), and no wasted
    margin: what a CPU needs. (Borders differ slightly: fc6 sees zero padding where the
    original saw the pad-100 margin's features.)

Memory: fitting full-size FCN-8s on a 16 GB GPU
    The weights are small (134 M parameters, about 0.5 GB; SGD with momentum doubles it);
    activations are what run out. Train with mixed precision (``torch.autocast`` with
    bfloat16 or float16 and a ``GradScaler``), on random crops of 320 to 512 pixels with
    a batch of 1 to 8, and ``model.to(memory_format=torch.channels_last)``; keep this
    file's no-pad-100 design (the 100-pixel margin nearly doubles a 500x500 image); and
    if you want the effect of a larger batch, accumulate gradients over several small
    batches before each optimiser step. Evaluation needs no gradients: use
    ``torch.inference_mode()``, a whole VOC image at a time fits easily.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG, VGG16_Weights
from torchvision.transforms import v2

from seglib.models.upsampling import bilinear_upsampler

from seglib.models.vgg import VGGBackbone, convolutionalize_linear, vgg16

VARIANTS: dict[str, int] = {"32s": 32, "16s": 16, "8s": 8}
"""FCN variant -> stride of its finest prediction (the factor of its last upsampling)."""

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""The statistics VGG16's ImageNet weights were trained with (RGB, images in [0, 1])."""


class FCN(nn.Module):
    """Fully convolutional network on VGG16: logits ``[N, num_classes, H, W]`` for any H, W.

    Images go in as the course's datasets give them, RGB in ``[0, 1]``; the first step,
    ``normalize``, subtracts ImageNet's mean and divides by its standard deviation, as the
    pretrained VGG16 expects (harmless when training from scratch, and one less thing to
    forget). ``variant`` is ``"32s"``, ``"16s"`` or ``"8s"``; ``width`` scales every VGG channel
    count (1.0 is the paper's network); ``weights`` loads ImageNet weights into the
    backbone and fc6/fc7 (``VGG16_Weights.IMAGENET1K_V1``, width 1 only).
    """

    def __init__(self, num_classes: int = 21, variant: str = "32s", width: float = 1.0,
                 weights: VGG16_Weights | None = None, vgg: VGG | None = None) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        self.num_classes, self.variant, self.width = num_classes, variant, width
        self.normalize = v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        vgg = vgg16(width, weights) if vgg is None else vgg
        self.backbone = VGGBackbone(vgg.features)
        channels = self.backbone.channels
        fc6, fc7 = vgg.classifier[0], vgg.classifier[3]
        k = round(math.sqrt(fc6.in_features / channels["pool5"]))  # 7 for ImageNet's 224 px inputs
        self.fc6 = convolutionalize_linear(fc6, channels["pool5"], k, padding=k // 2)
        self.relu6, self.drop6 = nn.ReLU(inplace=True), nn.Dropout(0.5)
        self.fc7 = convolutionalize_linear(fc7, fc7.in_features, 1)
        self.relu7, self.drop7 = nn.ReLU(inplace=True), nn.Dropout(0.5)
        self.score_fr = zero_conv1x1(fc7.out_features, num_classes)
        if variant in ("16s", "8s"):
            self.upscore2 = bilinear_upsampler(num_classes, 2)
            self.score_pool4 = zero_conv1x1(channels["pool4"], num_classes)
        if variant == "8s":
            self.upscore_pool4 = bilinear_upsampler(num_classes, 2)
            self.score_pool3 = zero_conv1x1(channels["pool3"], num_classes)
        self.upscore = bilinear_upsampler(num_classes, VARIANTS[variant], trainable=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        x = pad_to_multiple(self.normalize(x), 32)
        features = self.backbone(x)
        h = self.drop6(self.relu6(self.fc6(features["pool5"])))
        h = self.drop7(self.relu7(self.fc7(h)))
        score = self.score_fr(h)                                                   # 1/32
        if self.variant in ("16s", "8s"):
            score = self.upscore2(score) + self.score_pool4(features["pool4"])     # 1/16
        if self.variant == "8s":
            score = self.upscore_pool4(score) + self.score_pool3(features["pool3"])  # 1/8
        return self.upscore(score)[..., :height, :width]

    def init_from(self, coarser: FCN) -> FCN:
        """Copy every weight this net shares with ``coarser`` (the paper's staged training).

        FCN-16s starts from a trained FCN-32s, FCN-8s from a trained FCN-16s: backbone,
        fc6, fc7, score_fr (and score_pool4, upscore2 from a 16s) are copied, the new skip
        layers keep their zero start, so the finer net begins by predicting exactly what
        the coarser one did, up to the final upsampling. Returns ``self``.
        """
        if (coarser.num_classes, coarser.backbone.channels) != (self.num_classes, self.backbone.channels):
            raise ValueError(f"cannot initialise a {self.num_classes}-class, width-{self.width} FCN "
                             f"from a {coarser.num_classes}-class, width-{coarser.width} one")
        own = self.state_dict()
        shared = {name: value for name, value in coarser.state_dict().items()
                  if not name.startswith("upscore.") and name in own}
        self.load_state_dict(shared, strict=False)
        return self


def zero_conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 scoring convolution that starts at zero, as in the reference implementation."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of ``x`` so height and width are multiples of ``multiple``."""
    height, width = x.shape[-2:]
    return F.pad(x, (0, -width % multiple, 0, -height % multiple))


def fcn32s(num_classes: int = 21, width: float = 1.0, weights: VGG16_Weights | None = None) -> FCN:
    """FCN-32s: coarse scores from pool5, upsampled 32x."""
    return FCN(num_classes, "32s", width, weights)


def fcn16s(num_classes: int = 21, width: float = 1.0, weights: VGG16_Weights | None = None) -> FCN:
    """FCN-16s: FCN-32s plus a skip from pool4, upsampled 16x."""
    return FCN(num_classes, "16s", width, weights)


def fcn8s(num_classes: int = 21, width: float = 1.0, weights: VGG16_Weights | None = None) -> FCN:
    """FCN-8s: FCN-16s plus a skip from pool3, upsampled 8x."""
    return FCN(num_classes, "8s", width, weights)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters in ``model``; by default only those training can change.

    FCN's final upsampler is fixed bilinear interpolation, not learnt, so it is left out,
    as in the paper's count (134 M for FCN-32s).
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
