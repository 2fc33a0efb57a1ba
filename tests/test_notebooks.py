"""The course notebooks: stored as agreed, written as agreed, and every one runs end to end.

Storage (see notebooks/README.md): each notebook is committed as an ``.ipynb`` **without
outputs** (git's nbstripout filter, set up by ``make``, strips what a class saves)
paired by jupytext with a ``py:percent`` script; both are committed and must hold the
same cells. So are the worked answers in ``notebooks/solutions/``. Each notebook
and each solution is executed headless in a fresh kernel with ``PDSGD_QUICK=1`` (the
course's small sizes, :func:`pdsgd.course.lessons.defaults`), and every check it
prints is read back and must hold (:mod:`notebook_checks`). How long they take is a
benchmark's business (``pdsgd bench notebooks`` prints each notebook's time and slowest
cells against the course's budget); the tests only guard against a hang, at ten times
that budget. No notebook's text states a time that its own run did not measure.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
from notebook_checks import CHECKS, verify

from pdsgd.bench import notebooks as timing

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = ["01_the_network", "02_parallel_sgd", "03_scaling", "04_the_barrier",
          "05_going_distributed", "06_without_the_barrier", "07_honest_speedup"]
SOLUTIONS = [f"solutions/{name}_solutions" for name in COURSE]
#: A time stated in the text: "826 us", "13-18 us", "0.65 s", "tens of microseconds"...
TIME_FIGURE = re.compile(
    r"\d[\d,.]*\s*(?:-|to)?\s*[\d,.]*\s*(?:us|µs|μs|ms|s|microseconds?|milliseconds?|seconds?)\b"
    r"|(?:a few|tens of|hundreds of|several|a fraction of an?)\s+(?:micro|milli)?seconds?\b",
    re.IGNORECASE)


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_the_course_is_complete_and_nothing_else_is_there():
    for folder, names in ((NOTEBOOKS, COURSE), (NOTEBOOKS / "solutions", SOLUTIONS)):
        ipynb = sorted(str(p.relative_to(NOTEBOOKS).with_suffix("")).replace("\\", "/")
                       for p in folder.glob("*.ipynb"))
        scripts = sorted(str(p.relative_to(NOTEBOOKS).with_suffix("")).replace("\\", "/")
                         for p in folder.glob("*.py"))
        assert ipynb == names, "every notebook needs its .ipynb (and only the course's)"
        assert scripts == names, "every notebook needs its paired py:percent script"
    assert 'formats = "ipynb,py:percent"' in (NOTEBOOKS / "jupytext.toml").read_text()


def _git(*args):
    """``git args`` in the checkout: its output, or None outside a git checkout."""
    try:
        done = subprocess.run(["git", *args], cwd=NOTEBOOKS, capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError:
        return None
    return done.stdout if done.returncode == 0 else None


def _has_outputs(nb):
    return any(c.outputs or c.execution_count is not None
               for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", COURSE + SOLUTIONS)
def test_notebook_and_script_are_in_sync_and_commit_without_outputs(name):
    """Outputs in the working copy (a class's autosave) are allowed where git's nbstripout
    filter keeps them out of every commit; what git stores must hold none."""
    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    script = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert script.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    assert _cells(nb) == _cells(script), (
        f"{name}.ipynb and {name}.py differ: run `make notebooks` (or jupytext --sync)")
    if _git("rev-parse", "--is-inside-work-tree") is None:
        assert not _has_outputs(nb), f"{name}.ipynb holds outputs: run `make notebooks`"
        return
    relative = path.relative_to(NOTEBOOKS.parent).as_posix()
    if _has_outputs(nb):
        assert _git("check-attr", "filter", "--", relative).strip().endswith("nbstripout"), (
            ".gitattributes must send notebooks through nbstripout")
        assert _git("config", "filter.nbstripout.clean"), (
            f"{name}.ipynb holds outputs and git's nbstripout filter is not set up: "
            "run `make venv` (or `make notebooks` to clear them)")
    stored = _git("show", f":{relative}")  # the staged copy, what a commit would store
    if stored is not None:
        assert not _has_outputs(nbformat.reads(stored, as_version=4)), (
            f"{name}.ipynb was staged with outputs: `make venv` sets up git's filter")


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
    assert f"solutions/{name}_solutions.ipynb" in last.source, "exercises point to their answers"


@pytest.mark.parametrize("name", SOLUTIONS)
def test_every_exercise_has_a_worked_answer(name):
    course = nbformat.read(NOTEBOOKS / f"{name.split('/')[1][:-len('_solutions')]}.ipynb",
                           as_version=4)
    asked = len(re.findall(r"^\d\. ", course.cells[-1].source, re.M))
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    answers = [int(n) for c in nb.cells if c.cell_type == "markdown"
               for n in re.findall(r"^## (\d)\. ", c.source, re.M)]
    assert answers == list(range(1, asked + 1))
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not re.search(r"^\s*(def|class) ", cell.source, re.M), cell.source


@pytest.mark.parametrize("text,found", [
    ("an iteration of 826 us against 111 us", True), ("waits of 13-18 us", True),
    ("a sample takes tens of microseconds", True), ("it took 0.65 s", True),
    ("a delay of 5 ms", True), ("2.3 milliseconds", True),
    ("the printed times", False), ("set `extra ms per iteration` to 5", False),
    ("N = 2 workers, 4 epochs", False),
])
def test_the_time_figure_pattern(text, found):
    assert bool(TIME_FIGURE.search(text)) is found


@pytest.mark.parametrize("name", COURSE + SOLUTIONS)
def test_the_text_states_no_time_its_run_did_not_measure(name):
    """Times come from the notebook's own run, printed by its cells (f-strings of the
    measurement); the text says what to look for, never how long something takes."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    stated = [m.group(0) for c in nb.cells if c.cell_type == "markdown"
              for m in TIME_FIGURE.finditer(c.source)]
    assert not stated, f"{name} states times in its text: {stated}"


