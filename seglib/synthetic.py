"""Offline synthetic segmentation data, drawn on the fly in numpy: each variant holds the failure one
paper fixed, so the fix shows, measured (the lessons explain each design).

``"shapes"`` (FCN, lessons 00-04, 08): shapes whose class only the outline tells, in colours and clutter
shared by all classes, from 12 px to 3/4 of the image. Built in notebooks/04_fcn.ipynb, section 3.
``"context"`` (ParseNet): identical blobs whose class only a far-away coloured frame tells.
``"thin"`` (DeconvNet): 1-2 px wires across discs and squares from tiny to huge.
``"touching"`` (U-Net): cells separated only by 1-2 px gaps; ``return_instances=True`` numbers them.

A sample is a pure function of ``(seed, index, config)``, the same however and wherever it is drawn.
"""
from __future__ import annotations

import colorsys
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors


CLASSES: dict[str, tuple[str, ...]] = {
    "shapes": ("background", "disc", "square", "triangle", "ring", "cross"),
    "context": ("background", "boat", "car"),
    "thin": ("background", "wire", "disc", "square"),
    "touching": ("background", "cell"),
}
"""Variant name -> class names; index 0 is always ``"background"``."""

_CUES: dict[str, float] = {"water": 215.0, "grass": 110.0}  # frame hue of the "context" scenes
_COORDS = np.arange(4096, dtype=np.float32)  # pixel centres along an axis; slices of it are free


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generators; invalid values raise ``ValueError`` naming the field.

    Pairs ``(lo, hi)`` are inclusive ranges that each image draws from.
    First used in notebooks/00_introduction.ipynb, section 1.
    """

    size: int = 64                              # height and width of the square images, in pixels
    variant: str = "shapes"                     # one of CLASSES
    num_objects: tuple[int, int] = (2, 5)       # objects per image ("shapes", "thin"), blobs ("context")
    min_object_size: float = 12.0               # smallest object extent in pixels, at any image size
    max_object_fraction: float = 0.75           # largest object extent, as a fraction of size
    noise: float = 0.06                         # standard deviation of the per-pixel brightness noise
    hue_jitter: float = 12.0                    # degrees a "context" frame's hue strays from its cue's
    num_distractors: tuple[int, int] = (0, 3)   # ellipses ("shapes") in the objects' colours: background
    line_width: tuple[int, int] = (1, 2)        # width of the wires of "thin", in pixels
    cell_gap: tuple[int, int] = (1, 2)          # gap between the cells of "touching", in pixels
    context_cue: str = "random"                 # or force every "context" scene to "water" or "grass"
    gap_contrast: float = 1.0                   # "touching": 1 gaps as dark as the background, 0 invisible

    def __post_init__(self) -> None:
        _check(isinstance(self.size, int) and not isinstance(self.size, bool)
               and 16 <= self.size <= 4096, f"size must be an int in [16, 4096], got {self.size!r}")
        _check(self.variant in CLASSES,
               f"variant must be one of {sorted(CLASSES)}, got {self.variant!r}")
        _check_range("num_objects", self.num_objects, 1, 64)
        _check_range("num_distractors", self.num_distractors, 0, 64)
        _check_range("line_width", self.line_width, 1, 3)
        _check_range("cell_gap", self.cell_gap, 1, 2)
        _check(1.0 <= self.min_object_size, f"min_object_size must be >= 1 px, got {self.min_object_size!r}")
        _check(0.0 < self.max_object_fraction <= 1.5,
               f"max_object_fraction must be in (0, 1.5], got {self.max_object_fraction!r}")
        _check(self.min_object_size < self.max_object_fraction * self.size,
               f"min_object_size ({self.min_object_size}) must be below max_object_fraction * size "
               f"({self.max_object_fraction * self.size:g} px)")
        _check(0.0 <= self.noise <= 1.0, f"noise must be in [0, 1], got {self.noise!r}")
        _check(0.0 <= self.hue_jitter < 27.0, "hue_jitter must be in [0, 27) degrees so water and "
               f"grass frames stay apart, got {self.hue_jitter!r}")
        _check(self.context_cue in ("random", *_CUES),
               f"context_cue must be 'random', 'water' or 'grass', got {self.context_cue!r}")
        _check(0.0 <= self.gap_contrast <= 1.0, f"gap_contrast must be in [0, 1], got {self.gap_contrast!r}")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"SyntheticConfig: {message}")


def _check_range(name: str, value: Any, lo: int, hi: int) -> None:
    ok = (isinstance(value, tuple) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
          and lo <= value[0] <= value[1] <= hi)
    _check(ok, f"{name} must be a pair of ints (lo, hi) with {lo} <= lo <= hi <= {hi}, got {value!r}")


# --- public API --------------------------------------------------------------------------

def make_sample(index: int, seed: int = 0, config: SyntheticConfig = SyntheticConfig(),
                return_instances: bool = False) -> tuple[torch.Tensor, ...]:
    """Sample ``index`` of dataset ``seed``: image float32 ``[3, H, W]`` in ``[0, 1]``, mask int64 ``[H, W]``
    (indices into ``CLASSES[variant]``), and with ``return_instances`` the visible objects numbered 1..K.
    First used in notebooks/00_introduction.ipynb, section 1."""
    index, seed = operator.index(index), operator.index(seed)
    if index < 0 or seed < 0:
        raise ValueError(f"make_sample: index and seed must be >= 0, got index={index}, seed={seed}")
    rng = np.random.default_rng([seed, index])
    image, mask, instances = _DRAWERS[config.variant](rng, config)
    _add_noise(rng, image, config.noise)
    np.clip(image, 0.0, 1.0, out=image)
    out = (torch.from_numpy(image), torch.from_numpy(mask))
    if return_instances:
        out += (torch.from_numpy(_relabel(instances)),)
    return out


def make_batch(n: int, seed: int = 0, config: SyntheticConfig = SyntheticConfig(),
               start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``start .. start+n-1`` stacked: images ``[n, 3, H, W]``, masks ``[n, H, W]``.
    First used in notebooks/02_metrics.ipynb, section 6."""
    if n < 0:
        raise ValueError(f"make_batch: n must be >= 0, got {n}")
    images = torch.empty(n, 3, config.size, config.size)
    masks = torch.empty(n, config.size, config.size, dtype=torch.int64)
    for i in range(n):
        images[i], masks[i] = make_sample(start + i, seed, config)
    return images, masks


