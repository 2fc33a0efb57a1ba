"""Every option stated once: its declaration gives its check, train()'s default, flag and row."""

import argparse
import ast
import inspect
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import pytest

import pdsgd
from pdsgd.arguments import add_options, positive_int
from pdsgd.cli import build_parser, main, train_options
from pdsgd.data.datasets import load_dataset
from pdsgd.errors import OptionError, positive
from pdsgd.options import check_options, markdown_table, option, options_of
from pdsgd.options_page import render
from pdsgd.spec import EngineSpec
from pdsgd.train import TrainPlan, run_epochs

ROOT = Path(__file__).resolve().parents[1]
#: train()'s keywords that are not options of a run: what it reports to and where files go.
NOT_OPTIONS = {"progress", "on_epoch", "on_step", "stop", "checkpoint", "resume", "engine"}
#: pdsgd train's flags that are not options either: files, and the progress bar.
FILE_FLAGS = {"--data", "--out", "--force", "--quiet", "--checkpoint", "--resume"}
#: The keys every saved run's config has held, in order (metrics.json, checkpoints, the study).
RECORD_KEYS = ["dataset", "scaling", "train_size", "test_size", "epochs", "lr", "lr_rule",
               "step_lr", "warmup_epochs", "seed", "round_size", "hidden", "n_inputs",
               "n_outputs", "bias", "dtype", "workers", "micro_batch", "algorithm",
               "local_steps", "parallel", "backend", "aggregate", "send", "trace", "timeout",
               "span", "checkpoint_every", "straggler", "straggler_delay", "straggler_factor",
               "sync", "staleness", "scheduler", "hosting", "barrier", "sizes", "startup_seconds"]


def test_the_committed_options_page_is_what_the_declarations_give_now():
    page = (ROOT / "docs" / "options.md").read_text()
    assert page == render(), "stale: run python -m pdsgd.options_page docs/options.md"
    for opt in train_options():
        assert f"| `{opt.keyword}=` | `{opt.flag}` |" in page or opt.flag is None \
            or opt.keyword is None, opt.name


def test_train_takes_its_defaults_from_the_declarations():
    params = inspect.signature(pdsgd.train).parameters
    by_keyword = {o.keyword: o for o in train_options() if o.keyword is not None}
    for name, param in params.items():
        if name in NOT_OPTIONS:
            continue
        assert name in by_keyword, f"train({name}=) is not a declared option"
        assert param.default == by_keyword[name].default, name
    # Every plan option is an explicit keyword; an engine option may come through **engine.
    for opt in TrainPlan.options():
        assert opt.keyword is None or opt.keyword in params, opt.name
    for opt in EngineSpec.options():
        assert opt.keyword in params or opt.keyword == opt.name, opt.name


def _train_parser():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_train_help_flags_are_the_declared_options_one_to_one():
    parser = _train_parser()
    flags = {s: a.dest for a in parser._actions for s in a.option_strings
             if s not in ("-h", "--help")}
    declared = {o.flag: o.dest for o in train_options() if o.flag is not None}
    assert len(declared) == len([o for o in train_options() if o.flag is not None])
    assert set(flags) - FILE_FLAGS == set(declared)
    assert {f: flags[f] for f in declared} == declared  # each lands under train()'s keyword
    assert len(set(declared.values())) == len(declared)
    help_text = parser.format_help()
    for flag in flags:
        assert flag in help_text


def test_defaults_of_the_command_line_are_the_declared_ones():
    args = vars(_train_parser().parse_args([]))
    for opt in train_options():
        if opt.flag is not None:
            assert args[opt.dest] == opt.cli_default, opt.name


@pytest.mark.parametrize("python,said,cli,flagged", [
    (dict(epochs=0), "epochs=0 must be a positive integer",
     ["--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    (dict(warmup_epochs=-2, lr_rule="linear"),
     "warmup_epochs=-2 must be a whole number of epochs >= 0",
     ["--warmup-epochs", "-2", "--lr-rule", "linear"],
     "--warmup-epochs -2 must be a whole number of epochs >= 0"),
    (dict(warmup_epochs=1), "warmup_epochs=1 applies to lr_rule=linear only",
     ["--warmup-epochs", "1"], "--warmup-epochs 1 applies to --lr-rule linear only"),
    (dict(aggregate="mean", workers=2, backend="serial"),
     "aggregate='mean' is unknown: choose one of central, replicated, sharded",
     ["--aggregate", "mean"], "argument --aggregate: invalid choice: 'mean'"),
    (dict(seed=-1), "seed=-1 must be an integer >= 0",
     ["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
])
def test_bad_values_name_the_option_as_the_caller_wrote_it(tmp_path, capsys, python, said, cli,
                                                           flagged):
    data = load_dataset("synthetic", train_size=20, test_size=5)
    with pytest.raises(OptionError) as info:
        pdsgd.train(data, hidden=(3,), **python)
    assert str(info.value).startswith(said) and "\n" not in str(info.value)
    argv = ["train", "--dataset", "synthetic", "--train-size", "20", "--quiet",
            "--out", str(tmp_path / "run"), *cli]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert flagged in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_the_plan_is_frozen_and_the_start_up_is_a_result_not_an_option():
    plan = TrainPlan(epochs=2)
    with pytest.raises(FrozenInstanceError):
        plan.epochs = 3
    assert "startup_seconds" not in {o.name for o in TrainPlan.options()}
    assert "config" not in inspect.signature(run_epochs).parameters
    data = load_dataset("synthetic", train_size=24, test_size=6)
    result = pdsgd.train(data, hidden=(3,), epochs=1, workers=2, backend="serial")
    assert list(result.config) == RECORD_KEYS  # what saved runs and checkpoints have held
    assert result.startup_seconds == result.config["startup_seconds"] >= 0


def test_a_declared_option_is_checked_and_gets_its_flag_and_row():
    @dataclass(frozen=True)
    class Toy:
        depth: int = option(3, "how deep", check=positive, parse=positive_int)
        colour: str = option("red", "what colour", choices=("red", "blue"), flag=None)

        def __post_init__(self):
            check_options(self)

    with pytest.raises(OptionError, match="colour='green' is unknown: choose one of red, blue"):
        Toy(colour="green")
    with pytest.raises(OptionError, match="depth=0 must be a positive integer"):
        Toy(depth=0)
    parser = argparse.ArgumentParser()
    add_options({"engine": parser}, options_of(Toy))
    assert parser.parse_args(["--depth", "5"]).depth == 5 and "--colour" not in parser.format_help()
    table = markdown_table(options_of(Toy))
    assert "| `depth=` | `--depth` | `3` |" in table and "| `colour=` | (Python only) |" in table


def test_no_module_reaches_into_the_spec_and_dtypes_are_stated_once():
    sources = {p: p.read_text() for p in (ROOT / "pdsgd").rglob("*.py")}
    assert not [p for p, text in sources.items() if "EngineSpec.__dataclass_fields__" in text]
    defined = [p.name for p, text in sources.items()
               for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Assign)
               for target in node.targets if getattr(target, "id", None) == "DTYPES"]
    assert defined == ["mlp.py"]
