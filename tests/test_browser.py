"""Live widget test in a real browser: JupyterLab on localhost, a lesson opened in headless Chromium,
run under the smoke profile, and a learner's move of the latent explorer's slider changes its image.

What it proves that the headless tests cannot: the ipywidgets front end is installed and talks to the
kernel (slider -> kernel -> Output widget -> new picture in the page). A screenshot of the explorer
after the move is kept as a test artefact in ``$GENIMG_ARTIFACTS`` (default ``tests/artifacts/``).

Needs Chromium (Debian's ``chromium`` package, or ``$GENIMG_CHROMIUM``) and the ``playwright`` Python
package (no ``playwright install``: it drives the system Chromium); skipped when either is missing.
``.ci/run`` installs both (``.ci/install-browser``) and sets ``GENIMG_REQUIRE_BROWSER=1``, which turns
that skip into a failure. Run alone with ``pytest -m browser -s`` (about a minute).
"""
from __future__ import annotations

import base64
import importlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
LESSON = "03_dcgan"  # its section 7 ends with latent_explorer(G_shipped): a slider t, a resample button, a picture
CHROMIUM = Path(os.environ.get("GENIMG_CHROMIUM", "/usr/bin/chromium"))
TEST_LIMIT_S = 240  # the whole test, server start to screenshot; the smoke run of the lesson takes about 40 s
SERVER_START_S = 60
STEP_S = 30  # any single click, key press or page load
KEY_PRESSES = 10  # ArrowRight on the slider: t 0.50 -> 0.60 in steps of 0.01


class Deadline:
    """The test's overall time limit; every wait is capped by what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def ms(self, cap_s: float) -> float:
        """Milliseconds for a wait: ``cap_s`` or the time left, whichever is shorter."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the browser test ran past its limit of {self.seconds:.0f} s")
        return 1000 * min(cap_s, left)


@dataclass
class Lab:
    """A running JupyterLab server: ``url`` of the lesson's page (with its token) and its ``log`` file."""

    url: str
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no server log)"


def _require_browser() -> None:
    """Skip without Chromium or Playwright, or fail where ``GENIMG_REQUIRE_BROWSER=1`` (CI: never skip silently)."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set GENIMG_CHROMIUM)"
    else:
        try:
            importlib.import_module("playwright.sync_api")
        except ImportError as e:
            missing = f"the playwright package is not installed (pip install playwright): {e}"
    if missing and os.environ.get("GENIMG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GENIMG_REQUIRE_BROWSER=1 but {missing}; .ci/install-browser installs both")
    if missing:
        pytest.skip(missing)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_lab_settings(config_dir: Path) -> None:
    """JupyterLab user settings for a test: no news pop-up over the page, and every cell kept in the page
    (the default windowing may drop cells far off screen from the DOM)."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, value in settings.items():
        path = config_dir / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture
