"""DeconvNet (Noh, Hong and Han, ICCV 2015): VGG16 and its mirror image, joined by max-pool switches.

Encoder: VGG16 with batch norm, each 2x2 max-pool recording its switches. fc6 (k x k) squeezes pool5
to a 1x1 code, fc7 is 1x1, ``fc6_deconv`` (k x k) expands it back; the decoder mirrors VGG16 stage by
stage, each ``unpool`` putting values back where its pool found the maxima. BatchNorm + ReLU after every
conv and deconv. ``decoder="bilinear"`` upsamples instead of unpooling (the lesson's ablation);
``code=False`` drops fc6, fc7 and fc6-deconv (SegNet-like: pool5 goes straight to the decoder).
:class:`FCN2s` is the rival that carries "where" by skips of whole maps instead of switches.
Built in notebooks/06_deconvnet.ipynb, sections 2 and 3.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG
from torchvision.transforms import v2

from seglib.core import model_mode, validate_images
from seglib.models.fcn import FCN, IMAGENET_MEAN, IMAGENET_STD, pad_to_multiple, zero_conv1x1
from seglib.models.upsampling import bilinear_upsampler
from seglib.models.vgg import convolutionalize_linear, pool5_grid, vgg16


DECODERS: tuple[str, ...] = ("unpool", "bilinear")
"""``"unpool"``: max-unpooling with the encoder's switches (the paper); ``"bilinear"``: the ablation."""


def conv_bn_relu(conv: nn.Module) -> nn.Sequential:
    """``conv`` followed by BatchNorm and ReLU, as after every conv and deconv of DeconvNet.
    First used in notebooks/06_deconvnet.ipynb, section 2."""
    return nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU(inplace=True))


def unpool(x: torch.Tensor, indices: torch.Tensor, size: torch.Size | tuple[int, int],
           name: str = "unpool") -> torch.Tensor:
    """Max-unpool ``x`` with the switches ``indices`` of its 2x2 pool, back to ``size`` (the size before
    pooling, so odd sizes come back exactly): each value where its window's maximum was, 0 elsewhere.
    First used in notebooks/06_deconvnet.ipynb, section 2."""
    height, width = size[-2:]
    on_cpu = indices.device.type == "cpu"  # the range check would stall a GPU (and has no values on meta)
    if indices.shape != x.shape or (on_cpu and indices.numel() and int(indices.max()) >= height * width):
        raise ValueError(f"{name}: switches of shape {tuple(indices.shape)} cannot unpool a map of shape "
                         f"{tuple(x.shape)} to {height}x{width}: each unpooling needs the indices of its own "
                         "max-pool, in reverse order (unpool5 takes pool5's, ..., unpool1 takes pool1's)")
    return F.max_unpool2d(x, indices, kernel_size=2, stride=2, output_size=(height, width))


