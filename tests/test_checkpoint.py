"""Atomic checkpoints, weights_only loading, RNG state, and fit's exact resume after an interruption."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from seglib.train import (CheckpointError, fit, load_checkpoint, rng_state, save_checkpoint,
                          set_rng_state)
from test_train import RandomFlip, red_data, tiny_net


# --- save / load ----------------------------------------------------------------------------------

def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = {"model": nn.Linear(2, 3).state_dict(), "epoch": 4, "history": {"loss": [1.0, 0.5]}, "rng": None}
    path = save_checkpoint(tmp_path / "sub" / "run.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 4 and loaded["history"] == {"loss": [1.0, 0.5]} and loaded["rng"] is None
    assert all(torch.equal(loaded["model"][k], v) for k, v in state["model"].items())
    assert [p.name for p in path.parent.iterdir()] == ["run.pt"]  # no temporary file left


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch, error):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    old_bytes = path.read_bytes()

    def half_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip file")  # something was written...
        raise error  # ...then the machine went away

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(type(error)):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_truncated_file_gives_an_error_naming_it(tmp_path):
    path = tmp_path / "broken.pt"
    save_checkpoint(path, {"w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="broken.pt.*resume=False"):
        load_checkpoint(path)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="text.pt"):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


class NotPlain:
    """Arbitrary objects are what weights_only refuses to unpickle (they could run code)."""


def test_weights_only_refuses_arbitrary_objects(tmp_path):
    path = save_checkpoint(tmp_path / "obj.pt", {"thing": NotPlain()})
    with pytest.raises(CheckpointError, match="obj.pt"):
        load_checkpoint(path)
    save_checkpoint(tmp_path / "list.pt", [1, 2])  # loads, but is not a dict
    with pytest.raises(CheckpointError, match="holds a list"):
        load_checkpoint(tmp_path / "list.pt")


def test_rng_state_survives_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached Gaussian in NumPy's state
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state()})
    expected = (random.random(), np.random.randn(), np.random.rand(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (random.random(), np.random.randn(), np.random.rand(), torch.rand(3))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


# --- fit: interrupted and resumed == unbroken -----------------------------------------------------

EPOCHS, BATCH, N = 3, 4, 24  # 6 steps per epoch, 18 in all
SETTINGS = dict(num_classes=2, epochs=EPOCHS, batch_size=BATCH, lr=0.05, seed=3, progress=False)


def make_train(kind: str, fail_at: int | None = None):
    """The same augmented data, as a dataset or as a DataLoader (with or without its own generator)."""
    data = RandomFlip(red_data(N), fail_at=fail_at)
    if kind == "dataset":
        return data
    generator = torch.Generator() if kind == "loader+generator" else None
    return DataLoader(data, batch_size=BATCH, shuffle=True, generator=generator)


def fresh_model() -> nn.Module:
    torch.manual_seed(0)
    return tiny_net(dropout=0.3)  # dropout draws from the global RNG: resuming must restore it


def unbroken(kind: str):
    model = fresh_model()
    history = fit(model, make_train(kind), red_data(8, seed=5), **SETTINGS)
    return model, history


def same_history(a, b) -> bool:
    return a.train_loss == b.train_loss and a.lr == b.lr and a.val == b.val and len(a.seconds) == len(b.seconds)


@pytest.mark.parametrize("kind", ["dataset", "loader+generator", "loader"])
@pytest.mark.parametrize("stop_in_step, every", [(10, 4), (7, 100)])
def test_interrupted_then_resumed_run_matches_an_unbroken_one(tmp_path, capsys, kind, stop_in_step, every):
    """Stop while loading global step ``stop_in_step`` (1-based), then resume from the checkpoint.

    (10, 4): mid-epoch 2, last saved after step 8 (epoch 2, step 2): steps 9-10 are redone.
    (7, 100): first batch of epoch 2, last saved at the end of epoch 1.
    """
    reference, reference_history = unbroken(kind)
    path = tmp_path / "run.pt"
    model = fresh_model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, make_train(kind, fail_at=(stop_in_step - 1) * BATCH + 1), red_data(8, seed=5),
            checkpoint=path, checkpoint_every=every, **SETTINGS)
    saved = load_checkpoint(path)
    last_saved = (stop_in_step - 1) // every * every if every < stop_in_step else 6
    assert (saved["epoch"], saved["step"]) == divmod(last_saved, 6)
    assert not torch.equal(model[0].weight, reference[0].weight)

    other_start = tiny_net(dropout=0.3)  # weights come from the checkpoint, not from here
    history = fit(other_start, make_train(kind), red_data(8, seed=5), checkpoint=path,
                  checkpoint_every=every, **SETTINGS)
    assert f"Resumed from {path}: epoch {last_saved // 6 + 1}/3, step {last_saved % 6}/6." in capsys.readouterr().out
    for (name, p), q in zip(other_start.named_parameters(), reference.parameters()):
        assert torch.equal(p, q), f"{name} differs after resuming"
    assert same_history(history, reference_history)
    assert load_checkpoint(path)["epoch"] == EPOCHS


def test_a_finished_run_resumes_to_the_same_result(tmp_path, capsys):
    path = tmp_path / "done.pt"
    model = fresh_model()
    first = fit(model, make_train("dataset"), checkpoint=path, **SETTINGS)
    again = fit(tiny_net(dropout=0.3), make_train("dataset"), checkpoint=path, **SETTINGS)
    assert "all 3 epochs are already done" in capsys.readouterr().out
    assert same_history(first, again)


def test_resume_false_starts_again(tmp_path, capsys):
    path = tmp_path / "run.pt"
    fit(fresh_model(), make_train("dataset"), checkpoint=path, **{**SETTINGS, "epochs": 1})
    history = fit(fresh_model(), make_train("dataset"), checkpoint=path, resume=False, **{**SETTINGS, "epochs": 1})
    assert "Resumed" not in capsys.readouterr().out and len(history) == 1


def test_resume_refuses_a_checkpoint_from_other_settings_or_another_model(tmp_path):
    path = tmp_path / "run.pt"
    fit(fresh_model(), make_train("dataset"), checkpoint=path, **{**SETTINGS, "epochs": 1})
    with pytest.raises(CheckpointError, match="batch_size: 4 then, 8 now"):
        fit(fresh_model(), make_train("dataset"), checkpoint=path, **{**SETTINGS, "batch_size": 8})
    with pytest.raises(CheckpointError, match="does not fit this model"):
        fit(tiny_net(dropout=0.3)[:2].append(nn.Conv2d(8, 2, 3)), make_train("dataset"), checkpoint=path,
            **SETTINGS)


def test_checkpoints_hold_only_weights_only_types(tmp_path):
    """fit's own checkpoints load with weights_only=True (what load_checkpoint uses) and carry the history."""
    path = tmp_path / "run.pt"
    history = fit(fresh_model(), make_train("dataset"), red_data(8, seed=5), checkpoint=path,
                  **{**SETTINGS, "epochs": 1})
    state = torch.load(path, weights_only=True)
    assert state["history"]["train_loss"] == history.train_loss
    assert set(state["history"]["val"]) == {"pixel_accuracy", "mean_accuracy", "mean_iou", "fw_iou"}
