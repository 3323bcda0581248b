"""ParseNet (Liu, Rabinovich and Berg, 2015): FCN plus global context (the features averaged over
the image, copied back to every position), both L2-normalised so their scales match.
Built in notebooks/05_parsenet.ipynb, sections 1-4.
"""
from __future__ import annotations

import torch
from torch import nn

from seglib.core import model_mode, validate_images
from seglib.models.fcn import FCN, zero_conv1x1
from seglib.models.upsampling import bilinear_upsampler


LAYERS: dict[str, int] = {"pool3": 8, "pool4": 16, "pool5": 32, "fc7": 32}
"""Layers ParseNet can read local features from -> their stride."""


class L2Norm(nn.Module):
    """``y_c = gamma_c * x_c / sqrt(sum_k x_k^2 + eps)`` at every position, ``gamma`` one (learnable)
    scale per channel starting at ``scale`` (the paper: 10 or 20 trains well, 1 hardly).
    Built in notebooks/05_parsenet.ipynb, section 3."""

    def __init__(self, channels: int, scale: float = 20.0, learn_scale: bool = True,
                 eps: float = 1e-10) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.full((channels,), float(scale)), requires_grad=learn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.gamma.numel():
            c = self.gamma.numel()
            raise ValueError(f"L2Norm({c}) expects features [N, {c}, H, W], got shape {tuple(x.shape)}")
        x = x * torch.rsqrt(x.pow(2).sum(dim=1, keepdim=True) + self.eps)
        return x * self.gamma.view(1, -1, 1, 1)


def global_average(x: torch.Tensor) -> torch.Tensor:
    """Global context: the mean of every channel over all positions, ``[N, C, 1, 1]``.
    Built in notebooks/05_parsenet.ipynb, section 2."""
    return x.mean(dim=(2, 3), keepdim=True)


def replicate(context: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Replication unpooling: the ``[N, C, 1, 1]`` vector at every position (a view, no copy).
    Built in notebooks/05_parsenet.ipynb, section 2."""
    if context.dim() != 4 or context.shape[-2:] != (1, 1):
        raise ValueError(f"replicate expects a global vector [N, C, 1, 1], got shape {tuple(context.shape)}")
    return context.expand(-1, -1, *size)


class ParseNet(FCN):
    """FCN-32s's layers plus global context from fc7, fused with the features of ``local`` (fc7 or a
    pool): ``"early"`` (concatenated, one classifier) or ``"late"`` (scores added); ``l2_norm``: L2Norm
    on both; ``context=False``: the same network without the global branch (the local map alone, the
ablation that shows what the context adds). Other arguments as ``FCN``.
    Built in notebooks/05_parsenet.ipynb, section 4.
    """

    def __init__(self, num_classes: int = 21, local: str = "fc7", fusion: str = "early",
                 l2_norm: bool = True, scale: float = 20.0, learn_scale: bool = True, context: bool = True,
                 **fcn_args) -> None:
        super().__init__(num_classes, "32s", **fcn_args)
        if local not in LAYERS or fusion not in ("early", "late"):
            raise ValueError(f"local must be one of {sorted(LAYERS)} and fusion 'early' or 'late', "
                             f"got local={local!r}, fusion={fusion!r}")
        self.local, self.fusion, self.context = local, fusion, context
        c_local = self.fc7.out_channels if local == "fc7" else self.backbone.channels[local]
        c_global = self.fc7.out_channels if context else 0
        del self.score_fr
        self.norm_local = L2Norm(c_local, scale, learn_scale) if l2_norm else nn.Identity()
        self.norm_global = L2Norm(c_global, scale, learn_scale) if l2_norm and context else nn.Identity()
        if fusion == "early" or not context:
            self.score = zero_conv1x1(c_local + c_global, num_classes)
        else:
            self.score_local = zero_conv1x1(c_local, num_classes)
            self.score_global = nn.Conv2d(c_global, num_classes, 1, bias=False)  # one bias is enough
            nn.init.zeros_(self.score_global.weight)
        self.upscore = bilinear_upsampler(num_classes, LAYERS[local], trainable=False)

    def scores(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class scores at the stride of ``local`` from the backbone's ``features`` (pool3/4/5)."""
        fc7 = self.fc7_map(features)
        local = self.norm_local(fc7 if self.local == "fc7" else features[self.local])
        if not self.context:
            return self.score(local)
        context = self.norm_global(global_average(fc7))
        if self.fusion == "early":
            return self.score(torch.cat([local, replicate(context, local.shape[-2:])], dim=1))
        return self.score_local(local) + self.score_global(context)  # [N, K, 1, 1] broadcasts


def empirical_receptive_field(model: nn.Module, images: torch.Tensor, point: tuple[int, int] | None = None,
                              ) -> torch.Tensor:
    """|d logit / d input| of one output pixel (the centre by default), summed over classes, colours
    and images: ``[H, W]``, where the network actually looks from that pixel.
    Built in notebooks/05_parsenet.ipynb, section 1."""
    validate_images(images, "empirical_receptive_field images", channels=3)
    h, w = images.shape[-2:]
    y, x = point if point is not None else (h // 2, w // 2)
    if not (0 <= y < h and 0 <= x < w):
        raise ValueError(f"point {(y, x)} lies outside the {h}x{w} image")
    images = images.detach().clone().requires_grad_(True)
    with model_mode(model):
        logits = model(images)
    (grad,) = torch.autograd.grad(logits[:, :, y, x].sum(), images)  # leaves the weights' .grad alone
    return grad.abs().sum(dim=(0, 1))


def theoretical_receptive_field(model: nn.Module) -> int:
    """Receptive field (px) of one output of ``model``'s convolutions and pools, in order: each kernel
    k adds (k - 1) times the product of the strides before it.
    Built in notebooks/05_parsenet.ipynb, section 1."""
    size, jump = 1, 1
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k, s, d = (v[0] if isinstance(v, tuple) else v for v in (m.kernel_size, m.stride, m.dilation))
            size += d * (k - 1) * jump
            jump *= s
    return size



