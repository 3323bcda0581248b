"""The small core modules: profile, device, paths, palette, exercise machinery."""
from __future__ import annotations

import sys

import pytest
import torch

from seglib.core import (
    checkpoint_root,
    data_root,
    get_profile,
    model_device,
    model_mode,
    pick_device,
    set_threads,
)
from seglib.exercises.core import Case, run_checks
from seglib.viz import voc_palette


def test_profile_is_full_only_when_asked(monkeypatch):
    monkeypatch.delenv("SEGLIB_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU alone never switches it
    assert get_profile() == "quick"
    assert get_profile(run_full=True) == "full"
    monkeypatch.setenv("SEGLIB_PROFILE", "full")
    assert get_profile() == "full"
    monkeypatch.setenv("SEGLIB_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick"):
        get_profile()


def test_set_threads_defaults_to_one_and_reads_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("SEGLIB_THREADS", raising=False)
        assert set_threads() == 1 == torch.get_num_threads()
        monkeypatch.setenv("SEGLIB_THREADS", "2")
        assert set_threads() == 2 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
    assert pick_device("cpu") == torch.device("cpu")


def test_data_root_follows_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_DATA", str(tmp_path / "datasets"))
    assert data_root() == tmp_path / "datasets"
    assert data_root().is_dir()
    assert checkpoint_root() == tmp_path / "datasets" / "checkpoints"


def test_data_root_on_colab_without_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("SEGLIB_DATA", raising=False)
    monkeypatch.setattr("seglib.core.__file__", "/nowhere/seglib/core.py")
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setattr("pathlib.Path.mkdir", lambda *a, **k: None)
    assert str(data_root()) == "/content/data"


def test_voc_palette_known_colours():
    palette = voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == torch.uint8
    assert palette[0].tolist() == [0, 0, 0]          # background
    assert palette[1].tolist() == [128, 0, 0]        # aeroplane
    assert palette[15].tolist() == [192, 128, 128]   # person
    assert palette[255].tolist() == [224, 224, 192]  # the ignore border's cream colour
    assert len({tuple(c) for c in palette[:21].tolist()}) == 21


def test_run_checks_reports_pass_failure_crash_and_not_attempted():
    cases = [Case("ones", (torch.ones(2, 3),), expected=torch.full((2, 3), 2.0))]
    assert run_checks("double", lambda x: 2 * x, cases).passed
    wrong_value = run_checks("double", lambda x: 3 * x, cases)
    assert not wrong_value and "relative error" in wrong_value.message
    assert "case 1 (ones)" in wrong_value.message
    wrong_shape = run_checks("double", lambda x: (2 * x).T, cases)
    assert "expected shape (2, 3), got (3, 2)" in wrong_shape.message
    crash = run_checks("double", lambda x: x @ x, cases)
    assert crash.attempted and "RuntimeError" in crash.message

    def stub(x):
        raise NotImplementedError

    todo = run_checks("double", stub, cases)
    assert not todo.passed and not todo.attempted and "not attempted" in todo.message


def test_run_checks_compares_plain_values():
    cases = [Case("size", (5,), expected=10)]
    assert run_checks("twice", lambda n: 2 * n, cases).passed
    assert "expected 10, got 11" in run_checks("twice", lambda n: 2 * n + 1, cases).message
    assert not run_checks("half", lambda: 0.4, [Case("float", expected=0.5)]).passed


def test_run_checks_names_a_known_mistake_and_only_that_one():
    cases = [Case("small", (torch.tensor([1.0, 2.0]),), expected=torch.tensor([2.0, 4.0])),
             Case("negative", (torch.tensor([-3.0]),), expected=torch.tensor([-6.0]))]
    mistakes = {"you squared instead of doubling": lambda x: x * x,
                "you added one instead of doubling": lambda x: x + 1}
    squared = run_checks("double", lambda x: x ** 2, cases, mistakes=mistakes)
    assert not squared and squared.message.endswith("Hint: you squared instead of doubling.")
    other = run_checks("double", lambda x: x * 3, cases, mistakes=mistakes)
    assert not other and "Hint" not in other.message
    assert "Hint" not in run_checks("double", lambda x: 2 * x, cases, mistakes=mistakes).message


def test_model_device_reads_the_weights_or_falls_back():
    from torch import nn

    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.ReLU(), torch.device("cpu")) == torch.device("cpu")
    assert model_device(nn.ReLU()) == pick_device()


def test_model_mode_switches_and_restores_every_submodule_even_after_an_error():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2), torch.nn.Dropout())
    net.train()
    net[1].eval()  # frozen batch norm: model.train(was_training) would have unfrozen it
    with model_mode(net) as same:
        assert same is net and not any(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == [True, True, False, True]
    with pytest.raises(RuntimeError, match="inside"), model_mode(net, training=True):
        assert all(m.training for m in net.modules())
        raise RuntimeError("inside")
    assert [m.training for m in net.modules()] == [True, True, False, True]
