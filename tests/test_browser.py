"""End to end: the course's widgets work in a real JupyterLab, driven by headless Chromium.

The unit tests check the widgets' Python side; only a browser shows that a panel really
renders (the widgets extension is found, the PNG arrives as an <img>), that the still PNG
shown for readers without a kernel comes first, and that moving a slider in the page
reaches the kernel and comes back as a new picture. Three panels: the feature-map explorer
and lesson 06's unpooling explorer (each in a small generated notebook on an untrained net, so
this test needs no training run), and lesson 03's transposed-convolution stepper (the lesson
itself).

Needs Debian's ``/usr/bin/chromium`` (``apt-get install chromium``): skipped without it,
except under CI (``$CI`` set), where a missing browser is a failure. Run it with
``pytest tests/test_browser.py -m browser -s`` to see where the screenshots went.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright


pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LESSON_03 = REPO / "notebooks" / "03_upsampling.ipynb"
SCREENSHOTS = REPO / "build" / "screenshots"
RUN_TIMEOUT_MS = 300_000  # a busy 2-core machine can be slow


@dataclass(frozen=True)
class Panel:
    """Where a widget's parts are in the page: each panel tags itself with these CSS classes."""

    name: str
    panel: str
    picture: str
    slider: str  # the control the test moves: an IntSlider's CSS class


EXPLORER = Panel("feature_map_widget", ".seglib-feature-map-explorer", "img.seglib-fm-picture",
                 ".seglib-fm-channel")
UNPOOLING = Panel("unpooling_widget", ".seglib-unpooling-explorer", "img.seglib-up-picture",
                  ".seglib-up-stage")
STEPPER = Panel("transposed_conv_widget", ".seglib-transposed-conv-stepper", "img.seglib-tc-picture",
                ".seglib-tc-step")

# The explorer on an untrained, narrow FCN-8s and three synthetic images: renders in seconds.
EXPLORER_CELLS = [
    "import torch\n\n"
    "from seglib.core import set_threads\n"
    "from seglib.models.fcn import FCN\n"
    "from seglib.synthetic import CLASSES, make_batch\n"
    "from seglib.widgets.feature_maps import FeatureMapExplorer\n\n"
    "set_threads()\n"
    "torch.manual_seed(0)\n"
    "images, _ = make_batch(3, seed=0)",
    'FeatureMapExplorer(FCN(6, "8s", width=1 / 16), images, class_names=CLASSES["shapes"])',
]

# The unpooling explorer on an untrained, narrow DeconvNet (1x1 fc6) and three "thin" images.
UNPOOLING_CELLS = [
    "import torch\n\n"
    "from seglib.core import set_threads\n"
    "from seglib.models.deconvnet import DeconvNet\n"
    "from seglib.models.vgg import vgg16\n"
    "from seglib.synthetic import CLASSES, SyntheticConfig, make_batch\n"
    "from seglib.widgets.unpooling import UnpoolingExplorer\n\n"
    "set_threads()\n"
    "torch.manual_seed(0)\n"
    'images, _ = make_batch(3, seed=0, config=SyntheticConfig(size=64, variant="thin"))',
    "tiny = DeconvNet(4, vgg=vgg16(1 / 16, batch_norm=True, pool5_grid=1))",
    'UnpoolingExplorer(tiny, images, class_names=CLASSES["thin"])',
]

# JupyterLab settings that keep the run quiet and the page complete: no news or update
# pop-ups, no kernel-selection dialog, and every cell in the DOM (no virtual scrolling
# hiding the widget's output).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
}


def small_notebook(folder: Path, name: str, cells: list[str]) -> Path:
    """Write a notebook of ``cells`` into ``folder`` and return its path."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / name
    nbformat.write(nb, path)
    return path


def explorer_notebook(folder: Path) -> Path:
    """The feature-map explorer's notebook."""
    return small_notebook(folder, "feature_maps.ipynb", EXPLORER_CELLS)


