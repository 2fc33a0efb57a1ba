"""Every course notebook, 01-07, run whole in JupyterLab in headless Chromium, timed.

Opt-in (``PDSGD_BROWSER_ALL=1``): it takes a few minutes, so ``make test`` skips it.
It measures what a class sees, for the teacher notes (``docs/teacher.md``)::

    PDSGD_BROWSER_ALL=1 .venv/bin/pytest -s -q tests/test_browser_course.py

``PDSGD_BROWSER_QUICK=0`` runs them at the sizes a class runs (``PDSGD_QUICK`` unset
in the kernels; the default is the course's small sizes, ``PDSGD_QUICK=1``), and
``PDSGD_BROWSER_NOTEBOOKS="03 07"`` runs only those.

Each notebook opens in a tab of its own and runs with Run > Run All Cells, as
``tests/test_browser.py`` runs 02 and 06 (same server, launcher and browser).
Printed per notebook: the time from Run All to the last cell's reply as the page
saw it, the kernel's span (first cell's start to last cell's reply, from
JupyterLab's cell timing), and the slowest cell by its first line.
Then each panel's Stop is timed from the click to the status line saying
"stopped": 02's panel, 04's straggler panel and 06's. The kernel of each notebook
is shut down before the next one starts, so one notebook's time does not carry
another's idle kernel.
"""

import json
import os
import time
import urllib.request

import pytest
from test_browser import (
    CELL_TIMES,
    CHROMIUM,
    CHROMIUM_ARGS,
    QUICK,
    VIEWPORT,
    _panel,
    _start_a_long_run,
    lab,  # noqa: F401 (the fixture: the JupyterLab server)
    open_notebook,
    screenshot_on_failure,
    start_slowest_straggler,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("PDSGD_BROWSER_ALL") != "1",
    reason="opt-in, a few minutes: set PDSGD_BROWSER_ALL=1 to time every notebook in Chromium")]

COURSE = ["01_the_network.ipynb", "02_parallel_sgd.ipynb", "03_scaling.ipynb",
          "04_the_barrier.ipynb", "05_going_distributed.ipynb",
          "06_without_the_barrier.ipynb", "07_honest_speedup.ipynb"]
#: Some of them only, by number ("03 07"), to keep each timed run short.
CHOSEN = [n for n in COURSE if n[:2] in os.environ.get("PDSGD_BROWSER_NOTEBOOKS", n[:2]).split()]

#: "done" once every non-empty code cell has its reply (JupyterLab's timing metadata) and
#: the kernel is idle; "error" as soon as a cell shows a traceback (Run All stops there).
STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (document.querySelector(".jp-OutputArea-output[data-mime-type="
                             + "'application/vnd.jupyter.stderr'] .ansi-red-fg")) {
    return "error";
  }
  const cells = w.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== "code" || ![].concat(cell.toJSON().source).join("").trim()) continue;
    const t = cell.getMetadata("execution");
    if (!t || !t["shell.execute_reply"]) return "running";
  }
  return w.sessionContext.session.kernel.status === "idle" ? "done" : "running";
}"""

SPAN = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  let first = null, last = null;
  for (let i = 0; i < cells.length; i++) {
    const t = cells.get(i).type === "code" ? cells.get(i).getMetadata("execution") : null;
    if (!t || !t["iopub.execute_input"]) continue;
    const a = Date.parse(t["iopub.execute_input"]), b = Date.parse(t["shell.execute_reply"]);
    first = first === null ? a : Math.min(first, a);
    last = last === null ? b : Math.max(last, b);
  }
  return (last - first) / 1000;
}"""


def _shut_down_kernels(base, token):
    """Delete every session of the server: its kernel stops (nothing idles beside the next)."""
    def call(method, path):
        request = urllib.request.Request(f"{base}{path}?token={token}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    for session in json.loads(call("GET", "/api/sessions")):
        call("DELETE", f"/api/sessions/{session['id']}")


def _run_whole(tab, url, timeout=300):
    """Run All in ``tab``; return the seconds from Run All to the last cell's reply."""
    open_notebook(tab, url)
    started = time.monotonic()
    # Menu Run > Run All Cells runs this command; its promise settles when the cells have run.
    tab.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = started + timeout
    while (state := tab.evaluate(STATE)) == "running":
        assert time.monotonic() < deadline, f"the notebook did not finish within {timeout} s"
        time.sleep(0.1)
    assert state == "done", "a cell failed (a traceback in the page)"
    return time.monotonic() - started


def _stop_seconds(page, panel):
    """Click the running ``panel``'s Stop; seconds until its status says "stopped"."""
    started = time.monotonic()
    panel.get_by_role("button", name="Stop").click()
    panel.get_by_text("stopped after epoch").first.wait_for(state="visible", timeout=60_000)
    return time.monotonic() - started


def _stop_parallel_sgd(page):
    panel = _panel(page)
    _start_a_long_run(page, panel, workers=1, backend="auto")
    return _stop_seconds(page, panel)


def _stop_straggler(page):
    """As ``tests/test_browser.py`` stops 06's: BSP on threads, the slowest straggler."""
    panel = page.locator(".jp-OutputArea-output .widget-vbox").filter(
        has_text="make one worker a straggler").first
    start_slowest_straggler(page, panel)
    return _stop_seconds(page, panel)


STOPS = {"02_parallel_sgd.ipynb": ("02's panel, N = 1", _stop_parallel_sgd),
         "04_the_barrier.ipynb": ("04's straggler panel", _stop_straggler),
         "06_without_the_barrier.ipynb": ("06's straggler panel", _stop_straggler)}


def test_every_course_notebook_runs_whole_in_the_browser(lab):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base, token, _, tmp_path = lab
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for name in CHOSEN:
                tab = browser.new_page(viewport=VIEWPORT)
                try:
                    with screenshot_on_failure(tab, tmp_path / f"failure-{name}.png"):
                        # A workspace per notebook: the default one would reopen the last.
                        url = f"{base}/lab/workspaces/{name[:2]}/tree/{name}?reset&token={token}"
                        whole = _run_whole(tab, url)
                        span = tab.evaluate(SPAN)
                        line, slowest = max(tab.evaluate(CELL_TIMES), key=lambda t: t[1])
                        stop = STOPS[name][1](tab) if name in STOPS else None
                    rows.append((name, whole, span, line, slowest, stop))
                    print(f"{name}: whole {whole:.1f} s in the page ({span:.1f} s in the kernel),"
                          f" slowest cell {line[:50]!r} {slowest:.2f} s"
                          + (f"; Stop on {STOPS[name][0]}: {stop:.2f} s" if stop else ""))
                finally:
                    tab.close()
                    _shut_down_kernels(base, token)
        finally:
            browser.close()
    print(f"\nPDSGD_QUICK={QUICK} in the kernels")
    print("| notebook | whole notebook, in the browser | slowest cell, in the browser |")
    for name, whole, _, line, slowest, _ in rows:
        print(f"| {name[:2]} | {whole:.1f} s | `{line}`, {slowest:.1f} s |")
    assert CHOSEN and [r[0] for r in rows] == CHOSEN
