"""``make assignments``: the course's exercises as nbgrader assignments, for a class.

The worked answers (``notebooks/solutions/``) are nbgrader *source* notebooks:
each exercise's work and its answer sit between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, the explanations are solution cells, and a locked cell
per exercise calls :func:`pdsgd.course.checks.grade` (1 point). :func:`build`
lays out an nbgrader course folder from them and runs ``nbgrader
generate_assignment``: ``FOLDER/release/NN_name/NN_name.ipynb`` is what a
student gets (questions, empty answers, the checks). :func:`autograde` grades
the submissions placed under ``FOLDER/submitted/STUDENT/NN_name/`` and
returns the scores. Run ``python -m pdsgd.course.assignments [FOLDER]
[NN_name ...]``; docs/teacher.md says how a class uses it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pdsgd.course.lab import environment

SOLUTIONS = Path(__file__).resolve().parents[2] / "notebooks" / "solutions"
SUFFIX = "_solutions"
#: An answer left empty runs (its check prints a hint) instead of raising
#: NotImplementedError, nbgrader's default: a blank notebook grades to zero, cleanly.
CONFIG = """\
c = get_config()  # noqa: F821 (nbgrader's config loader defines it)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE"}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ExecutePreprocessor.timeout = 600
"""


def assignment_names(solutions=SOLUTIONS):
    """``["01_the_network", ...]``: one assignment per solution notebook."""
    return sorted(p.stem[:-len(SUFFIX)] for p in Path(solutions).glob(f"[0-9]*{SUFFIX}.ipynb"))


def _nbgrader(folder, *args):
    # nbgrader runs this environment's `alembic` to set up its gradebook: bin/ first on PATH.
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=folder,
                          capture_output=True, text=True, env=environment())
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {args[0]} failed:\n{done.stdout[-3000:]}"
                           f"{done.stderr[-3000:]}")
    return done


def build(folder="assignments", names=None, solutions=SOLUTIONS):
    """Lay out an nbgrader course in ``folder`` and generate the release version.

    Parameters
    ----------
    folder : str or Path
        The course folder (created; its ``source/`` and ``release/`` are rewritten).
    names : list of str, optional
        Assignments to build (default: every notebook, :func:`assignment_names`).

    Returns
    -------
    Path
        ``folder``, with ``release/NAME/NAME.ipynb`` for each name.
    """
    folder = Path(folder).resolve()
    names = list(names or assignment_names(solutions))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(
        CONFIG.format(root=str(folder), db=str(folder / "gradebook.db")))
    for name in names:
        source = folder / "source" / name
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        shutil.copy(Path(solutions) / f"{name}{SUFFIX}.ipynb", source / f"{name}.ipynb")
        _nbgrader(folder, "generate_assignment", name)
    return folder


def autograde(folder, name):
    """Grade every submission of assignment ``name`` in ``folder``.

    Returns
    -------
    dict
        ``{student: (score, max_score)}``.
    """
    from nbgrader.api import Gradebook

    folder = Path(folder).resolve()
    _nbgrader(folder, "autograde", name)
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        return {s.student.id: (s.score, s.max_score)
                for s in gradebook.find_assignment(name).submissions}


def main(argv=None):
    """``make assignments``: build every release version (or those named) into a folder."""
    argv = sys.argv[1:] if argv is None else argv
    folder, names = (argv[0], argv[1:]) if argv else ("assignments", [])
    unknown = sorted(set(names) - set(assignment_names()))
    if unknown:
        print(f"pdsgd: no assignment {', '.join(unknown)}: choose from "
              f"{', '.join(assignment_names())}", file=sys.stderr)
        return 2
    out = build(folder, names)
    print(f"the student version is in {out / 'release'}; nbgrader's course folder is {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
