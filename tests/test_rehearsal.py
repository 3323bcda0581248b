"""The rehearsal of a lesson's full profile at reduced size (a tiny generated tree, a narrow network): end to
end, killed and resumed (simulated in-process, and from the command line with a real SIGKILL), the step
probe, and its settings checked."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from seglib import rehearsal, reproduce
from seglib.train import fit


TINY = rehearsal.Rehearsal(steps=3, batch=2, val=2, width=1 / 16, n_train=6, n_val=2, size=(48, 64),
                           cell_size=(48, 64), workers=1)


def test_rehearsal_runs_end_to_end_and_resumes_after_a_kill(tmp_path):
    """Lesson 04's three stages on a tiny tree with loader workers; the first stage is killed (simulated
    in-process) after 1 of its 3 steps, and the run after it resumes at step 1 and ends with 3 steps."""
    path = rehearsal.rehearse("04", replace(TINY, kill_after=1), data=tmp_path, results=tmp_path / "r",
                              kill="simulate")
    record = json.loads(path.read_text())
    assert path.name == "04-rehearsal.json" and record["rehearsal"] is True
    assert record["loader_workers"] == 1 and record["config"]["n_train"] == 6
    assert [s["stage"] for s in record["stages"]] == ["04-fcn32s", "04-fcn16s", "04-fcn8s"]
    assert [s["steps"] for s in record["stages"]] == [2, 3, 3]  # the first stage: 1 step before the kill
    assert all(s["steps_per_epoch"] == 3 and s["batch"] == 2 for s in record["stages"])
    check = record["kill_and_resume"]
    assert check["ok"] and check["checkpoint_at_kill"] == {"epoch": 0, "step": 1}
    assert check["resumed"].endswith("epoch 1/1, step 1/3.") and check["steps_total"] == 3
    assert check["checkpoint_at_end"] == {"epoch": 1, "step": 0}
    assert record["images_per_s"] > 0 and 0 <= record["data_wait_share"] < 1
    assert record["timed_steps"] == 1 + 2 + 2 and record["peak_memory_mb"] > 100
    assert set(record["scores"]) == {"fcn32s", "fcn16s", "fcn8s"}
    assert all(0.0 <= s["mean_iou"] <= 1.0 for s in record["scores"].values())
    tree = tmp_path / "rehearsal-voc-48x64-6-2"
    assert (tree / "COMPLETE").exists() and len(list(tree.rglob("*.jpg"))) == 8


@pytest.mark.parametrize("lesson, network", [("06", "deconvnet"), ("07", "unet")])
def test_rehearsal_of_the_other_recipes(tmp_path, lesson, network):
    record = json.loads(rehearsal.rehearse(lesson, replace(TINY, steps=2, workers=0), data=tmp_path,
                                           results=tmp_path / "r").read_text())
    assert set(record["scores"]) == {network} and "kill_and_resume" not in record
    assert record["stages"][0]["steps"] == 2 and record["stages"][0]["scoring_s"] > 0


@pytest.mark.slow  # a second Python process: its imports take seconds
def test_rehearsal_from_the_command_line_kills_a_child_with_sigkill(tmp_path, capsys):
    """The real thing: `--rehearse` runs a child process, SIGKILLs it mid-epoch, resumes in this one."""
    code = reproduce.main(["05", "--rehearse", "--data", str(tmp_path), "--results", str(tmp_path / "r"),
                           "--steps", "2", "--batch", "2", "--val", "1", "--width", "0.0625",
                           "--images", "4,1", "--size", "48x64", "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    check = json.loads((tmp_path / "r" / "05-rehearsal.json").read_text())["kill_and_resume"]
    assert check["how"] == "SIGKILL to a child process" and check["child_returncode"] == -9
    assert check["ok"] and check["checkpoint_at_kill"]["step"] == 1 and check["steps_after_resume"] == 1


def test_step_probe_times_each_step_and_pauses_where_asked(tmp_path):
    from seglib.models.local import LocalNet
    from seglib.synthetic import SyntheticDataset
    data = SyntheticDataset(8, size=32, seed=0)
    probe, model = rehearsal.StepProbe(), LocalNet(data.num_classes)
    with probe.watch(model, "tiny", 2, 4, tmp_path / "x.pt"):
        fit(model, data, epochs=1, lr=0.01, batch_size=2, progress=False)
    stage = probe.stages[0]
    assert stage["steps"] == 4 and stage["timed_steps"] == 3 and stage["images_per_s"] > 0
    assert 0 <= stage["data_wait_share"] < 1
    probe, model = rehearsal.StepProbe(kill_after=2, kill="raise"), LocalNet(data.num_classes)
    with pytest.raises(rehearsal._SimulatedKill, match="start of step 3"), \
            probe.watch(model, "tiny", 2, 4, tmp_path / "x.pt"):
        fit(model, data, epochs=1, lr=0.01, batch_size=2, progress=False)
    assert probe.stages[0]["steps"] == 2


def test_rehearsal_settings_are_checked():
    with pytest.raises(ValueError, match=r"kill_after must be in 1\.\.steps-1 = 1\.\.2"):
        rehearsal.Rehearsal(steps=3, kill_after=3)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        rehearsal.Rehearsal(steps=0)
    with pytest.raises(ValueError, match="no full profile for lesson '99'"):
        rehearsal.rehearse("99")
