"""U-Net (Ronneberger, Fischer and Brox, MICCAI 2015): the paper's network (``channels=64, depth=4``:
572 x 572 in, 388 x 388 out; ``padding="same"`` for the padded variant), its size rule,
overlap-tile prediction and the border weight map that separates touching cells.
Built in notebooks/07_unet.ipynb, sections 1-4.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from seglib.core import IGNORE_INDEX, validate_images, validate_instances


def double_conv(c_in: int, c_out: int, pad: int) -> nn.Sequential:
    """Two 3x3 convolutions + ReLU: ``pad=0`` (the paper) removes 2 pixels per side in all.
    First used in notebooks/07_unet.ipynb, section 2."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=pad), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=pad), nn.ReLU(inplace=True))


def center_crop(skip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre ``size`` window of ``skip`` (crop-and-copy): ``(big - small) // 2`` off each start.
    First used in notebooks/07_unet.ipynb, section 2."""
    if skip.shape[-2] < size[0] or skip.shape[-1] < size[1]:
        raise ValueError(f"center_crop: cannot take a {size[0]}x{size[1]} window from a map of shape "
                         f"{tuple(skip.shape)}")
    top, left = (skip.shape[-2] - size[0]) // 2, (skip.shape[-1] - size[1]) // 2
    return skip[..., top:top + size[0], left:left + size[1]]


def output_size(n: int, depth: int = 4) -> int | None:
    """Output side for input side ``n`` of the unpadded U-Net, or None if ``n`` is not valid: each level
    takes 4 pixels off (two 3x3 convolutions), every pool needs an even size, every up-convolution doubles.
    Valid: ``n = 2**depth * b + 4 * (2**(depth+1) - 1)``, ``b`` the deepest map's side, at least
    :func:`_smallest_bottom`; the output side is then ``2**depth * (b - 4) + 4``.
    First used in notebooks/07_unet.ipynb, section 2."""
    for _ in range(depth):
        n -= 4
        if n < 2 or n % 2:
            return None
        n //= 2
    n -= 4
    for _ in range(depth):
        n = 2 * n - 4
        if n < 1:
            return None
    return n


def _smallest_bottom(depth: int = 4) -> int:
    """The smallest side ``b`` of the deepest map: 4 (3 at depth 1), since the way up takes 4 pixels off
    after each doubling (``b -> 2 b - 4``) and must keep at least one. At depth 3 the smallest input is 92,
    at depth 4 188."""
    b = 1
    while 2 ** depth * (b - 4) + 4 < 1:
        b += 1
    return b


def valid_sizes(count: int = 8, depth: int = 4, start: int = 1) -> list[int]:
    """The first ``count`` valid input sides >= ``start``: ``2**depth * b + 4 * (2**(depth+1) - 1)``.
    First used in notebooks/07_unet.ipynb, section 2."""
    sizes, n = [], start
    while len(sizes) < count:
        if output_size(n, depth) is not None:
            sizes.append(n)
        n += 1
    return sizes


def _validate_size(n: int, depth: int = 4) -> None:
    """Raise ``ValueError`` naming the nearest valid sizes unless ``n`` is a valid input side."""
    if output_size(n, depth) is not None:
        return
    step, smaller = 2 ** depth, [s for s in valid_sizes(1 + n // 2 ** depth, depth) if s < n]
    larger = valid_sizes(1, depth, start=n)[0]
    near = f"{smaller[-1]} or {larger}" if smaller else f"{larger} (the smallest)"
    raise ValueError(f"U-Net (unpadded, depth {depth}): input side {n} is not valid; every map entering a "
                     f"2x2 max-pool must have an even side and the output at least one pixel, so valid "
                     f"sides are {step}*b + {4 * (2 ** (depth + 1) - 1)} for b >= {_smallest_bottom(depth)}. "
                     f"Nearest valid sizes: {near} (or mirror-pad and use predict_tiles)")


class UNet(nn.Module):
    """Logits ``[N, num_classes, h, w]``; ``h = H - margin`` unpadded, ``h = H`` with ``padding="same"``.

    ``channels``: channels of the first level (64 in the paper), doubled at each of ``depth``
    levels. ``dropout``: rate of the dropout on the deepest map (the end of the contracting path).
    First used in notebooks/07_unet.ipynb, section 2.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, channels: int = 64, depth: int = 4,
                 padding: str = "valid", dropout: float = 0.5) -> None:
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' (the paper) or 'same', got {padding!r}")
        self.depth, self.padding, pad = depth, padding, int(padding == "same")
        chans = [channels * 2 ** i for i in range(depth + 1)]
        ins = [in_channels] + chans[:-1]
        self.down = nn.ModuleList(double_conv(c_in, c, pad) for c_in, c in zip(ins, chans, strict=True))
        self.dropout = nn.Dropout(dropout)
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in chans[:0:-1])
        self.up_convs = nn.ModuleList(double_conv(c, c // 2, pad) for c in chans[:0:-1])
        self.head = nn.Conv2d(channels, num_classes, 1)
        for m in self.modules():  # He et al. (2015): std sqrt(2 / N), N = inputs of one output unit
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight[:, 0].numel()
                nn.init.normal_(m.weight, std=(2 / fan_in) ** 0.5)
                nn.init.zeros_(m.bias)

    @property
    def margin(self) -> int:
        """Input minus output side: 184 at depth 4 unpadded (572 -> 388), 0 padded."""
        return 0 if self.padding == "same" else 12 * 2 ** self.depth - 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = self.down[0][0].in_channels
        validate_images(x, f"U-Net ({self.padding}, depth {self.depth}) input", channels=channels)
        h, w = x.shape[-2:]
        for n in (h, w):
            if self.padding == "valid":
                _validate_size(n, self.depth)
            elif n % 2 ** self.depth:
                raise ValueError(f"U-Net (padded): input sides must be multiples of {2 ** self.depth}, "
                                 f"got {h}x{w}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.dropout(skips.pop())
        for up, convs in zip(self.up, self.up_convs, strict=True):
            x = up(x)
            x = convs(torch.cat([center_crop(skips.pop(), x.shape[-2:]), x], dim=1))
        return self.head(x)


def mirror_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Extend ``[..., H, W]`` by reflecting it at its borders, as often as needed (any pad width).
    First used in notebooks/07_unet.ipynb, section 3."""
    def index(n: int, before: int, after: int) -> torch.Tensor:
        i = torch.arange(-before, n + after).abs() % (2 * n - 2) if n > 1 else torch.zeros(n + before + after)
        return torch.where(i >= n, 2 * n - 2 - i, i).long()
    return x[..., index(x.shape[-2], top, bottom), :][..., index(x.shape[-1], left, right)]


def predict_tiles(model: UNet, image: torch.Tensor, tile: int, pad: str = "mirror") -> torch.Tensor:
    """Logits ``[N, C, H, W]`` for images ``[N, C_in, H, W]`` of any size, tile by tile (overlap-tile),
    the missing context mirrored (or zeros). Tiles step by a multiple of ``2**depth``, so tiled and whole
    predictions agree exactly. Eval mode first (dropout); logits come back on the images' device.
    First used in notebooks/07_unet.ipynb, section 3.
    """
    if model.padding != "valid" or pad not in ("mirror", "zeros"):
        raise ValueError(f"predict_tiles needs an unpadded U-Net and pad 'mirror' or 'zeros'; got a "
                         f"{model.padding!r} U-Net and pad={pad!r}")
    validate_images(image, "predict_tiles: images", channels=model.down[0][0].in_channels)
    _validate_size(tile, model.depth)
    out, m, grid = output_size(tile, model.depth), model.margin // 2, 2 ** model.depth
    if out < grid:
        smallest = valid_sizes(1, model.depth, start=tile + 1)[0]
        bigger = output_size(smallest, model.depth)
        raise ValueError(f"predict_tiles: tile {tile} gives {out} x {out} outputs, fewer than the {grid} "
                         f"pixels tiles must step by to stay on the pooling grid (depth {model.depth}); use "
                         f"a tile of at least {smallest} ({bigger} x {bigger} outputs)")
    device = next(model.parameters()).device
    step = out - out % grid
    h, w = image.shape[-2:]
    rows, cols = (max(1, -(-(n - out) // step) + 1) for n in (h, w))
    big_h, big_w = (rows - 1) * step + out, (cols - 1) * step + out
    pads = (m, m + big_h - h, m, m + big_w - w)
    x = mirror_pad(image, *pads) if pad == "mirror" else F.pad(image, (pads[2], pads[3], pads[0], pads[1]))
    logits = image.new_zeros(image.shape[0], model.head.out_channels, big_h, big_w)
    for r in range(rows):
        for c in range(cols):
            y0, x0 = r * step, c * step
            window = x[..., y0:y0 + tile, x0:x0 + tile].to(device)
            logits[..., y0:y0 + out, x0:x0 + out] = model(window).to(logits.device, logits.dtype)
    return logits[..., :h, :w]


def weight_map(instances: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """U-Net's weights ``w_c + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` for an instance map ``[H, W]``:
    ``w_c = N / (2 N_class)`` balances the classes; ``d1``, ``d2`` are the distances to the nearest two
    cells; the border term goes on background pixels only (as the paper's figure shows it).
    First used in notebooks/07_unet.ipynb, section 4."""
    instances = validate_instances(instances, "weight_map").numpy()
    cells = instances > 0
    counts = np.array([(~cells).sum(), cells.sum()], np.float64)
    w_c = (cells.size / (2 * np.maximum(counts, 1)))[cells.astype(int)]
    ids = np.unique(instances[cells])
    if len(ids) < 2:
        return w_c.astype(np.float32)
    dist = np.stack([ndimage.distance_transform_edt(instances != k) for k in ids])  # [K, H, W]
    d1, d2 = np.partition(dist, 1, axis=0)[:2]
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma ** 2))
    return (w_c + np.where(cells, 0.0, border)).astype(np.float32)


def carve_contacts(instances: np.ndarray) -> np.ndarray:
    """The instance map with a 1-pixel gap wherever two cells touch: each pixel with an 8-neighbour of a
    lower id (another cell) becomes background. Real annotations often draw touching cells with no pixel
    between them; then a cell mask (and the weight map's border term, which lives on background pixels)
    has no gap to learn. Built in notebooks/07_unet.ipynb, section 7."""
    instances = np.asarray(instances)
    padded = np.pad(instances, 1)
    h, w = instances.shape
    contact = np.zeros(instances.shape, bool)
    for dy, dx in ((dy, dx) for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)):
        other = padded[dy:dy + h, dx:dx + w]
        contact |= (other > 0) & (other < instances)
    return np.where(contact & (instances > 0), 0, instances)


def three_class_target(instances: np.ndarray) -> np.ndarray:
    """The rival to the weight map: a 3-class target ``[H, W]`` (0 background, 1 cell, 2 the cell's own
    1-pixel outline: cell pixels with a 4-neighbour of another id, background included), trained with plain
    cross-entropy. Cells read as class 1 stay apart by at least two outline pixels plus the gap; grow them
    back with :func:`seglib.metrics.grow_components`. Built in notebooks/07_unet.ipynb, section 5."""
    from skimage.segmentation import find_boundaries

    instances = np.asarray(instances)
    cells = instances > 0
    outline = find_boundaries(instances, connectivity=1, mode="inner") & cells
    return np.where(outline, 2, cells.astype(np.int64)).astype(np.int64)


def weighted_cross_entropy(logits: torch.Tensor, masks: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """U-Net's energy: per-pixel cross-entropy times the weight map ``w(x)``, averaged over pixels
    (a ``loss_fn`` for ``fit`` with weights as the sample's third item); ignore pixels (255) add 0.
    Built in notebooks/07_unet.ipynb, section 4."""
    if weights.shape != masks.shape:
        raise ValueError(f"weighted_cross_entropy: weights of shape {tuple(weights.shape)} for masks of "
                         f"shape {tuple(masks.shape)}; expected one weight per pixel")
    return (F.cross_entropy(logits, masks, reduction="none", ignore_index=IGNORE_INDEX) * weights).mean()
