"""The project's set-up files agree with each other, and what they declare is installed.

Every test here runs on Python 3.10, the supported floor: ``tomllib`` (3.11+) reads
``pyproject.toml`` where it exists; on 3.10 :func:`_read_project` parses the few keys
these tests need (a test checks that both readings agree wherever tomllib exists).
"""

import ast
import importlib
import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml
from ci_helpers import in_ci

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
#: Distributions whose import name differs from their name.
IMPORT_NAMES = {"mkdocs-material": "material"}


def _read_project(text):
    """``[project]``'s ``requires-python``, ``dependencies`` and optional dependencies,
    parsed without tomllib: each is a string or a list of strings on its own lines."""
    section = None
    project = {"optional-dependencies": {}}
    for key, value in re.findall(r"^(\[[^\]]+\]|[\w-]+)\s*(?:=\s*(\[[^\]]*\]|\"[^\"]*\"))?",
                                 text, re.M):
        if key.startswith("["):
            section = key.strip("[]")
        elif section == "project" and value:
            project[key] = ast.literal_eval(value)
        elif section == "project.optional-dependencies" and value:
            project["optional-dependencies"][key] = ast.literal_eval(value)
    return project


def _project():
    text = (ROOT / "pyproject.toml").read_text()
    return tomllib.loads(text)["project"] if tomllib else _read_project(text)


def _spec(requirement):
    name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = _project()
    wanted = dict(map(_spec, project["dependencies"] + project["optional-dependencies"]["dev"]))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    declared = dict(_spec(d) for d in conda if _spec(d)[0] not in ("python", "pip"))
    assert declared == wanted
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_python_floor_is_the_same():
    project = _project()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert project["requires-python"] == ">=3.10"
    assert "python>=3.10" in env["dependencies"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make reproduce" in (ROOT / "README.md").read_text()


@pytest.mark.skipif(tomllib is None, reason="tomllib is the reference: Python 3.11+")
def test_the_fallback_reads_pyproject_as_tomllib_does():
    text = (ROOT / "pyproject.toml").read_text()
    mine, theirs = _read_project(text), tomllib.loads(text)["project"]
    for key in ("requires-python", "dependencies", "optional-dependencies"):
        assert mine[key] == theirs[key], key


def test_every_declared_dependency_is_installed_and_imports():
    """A required package is a requirement: missing, it fails here rather than turn tests
    into skips (the suite imports them plainly, never through ``pytest.importorskip``)."""
    project = _project()
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name = _spec(requirement)[0]
        importlib.metadata.version(name)  # raises PackageNotFoundError when not installed
        importlib.import_module(IMPORT_NAMES.get(name, name.replace("-", "_")))


def test_no_test_turns_a_declared_dependency_into_a_skip():
    project = _project()
    declared = {_spec(r)[0] for r in project["dependencies"]
                + project["optional-dependencies"]["dev"]}
    for path in sorted((ROOT / "tests").glob("*.py")):
        skipped = set(re.findall(r"importorskip\(\s*[\"']([\w.-]+)", path.read_text()))
        assert not skipped & declared, f"{path.name} skips without {skipped & declared}"


@pytest.mark.parametrize("value,yes", [
    ("true", True), ("1", True), ("yes", True), ("TRUE", True), (" on ", True),
    ("", False), ("0", False), ("false", False), ("no", False)])
def test_every_guard_reads_ci_the_same_way(value, yes):
    assert in_ci({"CI": value}) is yes
    assert in_ci({}) is False
    # The guards ask the one helper: no test reads CI by itself.
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name != "ci_helpers.py":
            assert not re.search(r"environ(?:\.get)?\(?\[?[\"']CI[\"']|getenv\([\"']CI[\"']",
                                 path.read_text()), path.name
