"""seglib.sweep: stored budget sweeps that parallel processes can fill without losing a result."""
import json
import multiprocessing
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from seglib import sweep
from seglib.compare import CONTROLS, NETWORKS, STEPS, TASKS, row_name


def fake_scores(seed: int, multiple: int) -> dict:
    return {"idea": {"mIoU": 0.5 + 0.1 * multiple + 0.01 * seed}, "baseline": {"mIoU": 0.4 + 0.1 * seed}}


def _store_one(path, seed):
    sweep._store(path, "demo", 10, {"lr": 1e-3}, 1, seed, fake_scores(seed, 1))


def test_store_load_values_and_holds(tmp_path):
    path = tmp_path / "demo.json"
    for multiple in (1, 2):
        for seed in (0, 1, 2):
            sweep._store(path, "demo", 10, {"lr": 1e-3}, multiple, seed, fake_scores(seed, multiple))
    s = sweep.load("demo", path)
    assert s.steps == 10 and s.multiples == [1, 2] and s.seeds(2) == [0, 1, 2]
    assert s.models == ["idea", "baseline"]
    assert s.values("idea", "mIoU", 2) == pytest.approx([0.7, 0.71, 0.72])
    # idea beats baseline by > 0.1 except on seed 2 at 1x (0.62 against 0.6)
    assert s.holds("idea", "baseline", "mIoU", margin=0.1) == {1: [2], 2: []}
    assert s.holds("baseline", "idea", "mIoU") == {1: [0, 1, 2], 2: [0, 1, 2]}
    text = s.table(["mIoU"])
    assert "mIoU @ 20" in text and "0.710 (0.700-0.720)" in text
    assert not list(tmp_path.glob("*.tmp-*")), "no temporary file is left behind"


def test_store_refuses_other_settings(tmp_path):
    path = tmp_path / "demo.json"
    sweep._store(path, "demo", 10, {"lr": 1e-3}, 1, 0, fake_scores(0, 1))
    with pytest.raises(ValueError, match="other settings"):
        sweep._store(path, "demo", 20, {"lr": 1e-3}, 1, 1, fake_scores(1, 1))
    assert sorted(json.loads(path.read_text())["runs"]["1"]) == ["0"]


@pytest.mark.skipif(sys.platform == "win32", reason="the lock needs fcntl")
def test_parallel_processes_lose_no_seed(tmp_path):
    path = tmp_path / "demo.json"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_store_one, args=(path, seed)) for seed in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert sweep.load("demo", path).seeds(1) == list(range(8))