def unpooling_notebook(folder: Path) -> Path:
    """The unpooling explorer's notebook."""
    return small_notebook(folder, "unpooling.ipynb", UNPOOLING_CELLS)


def lesson_03_copy(folder: Path) -> Path:
    """Copy lesson 03 (which shows the stepper) into ``folder``: JupyterLab autosaves, and the
    repository's stored outputs must not change."""
    text = LESSON_03.read_text(encoding="utf-8")
    assert "TransposedConvStepper" in text, f"{LESSON_03} no longer shows the stepper"
    return Path(shutil.copy(LESSON_03, folder / LESSON_03.name))


@pytest.fixture
def chromium() -> str:
    """Path to the browser; skip (or fail under CI) when it is not installed."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return str(CHROMIUM)


@dataclass
class Lab:
    """A running JupyterLab: where it listens, its token, its root folder and its log."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hermetic_env(home: Path) -> dict[str, str]:
    """Environment with Jupyter's config, data, runtime and settings in ``home``.

    The venv's own ``share/jupyter`` (where the widgets extension lives) is still found:
    Jupyter always searches ``sys.prefix``.
    """
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")]:
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env.pop("JUPYTERLAB_SETTINGS_DIR", None)
    env.pop("JUPYTERLAB_WORKSPACES_DIR", None)
    for plugin, values in LAB_SETTINGS.items():
        path = home / "config" / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    server_config = {"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                                "extension_manager": "readonly"}}  # no calls to the internet
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(server_config))
    return env


