"""The rehearsal of a lesson's full profile: its recipe run anywhere on generated data at the real sizes
(VOC's 1,464 + 1,449 images of about 500 x 375, U373's 696 x 520 frames) with random weights, a few steps per
stage, timed step by step (``StepProbe``), killed mid-epoch and resumed from its checkpoint, and measured
(``rehearse``). ``python -m seglib.reproduce LESSON --rehearse`` and ``benchmarks/bench_rehearsal.py`` run it.
Shown in notebooks/08_comparison.ipynb, section 7.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import Dataset, Subset

from seglib import train as _train
from seglib.core import data_root, pick_device, results_root
from seglib.fixtures import VOC2012_SIZES, make_cell_tracking_tree, make_voc_tree
from seglib.train import fit


__all__ = ["PAUSED", "Rehearsal", "StepProbe", "fit_rehearsal", "rehearse", "u373_tree",
           "voc_tree"]


@dataclass(frozen=True)
class Rehearsal:
    """A rehearsal of the full profile: generated data at the real sizes (VOC's 1,464 + 1,449 images of about
    500 x 375; U373's frames of 696 x 520), random weights in place of ImageNet's, ``steps`` training steps
    per stage (one epoch of a subset), ``val`` images scored, loader ``workers`` (None: fit's own choice),
    and, if ``kill_after``, a kill after that many steps of the first stage and a resume.
    Used by seglib.reproduce (``--rehearse``) and benchmarks/bench_rehearsal.py (not built in a lesson)."""

    steps: int = 20
    batch: int | None = None           # None: the recipe's batch
    val: int = 10
    width: float = 1.0                 # VGG's channel multiplier (U-Net: 64 x width channels); 1 = real size
    n_train: int = VOC2012_SIZES["n_train"]
    n_val: int = VOC2012_SIZES["n_val"]
    size: tuple[int, int] = VOC2012_SIZES["size"]        # (height, width) of the VOC images
    cell_size: tuple[int, int] = (520, 696)               # (height, width) of the U373 frames
    workers: int | None = None
    kill_after: int | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "val", "n_train", "n_val"):
            if getattr(self, name) < 1:
                raise ValueError(f"Rehearsal.{name} must be >= 1, got {getattr(self, name)}")
        if self.kill_after is not None and not 1 <= self.kill_after < self.steps:
            raise ValueError(f"Rehearsal.kill_after must be in 1..steps-1 = 1..{self.steps - 1} (a kill "
                             f"mid-epoch), got {self.kill_after}")


PAUSED = "rehearsal: paused to be killed"
"""What a rehearsal's child process prints (with the checkpoint and step) when it waits for its SIGKILL."""


class _SimulatedKill(RuntimeError):
    """Raised in place of a SIGKILL by a rehearsal that simulates its kill in-process (the tests)."""


class StepProbe:
    """Times every training step of a rehearsal, from outside ``fit``: a step starts at the model's forward
    (its batch is loaded) and ends when the optimizer has stepped (on CUDA after a synchronize); the gap
    between one step's end and the next one's start is the wait for data. ``kill_after``: in the first stage,
    at the start of step ``kill_after + 1`` (its checkpoint written), ``"pause"`` (wait for a SIGKILL) or
    ``"raise"`` (``_SimulatedKill``).
    Used by seglib.reproduce's rehearsal runs (not built in a lesson)."""

    def __init__(self, kill_after: int | None = None, kill: str = "pause") -> None:
        if kill not in ("pause", "raise"):
            raise ValueError(f"kill must be 'pause' or 'raise', got {kill!r}")
        self.kill_after, self.kill, self.stages = kill_after, kill, []

    @contextlib.contextmanager
    def watch(self, model: torch.nn.Module, name: str, batch: int, steps_per_epoch: int,
              checkpoint: Path) -> Iterator[dict]:
        """Record the steps ``fit`` takes on ``model`` inside the block into ``self.stages``."""
        called, starts, ends = time.perf_counter(), [], {}
        first_stage = not self.stages
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

        def start(module: torch.nn.Module, args: tuple) -> None:
            if not module.training:  # scoring, not training
                return
            if first_stage and self.kill_after is not None and len(starts) == self.kill_after:
                self._kill(checkpoint, len(starts))
            starts.append(time.perf_counter())

        def end(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
            sync()
            ends[len(starts) - 1] = time.perf_counter()  # a step skipped (all-ignore, fp16 overflow): no end

        hooks = [model.register_forward_pre_hook(start),
                 register_optimizer_step_post_hook(end)]
        record = {"stage": name, "batch": batch, "steps_per_epoch": steps_per_epoch}
        try:
            yield record
        finally:
            for hook in hooks:
                hook.remove()
            timed = [i for i in range(1, len(starts)) if i in ends and i - 1 in ends]
            busy = sum(ends[i] - ends[i - 1] for i in timed)
            waited = sum(starts[i] - ends[i - 1] for i in timed)
            record.update(steps=len(starts), timed_steps=len(timed),
                          start_s=round(ends[0] - called, 3) if 0 in ends else None,
                          images_per_s=round(batch * len(timed) / busy, 3) if busy else None,
                          data_wait_share=round(waited / busy, 4) if busy else None,
                          _busy=busy, _waited=waited)
            self.stages.append(record)

    def _kill(self, checkpoint: Path, step: int) -> None:
        if self.kill == "raise":
            raise _SimulatedKill(f"killed (simulated) at the start of step {step + 1}; "
                                f"{checkpoint} holds step {step}")
        print(f"{PAUSED}: {checkpoint} step {step}", flush=True)
        time.sleep(600)
        raise RuntimeError(f"rehearsal: waited 600 s at step {step + 1} for a SIGKILL that never came")

    def totals(self) -> dict:
        """Images per second and the share of time spent waiting for data over every timed step."""
        busy = sum(s["_busy"] for s in self.stages)
        images = sum(s["batch"] * s["timed_steps"] for s in self.stages)
        waited = sum(s["_waited"] for s in self.stages)
        return {"images_per_s": round(images / busy, 3) if busy else None,
                "data_wait_share": round(waited / busy, 4) if busy else None,
                "timed_steps": sum(s["timed_steps"] for s in self.stages)}

def _tree(folder: Path, build: Callable[[Path], Path]) -> Path:
    """``build(folder)`` once, then reused while its ``COMPLETE`` marker is there (a build cut short is
    done again)."""
    if not (folder / "COMPLETE").exists():
        build(folder)
        (folder / "COMPLETE").write_text("generated by seglib.rehearsal\n")
    return folder


def voc_tree(data: Path, r: Rehearsal) -> Path:
    """The generated VOC-format tree at the rehearsal's counts and size, under ``data`` (built once, then
    reused). Used by seglib.reproduce's rehearsal runs (not built in a lesson)."""
    folder = data / f"rehearsal-voc-{r.size[0]}x{r.size[1]}-{r.n_train}-{r.n_val}"
    return _tree(folder, lambda root: make_voc_tree(root, r.n_train, r.n_val, r.size,
                                                    portrait=VOC2012_SIZES["portrait"]))


def u373_tree(data: Path, r: Rehearsal) -> Path:
    """Generated U373 frames at the rehearsal's size, as many as its steps and scoring read (4 training
    tiles per frame), under ``data`` (built once, then reused).
    Used by seglib.reproduce's rehearsal runs (not built in a lesson)."""
    frames = max(math.ceil(r.steps * (r.batch or 1) / 4), r.val)
    folder = data / f"rehearsal-u373-{r.cell_size[0]}x{r.cell_size[1]}-{frames}"
    return _tree(folder, lambda root: make_cell_tracking_tree(root, frames, r.cell_size))


def fit_rehearsal(model: torch.nn.Module, data: Dataset, name: str, r: Rehearsal, probe: StepProbe | None,
                  checkpoint: Path, *, lr: float, batch: int, **kwargs) -> dict:
    """``fit`` for one epoch of the first ``r.steps x batch`` samples (``r.batch`` overrides ``batch``),
    watched by ``probe``; with a kill planned, a checkpoint after every step (the kill finds one).
    Used by seglib.reproduce's rehearsal runs (not built in a lesson)."""
    batch = r.batch or batch
    data = Subset(data, range(min(len(data), r.steps * batch)))
    probe = probe or StepProbe()
    every = 0.0 if probe.kill_after is not None else _train.CHECKPOINT_EVERY_S
    with probe.watch(model, name, batch, -(-len(data) // batch), checkpoint), _attribute(
            _train, "CHECKPOINT_EVERY_S", every):
        return fit(model, data, epochs=1, lr=lr, batch_size=batch, progress=False, checkpoint=checkpoint,
                   **kwargs)


@contextlib.contextmanager
def _attribute(owner: object, name: str, value: object) -> Iterator[None]:
    """Set ``owner.name`` to ``value`` inside the block only."""
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` inside the block (``None``: leave it as it is)."""
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class _Tee(io.TextIOBase):
    """Writes to the real stdout and keeps a copy (to read fit's "Resumed from ..." line)."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()



def _checkpoint_position(path: Path) -> dict:
    """Epoch and step a checkpoint holds, read without loading its tensors (``mmap``)."""
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {"epoch": int(state["epoch"]), "step": int(state["step"])}


def _child_argv(lesson: str, r: Rehearsal, work: Path, checkpoints: Path) -> list[str]:
    """The command that runs this rehearsal in a child process that waits, mid-epoch, for its SIGKILL."""
    argv = [sys.executable, "-m", "seglib.reproduce", lesson, "--rehearse", "--data", str(work),
            "--checkpoints", str(checkpoints), "--steps", str(r.steps), "--val", str(r.val),
            "--width", repr(r.width), "--images", f"{r.n_train},{r.n_val}",
            "--size", "x".join(map(str, r.size)), "--cell-size", "x".join(map(str, r.cell_size)),
            "--pause-at", str(r.kill_after)]
    argv += ["--batch", str(r.batch)] if r.batch else []
    return argv + (["--workers", str(r.workers)] if r.workers is not None else [])


def _kill_child(lesson: str, r: Rehearsal, work: Path, checkpoints: Path, timeout: float) -> dict:
    """Run the rehearsal in a child process; SIGKILL it when it reports that the first stage's checkpoint
    after ``kill_after`` steps is written (it is then at the start of the next step, mid-epoch)."""
    package = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(_child_argv(lesson, r, work, checkpoints), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env)
    guard = threading.Timer(timeout, child.kill)  # a child that never reaches its kill point is ended too
    guard.start()
    lines, killed_at = [], None
    try:
        for line in child.stdout:
            lines.append(line)
            print(f"  [child {child.pid}] {line}", end="", flush=True)
            if line.startswith(PAUSED):
                killed_at = time.perf_counter()
                os.kill(child.pid, signal.SIGKILL)
                break
        code = child.wait()
    finally:
        guard.cancel()
        child.stdout.close()
    if killed_at is None:
        raise RuntimeError(f"the rehearsal's child process ended (code {code}) before its kill point:\n"
                           + "".join(lines[-20:]))
    checkpoint = Path(lines[-1][len(PAUSED) + 2:].rsplit(" step ", 1)[0])
    return {"how": "SIGKILL to a child process", "returncode": code, "checkpoint": checkpoint}


def _simulated_kill(run: Callable[[], dict]) -> dict:
    """The same kill in-process: the probe raises where the child would wait for its SIGKILL."""
    try:
        run()
    except _SimulatedKill as exc:
        checkpoint = Path(str(exc).split("; ", 1)[1].rsplit(" holds", 1)[0])
        return {"how": "simulated in-process (an exception at the kill point)", "returncode": None,
                "checkpoint": checkpoint}
    raise RuntimeError("the rehearsal finished without reaching its kill point")


def rehearse(lesson: str, rehearsal: Rehearsal = Rehearsal(), data: Path | None = None,
             checkpoints: Path | None = None, results: Path | None = None, kill: str = "sigkill",
             timeout: float = 3600.0) -> Path:
    """Rehearse ``lesson``'s full profile anywhere (a GPU is used if there is one): its recipe on generated
    data at the real sizes, random weights, ``rehearsal.steps`` steps per stage with loader workers,
    augmentation, AMP on CUDA, checkpoints; with ``rehearsal.kill_after``, first a run killed mid-epoch
    (``kill="sigkill"``: a child process; ``"simulate"``: in-process), then the run that resumes from its
    checkpoint and finishes; scoring; ``results/<lesson>-rehearsal.json`` with images per second (data
    loading included), the share of time waiting for data, peak memory and the kill-and-resume check."""
    from seglib.reproduce import Setup, hardware, recipe_for, write_json  # reproduce's Setup runs rehearsals
    recipe = recipe_for(lesson)
    if kill not in ("sigkill", "simulate"):
        raise ValueError(f"kill must be 'sigkill' or 'simulate', got {kill!r}")
    work = Path(data or data_root() / "rehearsal")
    checkpoints = Path(checkpoints or work / "checkpoints" / lesson)
    checkpoints.mkdir(parents=True, exist_ok=True)
    for old in checkpoints.glob("reproduce-*.pt"):  # a rehearsal starts from nothing
        old.unlink()
    start, device = time.perf_counter(), pick_device()
    workers = (str(rehearsal.workers) if rehearsal.workers is not None
               else None if device.type == "cuda" else "2")  # on a GPU: fit's own number
    with _environment("SEGLIB_WORKERS", workers):
        workers_used = _train._workers(device)
        generate = time.perf_counter()
        (u373_tree if lesson == "07" else voc_tree)(work, rehearsal)
        generate = time.perf_counter() - generate
        killed = None
        if rehearsal.kill_after is not None:
            killed = (_kill_child(lesson, replace(rehearsal, workers=int(workers_used)), work, checkpoints,
                                  timeout) if kill == "sigkill" else
                      _simulated_kill(lambda: recipe.run(Setup(False, work, checkpoints, rehearsal,
                                                               StepProbe(rehearsal.kill_after, "raise")))))
            killed["at_kill"] = _checkpoint_position(killed["checkpoint"])
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        probe, tee = StepProbe(), _Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            scores = recipe.run(Setup(False, work, checkpoints, rehearsal, probe))
    record = {"lesson": lesson, "network": recipe.network, "rehearsal": True,
              "dataset": f"generated at the real sizes, not {recipe.dataset}; random weights, not ImageNet's",
              "config": asdict(rehearsal), "device": str(device), "hardware": hardware(),
              "amp": str(_train._autocast(device).fast_dtype).removeprefix("torch.") if device.type == "cuda"
              else None, "loader_workers": workers_used, "tree_seconds": round(generate, 1),
              **probe.totals(), **_peak_memory(device),
              "stages": [{k: v for k, v in s.items() if not k.startswith("_")} for s in probe.stages],
              "scores": scores}
    if killed is not None:
        record["kill_and_resume"] = _resume_check(killed, probe.stages[0], tee.copy.getvalue())
    record.update(minutes=round((time.perf_counter() - start) / 60, 2), torch=torch.__version__,
                  date=time.strftime("%Y-%m-%d"))
    return write_json(Path(results or results_root()) / f"{lesson}-rehearsal.json", record)


def _peak_memory(device: torch.device) -> dict:
    """Peak memory of this process: CUDA's ``max_memory_allocated``, else the resident set size's peak."""
    if device.type == "cuda":
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2 ** 20),
                "peak_memory_kind": "torch.cuda.max_memory_allocated"}
    import resource
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"peak_memory_mb": round(peak_kb / 1024), "peak_memory_kind": "peak resident set size (ru_maxrss)"}


def _resume_check(killed: dict, first: dict, log: str) -> dict:
    """Did the run after the kill resume from the checkpoint and finish the epoch with the same steps?"""
    at_kill, after = killed["at_kill"], _checkpoint_position(killed["checkpoint"])
    prefix = f"Resumed from {killed['checkpoint']}"
    resumed_line = next((line for line in log.splitlines() if line.startswith(prefix)), None)
    total = at_kill["step"] + first["steps"]
    result = {"how": killed["how"], "child_returncode": killed["returncode"], "stage": first["stage"],
              "checkpoint_at_kill": at_kill, "resumed": resumed_line, "steps_after_resume": first["steps"],
              "steps_total": total, "steps_per_epoch": first["steps_per_epoch"], "checkpoint_at_end": after}
    result["ok"] = bool(resumed_line and f"step {at_kill['step']}/" in resumed_line and at_kill["epoch"] == 0
                        and total == first["steps_per_epoch"] and after == {"epoch": 1, "step": 0})
    return result
