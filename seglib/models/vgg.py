"""VGG16 at full or reduced width (same layers, every channel count scaled), cut into the
pool3/pool4/pool5 stages FCN reads, and convolutionalized (fc layers as convolutions, same
weights). Built in notebooks/04_fcn.ipynb, section 1."""
from __future__ import annotations

import contextlib
import copy
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG16_Weights
from torchvision.models.vgg import VGG, cfgs, make_layers

from seglib.synthetic import CLASSES


VGG16_CFG: list[int | str] = cfgs["D"]
"""torchvision's VGG16 layout: conv channel counts, with ``"M"`` for each 2x2 max-pool."""

HIDDEN: int = 4096
"""Width of VGG16's fully connected layers fc6 and fc7."""

POOL5_SIZE: int = 7
"""fc6 reads a 7x7 grid of pool5 features: the 224x224 ImageNet input divided by 32."""


def scaled(channels: int, width: float) -> int:
    """A channel count scaled by ``width``, at least 1."""
    return max(1, round(channels * width))


def scaled_cfg(width: float = 1.0) -> list[int | str]:
    """VGG16's layout with every conv channel count multiplied by ``width``."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return [v if v == "M" else scaled(v, width) for v in VGG16_CFG]


def vgg16(width: float = 1.0, weights: VGG16_Weights | None = None, num_classes: int = 1000,
          device: str | torch.device | None = None, batch_norm: bool = False,
          pool5_size: int = POOL5_SIZE) -> VGG:
    """torchvision's ``VGG`` with VGG16's layout and every channel count scaled by ``width``.

    At ``width=1`` it is the real VGG16 (same ``state_dict`` keys); ``weights`` (e.g.
    ``VGG16_Weights.IMAGENET1K_V1``) needs ``width=1`` and ``num_classes=1000``.
    ``device="meta"`` builds it without memory or random weights, in milliseconds: enough
    to print the layers and the shapes a ``meta`` input goes through. ``batch_norm`` puts a
    BatchNorm after every conv (torchvision's ``vgg16_bn`` layout); ``pool5_size`` is the pool5
    grid fc6 reads: 7 for 224 px inputs, 3 for the 96 px inputs of ``shapes_vgg16``.
    Built in notebooks/04_fcn.ipynb, section 1.
    """
    if weights is not None and (width != 1.0 or num_classes != 1000):
        raise ValueError("pretrained weights exist only for width=1.0 and num_classes=1000")
    cfg = scaled_cfg(width)
    meta = weights is not None or (device is not None and torch.device(device).type == "meta")
    with torch.device("meta"):  # VGG's constructor always builds a full-size classifier: on meta it is free
        model = VGG(nn.Sequential(), num_classes=num_classes, init_weights=False)
    with torch.device("meta") if meta else (torch.device(device) if device else contextlib.nullcontext()):
        model.features = make_layers(cfg, batch_norm=batch_norm)
        model.avgpool = nn.AdaptiveAvgPool2d(pool5_size)
        model.classifier = _classifier(cfg[-2] * pool5_size**2, scaled(HIDDEN, width), num_classes)
    if weights is not None:
        model.load_state_dict(weights.get_state_dict(progress=True, check_hash=True), assign=True)
        if device is not None:
            model.to(device)
    elif not meta:
        _init_like_torchvision(model)
    return model


def _classifier(in_features: int, hidden: int, num_classes: int, dropout: float = 0.5) -> nn.Sequential:
    """VGG's fc6, fc7, fc8 in torchvision's order, so the ``state_dict`` keys match."""
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )


def _init_like_torchvision(model: nn.Module) -> None:
    """torchvision's VGG initialisation: He-normal convs, N(0, 0.01) linears, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def convolutionalize_linear(linear: nn.Linear, in_channels: int, kernel_size: int,
                            padding: int = 0) -> nn.Conv2d:
    """The convolution that computes ``linear`` at every position of a feature map.

    ``linear`` reads a flattened ``[in_channels, kernel_size, kernel_size]`` block
    (``torch.flatten`` orders it channel, row, column), so its weight matrix
    ``[out, in_channels * k * k]`` reshapes into a conv kernel ``[out, in_channels, k, k]``
    without moving a single number. On a block of exactly ``k x k`` the two are equal;
    on a larger map the conv slides the same classifier across it.
    """
    if linear.in_features != in_channels * kernel_size**2:
        raise ValueError(f"a Linear with {linear.in_features} inputs cannot read "
                         f"{in_channels} x {kernel_size} x {kernel_size} blocks")
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size, padding=padding)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, in_channels, kernel_size, kernel_size))
        conv.bias.copy_(linear.bias)
    return conv