class SyntheticDataset(torch.utils.data.Dataset):
    """``n`` synthetic samples, drawn on the fly: ``(tv_tensors.Image, tv_tensors.Mask)``.

    ``transforms`` is a torchvision transforms v2 callable taking ``(image, mask)``; v2
    knows a ``Mask`` holds labels, so it flips and crops it with the image and resizes it
    with nearest-neighbour. Extra keyword arguments go to ``SyntheticConfig``, e.g.
    ``SyntheticDataset(500, noise=0.1, num_objects=(1, 3))``.
    First used in notebooks/01_datasets.ipynb, section 5.
    """

    def __init__(self, n: int, size: int = 64, variant: str = "shapes", seed: int = 0,
                 transforms: Callable | None = None, **config_overrides: Any) -> None:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"SyntheticDataset: n must be an int >= 0, got {n!r}")
        known = {f.name for f in fields(SyntheticConfig)} - {"size", "variant"}
        unknown = sorted(set(config_overrides) - known)
        if unknown:
            raise ValueError(f"SyntheticDataset: unknown SyntheticConfig options {unknown}; "
                             f"known: {sorted(known)}")
        self.n, self.seed, self.transforms = n, seed, transforms
        self.config = SyntheticConfig(size=size, variant=variant, **config_overrides)
        self.classes: tuple[str, ...] = CLASSES[variant]
        self.num_classes: int = len(self.classes)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        i = operator.index(i)
        if not -self.n <= i < self.n:
            raise IndexError(f"SyntheticDataset: index {i} out of range for {self.n} samples")
        image, mask = make_sample(i % self.n, self.seed, self.config)
        image, mask = tv_tensors.Image(image), tv_tensors.Mask(mask)
        if self.transforms is not None:
            image, mask = self.transforms(image, mask)
        return image, mask

    def materialize(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All samples at once, ``[n, 3, H, W]`` and ``[n, H, W]``, *without* the transforms."""
        return make_batch(self.n, self.seed, self.config)

    def __repr__(self) -> str:
        return (f"SyntheticDataset(n={self.n}, size={self.config.size}, variant={self.config.variant!r}, "
                f"seed={self.seed}, classes={self.classes})")


# --- drawing helpers ---------------------------------------------------------------------

class _Canvas:
    """Objects painted in order over an unevenly lit background, each covering the older ones: painting
    writes object numbers, ``finish`` looks up colour, class and instance of every pixel at once (fast)."""

    def __init__(self, size: int, background: np.ndarray, light: np.ndarray) -> None:
        self.light = light  # float32 [H, W], around 1
        self.ids = np.zeros((size, size), np.int64)  # 0: background
        self.colours: list[np.ndarray] = [background]
        self.labels: list[int] = [0]

    def paint(self, box: tuple[int, int, int, int], region: np.ndarray, colour: np.ndarray,
              label: int) -> None:
        """Paint ``region`` (a boolean map over ``box``); ``label`` 0 paints a non-object."""
        y0, y1, x0, x1 = box
        self.ids[y0:y1, x0:x1][region] = len(self.labels)
        self.colours.append(colour)
        self.labels.append(label)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(image, mask, instances)``; instances number the labelled objects 1, 2, ..."""
        image = np.take(np.stack(self.colours, 1), self.ids, axis=1)
        image *= self.light[None]
        labels = np.array(self.labels, np.int64)
        numbering = np.cumsum(labels > 0) * (labels > 0)  # non-objects (label 0) get 0
        return image, labels[self.ids], numbering[self.ids]


def _hsv(hue_deg: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((hue_deg / 360.0) % 1.0, saturation, value), np.float32)


@lru_cache(maxsize=16)
def _interpolation_matrix(size: int, cells: int) -> np.ndarray:
    """``[size, cells]`` weights that linearly interpolate ``cells`` values onto ``size`` pixels."""
    pos = np.linspace(0.0, cells - 1.0, size)
    left = np.minimum(pos.astype(int), cells - 2)
    frac = pos - left
    weights = np.zeros((size, cells), np.float32)
    weights[np.arange(size), left] = 1.0 - frac
    weights[np.arange(size), left + 1] = frac
    return weights


def _smooth_field(rng: np.random.Generator, size: int, cells: int = 6) -> np.ndarray:
    """Smooth random variation ``[size, size]`` in ``[-1, 1]``: a coarse grid, interpolated."""
    w = _interpolation_matrix(size, cells)
    return w @ rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32) @ w.T


