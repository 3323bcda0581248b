"""Atomic checkpoints, weights_only loading, and fit's exact resume after an interruption."""
from __future__ import annotations

import re

import pytest
import torch
from test_train import RandomFlip, red_data, tiny_net
from torch import nn

import seglib.train
from seglib.core import CheckpointError
from seglib.train import _load_checkpoint, _save_checkpoint, fit


# --- save / load ----------------------------------------------------------------------------------

def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = {"model": nn.Linear(2, 3).state_dict(), "epoch": 4, "history": {"loss": [1.0, 0.5]}, "rng": None}
    path = _save_checkpoint(tmp_path / "sub" / "run.pt", state)
    loaded = _load_checkpoint(path)
    assert loaded["epoch"] == 4 and loaded["history"] == {"loss": [1.0, 0.5]} and loaded["rng"] is None
    assert all(torch.equal(loaded["model"][k], v) for k, v in state["model"].items())
    assert [p.name for p in path.parent.iterdir()] == ["run.pt"]  # no temporary file left


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch, error):
    path = tmp_path / "run.pt"
    _save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    old_bytes = path.read_bytes()

    def half_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip file")  # something was written...
        raise error  # ...then the machine went away

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(type(error)):
        _save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert _load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_truncated_file_gives_an_error_naming_it(tmp_path):
    path = tmp_path / "broken.pt"
    _save_checkpoint(path, {"w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match=re.escape("broken.pt") + ".*another checkpoint path"):
        _load_checkpoint(path)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=re.escape("text.pt")):
        _load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(FileNotFoundError, match=re.escape("missing.pt")):
        _load_checkpoint(tmp_path / "missing.pt")


class NotPlain:
    """Arbitrary objects are what weights_only refuses to unpickle (they could run code)."""


def test_weights_only_refuses_arbitrary_objects(tmp_path):
    path = _save_checkpoint(tmp_path / "obj.pt", {"thing": NotPlain()})
    with pytest.raises(CheckpointError, match=re.escape("obj.pt")):
        _load_checkpoint(path)
    _save_checkpoint(tmp_path / "list.pt", [1, 2])  # loads, but is not a dict
    with pytest.raises(CheckpointError, match="holds a list"):
        _load_checkpoint(tmp_path / "list.pt")


# --- fit: interrupted and resumed == unbroken -----------------------------------------------------

EPOCHS, BATCH, N = 3, 4, 24  # 6 steps per epoch, 18 in all
SETTINGS = dict(epochs=EPOCHS, batch_size=BATCH, lr=0.05, seed=3, progress=False)


def make_train(fail_at: int | None = None):
    return RandomFlip(red_data(N), fail_at=fail_at)  # augmentation draws from the global RNG


def fresh_model() -> nn.Module:
    torch.manual_seed(0)
    return tiny_net(dropout=0.3)  # dropout draws from the global RNG: resuming must restore it


def same_history(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def adam_two_groups(params):
    params = list(params)
    return torch.optim.Adam([{"params": params[:2], "lr": 0.02}, {"params": params[2:], "lr": 0.005}])


@pytest.mark.parametrize("stop_in_step, every_step, optimizer", [(10, True, "sgd"), (7, False, "sgd"),
                                                                 (10, True, adam_two_groups)])
def test_interrupted_then_resumed_run_matches_an_unbroken_one(tmp_path, capsys, monkeypatch,
                                                               stop_in_step, every_step, optimizer):
    """Stop while loading global step ``stop_in_step`` (1-based), then resume from the checkpoint.

    (10, True): saved after every step, last after step 9 (epoch 2, step 3).
    (7, False): first batch of epoch 2, last saved at the end of epoch 1.
    The poly schedule's state (saved with the checkpoint) resumes with it, on every group's own rate.
    Exact on the CPU only (fit's docstring says why), so the GPU, if any, is hidden.
    """
    monkeypatch.setattr(seglib.train, "pick_device", lambda prefer=None: torch.device(prefer or "cpu"))
    settings = {**SETTINGS, "optimizer": optimizer}
    reference = fresh_model()
    reference_history = fit(reference, make_train(), red_data(8, seed=5), **settings)
    monkeypatch.setattr(seglib.train, "CHECKPOINT_EVERY_S", -1.0 if every_step else 1e9)
    path = tmp_path / "run.pt"
    model = fresh_model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, make_train(fail_at=(stop_in_step - 1) * BATCH + 1), red_data(8, seed=5),
            checkpoint=path, **settings)
    saved = _load_checkpoint(path)
    last_saved = stop_in_step - 1 if every_step else 6
    assert (saved["epoch"], saved["step"]) == divmod(last_saved, 6)
    assert saved["scheduler"]["last_epoch"] == last_saved  # the schedule's own step count
    assert not torch.equal(model[0].weight, reference[0].weight)

    other_start = tiny_net(dropout=0.3)  # weights come from the checkpoint, not from here
    history = fit(other_start, make_train(), red_data(8, seed=5), checkpoint=path, **settings)
    resumed_at = f"epoch {last_saved // 6 + 1}/3, step {last_saved % 6}/6."
    assert f"Resumed from {path}: {resumed_at}" in capsys.readouterr().out
    for (name, p), q in zip(other_start.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q), f"{name} differs after resuming"
    assert same_history(history, reference_history)
    assert _load_checkpoint(path)["epoch"] == EPOCHS


def test_a_finished_run_resumes_to_the_same_result(tmp_path, capsys):
    path = tmp_path / "done.pt"
    first = fit(fresh_model(), make_train(), checkpoint=path, **SETTINGS)
    again = fit(tiny_net(dropout=0.3), make_train(), checkpoint=path, **SETTINGS)
    assert "all 3 epochs are already done" in capsys.readouterr().out
    assert same_history(first, again)


def test_resume_refuses_a_checkpoint_from_other_settings_or_another_model(tmp_path):
    path = tmp_path / "run.pt"
    fit(fresh_model(), make_train(), checkpoint=path, **SETTINGS)
    with pytest.raises(CheckpointError, match="batch_size: 4 then, 8 now"):
        fit(fresh_model(), make_train(), checkpoint=path, **{**SETTINGS, "batch_size": 8})
    changed = "lr: 0.05 then, 0.1 now; optimizer: sgd then, adam now"
    with pytest.raises(CheckpointError, match=re.escape(changed)):
        fit(fresh_model(), make_train(), checkpoint=path, **{**SETTINGS, "lr": 0.1, "optimizer": "adam"})
    with pytest.raises(CheckpointError, match="does not fit this model"):
        fit(tiny_net(dropout=0.3)[:2].append(nn.Conv2d(8, 2, 3)), make_train(), checkpoint=path,
            **SETTINGS)


def sgd_at(lr: float):
    return lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9)


