"""Real JupyterLab in Debian's Chromium, driven by Python Playwright (see ../shared/JUPYTER-TESTING.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _skip_or_fail(reason: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (REQUIRE_BROWSER=1)")
    pytest.skip(f"{reason}; to run browser tests: apt-get install -y chromium (or make browser)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_browser() -> None:
    """Skip (fail under REQUIRE_BROWSER=1) when Debian's Chromium or Python Playwright is missing."""
    if not Path(CHROMIUM).exists():
        _skip_or_fail(f"{CHROMIUM} not found")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _skip_or_fail("python playwright not installed")


def isolated_env(home: Path, **extra: str) -> dict:
    """This environment on the tiny model, with Jupyter's, IPython's and XDG state under ``home``: a server
    started by a test reads no user settings and leaves none behind."""
    env = dict(os.environ, WORKBENCH_MODEL="tiny-llama", **extra)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("XDG_CONFIG_HOME", "xdg-config"), ("XDG_CACHE_HOME", "xdg-cache")]:
        env[var] = str(home / sub)
    return env


@contextmanager
def chromium_page(tmp_path: Path):
    """A Chromium page (1400 x 1000, 60 s default timeout); a full-page screenshot lands in ``tmp_path`` whatever
    happens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        pg.set_default_timeout(60_000)
        try:
            yield pg
        finally:
            pg.screenshot(path=str(tmp_path / "final.png"), full_page=True)
            print(f"screenshot: {tmp_path / 'final.png'}")
            browser.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on a free port over a copy of notebooks/; yields (base_url, workdir)."""
    require_browser()
    home = tmp_path_factory.mktemp("jupyter")
    work = home / "work"
    shutil.copytree(NOTEBOOKS, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = isolated_env(home)
    settings = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    overrides = settings / "overrides.json"
    if not overrides.exists():  # no "news?" toast over the screenshots
        overrides.write_text(json.dumps({"@jupyterlab/apputils-extension:notification":
                                         {"fetchNews": "false", "checkForUpdates": False}}))
    port = _free_port()
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
         "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
         f"--ServerApp.root_dir={work}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("jupyter lab did not answer /api/status within 60 s")
    yield base, work
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def page(lab, tmp_path):
    with chromium_page(tmp_path) as pg:
        yield pg


def open_and_run_all(page, base: str, notebook: str) -> None:
    """Open a notebook, wait for a connected idle kernel, then Run All Cells and wait for idle again."""
    page.goto(f"{base}/lab/tree/{notebook}?reset")  # a fresh workspace: no tabs left by an earlier test
    status = page.locator("text=/Python 3 \\(ipykernel\\) \\| Idle/")
    status.first.wait_for(timeout=120_000)
    page.locator(".jp-Notebook:visible").first.click()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:
        select.wait_for(timeout=2000)
        select.click()
    except Exception:
        pass
    try:  # the run has started once the kernel reports busy; only then does "Idle" mean finished
        page.locator("text=/Python 3 \\(ipykernel\\) \\| Busy/").first.wait_for(timeout=15_000)
    except Exception:
        pass
    status.first.wait_for(timeout=300_000)
