"""Graded exercises: every exercise has a check and a graded cell, and nbgrader grades them.

nbgrader's autograde runs on notebooks 01 and 02 only (each run executes the whole
notebook; the other four take minutes between them on 2 cores): the worked answers
get full marks, the unanswered student version gets zero, and its only errors are
the graded cells' AssertionErrors carrying a hint.
"""

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from pdsgd.course import assignments, checks

ROOT = Path(__file__).resolve().parents[1]
GRADED = ["01_the_network", "02_parallel_sgd"]


def _asked(name):
    course = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return len(re.findall(r"^\d\. ", course.cells[-1].source, re.M))


@pytest.mark.parametrize("name", assignments.assignment_names())
def test_every_exercise_has_a_check_and_a_graded_cell(name):
    source = nbformat.read(assignments.SOLUTIONS / f"{name}_solutions.ipynb", as_version=4)
    number = name[:2]
    wanted = [f"{number}.{k}" for k in range(1, _asked(name) + 1)]
    graded = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")
              and c.cell_type == "code"]
    assert [re.search(r'checks\.grade\("([\d.]+)"', c.source).group(1) for c in graded] == wanted
    assert all(c.metadata["nbgrader"]["points"] == 1 and c.metadata["nbgrader"]["locked"]
               for c in graded)
    assert all(e in checks.CHECKS for e in wanted)
    for cell in source.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source


def test_the_checks_cover_exactly_the_course_s_exercises():
    every = {f"{n[:2]}.{k}" for n in assignments.assignment_names()
             for k in range(1, _asked(n) + 1)}
    assert set(checks.CHECKS) == every


def test_unknown_assignment_is_refused_in_one_line(capsys):
    assert assignments.main(["unused-folder", "07_nothing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no assignment 07_nothing" in err
    assert not Path("unused-folder").exists()


@pytest.mark.slow
def test_nbgrader_gives_the_answers_full_marks_and_a_blank_release_zero(tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("PDSGD_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    folder = assignments.build(tmp_path / "course", GRADED)
    for name in GRADED:
        release = folder / "release" / name / f"{name}.ipynb"
        assert release.exists()
        text = release.read_text()
        assert "BEGIN SOLUTION" not in text and "YOUR CODE HERE" in text
        for student, notebook in (("solved", folder / "source" / name / f"{name}.ipynb"),
                                  ("blank", release)):
            target = folder / "submitted" / student / name
            target.mkdir(parents=True)
            shutil.copy(notebook, target / f"{name}.ipynb")
        scores = assignments.autograde(folder, name)
        asked = _asked(name)
        assert scores == {"solved": (asked, asked), "blank": (0, asked)}, name
        graded = nbformat.read(folder / "autograded" / "blank" / name / f"{name}.ipynb",
                               as_version=4)
        errors = [(c.metadata.get("nbgrader", {}).get("grade"), o.ename)
                  for c in graded.cells if c.cell_type == "code"
                  for o in c.outputs if o.output_type == "error"]
        # Zero without a crash: only the graded cells fail, each with its hint.
        assert errors == [(True, "AssertionError")] * asked, errors
        printed = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code"
                          for o in c.outputs if o.output_type == "stream")
        assert printed.count("not yet: no answer yet") == asked
        solved = nbformat.read(folder / "autograded" / "solved" / name / f"{name}.ipynb",
                               as_version=4)
        assert not [o for c in solved.cells if c.cell_type == "code" for o in c.outputs
                    if o.output_type == "error"]