def test_load_missing_names_the_benchmark(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark"):
        sweep.load("nothing", tmp_path / "nothing.json")


def test_plot_draws_one_line_per_model(tmp_path):
    path = tmp_path / "demo.json"
    for multiple in (1, 2, 4):
        sweep._store(path, "demo", 10, {}, multiple, 0, fake_scores(0, multiple))
    ax = sweep.plot(sweep.load("demo", path), "mIoU")
    assert [line.get_label() for line in ax.get_lines()] == ["idea", "baseline"]
    assert list(ax.get_lines()[0].get_xdata()) == [10, 20, 40]
    plt.close("all")


def test_values_skip_models_without_the_metric(tmp_path):
    path = tmp_path / "demo.json"
    sweep._store(path, "demo", 10, {}, 1, 0, {"chance": {"what": 0.3}, "idea": {"what": 0.9, "mIoU": 0.5}})
    s = sweep.load("demo", path)
    assert s.values("chance", "mIoU") == [] and s.values("chance", "what") == [0.3]
    assert "chance" in s.table(["mIoU", "what"])


def _bench(name: str = "bench_comparison"):
    """benchmarks/NAME.py as a module (benchmarks are scripts, not a package)."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_comparison_trains_only_the_rows_not_stored(tmp_path, monkeypatch):
    """Rows are added to a stored (seed, multiple) one by one, the controls too, for multiple x the steps;
    the pictures belong to seed 0 at 1x."""
    bench, calls = _bench(), []

    def fake(label, network, task, seed, **options):
        calls.append((label, options))
        return {"what": 0.5}, torch.zeros(4, 8, 8, dtype=torch.long)

    monkeypatch.setattr(bench, "trained_and_scored", fake)
    monkeypatch.setattr(bench, "STORED", tmp_path)
    every = [row_name(t, n) for t in TASKS for n in NETWORKS]
    controls = [f"control: {name}" for name in CONTROLS]
    rows = bench.scores(1, 2, {r: {} for r in every[1:] + controls[1:]}, None)
    assert list(rows) == [every[0], controls[0]] and [label for label, _ in calls] == list(rows)
    assert all(options["steps"] == 2 * STEPS for _, options in calls)
    _, (network, task, lr, border_weights) = next(iter(CONTROLS.items()))
    assert calls[1][1] == {"steps": 2 * STEPS, "lr": lr, "border_weights": border_weights}
    calls.clear()
    rows = bench.scores(1, 1, {}, None)
    assert list(rows) == every + [f"control: {name}" for name in CONTROLS] and len(calls) == len(rows)
    assert not (tmp_path / "comparison_predictions.npz").exists()        # pictures: seed 0 only
    bench.scores(0, 1, {}, None)
    pictures = np.load(tmp_path / "comparison_predictions.npz")
    assert sorted(pictures) == sorted(every) and pictures[every[0]].shape == (3, 8, 8)


@pytest.mark.parametrize("name, runs", [("bench_unet", "SYNTHETIC_RUNS"),
                                        ("bench_unet_nuclei", "NUCLEI_RUNS")])
def test_lesson_07_benchmarks_train_only_the_rows_not_stored(monkeypatch, name, runs):
    """A (seed, multiple) with some rows stored gets the others, every row at every budget, for
    multiple x the lesson's epochs."""
    from seglib import cells
    bench, trained = _bench(name), []
    def train_run(spec, *data, epochs, seed):
        trained.append((spec, epochs))
    monkeypatch.setattr(bench, "train_run", train_run)
    monkeypatch.setattr(bench, "scores", lambda model, *val: {"AP": 0.5})
    for helper in ("synthetic_cells", "bent", "border_scores", "nuclei_split", "nuclei_tile"):
        if hasattr(bench, helper):
            monkeypatch.setattr(bench, helper, lambda *a, **k: ((None, None), (None, None)))
    every = getattr(cells, runs)
    first, *rest = every
    rows = bench.run(1, 4, {first: {"AP": 0.1}}, None)
    assert list(rows) == rest and [spec for spec, _ in trained] == [every[r] for r in rest]
    assert {epochs for _, epochs in trained} == {4 * bench.EPOCHS}
    trained.clear()
    assert bench.run(1, 4, dict.fromkeys(every, {}), None) == {} and not trained


def test_the_stored_lesson_07_sweeps_hold_every_row_on_seeds_0_to_4_at_every_budget():
    from seglib import cells
    for name, runs in (("unet", cells.SYNTHETIC_RUNS), ("unet_nuclei", cells.NUCLEI_RUNS)):
        s = sweep.load(name)
        assert s.multiples == [1, 2, 4], name
        for x in s.multiples:
            assert s.seeds(x) == [0, 1, 2, 3, 4], (name, x)
            assert all(set(s.runs[x][seed]) == set(runs) for seed in s.seeds(x)), (name, x)


def test_the_stored_lesson_06_sweep_holds_every_rival_on_seeds_0_to_4_at_every_budget():
    bench = _bench("bench_deconvnet")
    s = sweep.load("deconvnet")
    assert s.multiples == [1, 2, 4] and s.steps == bench.STEPS
    for x in s.multiples:
        assert s.seeds(x) == [0, 1, 2, 3, 4], x
        assert all(set(bench.MODELS) <= set(s.runs[x][seed]) for seed in s.seeds(x)), x


def test_the_stored_comparison_is_a_sweep_with_every_row_on_seeds_0_to_4():
    """Every row, the controls included, on seeds 0-4 at 1x, 2x and 4x."""
    s = sweep.load("comparison")
    table = [row_name(t, n) for t in TASKS for n in NETWORKS]
    every = table + [f"control: {name}" for name in CONTROLS]
    assert s.steps == STEPS and s.multiples == [1, 2, 4]
    assert all(s.seeds(x) == [0, 1, 2, 3, 4] for x in s.multiples)
    assert all(set(s.runs[x][seed]) == set(every) for x in s.multiples for seed in s.seeds(x))
    assert all(TASKS[t].column in s.runs[1][0][row_name(t, n)] for t in TASKS for n in NETWORKS)


def test_main_skips_stored_seeds_and_by_row_merges_rows(tmp_path, monkeypatch):
    path, calls = tmp_path / "demo.json", []

    def whole(seed, multiple):
        calls.append((seed, multiple))
        return fake_scores(seed, multiple)

    monkeypatch.setattr(sys, "argv", ["bench", "--seeds", "0", "1", "--multiples", "1", "--out", str(path)])
    sweep.main("demo", whole, steps=10, protocol={}, description="", metrics=["mIoU"])
    sweep.main("demo", whole, steps=10, protocol={}, description="", metrics=["mIoU"])
    assert calls == [(0, 1), (1, 1)]                      # the second run found both stored

    def extra_row(seed, multiple, stored, args):           # adds a row, keeps what is stored
        assert set(stored) == {"idea", "baseline"} and args.seeds == [0, 1]
        return {"rival": {"mIoU": 0.3}}

    sweep.main("demo", extra_row, steps=10, protocol={}, description="", metrics=["mIoU"], by_row=True)
    s = sweep.load("demo", path)
    assert s.models == ["idea", "baseline", "rival"] and s.values("rival", "mIoU") == [0.3, 0.3]
    assert s.values("idea", "mIoU") == pytest.approx([0.6, 0.61])
