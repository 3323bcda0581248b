"""The environment report and check: what they report, and that they name problems with a fix."""
from __future__ import annotations

import pytest
import torch

import seglib.env as env
from seglib.core import on_colab, pick_device


def test_version_tuple_reads_release_numbers():
    assert env._version_tuple("2.4.1+cu121") == (2, 4, 1)
    assert env._version_tuple("0.17") == (0, 17)
    assert env._version_tuple("2.10.0") > env._version_tuple("2.9.1")  # numeric, not alphabetical
    assert env._version_tuple("dev") == ()


def test_report_describes_this_machine():
    report = env._environment_report()
    assert report["torch"] == torch.__version__
    assert report["device"] == str(pick_device())
    assert report["cuda_available"] == torch.cuda.is_available()
    assert report["torch_threads"] == torch.get_num_threads()
    assert set(env.PACKAGES) <= set(report) and report["numpy"] is not None
    assert ("cuda_device" in report) == torch.cuda.is_available()


def test_this_environment_has_no_problems():
    assert env.check_environment() == []


def test_old_torch_is_a_problem_with_a_fix():
    problems = env.check_environment(min_torch="99.0")
    assert len(problems) == 1
    assert problems[0].startswith(f"torch {env._installed_version('torch')} is older than the 99.0")
    assert "pip install -U 'torch>=99.0'" in problems[0]


def test_missing_package_is_a_problem_with_a_fix(monkeypatch):
    real = env._installed_version
    monkeypatch.setattr(env, "_installed_version", lambda name: None if name == "tqdm" else real(name))
    assert env.check_environment() == [
        "tqdm is not installed: run `pip install 'tqdm>=4.60'` (or `pip install -e .` in the course folder)."]


def test_missing_jupyterlab_is_not_a_problem(monkeypatch):
    real = env._installed_version
    monkeypatch.setattr(env, "_installed_version", lambda name: None if name == "jupyterlab" else real(name))
    assert env.check_environment() == []


def test_colab_detection_and_tips(monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-x")
    assert on_colab()
    tips = env._tips({"device": "cpu", "colab": True})
    assert any("Change runtime type" in t for t in tips) and any("Google Drive" in t for t in tips)
    assert env._tips({"device": "cuda", "colab": False}) == []


@pytest.mark.parametrize("min_torch, expect", [("2.2", "No problems found"), ("99.0", "✗ torch")])
def test_printed_report(capsys, min_torch, expect):
    env.print_environment_report(min_torch=min_torch)
    out = capsys.readouterr().out
    assert out.startswith("Environment") and f"torch            {torch.__version__}" in out
    assert expect in out
