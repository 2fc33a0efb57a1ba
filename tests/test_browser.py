"""End to end in a real browser: JupyterLab serves notebook 02, headless Chromium runs it.

The server runs on 127.0.0.1 with a token and a free port, on a *copy* of the
notebook in the test's temporary folder (so nothing in the checkout is
written), with its own Jupyter config, runtime and workspace folders. It is
stopped at the end, whatever happens, together with every process it started.

Needs Debian's ``chromium`` (``apt-get install chromium``; Playwright's own
browser download is not used) and the ``playwright`` Python package. Without
them the test is skipped, except in CI (``CI=true``), where it fails.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PDSGD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NOTEBOOK = "02_parallel_sgd.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require(ok, reason):
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser test must run; .ci/run installs it)")
    pytest.skip(reason)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer {url} within {timeout} s")


def _stop(proc):
    """Stop the server and everything it started (kernels, their worker processes)."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    proc.terminate()  # the server shuts its kernels down on SIGTERM
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=10)
    for p in alive:
        p.kill()
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a copy of the notebook: yields ``(base_url, token)``."""
    _require(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _require(False, "the playwright package is not installed (pip install playwright)")
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, work / NOTEBOOK)
    # No "official Jupyter news?" toast over the screenshot.
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PDSGD_QUICK": "1", "TMPDIR": str(tmp_path),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for_server(f"{base}/api/status?token={token}", proc)
        except (RuntimeError, TimeoutError) as error:
            log.flush()
            tail = (tmp_path / "lab.log").read_text()[-2000:]
            raise RuntimeError(f"{error}; the end of its log:\n{tail}") from None
        yield base, token
    finally:
        _stop(proc)
        log.close()
        print(f"jupyter lab log: {tmp_path / 'lab.log'}")


def test_notebook_02_runs_in_jupyterlab_and_shows_the_panel(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token = lab
    shot = tmp_path / "02_parallel_sgd.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(90_000)
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            # The kernel must be up before "run all" is sent.
            page.wait_for_function("() => { const w = window.jupyterapp.shell.currentWidget;"
                                   " return w && w.sessionContext && w.sessionContext.session"
                                   " && w.sessionContext.session.kernel"
                                   " && w.sessionContext.session.kernel.status === 'idle'; }")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # The panel renders: its sliders are visible.
            sliders = page.locator(".jp-OutputArea-output .widget-slider")
            sliders.first.wait_for(state="visible", timeout=180_000)
            assert sliders.count() >= 4
            assert page.locator(".widget-slider .widget-label", has_text="workers N").count() == 1
            # Every cell ran: the kernel is idle again and no cell shows an error.
            page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext"
                                   ".session.kernel.status === 'idle'"
                                   " && document.querySelectorAll('.jp-Cell .jp-InputPrompt')"
                                   ".length > 0 && ![...document.querySelectorAll("
                                   "'.jp-InputPrompt')].some(p => p.textContent.includes('*'))",
                                   timeout=180_000)
            assert page.locator(".jp-OutputArea-output[data-mime-type="
                                "'application/vnd.jupyter.stderr'] .ansi-red-fg").count() == 0
            # Press Run in the panel: a plot appears inside the widget.
            panel = page.locator(".jp-OutputArea-output .widget-vbox").filter(
                has_text="Parallel SGD: choose, then press Run").first
            panel.scroll_into_view_if_needed()
            panel.get_by_role("button", name="Run").click()
            plot = panel.locator("img")
            plot.first.wait_for(state="visible", timeout=120_000)
            assert plot.first.evaluate("img => img.naturalWidth") > 100
            panel.get_by_text("test accuracy").first.wait_for(state="visible", timeout=60_000)
            panel.scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
