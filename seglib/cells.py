"""Lesson 07's experiment, shared by the lesson and its benchmark so that the lesson's live run is the
stored sweep's seed 0: touching cells (synthetic, or the real nuclei tile), one training recipe
(8-channel depth-3 U-Net, Adam 1e-3, batch 2, elastic deformation) and the runs that differ only in
the target, the loss weights or the network. Built in notebooks/07_unet.ipynb, sections 5-7.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seglib.datasets import CellTiles
from seglib.metrics import instance_scores
from seglib.models.local import LocalNet
from seglib.models.unet import (
    UNet,
    carve_contacts,
    mirror_pad,
    predict_tiles,
    three_class_target,
    weight_map,
    weighted_cross_entropy,
)
from seglib.synthetic import SyntheticConfig, make_sample
from seglib.train import fit
from seglib.transforms import elastic_rot_flip


SIZE, CHANNELS, DEPTH, BATCH, LR = 68, 8, 3, 2, 1e-3
CONFIG = SyntheticConfig(size=SIZE, variant="touching", cell_gap=(1, 1), gap_contrast=0.5)  # faint 1 px gaps
TILE = SIZE + 88   # the unpadded depth-3 U-Net's input for a 68 x 68 output


def _balanced(instances: np.ndarray) -> np.ndarray:
    """The weight map's class term ``w_c`` alone (``w0 = 0``)."""
    return weight_map(instances, w0=0.0)


def _background_x10(instances: np.ndarray) -> np.ndarray:
    """A class weight alone, as heavy as the weight map's border term: 10 on every background pixel."""
    return np.where(np.asarray(instances) > 0, 1.0, 10.0).astype(np.float32)


@dataclass(frozen=True)
class Run:
    """One row of the table: the network (``"unet"``, ``"padded"``: the same U-Net with padded
    convolutions, ``"local"``: the 5 x 5 LocalNet), the per-pixel weights, 2 or 3 classes, elastic std.
    First used in notebooks/07_unet.ipynb, section 7."""

    net: str = "unet"
    weights: Callable | None = None
    classes: int = 2
    std: float = 10.0


SYNTHETIC_RUNS = {
    "plain CE": Run(),
    "class-balanced": Run(weights=_balanced),
    "background x10": Run(weights=_background_x10),
    "weight map": Run(weights=weight_map),
    "weight map, no elastic": Run(weights=weight_map, std=0.0),
    "3-class target": Run(classes=3),
    "padded U-Net, weight map": Run(net="padded", weights=weight_map),
    "local net, weight map": Run(net="local", weights=weight_map),
}
"""The rows on the synthetic "touching" cells (lesson 07, sections 5-6)."""

NUCLEI_RUNS = {
    "plain CE": Run(),
    "weight map": Run(weights=weight_map),
    "3-class target": Run(classes=3),
    "local net, weight map": Run(net="local", weights=weight_map),
}
"""The rows on the real nuclei tile (lesson 07, section 7)."""


class _Cropped(nn.Module):
    """A padded network trained and scored like the unpadded U-Net: fed the same mirror-padded input
    tile, its output cut to the centre (``margin`` smaller), so every row sees the same context."""

    def __init__(self, net: nn.Module, margin: int) -> None:
        super().__init__()
        self.net, self.margin = net, margin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.margin // 2
        out = self.net(x)
        return out[..., m:out.shape[-2] - m, m:out.shape[-1] - m]


def _build(run: Run) -> nn.Module:
    """The run's network, 3 input channels, freshly initialised from the global RNG."""
    if run.net == "unet":
        return UNet(3, run.classes, channels=CHANNELS, depth=DEPTH)
    if run.net == "padded":  # 68 + 92 = 160, a multiple of 2**3
        return _Cropped(UNet(3, run.classes, channels=CHANNELS, depth=DEPTH, padding="same"), 92)
    if run.net == "local":
        return _Cropped(LocalNet(run.classes), 88)
    raise ValueError(f"Run.net must be 'unet', 'padded' or 'local', got {run.net!r}")


def train_run(run: Run, images: torch.Tensor, instances: torch.Tensor, epochs: int, seed: int) -> nn.Module:
    """Train ``run``'s network on 68 x 68 tiles ``[N, 3, 68, 68]`` and their instance maps (eval mode).
    First used in notebooks/07_unet.ipynb, section 7."""
    torch.manual_seed(seed)
    model = _build(run)
    target = three_class_target if run.classes == 3 else None
    data = CellTiles(images, instances, model.margin, run.weights, std=run.std, target=target)
    fit(model, data, epochs=epochs, lr=LR, optimizer="adam", schedule="constant", batch_size=BATCH,
        loss_fn=weighted_cross_entropy, seed=seed, progress=False)
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, pad: str = "mirror") -> torch.Tensor:
    """Logits ``[N, C, H, W]``: overlap-tile for the unpadded U-Net (68 x 68 output tiles), the whole
    image with the same margin mirrored (or zeros) for the padded ones.
    First used in notebooks/07_unet.ipynb, section 7."""
    if isinstance(model, UNet):
        return predict_tiles(model, images, TILE, pad=pad)
    m = model.margin // 2
    x = mirror_pad(images, m, m, m, m) if pad == "mirror" else F.pad(images, (m, m, m, m))
    return model(x)