def wait_until_answering(lab: Lab, timeout: float = 120.0) -> None:
    """Poll the server's status API until it answers; fail with its log if it dies or hangs."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{lab.url}/api/status", headers={"Authorization": f"token {lab.token}"})
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {lab.process.returncode}:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout:.0f} s:\n{lab.log_tail()}")


def stop(process: subprocess.Popen) -> None:
    """Stop the server and the kernels it started (its own process group)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group we created
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab on a free port with a random token, rooted in a temporary folder."""
    root = tmp_path / "root"
    root.mkdir()
    env = hermetic_env(tmp_path / "jupyter")
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
               f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:  # containers and CI runners often run as root
        command.append("--allow-root")
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log, process)
    try:
        wait_until_answering(lab)
        yield lab
    finally:
        stop(process)


# The picture's bytes, hashed in the page (FNV-1a): a new src must also mean a new picture.
PICTURE_HASH_JS = """async (img) => {
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let h = 2166136261;
    for (const b of bytes) { h ^= b; h = Math.imul(h, 16777619) >>> 0; }
    return `${bytes.length}:${h}`;
}"""


# The first cell error shown in the page, or null: ipykernel's tracebacks go to stderr.
HAS_TRACEBACK_JS = """() => {
    const outputs = [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')];
    const error = outputs.find(o => o.textContent.includes('Traceback (most recent call last)'));
    return error ? error.textContent.slice(-2000) : null;
}"""


def assert_no_cell_failed(page) -> None:
    error = page.evaluate(HAS_TRACEBACK_JS)
    assert error is None, f"a cell failed:\n{error}"


def dismiss_dialogs(page, wait_ms: int = 3_000) -> None:
    """Accept a modal dialog (e.g. kernel selection) if one shows up: it would block the run."""
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        accept.first.wait_for(state="visible", timeout=wait_ms)
    except PlaywrightTimeout:
        return
    print("dismissing a dialog:", page.locator(".jp-Dialog").first.inner_text()[:200])
    accept.first.click()


def run_all_cells(page) -> None:
    """Run menu -> Run All Cells, as a learner would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def wait_for_kernel_idle(page, timeout_ms: int) -> None:
    """Wait until no cell is queued or running ([*]) and the kernel reports idle."""
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')];
            const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
            return indicator !== null && indicator.dataset.status === 'idle'
                && !prompts.some(p => p.textContent.includes('*'));
        }""",
        timeout=timeout_ms, polling=500,
    )


def open_and_run_all(page, lab: Lab, notebook: Path, panel: Panel):
    """Open ``notebook`` in JupyterLab, run all its cells, and return the panel's <img>."""
    page.goto(f"{lab.url}/lab/tree/{notebook.name}?token={lab.token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    dismiss_dialogs(page)
    wait_for_kernel_idle(page, 120_000)  # the kernel has started
    run_all_cells(page)
    page.wait_for_function(f"() => document.querySelector('{panel.picture}') || ({HAS_TRACEBACK_JS})()",
                           timeout=RUN_TIMEOUT_MS, polling=1000)  # stop early if a cell fails
    assert_no_cell_failed(page)
    wait_for_kernel_idle(page, RUN_TIMEOUT_MS)
    assert_no_cell_failed(page)
    picture = page.locator(panel.picture).first
    picture.wait_for(state="visible", timeout=60_000)
    return picture


# In the cell that shows the panel: is a plain <img> output (the still) there, before the panel?
STILL_BEFORE_PANEL_JS = """(panel) => {
    const live = document.querySelector(panel);
    const cell = live && live.closest('.jp-Cell');
    if (!cell) return 'no cell holds the panel';
    const stills = [...cell.querySelectorAll('.jp-RenderedImage img')].filter(img => !img.closest(panel));
    if (stills.length === 0) return 'no still PNG in the cell';
    const before = stills[0].compareDocumentPosition(live) & Node.DOCUMENT_POSITION_FOLLOWING;
    return before ? null : 'the still comes after the panel';
}"""


def step_slider(page, slider: str) -> int:
    """Focus a slider's handle and press an arrow key, as a learner would; return the new value."""
    handle = page.locator(f"{slider} .noUi-handle").first
    value, last = (int(float(handle.get_attribute(a))) for a in ("aria-valuenow", "aria-valuemax"))
    assert last > 0, f"{slider} has a single value: nothing to step through"
    handle.focus()
    page.keyboard.press("ArrowRight" if value < last else "ArrowLeft")
    return value + 1 if value < last else value - 1


@pytest.mark.parametrize("panel,make_notebook", [(EXPLORER, explorer_notebook), (STEPPER, lesson_03_copy),
                                                 (UNPOOLING, unpooling_notebook)],
                         ids=["feature_map_explorer", "transposed_conv_stepper", "unpooling_explorer"])
def test_widget_shows_a_still_then_reacts_in_jupyterlab(chromium: str, jupyter_lab: Lab, panel: Panel,
                                                        make_notebook) -> None:
    notebook = make_notebook(jupyter_lab.root)
    console: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot, failure = SCREENSHOTS / f"{panel.name}.png", SCREENSHOTS / f"{panel.name}_failure.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        try:
            picture = open_and_run_all(page, jupyter_lab, notebook, panel)
            assert page.evaluate(STILL_BEFORE_PANEL_JS, panel.panel) is None
            before_src, before_hash = picture.get_attribute("src"), picture.evaluate(PICTURE_HASH_JS)
            assert before_src, "the widget's <img> has no src"

            expected = step_slider(page, panel.slider)
            page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old",
                                   arg=[panel.picture, before_src], timeout=60_000)
            assert picture.evaluate(PICTURE_HASH_JS) != before_hash, "the src changed but the picture did not"
            readout = page.locator(f"{panel.slider} .widget-readout").first.inner_text()
            assert readout.strip() == str(expected), f"slider readout is {readout!r}, expected {expected}"

            page.locator(panel.panel).first.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot))
            print(f"screenshot: {screenshot}")
        except Exception:
            page.screenshot(path=str(failure))
            print(f"failure screenshot: {failure}")
            print("browser console (last 20):", *console[-20:], sep="\n  ")
            print("JupyterLab log (tail):", jupyter_lab.log_tail(), sep="\n")
            raise
        finally:
            browser.close()