def pool5_grid(vgg: VGG) -> int:
    """Side of the pool5 grid that fc6 reads: 7 for ImageNet's 224 px inputs (224 / 32)."""
    size = vgg.avgpool.output_size
    return size if isinstance(size, int) else size[0]


def convolutionalize(vgg: VGG) -> nn.Sequential:
    """A fully convolutional copy of ``vgg``: fc6 -> 7x7 conv, fc7 and fc8 -> 1x1 convs.

    On a 224x224 image it returns the same class scores as ``vgg`` (as a 1x1 map); on a
    larger image it returns a map of scores, one for each 7x7 window of pool5 features,
    that is one every 32 pixels. ``vgg`` itself is left unchanged.
    (``vgg.avgpool`` is dropped: on a 224x224 input it does nothing, pool5 is already 7x7.)
    """
    fc6, fc7, fc8 = (m for m in vgg.classifier if isinstance(m, nn.Linear))
    k = pool5_grid(vgg)
    return nn.Sequential(OrderedDict(
        features=copy.deepcopy(vgg.features),
        fc6=convolutionalize_linear(fc6, fc6.in_features // k**2, k),
        relu6=nn.ReLU(inplace=True),
        drop6=nn.Dropout(vgg.classifier[2].p),
        fc7=convolutionalize_linear(fc7, fc7.in_features, 1),
        relu7=nn.ReLU(inplace=True),
        drop7=nn.Dropout(vgg.classifier[5].p),
        fc8=convolutionalize_linear(fc8, fc8.in_features, 1),
    ))


class VGGBackbone(nn.Module):
    """VGG's conv layers cut after pool3, pool4 and pool5, so FCN can read all three.

    ``forward`` returns ``{"pool3": ..., "pool4": ..., "pool5": ...}``: feature maps at
    1/8, 1/16 and 1/32 of the input size. ``channels`` holds their channel counts.
    """

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        pools = [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
        if len(pools) != 5:
            raise ValueError(f"expected VGG features with 5 max-pools, got {len(pools)}")
        self.pool3 = features[: pools[2] + 1]
        self.pool4 = features[pools[2] + 1: pools[3] + 1]
        self.pool5 = features[pools[3] + 1: pools[4] + 1]
        self.channels = {name: _out_channels(getattr(self, name)) for name in ("pool3", "pool4", "pool5")}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool3 = self.pool3(x)
        pool4 = self.pool4(pool3)
        pool5 = self.pool5(pool4)
        return {"pool3": pool3, "pool4": pool4, "pool5": pool5}


def _out_channels(stage: nn.Sequential) -> int:
    """Channel count of the last convolution in ``stage``."""
    return [m for m in stage if isinstance(m, nn.Conv2d)][-1].out_channels


SHAPES_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "vgg16bn_w8_shapes.pt"
SHAPES_CLASSES: tuple[str, ...] = CLASSES["shapes"][1:]
"""What ``shapes_vgg16`` names: the object classes of the ``"shapes"`` data, background left out."""


def shapes_vgg16() -> VGG:
    """The quick profile's stand-in for an ImageNet VGG16: 1/8 of the channels, batch norm,
    96 x 96 inputs (so fc6 reads 3 x 3 pool5 cells), trained to name the one shape in an image
    (``scripts/pretrain_shapes_vgg.py``; shipped with seglib, nothing is downloaded)."""
    if not SHAPES_WEIGHTS.is_file():
        raise FileNotFoundError(f"{SHAPES_WEIGHTS} is missing (an incomplete install?): reinstall seglib, "
                                "or train it again with scripts/pretrain_shapes_vgg.py")
    model = vgg16(1 / 8, num_classes=len(SHAPES_CLASSES), batch_norm=True, pool5_size=3)
    model.load_state_dict(torch.load(SHAPES_WEIGHTS, weights_only=True))
    return model
