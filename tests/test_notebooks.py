"""The course notebooks: stored as agreed, written as agreed, and every one runs end to end.

Storage (see notebooks/README.md): each notebook is an ``.ipynb`` **without outputs**
paired by jupytext with a ``py:percent`` script; both are committed and must hold
the same cells. Each notebook is executed headless in a fresh kernel with
``PDSGD_QUICK=1`` (the course's small sizes, :func:`pdsgd.course.lessons.defaults`).
"""

import os
import re
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = ["01_the_network", "02_parallel_sgd", "03_scaling", "04_the_barrier",
          "05_going_distributed"]
BUDGET_S = 120  # each notebook, headless, on 2 cores


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_the_course_is_complete_and_nothing_else_is_there():
    ipynb = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    scripts = sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    assert ipynb == COURSE, "every notebook needs its .ipynb (and only the course's)"
    assert scripts == COURSE, "every notebook needs its paired py:percent script"
    assert 'formats = "ipynb,py:percent"' in (NOTEBOOKS / "jupytext.toml").read_text()


@pytest.mark.parametrize("name", COURSE)
def test_notebook_and_script_are_in_sync_and_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    script = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert script.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    assert _cells(nb) == _cells(script), (
        f"{name}.ipynb and {name}.py differ: run `make notebooks` (or jupytext --sync)")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}.ipynb holds outputs: run `make notebooks` to clear them")


@pytest.mark.parametrize("name", COURSE)
def test_notebook_opens_with_goals_ends_with_exercises_and_defines_nothing(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "You will learn" in nb.cells[0].source
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "## Exercises" in last.source
    assert 2 <= len(re.findall(r"^\d\. ", last.source, re.M)) <= 3
    for cell in nb.cells:
        if cell.cell_type == "code":
            # The logic lives in pdsgd: a cell calls and explains, it defines nothing.
            assert not re.search(r"^\s*(def|class) ", cell.source, re.M), cell.source


def _execute(name, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("PDSGD_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # what a notebook puts in a temp folder
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=BUDGET_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, tmp_path / f"{name}.ipynb")  # the executed copy, for a look on failure
    return nb, seconds


def _cell_seconds(nb):
    """``(seconds, first line)`` of every code cell, from nbclient's timing metadata."""
    from datetime import datetime

    out = []
    for cell in nb.cells:
        t = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in t and "shell.execute_reply" in t:
            start, end = (datetime.fromisoformat(t[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            out.append(((end - start).total_seconds(), cell.source.splitlines()[0]))
    return sorted(out, reverse=True)


def _widget_texts(nb):
    """Every string value held by the notebook's widgets (status lines, labels...)."""
    state = nb.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [m["state"]["value"] for m in state.values()
            if isinstance(m.get("state", {}).get("value"), str)]


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE)
def test_notebook_runs_headless(name, tmp_path, monkeypatch):
    nb, seconds = _execute(name, tmp_path, monkeypatch)
    slowest = _cell_seconds(nb)[:3]
    print(f"{name}: {seconds:.1f} s headless; slowest cells: "
          + "; ".join(f"{s:.1f} s {line!r}" for s, line in slowest))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "every notebook shows at least one figure"
    if name in ("02_parallel_sgd", "04_the_barrier"):
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in outputs), "the widget panel is displayed"
    # A panel pressed from a cell reports a refusal or a failure in its status line.
    assert not [t for t in _widget_texts(nb) if "refused:" in t or "failed:" in t]
    assert seconds < BUDGET_S or os.environ.get("PDSGD_NO_TIME_LIMIT"), (
        f"{name} took {seconds:.0f} s (budget {BUDGET_S} s); slowest cells: {slowest}")
