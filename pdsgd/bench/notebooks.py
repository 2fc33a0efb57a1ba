"""``pdsgd bench notebooks``: how long each course notebook takes headless, cell by cell.

The course promises notebooks that a student runs in a couple of minutes on a
2-core laptop with ``PDSGD_QUICK=1`` (the course's small sizes), each cell
within seconds. That is a speed goal, so a benchmark shows it, not a test: this
one executes every notebook of the course (and its worked answers) in a fresh
kernel, the way the test suite does, and prints each notebook's time and its
slowest cells beside the budgets :data:`NOTEBOOK_BUDGET_S` and
:data:`CELL_BUDGET_S`. The tests keep only a hang guard, :data:`HANG_FACTOR`
times these budgets.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

from pdsgd.bench.common import register
from pdsgd.errors import PdsgdError

#: Seconds a notebook may take headless on 2 cores, and each cell of a course notebook.
NOTEBOOK_BUDGET_S = 120
CELL_BUDGET_S = 10
#: The tests fail a notebook only past this many times the budgets: a hang, not a slow run.
HANG_FACTOR = 10


@contextlib.contextmanager
def _environment(**values):
    """``os.environ`` with ``values`` set, as before afterwards (the kernel inherits it)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(path, workdir, cell_timeout=NOTEBOOK_BUDGET_S):
    """Run the notebook at ``path`` headless, in ``workdir``, with the course's small sizes.

    The kernel starts with ``PDSGD_QUICK=1``, matplotlib's Agg backend and
    ``TMPDIR=workdir`` (what a notebook puts in a temporary folder lands there).

    Returns
    -------
    (nbformat.NotebookNode, float)
        The executed notebook (outputs and nbclient's timing metadata in it) and
        the seconds the whole run took.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(Path(path), as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    with _environment(PDSGD_QUICK="1", MPLBACKEND="agg", TMPDIR=str(workdir)):
        start = time.perf_counter()
        client.execute()
    return nb, time.perf_counter() - start


def cell_seconds(nb):
    """``(seconds, first line)`` of every executed code cell, slowest first."""
    out = []
    for cell in nb.cells:
        t = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in t and "shell.execute_reply" in t:
            start, end = (datetime.fromisoformat(t[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            # Named by its first line of code, past nbgrader's "### BEGIN SOLUTION".
            lines = [x for x in cell.source.splitlines() if not x.startswith("### ")]
            out.append(((end - start).total_seconds(), (lines or [""])[0]))
    return sorted(out, reverse=True)


def course(folder):
    """The course's notebooks under ``folder`` and their worked answers, in order."""
    folder = Path(folder)
    lessons = sorted(p for p in folder.glob("[0-9]*.ipynb"))
    answers = sorted((folder / "solutions").glob("[0-9]*.ipynb"))
    if not lessons:
        raise PdsgdError(f"--notebooks {folder}: no course notebook (NN_name.ipynb) there; "
                         "run from the repository's root or name the folder")
    return lessons + answers


def run(folder="notebooks", slowest=3, progress=print):
    """Execute every notebook of the course; return a JSON-ready dict of their times."""
    rows = []
    for path in course(folder):
        with tempfile.TemporaryDirectory(prefix="pdsgd-notebook-") as workdir:
            nb, seconds = execute(path, workdir)
        cells = cell_seconds(nb)
        lesson = path.parent.name != "solutions"
        row = {"notebook": str(path.relative_to(folder)), "seconds": seconds,
               "slowest": [{"seconds": s, "cell": line} for s, line in cells[:slowest]],
               "over_budget": seconds > NOTEBOOK_BUDGET_S or bool(
                   lesson and cells and cells[0][0] > CELL_BUDGET_S)}
        rows.append(row)
        progress(format_row(row))
    return {"notebook_budget_s": NOTEBOOK_BUDGET_S, "cell_budget_s": CELL_BUDGET_S,
            "rows": rows}


def format_row(r):
    """One notebook in one line: its time and its slowest cells."""
    cells = "; ".join(f"{c['seconds']:.1f} s {c['cell'][:40]!r}" for c in r["slowest"])
    mark = "OVER BUDGET" if r["over_budget"] else "ok"
    return f"{r['notebook']:<48} {r['seconds']:>6.1f} s  {mark:<11}  slowest: {cells}"


def format_table(result):
    """The result of :func:`run` as a table, the budgets in its title."""
    lines = [f"notebooks headless, PDSGD_QUICK=1: budget {result['notebook_budget_s']} s a "
             f"notebook, {result['cell_budget_s']} s a cell of a course notebook",
             f"{'notebook':<48} {'time':>8}  {'':<11}  slowest cells"]
    return "\n".join(lines + [format_row(r) for r in result["rows"]])


def add_parser(subparsers):
    """Register ``pdsgd bench notebooks``."""
    p = register(subparsers, "notebooks", "seconds each course notebook takes headless, "
                 "and its slowest cells, against the course's budget", run=_run_args,
                 table=format_table)
    p.add_argument("--notebooks", default="notebooks", metavar="DIR",
                   help="the course's folder (default: notebooks)")


def _run_args(args):
    return run(args.notebooks, progress=lambda line: None)
