"""The real nuclei tile (stardist's package data, read without importing stardist) and lesson 07's
experiment on it: the split into training tiles and a held-out quarter, and every row's network."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from seglib import cells as C
from seglib.core import DatasetError
from seglib.datasets import nuclei_tile
from seglib.metrics import touching_pairs


def test_nuclei_tile_is_the_real_512_tile_with_125_nuclei():
    image, instances = nuclei_tile()
    assert image.shape == (1, 512, 512) and image.dtype == torch.float32
    assert image.min() == 0 and image.max() == 1 and 0.05 < image.mean() < 0.3
    assert instances.shape == (512, 512) and instances.dtype == torch.int64
    assert instances.unique().tolist() == list(range(126))           # 0 and 1..125, no gaps
    assert 0.15 < (instances > 0).float().mean() < 0.25
    assert len(touching_pairs(instances, reach=1)) == 24           # pairs drawn with no pixel between
    assert image[0][instances > 0].mean() > 2 * image[0][instances == 0].mean()   # bright nuclei


def test_nuclei_tile_names_what_to_install_when_stardist_is_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "stardist" else real(name, *a))
    with pytest.raises(DatasetError, match=r'pip install --no-deps "stardist>=0.9"'):
        nuclei_tile()


def test_nuclei_split_holds_out_the_quarter_with_most_touching_pairs():
    (tiles, cells), (test, test_cells) = C.nuclei_split(*nuclei_tile())
    assert tiles.shape == (48, 3, 68, 68) and cells.shape == (48, 68, 68)
    assert test.shape == (1, 3, 256, 256) and test_cells.shape == (1, 256, 256)
    assert test_cells.unique().tolist() == list(range(int(test_cells.max()) + 1))
    assert len(touching_pairs(test_cells[0])) == 20
    assert all(len(touching_pairs(c, reach=1)) == 0 for c in cells)   # training gaps carved


@pytest.mark.parametrize("name", list(C.SYNTHETIC_RUNS))
def test_every_row_gives_logits_for_68_pixel_tiles_and_whole_quarters(name):
    torch.manual_seed(0)
    run = C.SYNTHETIC_RUNS[name]
    model = C._build(run).eval()
    x = torch.rand(2, 3, 68 + model.margin, 68 + model.margin)
    with torch.no_grad():
        assert model(x).shape == (2, run.classes, 68, 68)
    images = torch.rand(1, 3, 68, 68)
    assert C.predict(model, images).shape == (1, run.classes, 68, 68)
    if run.net != "padded":  # the padded U-Net needs sides + 92 divisible by 8
        assert C.predict(model, torch.rand(1, 3, 100, 100)).shape == (1, run.classes, 100, 100)


def test_a_short_training_run_is_exactly_reproducible():
    images, instances = C.synthetic_cells(4, 0)
    run = C.SYNTHETIC_RUNS["weight map"]
    a, b = (C.train_run(run, images, instances, epochs=1, seed=3) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = C.train_run(C.SYNTHETIC_RUNS["weight map"], images, instances, epochs=1, seed=4)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
