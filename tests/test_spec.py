"""The engine spec: one place that validates, resolves and records every engine option."""

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import problem

from pdsgd.cli import build_parser, engine_options, main
from pdsgd.engine.broker import Broker
from pdsgd.engine.modes import AGGREGATIONS
from pdsgd.errors import OptionError, PdsgdError
from pdsgd.mlp import MLP
from pdsgd.spec import EngineSpec

PACKAGE = Path(__file__).resolve().parents[1] / "pdsgd"


def test_the_spec_is_frozen_picklable_and_resolves_its_defaults():
    spec = EngineSpec(hidden=[8], n_inputs=4, n_outputs=3, workers=2)
    assert spec.hidden == (8,) and spec.sizes == (4, 8, 3)
    assert spec.backend == "processes" and spec.aggregate in AGGREGATIONS
    assert pickle.loads(pickle.dumps(spec)) == spec
    with pytest.raises(AttributeError):
        spec.workers = 3
    assert EngineSpec().backend == "sequential" and EngineSpec().sequential
    # One worker that asks for something only the engine does gets the engine.
    assert EngineSpec(straggler=0).backend == "processes"
    assert EngineSpec(algorithm="average", local_steps=4).backend == "processes"
    assert EngineSpec(workers=2, backend="serial", local_steps=5).local_steps == 1  # bsp: K=1


def test_aggregation_modes_know_their_barrier_parties():
    parties = {name: mode.step_parties(4) for name, mode in AGGREGATIONS.items()}
    assert parties == {"central": 5, "replicated": 4, "sharded": 4}
    assert [AGGREGATIONS[n].crossings for n in ("central", "replicated", "sharded")] == [2, 1, 2]


@pytest.mark.parametrize("options,python", [
    (dict(aggregate="sharded", algorithm="average", workers=2), "aggregate='sharded' applies "
                                                                "to algorithm=bsp only"),
    (dict(workers=0), "workers=0 must be a positive integer"),
    (dict(timeout=float("nan")), "timeout=nan must be a positive number"),
    (dict(straggler=2, workers=2), "straggler=2 is not a worker"),
    (dict(scheduler="tcp://h:1", workers=2), "scheduler='tcp://h:1' needs backend=dask"),
    (dict(backend="sequential", workers=2), "backend='sequential' runs one worker"),
    (dict(hidden=(200, 0)), "hidden=0 must be a positive integer"),
])
def test_errors_name_the_option_as_python_wrote_it(options, python):
    with pytest.raises(OptionError) as info:
        EngineSpec(**options)
    assert python in str(info.value) and "\n" not in str(info.value)
    assert "--" not in str(info.value)


def test_the_cli_gets_the_same_errors_in_its_own_words(tmp_path, capsys):
    argv = ["train", "--dataset", "synthetic", "--epochs", "1", "--quiet", "--out",
            str(tmp_path / "run"), "--workers", "2", "--backend", "serial",
            "--algorithm", "average", "--aggregate", "sharded"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--aggregate sharded applies to --algorithm bsp only" in err, err
    assert len(err.splitlines()) == 1 and not (tmp_path / "run").exists()


def test_every_cli_engine_flag_reaches_the_spec_by_its_field_name():
    args = build_parser().parse_args(["train", "--workers", "3", "--micro-batch", "4",
                                      "--aggregate", "central", "--send", "gradients",
                                      "--timeout", "5", "--no-trace", "--hidden", "7,5"])
    options = engine_options(args)
    spec = EngineSpec(**options)
    assert (spec.workers, spec.micro_batch, spec.aggregate, spec.send, spec.timeout,
            spec.trace, spec.hidden) == (3, 4, "central", "gradients", 5.0, False, (7, 5))
    # The spec's fields that have no flag are set from Python only (or from other flags).
    python_only = {"n_inputs", "n_outputs", "span", "straggler", "straggler_delay",
                   "straggler_factor", "barrier"}
    assert set(EngineSpec.__dataclass_fields__) - set(options) == python_only


def test_the_broker_runs_what_its_spec_says():
    X, T = problem(n=20)
    model = MLP((6, 5, 3))
    spec = EngineSpec.for_model(model, workers=2, backend="serial", micro_batch=3)
    with Broker(model, X, T, spec) as broker:
        broker.run_epoch(np.arange(20), 0.1)
    assert broker.iterations(20) == 4 and broker.spec is spec
    with pytest.raises(PdsgdError, match="spec is for a 6-4-3"):
        Broker(model, X, T, EngineSpec.for_model(MLP((6, 4, 3)), workers=2, backend="serial"))


def test_train_records_the_spec_and_resume_compares_its_arithmetic(tmp_path):
    from pdsgd.data.datasets import load_dataset
    from pdsgd.train import train

    data = load_dataset("synthetic", train_size=40, test_size=10, synthetic_features=6,
                        n_classes=3)
    result = train(data, hidden=(4,), epochs=1, workers=2, backend="serial",
                   checkpoint=tmp_path / "c.npz")
    assert result.config["backend"] == "serial" and result.config["sizes"] == [6, 4, 3]
    assert result.config["aggregate"] == "central" and result.config["scaling"] == "rashid"
    with pytest.raises(PdsgdError, match="hidden"):
        train(data, hidden=(5,), epochs=2, workers=2, backend="serial",
              resume=tmp_path / "c.npz")
    with pytest.raises(PdsgdError, match="unknown training option aggregat"):
        train(data, hidden=(4,), epochs=1, aggregat="central")


def _imports(path):
    """The pdsgd modules a module imports at its top level (what runs when it is imported)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pdsgd"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _module_path(candidate) else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pdsgd")}
    return found


def _module_path(name):
    base = PACKAGE.parent.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def test_no_module_imports_itself_back():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        modules[".".join(parts)] = _imports(path)
    # Depth-first search for a cycle among the top-level imports.
    state, cycles = {}, []

    def visit(name, stack):
        state[name] = "open"
        for dep in modules.get(name, ()):
            if dep == name or dep not in modules:
                continue
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[name] = "done"

    for name in modules:
        if name not in state:
            visit(name, [name])
    assert len(modules) > 30 and not cycles, cycles


def test_the_top_level_keeps_at_most_a_dozen_modules():
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= 12, top
