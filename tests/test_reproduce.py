"""The one-command reproduction of a lesson's full profile: refusal without a GPU, the smoke run, the U373
reader. The rehearsal (``--rehearse``) is tested in test_rehearsal.py."""
from __future__ import annotations

import json

import pytest
import torch

from seglib import reproduce
from seglib.core import DatasetError
from seglib.fixtures import make_cell_tracking_tree


def test_refuses_without_gpu_and_says_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = reproduce.main(["04", "--data", str(tmp_path), "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "No CUDA GPU" in err and "Colab" in err and "--smoke" in err
    assert not (tmp_path / "r").exists()


def test_unknown_lesson_is_refused():
    with pytest.raises(ValueError, match="no full profile for lesson '99'"):
        reproduce.reproduce("99", smoke=True)


@pytest.mark.parametrize("lesson, networks", [("05", {"parsenet"}), ("06", {"deconvnet"}), ("07", {"unet"})])
def test_every_lesson_has_a_smoke_run(tmp_path, lesson, networks):
    path = reproduce.reproduce(lesson, smoke=True, data=tmp_path, results=tmp_path / "results")
    record = json.loads(path.read_text())
    assert set(record["scores"]) == networks and record["paper"]
    assert all(0.0 <= s["mean_iou"] <= 1.0 for s in record["scores"].values())


def test_cell_tracking_fixture_has_the_challenge_layout_and_a_missing_folder_is_named(tmp_path):
    root = make_cell_tracking_tree(tmp_path / "u373", frames=2)
    images, cells = reproduce._cell_frames(root, "02")
    assert images.shape == (2, 1, 96, 112) and cells.shape == (2, 96, 112) and cells.max() > 1
    assert 0.0 <= images.min() and images.max() <= 1.0
    gold = root / "02_GT" / "SEG"  # the gold truth, where the challenge has it, is preferred
    gold.mkdir(parents=True)
    (root / "02_ST" / "SEG" / "man_seg001.tif").rename(gold / "man_seg001.tif")
    assert reproduce._cell_frames(root, "02")[0].shape == (1, 1, 96, 112)
    (root / "02_ST" / "SEG" / "man_seg000.tif").unlink()
    (gold / "man_seg001.tif").unlink()
    with pytest.raises(DatasetError, match="no man_seg"):
        reproduce._cell_frames(root, "02")


def test_smoke_run_writes_a_results_file(tmp_path):
    path = reproduce.reproduce("04", smoke=True, data=tmp_path, results=tmp_path / "results")
    record = json.loads(path.read_text())
    assert path.name == "04-smoke.json"
    assert record["smoke"] is True and record["lesson"] == "04"
    assert set(record["scores"]) == {"fcn32s", "fcn16s", "fcn8s"}
    assert all(0.0 <= s["mean_iou"] <= 1.0 for s in record["scores"].values())
    assert "62.2" in record["paper"]
    assert not list((tmp_path / "results").glob("*.tmp"))
    # a second run resumes from the finished checkpoints instead of training again
    again = json.loads(reproduce.reproduce("04", smoke=True, data=tmp_path, results=tmp_path / "results")
                       .read_text())
    assert again["scores"] == record["scores"]