def sgd(params):
    """A function named like the string "sgd": a resume must not take one for the other."""
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)


def test_resume_refuses_another_optimizer_function_even_a_lambda_of_the_same_name(tmp_path):
    path = tmp_path / "run.pt"
    fit(fresh_model(), make_train(), checkpoint=path, **{**SETTINGS, "optimizer": sgd_at(0.01)})
    with pytest.raises(CheckpointError, match=re.escape("optimizer_built: SGD (4 tensors, lr 0.01, momentum "
                                                        "0.9") + ".* then, SGD .*lr 0.02"):
        fit(fresh_model(), make_train(), checkpoint=path, **{**SETTINGS, "optimizer": sgd_at(0.02)})
    with pytest.raises(CheckpointError, match="optimizer_built: SGD .* then, Adam"):
        fit(fresh_model(), make_train(), checkpoint=path,
            **{**SETTINGS, "optimizer": lambda params: torch.optim.Adam(params, lr=0.01)})
    assert fit(fresh_model(), make_train(), checkpoint=path, **{**SETTINGS, "optimizer": sgd_at(0.01)})
    named = tmp_path / "named.pt"
    fit(fresh_model(), make_train(), checkpoint=named, **SETTINGS)  # the string "sgd"
    with pytest.raises(CheckpointError, match=re.escape("optimizer: sgd then, test_checkpoint.sgd now")):
        fit(fresh_model(), make_train(), checkpoint=named, **{**SETTINGS, "optimizer": sgd})
    with pytest.raises(CheckpointError, match="schedule: poly then, constant now"):
        fit(fresh_model(), make_train(), checkpoint=named, **{**SETTINGS, "schedule": "constant"})