def scores(model: nn.Module, images: torch.Tensor, instances: torch.Tensor) -> dict[str, float]:
    """Separation, mask AP and cell IoU, raw and with every component grown back by 1 pixel; the cell
    probability is class 1's (the cell's inside, for the 3-class target).
    First used in notebooks/07_unet.ipynb, section 7."""
    probs = predict(model, images).softmax(1)[:, 1]
    found, truth = probs > 0.5, instances > 0
    out = {**instance_scores(probs, instances), "IoU": ((found & truth).sum() / (found | truth).sum()).item()}
    grown = instance_scores(probs, instances, grow=1)
    return {**out, "separation grown": grown["separation"], "AP grown": grown["AP"]}


def border_scores(model: nn.Module, images: torch.Tensor, instances: torch.Tensor) -> dict[str, float]:
    """Pixel accuracy on the 4-pixel band along the image border, its context mirrored or zeros.
    Built in notebooks/07_unet.ipynb, section 6; used by benchmarks/bench_unet.py."""
    band = torch.ones(images.shape[-2:], dtype=torch.bool)
    band[4:-4, 4:-4] = False
    truth = (instances > 0).long()
    out = {}
    for pad in ("mirror", "zeros"):
        logits = predict(model, images, pad)[:, :2]
        out[f"{pad} border acc"] = (logits.argmax(1) == truth)[:, band].float().mean().item()
        out[f"{pad} border CE"] = F.cross_entropy(logits, truth, reduction="none")[:, band].mean().item()
    return out


def synthetic_cells(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` "touching" images ``[n, 3, 68, 68]`` and their instance maps ``[n, 68, 68]``.
    Built in notebooks/07_unet.ipynb, section 1; used by benchmarks/bench_unet.py."""
    samples = [make_sample(i, seed, CONFIG, return_instances=True) for i in range(n)]
    return torch.stack([s[0] for s in samples]), torch.stack([s[2] for s in samples])


def bent(images: torch.Tensor, instances: torch.Tensor, seed: int, std: float = 10.0):
    """The held-out images bent by elastic fields of their own (mirror-padded first: no black corners),
    drawn from a generator seeded ``1000 + seed``, whatever the global RNG holds.
    Built in notebooks/07_unet.ipynb, section 6; used by benchmarks/bench_unet.py."""
    p, state = 20, torch.get_rng_state()
    torch.manual_seed(1000 + seed)
    pairs = [elastic_rot_flip(x, c, std=std) for x, c in zip(mirror_pad(images, p, p, p, p),
                                                            mirror_pad(instances, p, p, p, p), strict=True)]
    torch.set_rng_state(state)
    return torch.stack([x[:, p:-p, p:-p] for x, _ in pairs]), torch.stack([c[p:-p, p:-p] for _, c in pairs])


TEST_QUADRANT = (256, 0)
"""The held-out quarter of the nuclei tile (rows 256-511, columns 0-255): it holds 20 of the tile's 37
touching pairs (within 3 px), the other three quarters 17 between them."""


def nuclei_split(image: torch.Tensor, instances: torch.Tensor, size: int = SIZE):
    """The real tile cut for training: 68 x 68 tiles ``[48, 3, 68, 68]`` (4 x 4 per training quarter,
    overlapping by 4-5 px) with their instance maps, a 1-pixel gap carved where cells touch
    (:func:`carve_contacts`), and the held-out quarter ``[1, 3, 256, 256]`` with its instances as drawn.
    First used in notebooks/07_unet.ipynb, section 7."""
    rgb, half = image.expand(3, -1, -1), image.shape[-1] // 2
    carved = torch.from_numpy(carve_contacts(instances.numpy()))
    starts = torch.linspace(0, half - size, 4).round().long().tolist()
    tiles, cells = [], []
    for qy, qx in [(0, 0), (0, half), (half, 0), (half, half)]:
        if (qy, qx) == TEST_QUADRANT:
            continue
        for y in starts:
            for x in starts:
                tiles.append(rgb[:, qy + y:qy + y + size, qx + x:qx + x + size])
                cells.append(carved[qy + y:qy + y + size, qx + x:qx + x + size])
    ty, tx = TEST_QUADRANT
    ids = torch.unique(instances[ty:ty + half, tx:tx + half], return_inverse=True)[1]  # 1..K, no gaps
    return (torch.stack(tiles), torch.stack(cells)), (rgb[None, :, ty:ty + half, tx:tx + half], ids[None])
