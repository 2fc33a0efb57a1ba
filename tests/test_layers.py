"""The package's layers import downward only: course -> study/train -> engine, never back.

Read from the source with :mod:`ast`, every import counted (those inside a
function too), so a new arrow the wrong way fails here before anyone runs it.
docs/architecture.md tells the layers and why they are so.
"""

import ast
from pathlib import Path

import pytest

import pdsgd

PACKAGE = Path(pdsgd.__file__).parent

#: Each top-level part of the package and its layer, lowest first. A module may import
#: its own layer and the ones below; ``bench`` and ``course`` sit side by side and never
#: import each other. ``plots`` shares the study's layer: it draws the study's figures
#: (and reads the cost model's formula), and the study calls it.
LAYERS = {
    "base": ("pdsgd.errors", "pdsgd.machine", "pdsgd.files", "pdsgd.arguments", "pdsgd.mlp",
             "pdsgd.data", "pdsgd.options"),
    "engine": ("pdsgd.engine",),
    "train": ("pdsgd.train", "pdsgd.spec", "pdsgd.checkpoint", "pdsgd.options_page"),
    "study": ("pdsgd.study", "pdsgd.plots"),
    "bench": ("pdsgd.bench",),
    "course": ("pdsgd.course",),
    "cli": ("pdsgd.cli", "pdsgd.__main__"),
}
RANK = {"base": 0, "engine": 1, "train": 2, "study": 3, "bench": 4, "course": 4, "cli": 5}

#: What the course may not reach past: it runs training through ``pdsgd.train`` (whose
#: ``result`` module names the trace's vocabulary) and ``pdsgd.spec`` (the options' choices).
COURSE_SKIPS = ("engine",)

#: The arrows that run the wrong way today, each with its reason. Keep this list short.
ALLOWED = {
    ("pdsgd.engine.broker", "pdsgd.spec"):
        "the Broker is built from the run's EngineSpec; where the spec lives is decided with "
        "the strategies (issue 20, part 1)",
    ("pdsgd.course.scaling", "pdsgd.bench.ceiling"):
        "the ceiling's measuring code is reworked in bench/ceiling.py; it moves to study/ "
        "next, and this import with it",
}


def module_name(path):
    """``pdsgd/course/panel.py`` -> ``pdsgd.course.panel``; ``__init__.py`` -> its package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source, module, is_package=False):
    """Every ``pdsgd`` module that ``source`` (the text of ``module``) imports, anywhere in it."""
    found = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pdsgd import plots`` imports the module pdsgd.plots.
            found |= {f"{base}.{a.name}" if submodule(f"{base}.{a.name}") else base
                      for a in node.names}
    return {name for name in found if name == "pdsgd" or name.startswith("pdsgd.")}


def submodule(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer_of(name):
    """The layer of module ``name`` (None for the package's face, ``pdsgd`` itself)."""
    for layer, prefixes in LAYERS.items():
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return layer
    if name == "pdsgd":
        return None  # its __init__ only hands on train() and the datasets
    raise AssertionError(f"{name} is on no layer: add it to LAYERS in tests/test_layers.py")


def arrows():
    """``(importer, imported)`` for every import between two modules of the package."""
    out = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        for target in imports_of(path.read_text(), name, path.name == "__init__.py"):
            out.add((name, target))
    return out


def wrong_way(importer, target):
    """Why the arrow ``importer -> target`` breaks the layers, or None if it does not."""
    a, b = layer_of(importer), layer_of(target)
    if a is None or b is None or a == b:
        return None
    if RANK[b] > RANK[a]:
        return f"{a} may not import {b}, a layer above it"
    if RANK[b] == RANK[a]:
        return f"{a} and {b} sit side by side and do not import each other"
    if a == "course" and b in COURSE_SKIPS:
        return "the course runs training through pdsgd.train and pdsgd.spec, not the engine"
    return None


def test_every_import_runs_down_the_layers():
    broken = [f"{importer} -> {target}: {why}" for importer, target in sorted(arrows())
              if (why := wrong_way(importer, target)) and (importer, target) not in ALLOWED]
    assert not broken, "\n".join(broken)


def test_the_allowed_exceptions_still_exist_and_are_still_needed():
    found = arrows()
    for arrow, reason in ALLOWED.items():
        assert arrow in found, f"{arrow} is gone: strike it from ALLOWED ({reason})"
        assert wrong_way(*arrow), f"{arrow} runs down the layers now: strike it from ALLOWED"


def test_bench_holds_only_command_lines():
    # A benchmark's measuring code is a library function in study/ (or engine/): nothing
    # outside bench/ and the command line imports bench/.
    users = {importer for importer, target in arrows()
             if target.startswith("pdsgd.bench") and not importer.startswith("pdsgd.bench")}
    assert users <= {"pdsgd.cli"} | {a for a, _ in ALLOWED}, users


@pytest.mark.parametrize("source, module, expected", [
    ("def f():\n    from pdsgd.engine import trace\n", "pdsgd.course.x", {"pdsgd.engine.trace"}),
    ("from ..engine.shm import SharedArrays\n", "pdsgd.bench.x", {"pdsgd.engine.shm"}),
    ("from pdsgd import plots, __version__\n", "pdsgd.study.x", {"pdsgd.plots", "pdsgd"}),
    ("import numpy\nimport pdsgd.study.grid\n", "pdsgd.course.x", {"pdsgd.study.grid"}),
])
def test_the_check_sees_lazy_relative_and_package_imports(source, module, expected):
    assert imports_of(source, module) == expected


def test_a_course_module_importing_the_engine_is_refused():
    assert wrong_way("pdsgd.course.widgets", "pdsgd.engine.sequential")
    assert wrong_way("pdsgd.engine.broker", "pdsgd.study.experiment")
    assert wrong_way("pdsgd.study.experiment", "pdsgd.bench.sync")
    assert wrong_way("pdsgd.course.lessons", "pdsgd.bench.common")
    assert not wrong_way("pdsgd.course.widgets", "pdsgd.train")