def _new_canvas(rng: np.random.Generator, size: int, saturation: float,
                darkest: float = 0.3) -> _Canvas:
    """An empty scene: a background of low ``saturation`` (nearly grey), unevenly lit."""
    colour = _hsv(rng.uniform(0, 360), rng.uniform(0, saturation), rng.uniform(darkest, 0.75))
    return _Canvas(size, colour, 1.0 + 0.25 * _smooth_field(rng, size))


def _box(cy: float, cx: float, reach: float, size: int) -> tuple[int, int, int, int] | None:
    """Integer bounding box ``(y0, y1, x0, x1)`` of a disc of radius ``reach``, cut to the image."""
    y0, y1 = max(0, math.floor(cy - reach)), min(size, math.ceil(cy + reach) + 1)
    x0, x1 = max(0, math.floor(cx - reach)), min(size, math.ceil(cx + reach) + 1)
    return (y0, y1, x0, x1) if y0 < y1 and x0 < x1 else None


def _shape_region(kind: str, box: tuple[int, int, int, int], cy: float, cx: float, r: float,
                  angle: float, thickness: float) -> np.ndarray:
    """Boolean map over ``box`` of the pixel centres inside the shape (``r``: half its extent;
    ``thickness``: a ring's band or a cross's arm width)."""
    y0, y1, x0, x1 = box
    dy, dx = (_COORDS[y0:y1] - cy)[:, None], (_COORDS[x0:x1] - cx)[None, :]  # column, row
    if kind in ("disc", "ring"):
        d2 = dy * dy + dx * dx
        inside = d2 <= r * r
        return inside if kind == "disc" else inside & (d2 >= max(r - thickness, 0.0) ** 2)
    c, s = math.cos(angle), math.sin(angle)
    if kind == "triangle":  # inside all three edges of an equilateral triangle
        inside = c * dx + s * dy <= r / 2
        for turn in (2 * math.pi / 3, 4 * math.pi / 3):
            inside &= math.cos(angle + turn) * dx + math.sin(angle + turn) * dy <= r / 2
        return inside
    u, v = np.abs(c * dx + s * dy), np.abs(c * dy - s * dx)  # distances along the shape's axes
    if kind == "square":
        return (u <= 0.75 * r) & (v <= 0.75 * r)
    if kind == "cross":
        half = thickness / 2
        return ((u <= r) & (v <= half)) | ((v <= r) & (u <= half))
    if kind == "ellipse":
        return (u * u) / (r * r) + (v * v) / (0.36 * r * r) <= 1.0
    raise ValueError(f"unknown shape kind {kind!r}")


