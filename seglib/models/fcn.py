"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer and Darrell, CVPR 2015) on VGG16, for any input size.

Layer names follow the authors' reference implementation. Instead of its 100-pixel padding, fc6
is padded to "same" size and the input to a multiple of 32, so every upsampler is exact and the
output, cropped back to H x W, stays aligned. Built in notebooks/04_fcn.ipynb, section 2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG, VGG16_Weights
from torchvision.transforms import v2

from seglib.core import validate_images
from seglib.models.upsampling import bilinear_upsampler
from seglib.models.vgg import VGGBackbone, convolutionalize_linear, pool5_grid, vgg16


STRIDES: dict[str, int] = {"32s": 32, "16s": 16, "8s": 8}
"""FCN variant -> stride of its finest prediction (the factor of its last upsampling)."""

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""The statistics VGG16's ImageNet weights were trained with (RGB, images in [0, 1])."""


class FCN(nn.Module):
    """Fully convolutional network on VGG16: RGB images in ``[0, 1]`` (normalised with ImageNet's
    statistics inside) to logits ``[N, num_classes, H, W]`` for any H, W. ``width`` scales VGG's
    channels; ``weights`` (ImageNet, width 1) or a ready classifier ``vgg`` (e.g. ``shapes_vgg16()``)
    gives the starting weights. Built in notebooks/04_fcn.ipynb, section 2.
    """

    def __init__(self, num_classes: int = 21, variant: str = "32s", width: float = 1.0,
                 weights: VGG16_Weights | None = None, vgg: VGG | None = None) -> None:
        super().__init__()
        if variant not in STRIDES:
            raise ValueError(f"variant must be one of {sorted(STRIDES)}, got {variant!r}")
        self.num_classes, self.variant, self.width = num_classes, variant, width
        self.normalize = v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        vgg = vgg16(width, weights) if vgg is None else vgg
        self.backbone = VGGBackbone(vgg.features)
        channels = self.backbone.channels
        fc6, fc7 = vgg.classifier[0], vgg.classifier[3]
        k = pool5_grid(vgg)
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
        self.upscore = bilinear_upsampler(num_classes, STRIDES[variant], trainable=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = f"FCN-{self.variant}" if type(self) is FCN else type(self).__name__  # ParseNet: own stride
        validate_images(x, f"{name} input", channels=3)
        height, width = x.shape[-2:]
        features = self.backbone(pad_to_multiple(self.normalize(x), 32))
        return self.upscore(self.scores(features))[..., :height, :width]

    def scores(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class scores at the variant's stride, before the last upsampling: the coarse scores at 1/32,
        then each skip's (pool4 at 1/16, pool3 at 1/8) added. ParseNet replaces this head."""
        score = self.coarse_scores(features)                                       # 1/32
        if self.variant in ("16s", "8s"):
            score = self.upscore2(score) + self.score_pool4(features["pool4"])     # 1/16
        if self.variant == "8s":
            score = self.upscore_pool4(score) + self.score_pool3(features["pool3"])  # 1/8
        return score

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The weights taken from the classifier (backbone, fc6, fc7; pretrained if it was), which fine-tuning
        trains at a lower rate than the new layers. Built in notebooks/06_deconvnet.ipynb, section 3."""
        return [*self.backbone.parameters(), *self.fc6.parameters(), *self.fc7.parameters()]

    def fc7_map(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """fc6 and fc7 (each with ReLU and dropout) on pool5: the classifier's last features, at 1/32."""
        return self.drop7(self.relu7(self.fc7(self.drop6(self.relu6(self.fc6(features["pool5"]))))))

    def coarse_scores(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class scores at 1/32 of the padded input: score_fr on fc7."""
        return self.score_fr(self.fc7_map(features))

    def init_from(self, coarser: FCN) -> FCN:
        """Copy every weight shared with ``coarser`` (the paper's staged training, 32s -> 16s -> 8s); the new
        skip layers keep their zero start, so the finer net begins where the coarser one ended."""
        if (coarser.num_classes, coarser.backbone.channels) != (self.num_classes, self.backbone.channels):
            raise ValueError(f"cannot initialise a {self.num_classes}-class FCN with backbone channels "
                             f"{self.backbone.channels} from a {coarser.num_classes}-class one with "
                             f"{coarser.backbone.channels}")
        own = self.state_dict()
        shared = {name: value for name, value in coarser.state_dict().items()
                  if not name.startswith("upscore.") and name in own}
        self.load_state_dict(shared, strict=False)
        return self


def zero_conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 scoring convolution that starts at zero, as in the reference implementation.
    First used in notebooks/04_fcn.ipynb, section 2."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of ``x`` so height and width are multiples of ``multiple``.
    First used in notebooks/04_fcn.ipynb, section 2."""
    height, width = x.shape[-2:]
    return F.pad(x, (0, -width % multiple, 0, -height % multiple))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters in ``model``; by default only those training can change (so FCN's fixed
    final upsampler is left out, as in the paper's 134 M for FCN-32s).
    First used in notebooks/04_fcn.ipynb, section 2."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