class DeconvNet(nn.Module):
    """Logits ``[N, num_classes, H, W]`` for images ``[N, 3, H, W]`` in ``[0, 1]``, H and W at least 32 k.

    ``width`` scales VGG16's channels (1.0: the paper's 252 M parameters with 21 classes); fc6's kernel
    k is the classifier's pool5 grid (7 in the paper). A trained VGG16-BN classifier as ``vgg`` gives the
    encoder, fc6, fc7 and k. ``decoder``: one of ``DECODERS``. ``code=False``: no fc6/fc7/fc6-deconv
    (SegNet-like).
    First used in notebooks/06_deconvnet.ipynb, section 2.
    """

    def __init__(self, num_classes: int = 21, width: float = 1.0, vgg: VGG | None = None,
                 decoder: str = "unpool", code: bool = True) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        vgg = vgg16(width, batch_norm=True) if vgg is None else vgg
        if not any(isinstance(m, nn.BatchNorm2d) for m in vgg.features):
            raise ValueError("DeconvNet's encoder is VGG16 with batch norm: vgg16(batch_norm=True), vgg16_bn")
        self.num_classes, self.decoder, self.code = num_classes, decoder, code
        self.pool5_grid = pool5_grid(vgg)  # k: fc6's kernel
        self.normalize = v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.encoder = nn.ModuleList(_split_at_pools(vgg.features))
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        convs = [[m for m in stage if isinstance(m, nn.Conv2d)] for stage in self.encoder]
        c5, k, hidden = convs[-1][-1].out_channels, self.pool5_grid, vgg.classifier[0].out_features
        if code:
            self.fc6 = conv_bn_relu(convolutionalize_linear(vgg.classifier[0], c5, k))  # k x k -> 1 x 1
            self.fc7 = conv_bn_relu(convolutionalize_linear(vgg.classifier[3], hidden, 1))
            self.fc6_deconv = conv_bn_relu(nn.ConvTranspose2d(hidden, c5, k))         # 1 x 1 -> k x k
        self.decoder_stages = nn.ModuleList(_mirror(stage) for stage in reversed(convs))  # stage 5 first
        self.score = nn.Conv2d(convs[0][0].out_channels, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps(x)["score"]

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The weights built from the classifier: the encoder, fc6 and fc7 (their batch norms included),
        pretrained if it was; fine-tuning trains them at a lower rate than the decoder. Built in
        notebooks/06_deconvnet.ipynb, section 3."""
        code = [*self.fc6.parameters(), *self.fc7.parameters()] if self.code else []  # SegNet-like: none
        return [*self.encoder.parameters(), *code]

    def maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate map by name: ``conv1``..``conv5`` (before pooling), ``pool1``..``pool5``,
        ``fc6``, ``fc7``, ``fc6_deconv`` (with the code), ``unpool5``..``unpool1``, ``deconv5``..``deconv1``,
        ``score``."""
        validate_images(x, "DeconvNet input", channels=3)
        k, (height, width) = self.pool5_grid, x.shape[-2:]
        if self.code and min(height, width) < 32 * k:
            raise ValueError(f"DeconvNet input is {height}x{width}, but fc6 is a {k}x{k} convolution on "
                             "pool5 "
                             f"(1/32 of the input): height and width must be at least 32 x {k} = {32 * k} px")
        if self.training and x.shape[0] == 1:
            raise ValueError("DeconvNet in training mode needs batches of 2 or more images: its BatchNorm "
                             "layers normalise with the batch's statistics, and at fc6 (a 1x1 map) a batch "
                             "of one has one value per channel, so every output becomes 0. The paper trained "
                             "with batches of 64; use model.eval() to predict one image with the running "
                             "statistics")
        out, h = {}, self.normalize(x)
        switches = []
        for s, stage in enumerate(self.encoder, start=1):
            out[f"conv{s}"] = h = stage(h)
            h, indices = self.pool(h)
            out[f"pool{s}"] = h
            switches.append((indices, out[f"conv{s}"].shape[-2:]))
        if self.code:
            out["fc6"] = h = self.fc6(h)
            out["fc7"] = h = self.fc7(h)
            out["fc6_deconv"] = h = self.fc6_deconv(h)
        stages = zip(range(5, 0, -1), self.decoder_stages, reversed(switches), strict=True)
        for s, stage, (indices, size) in stages:
            h = unpool(h, indices, size, f"unpool{s}") if self.decoder == "unpool" else \
                F.interpolate(h, size=tuple(size), mode="bilinear", align_corners=False)
            out[f"unpool{s}"] = h
            out[f"deconv{s}"] = h = stage(h)
        out["score"] = self.score(h)
        return out


def _mirror(convs: list[nn.Conv2d]) -> nn.Sequential:
    """One decoder stage: the encoder stage's convs in reverse, each (a -> b) as a 3x3 deconv (b -> a);
    the image's 3 channels are not mirrored (conv1_1, 3 -> 64, becomes deconv1_2, 64 -> 64)."""
    def deconv(c: nn.Conv2d) -> nn.ConvTranspose2d:
        return nn.ConvTranspose2d(c.out_channels, c.out_channels if c.in_channels == 3 else c.in_channels, 3,
                                  padding=1)
    return nn.Sequential(*[conv_bn_relu(deconv(c)) for c in reversed(convs)])


def _split_at_pools(features: nn.Sequential) -> list[nn.Sequential]:
    """VGG's conv layers as five stages, each up to (without) its 2x2 max-pool."""
    stages, current = [], []
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            current = []
        else:
            current.append(layer)
    if len(stages) != 5 or current:
        raise ValueError(f"expected VGG16 features with 5 max-pools ending in one, got {len(stages)}")
    return stages


class FCN2s(FCN):
    """FCN-8s plus two more skips, pool2 (1/4) and pool1 (1/2), each a zero-started 1x1 score layer added
    after a learnt 2x upsampling that starts bilinear; a fixed 2x bilinear upsampling ends it. The rival
    that brings "where" back with whole feature maps, where DeconvNet uses only switches (lesson 06,
    section 3; the bridge to lesson 07's crop-and-copy).
    First used in notebooks/06_deconvnet.ipynb, section 3."""

    def __init__(self, num_classes: int = 21, width: float = 1.0, vgg: VGG | None = None) -> None:
        super().__init__(num_classes, "8s", width, vgg=vgg)
        first = self.backbone.pool3
        pools = [i for i, layer in enumerate(first) if isinstance(layer, nn.MaxPool2d)]
        channels = [[m for m in first[:i] if isinstance(m, nn.Conv2d)][-1].out_channels for i in pools[:2]]
        self.cuts = pools[:2]
        self.upscore_pool3 = bilinear_upsampler(num_classes, 2)
        self.score_pool2 = zero_conv1x1(channels[1], num_classes)
        self.upscore_pool2 = bilinear_upsampler(num_classes, 2)
        self.score_pool1 = zero_conv1x1(channels[0], num_classes)
        self.upscore = bilinear_upsampler(num_classes, 2, trainable=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate_images(x, "FCN-2s input", channels=3)
        height, width = x.shape[-2:]
        h = pad_to_multiple(self.normalize(x), 32)
        early = {}
        for i, layer in enumerate(self.backbone.pool3):
            h = layer(h)
            if i in self.cuts:
                early[f"pool{self.cuts.index(i) + 1}"] = h
        pool4 = self.backbone.pool4(h)
        score = self.coarse_scores({"pool5": self.backbone.pool5(pool4)})                     # 1/32
        score = self.upscore2(score) + self.score_pool4(pool4)                               # 1/16
        score = self.upscore_pool4(score) + self.score_pool3(h)                              # 1/8
        score = self.upscore_pool3(score) + self.score_pool2(early["pool2"])                 # 1/4
        score = self.upscore_pool2(score) + self.score_pool1(early["pool1"])                 # 1/2
        return self.upscore(score)[..., :height, :width]


Box = tuple[int, int, int, int]
"""A proposal ``(top, left, bottom, right)`` in pixels, bottom and right exclusive."""


def oracle_proposals(instances: torch.Tensor, generator: torch.Generator, enlarge: float = 1.2,
                     jitter: float = 0.1, min_size: int = 16) -> list[Box]:
    """One box per labelled instance of ``instances`` ``[H, W]``: its bounding box enlarged ``enlarge`` x
    (the paper's object crops are 1.2 x), each side moved by up to ``jitter`` of the box's size, at least
    ``min_size`` px a side, kept inside the image. Drawn from the ground truth: *oracle* proposals, an
    upper bound on what EdgeBoxes would give (lesson 06, section 5).
    First used in notebooks/06_deconvnet.ipynb, section 5."""
    height, width = instances.shape[-2:]
    boxes = []
    for k in instances.unique().tolist():
        if k == 0:
            continue
        rows, cols = torch.nonzero(instances == k, as_tuple=True)
        centre = torch.tensor([(rows.min() + rows.max() + 1) / 2, (cols.min() + cols.max() + 1) / 2])
        half = torch.tensor([(rows.max() - rows.min() + 1).item(), (cols.max() - cols.min() + 1).item()])
        half = (half * enlarge).clamp(min=min_size) / 2
        shift = (torch.rand(4, generator=generator) * 2 - 1) * jitter * 2 * half.repeat(2)
        top, left = (centre - half + shift[:2]).round().int().tolist()
        bottom, right = (centre + half + shift[2:]).round().int().tolist()
        top, left = max(0, min(top, height - min_size)), max(0, min(left, width - min_size))
        bottom, right = min(height, max(bottom, top + min_size)), min(width, max(right, left + min_size))
        boxes.append((top, left, bottom, right))
    return boxes


def score_proposals(model: nn.Module, image: torch.Tensor, boxes: list[Box], size: int = 96
                    ) -> list[torch.Tensor]:
    """Class probabilities ``[C, b - t, r - le]`` for each box ``(t, le, b, r)`` of ``image`` ``[3, H, W]``:
    the box resized to ``size`` x ``size``, scored by ``model`` (in eval mode), resized back to the box.
    First used in notebooks/06_deconvnet.ipynb, section 5."""
    if not boxes:
        raise ValueError("merge_proposals: no boxes given (each image needs at least one proposal)")
    crops = torch.cat([F.interpolate(image[None, :, t:b, le:r], size=(size, size), mode="bilinear",
                                     align_corners=False) for t, le, b, r in boxes])
    with model_mode(model), torch.no_grad():
        probs = model(crops).softmax(1)
    return [F.interpolate(p[None], size=(b - t, r - le), mode="bilinear", align_corners=False)[0]
            for p, (t, le, b, r) in zip(probs, boxes, strict=True)]


def merge_proposals(model: nn.Module, image: torch.Tensor, boxes: list[Box], size: int = 96) -> torch.Tensor:
    """The paper's instance-wise inference: :func:`score_proposals` pasted back into place and merged by a
    pixel-wise maximum, ``[C, H, W]``; pixels no box covers keep 0 everywhere, so argmax reads them as
    class 0 (Noh et al., 2015, "Inference"). Built in notebooks/06_deconvnet.ipynb, section 5."""
    scored = score_proposals(model, image, boxes, size)
    merged = image.new_zeros(scored[0].shape[0], *image.shape[-2:])
    for back, (t, le, b, r) in zip(scored, boxes, strict=True):
        merged[:, t:b, le:r] = torch.maximum(merged[:, t:b, le:r], back)
    return merged


def instance_wise(model: nn.Module, images: torch.Tensor, instances: torch.Tensor, seed: int = 0,
                  size: int = 96) -> torch.Tensor:
    """Probabilities ``[N, C, H, W]`` of ``images`` by :func:`merge_proposals` on each image's
    :func:`oracle_proposals` (jittered ground-truth boxes, drawn from a generator seeded by ``seed``).
    Infrastructure for benchmarks/bench_deconvnet.py (not built in a lesson)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([merge_proposals(model, image, oracle_proposals(inst, generator), size)
                        for image, inst in zip(images, instances, strict=True)])