#: What notebook 05 printed in one run: the check and a number its text explains.
PRINTED_05 = """P = 300, 2 epochs; Dask scheduler at tcp://127.0.0.1:36497
same weights as serial: True
a BSP round on Dask: 50.5 ms; its computation alone: 1.52 ms; the rest, 97% of the round, \
is communication and scheduling
"""


def test_every_notebook_has_its_printed_checks_read():
    assert set(CHECKS) == set(COURSE + SOLUTIONS)


@pytest.mark.parametrize("change,failure", [
    (None, None),
    (("serial: True", "serial: False"), "it printed 'same weights as serial: False'"),
    (("serial: True", "serial: Tru"), "no line 'same weights as serial: True'"),
    (("the rest, 97%", "the rest, 50%"), "the rest is 96.9% to 97.1%"),
    (("a BSP round", "one BSP round"), "expected 1 line(s) matching"),
])
def test_a_notebooks_printed_check_that_fails_is_caught(change, failure):
    printed = PRINTED_05 if change is None else PRINTED_05.replace(*change)
    failures = verify("05_going_distributed", printed)
    if failure is None:
        assert failures == []
    else:
        assert any(failure in f for f in failures), failures


#: What notebook 03 printed in one run: both speedups, each from its own baseline's time.
PRINTED_03 = """N = 2, b = 1: the engine 0.2193 s; the sequential run at b = 1 0.0879 s, so the \
seed's S = 0.40; sequential minibatch SGD at batch N b = 2 0.0456 s, so the hardware speedup \
= 0.21 (ideal 2)
fitted to the hardware speedup: parallel fraction f = 0.00; Amdahl's limit 1/(1-f) = 1.0
per sample: sequential 147 us, compute 76 us, aggregate 73 us; per iteration: \
synchronisation 53 + 457 log2(N) us
the seed's S that no number of workers exceeds (sequential / aggregate): 2.0
sequential rates measured, per batch: batch 1: 147 us per sample, batch 2: 76 us per sample
Both reached the same test accuracy, 0.3020, as two runs of one minibatch SGD should.
N = 8 on 2 cores, hosting = workers: 2,391 samples/s, 6.1 involuntary context switches per \
iteration, waiting 81% of the workers' time
"""


@pytest.mark.parametrize("change,failure", [
    (None, None),
    # The hardware speedup computed against the sequential run at b, not at N b.
    (("hardware speedup = 0.21", "hardware speedup = 0.40"), "hardware is its baseline's"),
    (("batch N b = 2", "batch N b = 1"), "the baselines are the sequential runs at b and N b"),
    (("seed's S = 0.40", "seed's S = 0.21"), "S is its baseline's"),
    (("batch 1: 147 us", "batch 1: 150 us"), "batch 1's rate is the sequential"),
    # The lesson's run must be past the cores, four workers per core.
    (("N = 8 on 2 cores", "N = 2 on 2 cores"), "not four workers per core"),
])
def test_notebook_03s_two_speedups_are_checked_against_their_baselines(change, failure):
    printed = PRINTED_03 if change is None else PRINTED_03.replace(*change)
    failures = verify("03_scaling", printed)
    if failure is None:
        assert failures == []
    else:
        assert any(failure in f for f in failures), failures