def deadline() -> Deadline:
    return Deadline(TEST_LIMIT_S)


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(os.environ.get("GENIMG_ARTIFACTS") or ROOT / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deadline: Deadline) -> Iterator[Lab]:
    """JupyterLab serving a copy of the lesson from ``tmp_path``, with the smoke profile in its (and its
    kernels') environment and every per-user folder (HOME, Jupyter, matplotlib, IPython) in ``tmp_path``."""
    _require_browser()
    folders = {"HOME": "home", "JUPYTER_CONFIG_DIR": "jupyter-config", "JUPYTER_DATA_DIR": "jupyter-data",
               "JUPYTER_RUNTIME_DIR": "jupyter-runtime", "MPLCONFIGDIR": "mpl", "IPYTHONDIR": "ipython",
               "XDG_CACHE_HOME": "cache", "XDG_CONFIG_HOME": "config"}
    for var, name in folders.items():
        (tmp_path / name).mkdir()
        monkeypatch.setenv(var, str(tmp_path / name))  # the Playwright driver and Chromium write there too
    _write_lab_settings(tmp_path / "jupyter-config")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copyfile(ROOT / "notebooks" / f"{LESSON}.ipynb", work / f"{LESSON}.ipynb")

    env = dict(os.environ, GENIMG_PROFILE="smoke", GENIMG_FIGURES_DIR=str(tmp_path / "figures"), PYTHONUNBUFFERED="1")
    env.pop("MPLBACKEND", None)  # the tests' Agg would stop the kernel's inline figures
    env.setdefault("OMP_NUM_THREADS", "1")
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           "--ServerApp.terminals_enabled=False", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "jupyterlab.log"
    with open(log, "wb") as log_file:
        server = subprocess.Popen(cmd, cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        start_limit = time.monotonic() + deadline.ms(SERVER_START_S) / 1000
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {server.returncode} before serving; its log:\n"
                            f"{Lab('', log).log_tail()}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > start_limit:
                pytest.fail(f"JupyterLab did not answer on {base} within {SERVER_START_S} s; its log:\n"
                            f"{Lab('', log).log_tail()}")
            time.sleep(0.3)
        yield Lab(url=f"{base}/lab/tree/{LESSON}.ipynb?token={token}", log=log)
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """Stop the server (it shuts its kernels down), SIGKILL it if it lingers, then any kernel it left."""
    import psutil

    try:
        children = psutil.Process(server.pid).children(recursive=True)  # kernels run in sessions of their own
    except psutil.NoSuchProcess:
        children = []
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    for child in children:
        try:
            child.wait(timeout=5)
        except psutil.TimeoutExpired:
            child.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def page(lab: Lab):
    """A page in headless Chromium (the system one: no ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, timeout=STEP_S * 1000,
                                     args=["--disable-dev-shm-usage", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(STEP_S * 1000)
            yield page
        finally:
            browser.close()


# A lesson cell that raised shows a traceback in a stderr output; the explorer is the widget box with a
# slider, a "resample" button and a picture.
_EXPLORER_OR_ERROR_JS = """() => {
  for (const el of document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    if (el.textContent.includes('Traceback (most recent call last)')) return 'error: ' + el.textContent.slice(0, 3000);
  const box = [...document.querySelectorAll('.widget-vbox')].find(b => b.querySelector('.widget-slider')
      && b.querySelector('.widget-output img') && b.textContent.includes('resample'));
  return box ? 'ready' : null;
}"""
# The status bar's kernel item ("No Kernel | Initializing" until the kernel has started and connected).
_KERNEL_IDLE = '.jp-StatusBar-TextItem:text-matches("\\(ipykernel\\) \\| Idle$")'


def _settled_src(page, image, deadline: Deadline, quiet_s: float = 1.0) -> str:
    """The image's ``src`` once the kernel is idle and the picture has not changed for ``quiet_s``
    (the Output widget replaces its ``<img>`` on every redraw)."""
    last, since = None, time.monotonic()
    while True:
        src = image.get_attribute("src", timeout=deadline.ms(STEP_S))
        if src != last:
            last, since = src, time.monotonic()
        elif time.monotonic() - since >= quiet_s and page.locator(_KERNEL_IDLE).count():
            return src
        page.wait_for_timeout(min(200, deadline.ms(STEP_S)))


def _png(src: str):
    from PIL import Image

    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), f"the explorer's image should be an inline PNG, its src starts {src[:40]!r}"
    return Image.open(io.BytesIO(base64.b64decode(src[len(prefix):]))).convert("RGB")


def test_moving_the_latent_explorer_slider_changes_its_image(lab: Lab, page, deadline: Deadline,
                                                             artifacts_dir: Path, record_property) -> None:
    from PIL import ImageChops

    t0 = time.monotonic()
    failure = artifacts_dir / f"latent_explorer_{LESSON}_failure.png"
    failure.unlink(missing_ok=True)  # an earlier run's
    try:
        page.goto(lab.url, timeout=deadline.ms(60))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=deadline.ms(60))
        page.wait_for_selector(_KERNEL_IDLE, timeout=deadline.ms(90))  # the kernel started

        page.locator(".lm-MenuBar-item", has_text="Run").click(timeout=deadline.ms(STEP_S))
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click(timeout=deadline.ms(STEP_S))

        state = page.wait_for_function(_EXPLORER_OR_ERROR_JS, timeout=deadline.ms(TEST_LIMIT_S)).json_value()
        assert state == "ready", f"{LESSON} failed in JupyterLab before its latent explorer showed:\n{state}"
        t_ran = time.monotonic() - t0
        page.wait_for_selector(_KERNEL_IDLE, timeout=deadline.ms(120))  # the rest of the lesson ran too

        explorer = page.locator(".widget-vbox", has=page.locator("button", has_text="resample")).filter(
            has=page.locator(".widget-output img")).last
        image, info = explorer.locator(".widget-output img").first, explorer.locator(".widget-html")
        info.filter(has_text="t = 0.50").wait_for(timeout=deadline.ms(STEP_S))
        before = _settled_src(page, image, deadline)

        handle = explorer.locator(".widget-slider .noUi-handle").first
        handle.focus(timeout=deadline.ms(STEP_S))
        for _ in range(KEY_PRESSES):
            handle.press("ArrowRight", timeout=deadline.ms(STEP_S))
            page.wait_for_timeout(50)  # a learner's key repeat, not one burst
        expected = f"{0.5 + KEY_PRESSES * 0.01:.2f}"
        readout = explorer.locator(".widget-slider .widget-readout").first
        assert readout.inner_text(timeout=deadline.ms(STEP_S)).strip() == expected, "the slider did not move"
        info.filter(has_text=f"t = {expected}").wait_for(timeout=deadline.ms(60))  # the kernel saw the last move
        after = _settled_src(page, image, deadline)  # ... and has redrawn the picture

        shot = artifacts_dir / f"latent_explorer_{LESSON}.png"
        explorer.screenshot(path=str(shot), timeout=deadline.ms(STEP_S))
    except Exception:
        try:
            page.screenshot(path=str(failure), full_page=False, timeout=10_000)
        except Exception:
            pass
        print(f"browser test failed after {time.monotonic() - t0:.0f} s; page screenshot {failure}\n"
              f"JupyterLab log (tail):\n{lab.log_tail()}")
        raise

    record_property("screenshot", str(shot))
    print(f"{LESSON} ran in JupyterLab in {t_ran:.0f} s; whole browser test {time.monotonic() - t0:.0f} s; "
          f"screenshot of the latent explorer: {shot}")
    assert after != before, f"moving the slider to t = {expected} left the explorer's image unchanged"
    old, new = _png(before), _png(after)
    assert old.size == new.size, f"the explorer's picture changed size: {old.size} -> {new.size}"
    assert ImageChops.difference(old, new).getbbox() is not None, "the new picture has the same pixels as the old one"
