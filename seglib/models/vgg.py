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


def _scaled(channels: int, width: float) -> int:
    """A channel count scaled by ``width``, at least 1."""
    return max(1, round(channels * width))


def _scaled_cfg(width: float = 1.0) -> list[int | str]:
    """VGG16's layout (torchvision's; ``"M"``: a max-pool) with every conv channel count times ``width``."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return [v if v == "M" else _scaled(v, width) for v in cfgs["D"]]


def vgg16(width: float = 1.0, weights: VGG16_Weights | None = None, num_classes: int = 1000,
          device: str | torch.device | None = None, batch_norm: bool = False, pool5_grid: int = 7) -> VGG:
    """torchvision's ``VGG`` (same ``state_dict`` keys) with VGG16's layout, every channel count scaled by
    ``width``. ``device="meta"`` builds it in milliseconds, without memory, to print shapes; ``pool5_grid``
    is the grid fc6 reads (7 for 224 px inputs). Built in notebooks/04_fcn.ipynb, section 1.
    """
    if weights is not None and (width != 1.0 or num_classes != 1000):
        raise ValueError("pretrained weights exist only for width=1.0 and num_classes=1000")
    cfg = _scaled_cfg(width)
    meta = weights is not None or (device is not None and torch.device(device).type == "meta")
    with torch.device("meta"):  # VGG's constructor always builds a full-size classifier: on meta it is free
        model = VGG(nn.Sequential(), num_classes=num_classes, init_weights=False)
    with torch.device("meta") if meta else (torch.device(device) if device else contextlib.nullcontext()):
        model.features = make_layers(cfg, batch_norm=batch_norm)
        model.avgpool = nn.AdaptiveAvgPool2d(pool5_grid)
        hidden = _scaled(4096, width)  # fc6, fc7 and fc8 in torchvision's order, so the keys match
        model.classifier = nn.Sequential(
            nn.Linear(cfg[-2] * pool5_grid**2, hidden), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(hidden, num_classes))
    if weights is not None:
        model.load_state_dict(weights.get_state_dict(progress=True, check_hash=True), assign=True)
        if device is not None:
            model.to(device)
    elif not meta:
        _init_like_torchvision(model)
    return model


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
    """The convolution that computes ``linear`` at every position of a feature map: its weight
    ``[out, in_channels * k * k]`` (channel, row, column order) is the kernel ``[out, in_channels, k, k]``.
    First used in notebooks/04_fcn.ipynb, section 2."""
    if linear.in_features != in_channels * kernel_size**2:
        raise ValueError(f"a Linear with {linear.in_features} inputs cannot read "
                         f"{in_channels} x {kernel_size} x {kernel_size} blocks")
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size, padding=padding)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, in_channels, kernel_size, kernel_size))
        conv.bias.copy_(linear.bias)
    return conv


def pool5_grid(vgg: VGG) -> int:
    """Side of the pool5 grid that fc6 reads: 7 for ImageNet's 224 px inputs (224 / 32).
    First used in notebooks/04_fcn.ipynb, section 1."""
    size = vgg.avgpool.output_size
    return size if isinstance(size, int) else size[0]


def convolutionalize(vgg: VGG) -> nn.Sequential:
    """A fully convolutional copy of ``vgg`` (fc6 a 7x7 conv, fc7 and fc8 1x1 convs; avgpool dropped): on
    224x224 the classifier's scores, on a larger image a map of them, one every 32 pixels.
    First used in notebooks/04_fcn.ipynb, section 1."""
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
    """VGG's conv layers cut after pool3, pool4 and pool5 (1/8, 1/16, 1/32): ``forward`` returns the three
    maps by name, ``channels`` their channel counts. First used in notebooks/04_fcn.ipynb, section 2."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        pools = [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
        if len(pools) != 5:
            raise ValueError(f"expected VGG features with 5 max-pools, got {len(pools)}")
        self.pool3 = features[: pools[2] + 1]
        self.pool4 = features[pools[2] + 1: pools[3] + 1]
        self.pool5 = features[pools[3] + 1: pools[4] + 1]
        self.channels = {name: [m for m in getattr(self, name) if isinstance(m, nn.Conv2d)][-1].out_channels
                         for name in ("pool3", "pool4", "pool5")}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool3 = self.pool3(x)
        pool4 = self.pool4(pool3)
        pool5 = self.pool5(pool4)
        return {"pool3": pool3, "pool4": pool4, "pool5": pool5}


SHAPES_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "vgg16bn_w8_shapes.pt"
PLAIN_SHAPES_WEIGHTS = SHAPES_WEIGHTS.with_name("vgg16_w8_shapes_plain.pt")
"""``scripts/pretrain_shapes_vgg.py --no-batch-norm --init glorot --lr 1e-4 --out`` this path."""
SHAPES_CLASSES: tuple[str, ...] = ("disc", "square", "triangle", "ring", "cross")
"""What ``shapes_vgg16``'s output ``k`` names, fixed by its shipped weights: the object classes of
``seglib.synthetic``'s ``"shapes"`` data, background left out (a test checks the two agree)."""


def shapes_vgg16(batch_norm: bool = True) -> VGG:
    """The quick profile's stand-in for an ImageNet VGG16 (1/8 width, batch norm, 96 px inputs), trained
    to name the one shape in an image by ``scripts/pretrain_shapes_vgg.py``; shipped, not downloaded.
    It read raw ``[0, 1]`` images; FCN and DeconvNet feed it ImageNet-normalised ones, a near-uniform
    per-channel scale and shift that the BatchNorm after conv1 removes in training mode.
    ``batch_norm=False``: the plain VGG16 trained the same way (Glorot start, 0.74 accuracy against
    0.99), whose layers' feature norms really differ (lesson 05, section 3).
    First used in notebooks/04_fcn.ipynb, section 1."""
    path = SHAPES_WEIGHTS if batch_norm else PLAIN_SHAPES_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (an incomplete install?): reinstall seglib, "
                                "or train it again with scripts/pretrain_shapes_vgg.py")
    model = vgg16(1 / 8, num_classes=len(SHAPES_CLASSES), batch_norm=batch_norm, pool5_grid=3)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model