def to_old_format(path, name: str, poly: bool) -> None:
    """Rewrite ``path`` as fit wrote it before it saved the schedule: no scheduler state, settings without
    "schedule" and "optimizer_built", an optimizer function named by ``__name__``, no ``initial_lr``, and
    the rate of the last step taken (old fit set it before each step; "sgd" alone on the poly schedule)."""
    state = _load_checkpoint(path)
    t = state.pop("scheduler")["last_epoch"]
    kept = {k: v for k, v in state["settings"].items() if k not in ("schedule", "optimizer_built")}
    state["settings"] = {**kept, "optimizer": name}
    for group in state["optimizer"]["param_groups"]:
        base = group.pop("initial_lr")
        group["lr"] = base * (1 - (t - 1) / (EPOCHS * N // BATCH)) ** 0.9 if poly else base
    _save_checkpoint(path, state)


@pytest.mark.parametrize("optimizer, name, schedule", [("sgd", "sgd", "poly"), ("adam", "adam", "constant"),
                                                       (adam_two_groups, "adam_two_groups", "constant")])
def test_a_checkpoint_from_before_schedules_were_saved_resumes_as_it_ran(tmp_path, capsys, monkeypatch,
                                                                          optimizer, name, schedule):
    """Old fit ran "sgd" on the poly schedule and everything else at a constant rate: its checkpoints
    resume on that schedule, to the unbroken run's weights and history; on another schedule they are
    refused."""
    monkeypatch.setattr(seglib.train, "pick_device", lambda prefer=None: torch.device(prefer or "cpu"))
    settings = {**SETTINGS, "optimizer": optimizer, "schedule": schedule}
    reference = fresh_model()
    reference_history = fit(reference, make_train(), red_data(8, seed=5), **settings)
    monkeypatch.setattr(seglib.train, "CHECKPOINT_EVERY_S", -1.0)
    path = tmp_path / "old.pt"
    with pytest.raises(KeyboardInterrupt):  # stopped in global step 10: saved after step 9 (epoch 2, step 3)
        fit(fresh_model(), make_train(fail_at=9 * BATCH + 1), red_data(8, seed=5), checkpoint=path,
            **settings)
    to_old_format(path, name, poly=schedule == "poly")
    other = {"poly": "constant", "constant": "poly"}[schedule]
    with pytest.raises(CheckpointError, match=f"schedule: {schedule} then, {other} now"):
        fit(fresh_model(), make_train(), checkpoint=path, **{**settings, "schedule": other})
    other_start = tiny_net(dropout=0.3)
    history = fit(other_start, make_train(), red_data(8, seed=5), checkpoint=path, **settings)
    assert f"Resumed from {path}: epoch 2/3, step 3/6." in capsys.readouterr().out
    for (p_name, p), q in zip(other_start.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q), f"{p_name} differs after resuming"
    assert same_history(history, reference_history)


def test_an_old_checkpoint_whose_rate_contradicts_its_schedule_is_refused(tmp_path, monkeypatch):
    """A function named "sgd" was recorded as "sgd", like the string, but ran at a constant rate: the rate
    in its checkpoint tells, and resuming it on the poly schedule is refused."""
    monkeypatch.setattr(seglib.train, "CHECKPOINT_EVERY_S", -1.0)
    path = tmp_path / "old.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(fresh_model(), make_train(fail_at=9 * BATCH + 1), checkpoint=path,
            **{**SETTINGS, "optimizer": sgd, "schedule": "constant"})
    to_old_format(path, "sgd", poly=False)
    with pytest.raises(CheckpointError, match="predates saved schedules and its rate 0.05 at step 9 is not"):
        fit(fresh_model(), make_train(), checkpoint=path, **SETTINGS)


def test_a_killed_save_leaves_a_temp_file_that_the_next_run_removes(tmp_path):
    path = tmp_path / "run.pt"
    (tmp_path / "run.pt.tmp-1234-abcd").write_bytes(b"half a checkpoint")
    (tmp_path / "other.pt.tmp-1-x").write_bytes(b"not ours")
    fit(fresh_model(), make_train(), checkpoint=path, **{**SETTINGS, "epochs": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.pt.tmp-1-x", "run.pt"]


def test_checkpoints_hold_only_weights_only_types(tmp_path):
    """fit's own checkpoints load with weights_only=True (what _load_checkpoint uses), with the history."""
    path = tmp_path / "run.pt"
    history = fit(fresh_model(), make_train(), red_data(8, seed=5), checkpoint=path,
                  **{**SETTINGS, "epochs": 1})
    state = torch.load(path, weights_only=True)
    assert state["history"] == history
    assert {"val_pixel_accuracy", "val_mean_accuracy", "val_mean_iou", "val_fw_iou"} <= set(state["history"])