def test_the_notebook_benchmark_reports_each_notebooks_time_and_slowest_cell(tmp_path,
                                                                              capsys):
    from pdsgd.cli import main

    (tmp_path / "solutions").mkdir()
    for path, wait in ((tmp_path / "01_tiny.ipynb", 0.3),
                       (tmp_path / "solutions" / "01_tiny_solutions.ipynb", 0.0)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                             nbformat.v4.new_code_cell(
                                                 f"import time\ntime.sleep({wait})")])
        nbformat.write(nb, path)
    lines = []
    result = timing.run(tmp_path, progress=lines.append)
    rows = result["rows"]
    assert [r["notebook"] for r in rows] == ["01_tiny.ipynb", "solutions/01_tiny_solutions.ipynb"]
    slowest = rows[0]["slowest"][0]
    assert slowest["cell"] == "import time" and 0.3 <= slowest["seconds"] < rows[0]["seconds"]
    assert not any(r["over_budget"] for r in rows) and len(lines) == 2
    assert f"budget {timing.NOTEBOOK_BUDGET_S} s a notebook" in timing.format_table(result)
    assert main(["bench", "notebooks", "--notebooks", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "no course notebook" in err and err.count("\n") == 1


def _execute(name, tmp_path):
    nb, seconds = timing.execute(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    nbformat.write(nb, tmp_path / f"{Path(name).name}.ipynb")  # the executed copy, for a look
    return nb, seconds


def _widget_texts(nb):
    """Every string value held by the notebook's widgets (status lines, labels...)."""
    state = nb.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [m["state"]["value"] for m in state.values()
            if isinstance(m.get("state", {}).get("value"), str)]


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE + SOLUTIONS)
def test_notebook_runs_headless(name, tmp_path):
    nb, seconds = _execute(name, tmp_path)
    cells = timing.cell_seconds(nb)
    slowest = cells[:3]
    print(f"{name}: {seconds:.1f} s headless; slowest cells: "
          + "; ".join(f"{s:.1f} s {line!r}" for s, line in slowest))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images or name in SOLUTIONS, "every notebook shows at least one figure"
    if name in ("02_parallel_sgd", "03_scaling", "04_the_barrier",
                "06_without_the_barrier"):
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in outputs), "the widget panel is displayed"
    if name == "03_scaling":
        # The panel's parallel drop-down, flipped by a cell: both splits ran, each printed
        # what crossed between its workers per iteration, and the comparison was written.
        printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        for split in ("data", "tensor"):
            assert re.search(rf"parallel = {split}, N = 2, b = 1: [\d,]+ numbers .* cross "
                             "between the workers per iteration", printed), split
        assert "Median training time: data" in printed
    if name == "06_without_the_barrier":
        # The panel ran every setting, and the sweep printed its comparison with BSP.
        printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        for line in ("s =  0:", "s = 16:", "async   :", "hogwild :", "SSP s = 4: ",
                     "the same seed twice gives the same weights"):
            assert line in printed, line
    if name in SOLUTIONS:
        # Every worked answer passes its exercise's check (pdsgd.course.checks).
        printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        assert "not yet:" not in printed, printed[printed.find("not yet:"):][:300]
        assert printed.count(": correct") == len(re.findall(r"checks\.check\(", "".join(
            c.source for c in nb.cells if c.cell_type == "code")))
    # A panel pressed from a cell reports a refusal or a failure in its status line.
    assert not [t for t in _widget_texts(nb) if "refused:" in t or "failed:" in t]
    # What the notebook prints to check itself holds (every "...: True", and the numbers
    # its text quotes).
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    failures = verify(name, printed)
    assert not failures, f"{name}: " + "; ".join(failures)
    # A hang guard, not a budget: the budget is `pdsgd bench notebooks`'s to report.
    hang = timing.HANG_FACTOR
    assert seconds < hang * timing.NOTEBOOK_BUDGET_S, (
        f"{name} took {seconds:.0f} s, {hang}x its budget: hung? Slowest: {slowest}")
    if name in COURSE:
        assert cells[0][0] < hang * timing.CELL_BUDGET_S, (
            f"a cell of {name} took {cells[0][0]:.1f} s, {hang}x the budget of a cell: "
            f"{cells[0][1]!r}")


@pytest.mark.skipif(not shutil.which("git") or not shutil.which("make"), reason="git, make")
def test_a_class_s_outputs_never_reach_a_commit(tmp_path):
    """In a fresh repository set up by the Makefile's git-filter target (which ``make``
    runs), a notebook saved with outputs is staged without them, and saving new outputs
    changes nothing that ``git diff`` shows or ``git add`` stages."""
    root = NOTEBOOKS.parent
    repo = tmp_path / "clone"
    repo.mkdir()
    (repo / ".venv").symlink_to(root / ".venv")
    shutil.copy(root / ".gitattributes", repo / ".gitattributes")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}

    def run(*cmd):
        return subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True,
                              text=True, timeout=60).stdout

    run("git", "init", "-q")
    run("make", "-s", "-f", str(root / "Makefile"), "-o", ".venv/.installed", "git-filter")
    nb = nbformat.read(NOTEBOOKS / "01_the_network.ipynb", as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a class ran this\n")]
    code.execution_count = 7
    nbformat.write(nb, repo / "01.ipynb")
    run("git", "add", "01.ipynb", ".gitattributes")
    assert not _has_outputs(nbformat.reads(run("git", "show", ":01.ipynb"), as_version=4))
    run("git", "commit", "-q", "-m", "first")
    code.outputs[0].text = "the next class ran it again\n"
    nbformat.write(nb, repo / "01.ipynb")
    assert run("git", "diff", "--stat") == ""
    run("git", "add", "-u")
    assert run("git", "diff", "--cached", "--stat") == ""