def _draw_shapes(canvas: _Canvas, kinds: list[str], extents: np.ndarray, centres: np.ndarray,
                 colours: list[np.ndarray], labels: list[int], spins: np.ndarray) -> None:
    """Draw shapes in order. ``spins`` (``[2, n]`` in ``[0, 1)``) sets each one's rotation
    and, for rings and crosses, its band width: often 1-2 px, at most a fraction of ``r``."""
    size = canvas.ids.shape[0]
    for kind, extent, (cy, cx), colour, label, turn, band in zip(
            kinds, extents.tolist(), centres.tolist(), colours, labels, *spins.tolist(), strict=True):
        r = extent / 2
        widest = max(1.0, (0.3 if kind == "ring" else 0.5) * r)
        box = _box(cy, cx, 1.1 * r + 1, size)
        if box is not None:
            region = _shape_region(kind, box, cy, cx, r, 2 * math.pi * turn, 1.0 + band * (widest - 1.0))
            canvas.paint(box, region, colour, label)


def _object_sizes(t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Extents log-uniform in ``[lo, hi]``, largest first (so small ones lie on top); the first from the
    top third of the log range, the second from the bottom third: every image has a large and a tiny one."""
    t = t.copy()
    t[0] = 2 / 3 + t[0] / 3
    if len(t) > 1:
        t[1] = t[1] / 3
    return np.sort(lo * (hi / lo) ** t)[::-1]


def _draw_objects(canvas: _Canvas, rng: np.random.Generator, config: SyntheticConfig,
                  names: tuple[str, ...], first_label: int = 1) -> None:
    """Objects of the classes ``names`` (labels ``first_label``, ...), tiny to large (large ones may be cut
    by the border)."""
    size = config.size
    n = int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    u = rng.random((9, n))  # every number the objects need, in one call (calls are slow)
    extents = _object_sizes(u[0], config.min_object_size, config.max_object_fraction * size)
    lo = np.minimum(extents / 2, 0.3 * size)
    hi = np.maximum(size - 1 - extents / 2, 0.7 * size)
    centres = (lo + u[1:3] * (hi - lo)).T
    chosen = [names[k] for k in (u[3] * len(names)).astype(int).tolist()]
    labels = [first_label + names.index(name) for name in chosen]
    _draw_shapes(canvas, chosen, extents, centres, _any_colours(u[4:7]), labels, u[7:9])


def _add_noise(rng: np.random.Generator, image: np.ndarray, level: float) -> None:
    """Per-pixel brightness noise with standard deviation ``level`` (uniform: fast to draw)."""
    image += (level * math.sqrt(12.0)) * (rng.random(image.shape[1:], np.float32) - 0.5)[None]


# --- the four variants -------------------------------------------------------------------

_Drawn = tuple[np.ndarray, np.ndarray, np.ndarray]  # image [3, H, W], mask [H, W], instances [H, W]


def _shapes_scene(rng: np.random.Generator, config: SyntheticConfig) -> _Drawn:
    """FCN's data: shapes whose class only their outline tells, over clutter of the same colours."""
    size = config.size
    canvas = _new_canvas(rng, size, saturation=0.5)
    n = int(rng.integers(config.num_distractors[0], config.num_distractors[1] + 1))
    if n:
        u = rng.random((9, n))
        lo, hi = config.min_object_size, config.max_object_fraction * size
        kinds = ["ellipse"] * n
        extents, centres = lo * (hi / lo) ** u[4], size * u[5:7].T
        _draw_shapes(canvas, kinds, extents, centres, _any_colours(u[1:4]), [0] * n, u[7:9])
    _draw_objects(canvas, rng, config, CLASSES["shapes"][1:])
    return canvas.finish()


def _any_colours(uniforms: np.ndarray) -> list[np.ndarray]:
    """One colour per column of ``uniforms`` ``[3, n]``, from the same wide family for every class."""
    return [_hsv(360 * h, 0.3 + 0.7 * s, 0.35 + 0.65 * v) for h, s, v in uniforms.T.tolist()]


def _context_scene(rng: np.random.Generator, config: SyntheticConfig) -> _Drawn:
    """ParseNet's data: identical grey blobs whose class only the far-away frame tells.

    The cue is drawn first and used last, so a scene differs between cues only in its
    frame colour and its labels: the blobs and their surroundings are pixel-identical.
    """
    size = config.size
    cue = ("water", "grass")[int(rng.integers(2))]
    if config.context_cue != "random":
        cue = config.context_cue
    label = CLASSES["context"].index("boat" if cue == "water" else "car")
    frame = max(2, size // 16)
    keep_out = frame + max(4, round(0.15 * size))  # blobs stay this far from the image border
    canvas = _new_canvas(rng, size, saturation=0.0, darkest=0.5)  # lighter than the blobs
    n = int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    u = rng.random((7, n))
    hi = max(2.0, min(0.3 * size, size - 2 * keep_out - 4))
    extents = _object_sizes(u[0], min(max(5.0, config.min_object_size), hi / 2), hi)
    lo, span = keep_out + 0.55 * extents, size - 1 - 2 * keep_out - 1.1 * extents
    centres = (lo + u[1:3] * np.maximum(span, 0.0)).T
    kinds = [("disc", "ellipse", "square")[k] for k in (u[3] * 3).astype(int).tolist()]
    greys = [_hsv(0, 0, 0.08 + 0.22 * v) for v in u[4].tolist()]
    _draw_shapes(canvas, kinds, extents, centres, greys, [label] * n, u[5:7])
    hue = _CUES[cue] + rng.uniform(-config.hue_jitter, config.hue_jitter)
    border = np.ones((size, size), bool)
    border[frame:-frame, frame:-frame] = False
    canvas.paint((0, size, 0, size), border, _hsv(hue, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)), 0)
    return canvas.finish()


def _thin_scene(rng: np.random.Generator, config: SyntheticConfig) -> _Drawn:
    """DeconvNet's data: 1-2 px wires over discs and squares from tiny to huge."""
    canvas = _new_canvas(rng, config.size, saturation=0.15)
    _draw_objects(canvas, rng, config, ("disc", "square"), first_label=2)
    for _ in range(int(rng.integers(1, 4))):
        _draw_wire(canvas, rng, config)
    return canvas.finish()


def _draw_wire(canvas: _Canvas, rng: np.random.Generator, config: SyntheticConfig) -> None:
    """A straight or bent wire: walk along a quadratic Bezier curve and paint the pixels."""
    size = config.size
    p0, p2 = rng.uniform(0, size - 1, (2, 2))
    while np.hypot(*(p2 - p0)) < 0.4 * size:  # long enough to cross several objects
        p2 = rng.uniform(0, size - 1, 2)
    bend = rng.uniform(-0.4, 0.4) * size if rng.uniform() < 0.6 else 0.0
    p1 = (p0 + p2) / 2 + bend * np.array([p0[1] - p2[1], p2[0] - p0[0]]) / np.hypot(*(p2 - p0))
    width = int(rng.integers(config.line_width[0], config.line_width[1] + 1))
    t = np.linspace(0.0, 1.0, 3 * size)[:, None]  # steps of 1/3 px or less
    points = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
    if width > 1:  # parallel 1 px lines, 1 px apart, centred on the curve
        tangent = (1 - t) * (p1 - p0) + t * (p2 - p1)
        normal = tangent[:, ::-1] * [-1.0, 1.0] / np.hypot(tangent[:, :1], tangent[:, 1:])
        points = np.concatenate([points + k * normal for k in np.arange(width) - (width - 1) / 2])
    pixels = np.rint(points).astype(np.int64)
    pixels = pixels[((pixels >= 0) & (pixels < size)).all(1)]
    region = np.zeros((size, size), bool)
    region[pixels[:, 0], pixels[:, 1]] = True
    canvas.paint((0, size, 0, size), region, _any_colours(rng.random((3, 1)))[0], 1)


def _touching_scene(rng: np.random.Generator, config: SyntheticConfig) -> _Drawn:
    """U-Net's data: touching cells kept apart only by a 1-2 px gap of background, where the pixels next
    to the other cell are given back to the background."""
    size = config.size
    cells = _cell_labels(rng, size)
    gap = int(rng.integers(config.cell_gap[0], config.cell_gap[1] + 1))
    contact = _contact_pixels(cells, both_sides=gap == 2)
    owners = cells[contact]
    cells[contact] = 0
    light = rng.uniform(0.1, 0.25) * (1.0 + 0.3 * _smooth_field(rng, size))
    brightness = rng.uniform(0.55, 0.9, int(cells.max()) + 1).astype(np.float32)
    value = np.where(cells > 0, brightness[cells], light)
    if config.gap_contrast < 1.0:  # a faint border, as between touching cells under a microscope
        value[contact] += (1.0 - config.gap_contrast) * (brightness[owners] - value[contact])
    value *= 1.0 + 0.15 * _smooth_field(rng, size, cells=12)  # texture inside the cells
    tint = _hsv(rng.uniform(80, 160), rng.uniform(0.2, 0.5), 1.0)
    return tint[:, None, None] * value[None], (cells > 0).astype(np.int64), cells


def _cell_labels(rng: np.random.Generator, size: int) -> np.ndarray:
    """Label map, 0 background, ``k`` cell ``k`` (no gaps yet): every pixel goes to the cell (seeds on a
    jittered grid, a few left out) whose wobbly elliptic outline it lies deepest inside."""
    grid = max(2, round(size / 16))
    spacing = size / grid
    centres = (np.indices((grid, grid)).reshape(2, -1).T + 0.5) * spacing
    centres = centres[rng.uniform(size=len(centres)) < 0.8]  # leave some holes in the sheet
    if len(centres) < 2:
        centres = np.array([[0.35, 0.35], [0.65, 0.65]]) * size
    k = len(centres)
    centres = centres + rng.uniform(-0.25, 0.25, (k, 2)) * spacing
    radii = rng.uniform(0.5, 0.75, k) * spacing
    angles, stretches = rng.uniform(0, math.pi, k), rng.uniform(0.8, 1.25, k)
    wobble = 1.5 * _smooth_field(rng, size, cells=8)
    depth = np.full((size, size), np.inf, np.float32)  # < 0: inside the best cell so far
    labels = np.zeros((size, size), np.int64)
    cells = zip(centres.tolist(), radii.tolist(), angles.tolist(), stretches.tolist(), strict=True)
    for i, ((cy, cx), r, a, st) in enumerate(cells):
        box = _box(cy, cx, 1.25 * r + 2, size)  # no pixel beyond this reach is inside
        if box is None:
            continue
        y0, y1, x0, x1 = box
        dy, dx = (_COORDS[y0:y1] - cy)[:, None], (_COORDS[x0:x1] - cx)[None, :]
        c, s = math.cos(a), math.sin(a)
        u = (c * st) * dx + (s * st) * dy  # along the cell's axes, squeezed to a circle
        v = (c / st) * dy - (s / st) * dx
        d = np.sqrt(u * u + v * v) - r + wobble[y0:y1, x0:x1]
        best = depth[y0:y1, x0:x1]  # a view: writing to it writes to depth
        labels[y0:y1, x0:x1][d < best] = i + 1
        np.minimum(best, d, out=best)
    labels[depth >= 0] = 0
    return labels


def _contact_pixels(labels: np.ndarray, both_sides: bool) -> np.ndarray:
    """Pixels of a cell that touch (8-neighbourhood) another cell: of the smaller id only (a 1 px gap), or
    ``both_sides`` (2 px)."""
    h, w = labels.shape
    padded = np.zeros((h + 2, w + 2), labels.dtype)
    padded[1:-1, 1:-1] = labels
    contact = np.zeros((h, w), bool)
    for oy, ox in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        other = padded[1 + oy:1 + oy + h, 1 + ox:1 + ox + w]
        differs = (other > labels) if not both_sides else (other != labels)
        contact |= differs & (other > 0)
    return contact & (labels > 0)


def _relabel(instances: np.ndarray) -> np.ndarray:
    """Renumber instance ids to 1..K in order, dropping objects that ended fully hidden."""
    ids = np.unique(instances)
    ids = ids[ids > 0]
    lut = np.zeros(int(instances.max()) + 1, np.int64)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[instances]


_DRAWERS: dict[str, Callable[[np.random.Generator, SyntheticConfig], _Drawn]] = {
    "shapes": _shapes_scene,
    "context": _context_scene,
    "thin": _thin_scene,
    "touching": _touching_scene,
}
