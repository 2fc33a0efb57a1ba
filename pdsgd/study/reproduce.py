"""``make reproduce`` / ``pdsgd reproduce``: the seed's experiment, from scratch, in one command.

It trains the 784-200-10 network (lr 0.1) for a grid of worker counts N,
training sizes P and micro-batches b (see :mod:`pdsgd.study.profiles`), times
every cell, and writes under ``results/``:

- ``seed_defaults/``: the seed's default run (N = 1, 5 epochs): model, metrics, history figure;
- the study's figures (PNG and SVG), ``study.json`` (every number behind them) and
  ``REPORT.md``, which sets the seed's claims beside what this machine measured.

Cells are cached under ``results/.cache`` (see :mod:`pdsgd.study.experiment`): a second
run trains nothing, an interrupted one resumes. Two profiles: ``quick`` (the
default: the embedded ``mnist-5k``, a few minutes on 2 cores) and ``full`` (the
seed's grid on full MNIST, or Fashion-MNIST when only that is present). With
``--reference`` the study lands in ``results/reference/<name>/``, a run kept in
the repository, and ``results/reference/README.md`` lists every kept run
(:mod:`pdsgd.study.reference`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from pdsgd.arguments import int_list, positive_int
from pdsgd.data.datasets import DATASETS, load_dataset
from pdsgd.engine.backends import BACKENDS
from pdsgd.engine.strategies import TENSOR
from pdsgd.errors import DataError, PdsgdError
from pdsgd.files import write_json
from pdsgd.study import time_to_accuracy
from pdsgd.study.analysis import analyse, draw_figures, save_seed_defaults
from pdsgd.study.experiment import machine_facts, run_grid
from pdsgd.study.grid import GRID_OPTIONS, check_sizes, customize
from pdsgd.study.network_report import network_study
from pdsgd.study.profiles import PROFILES, build_cells, resolve
from pdsgd.study.reference import reference_dir, refuse_to_replace, write_index
from pdsgd.study.report import write_report
from pdsgd.study.slices import cached_slices
from pdsgd.train.prepare import prepare_data


def load_profile_data(profile):
    """Load the profile's first available dataset: ``(dataset, notice or None)``."""

    missing = []
    for name in profile.datasets:
        try:
            data = load_dataset(name, **profile.data_options)
        except DataError as error:
            if len(profile.datasets) == 1:
                raise  # its own message says how to get it
            missing.append(f"{name} ({error})")
            continue
        notice = None
        if missing:
            notice = (f"{profile.datasets[0]} is not in data/, so this run used {name} "
                      f"instead; fetch it with `pdsgd data fetch {profile.datasets[0]}`.")
            print(f"pdsgd reproduce: notice: {notice}")
        return data, notice
    raise PdsgdError(f"profile {profile.name!r} needs one of {', '.join(profile.datasets)} in "
                     f"data/; fetch one with `pdsgd data fetch mnist`")


def reproduce(out="results", profile="quick", *, progress=True, cache_dir=None, train_fn=None,
              formats=("png", "svg"), reference=None, force=False):
    """Run the profile's grid (cached), then write the figures, ``study.json`` and ``REPORT.md``.

    Parameters
    ----------
    out : str or Path
        The results folder.
    profile : str or Profile
        ``"quick"``, ``"full"`` or a :class:`Profile` (tests use tiny ones).
    progress : bool
        Progress bars over the grid and within cells.
    cache_dir : str or Path, optional
        Where cell records are cached; ``out/.cache`` by default.
    train_fn : callable, optional
        Replaces :func:`pdsgd.train.train` (tests count its calls).
    formats : tuple of str
        Figure file formats.
    reference : str or True, optional
        Write into ``out/reference/<name>/`` (True: the name is
        ``<profile>-<dataset>``) and list the run in ``out/reference/README.md``.
    force : bool
        Replace a kept run of that name; without it, one is refused (a run
        that was interrupted before its ``study.json`` was written resumes).

    Returns
    -------
    dict
        The study (what ``study.json`` holds).
    """

    started = time.perf_counter()
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    data, notice = load_profile_data(prof)
    # Every value is checked before anything is written or trained.
    check_sizes(prof, data.name, len(data.X_train))
    groups = build_cells(prof, len(data.X_train))
    cells = [c for part in groups.values() for c in part]
    out = Path(out)
    if reference:
        out = reference_dir(out, reference, prof, data.name)
        if not force:
            refuse_to_replace(out)
    command = command_line(prof, out.name if reference else None)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else out / ".cache"
    records = run_grid(cells, data, cache_dir=cache_dir, settings=prof.settings,
                       progress=progress, train_fn=train_fn, desc=f"reproduce {prof.name}")
    by_cell = dict(zip(cells, records, strict=True))
    parts = {k: [by_cell[c] for c in v] for k, v in groups.items()}
    study = analyse(prof, data, parts, notice, machine_facts())
    study["slices"] = tensor_slices(parts, cache_dir)
    if prof.to_target is not None:
        grid, p_max = to_target_grid(prof, len(data.X_train))
        study["to_target"] = time_to_accuracy.analyse(time_to_accuracy.run_study(
            grid, prepare_data(data, train_size=p_max), cache_dir,
            hidden=tuple(study["settings"]["hidden"]), progress=progress))
    study["seed_defaults"] = save_seed_defaults(parts["accuracy"][0], cache_dir,
                                                out / "seed_defaults")
    study["network"] = network_study(live=prof.network_live)
    study["figures"] = draw_figures(study, parts["timeline"][0], cache_dir, out, formats)
    unique = list(by_cell.values())
    trained = sum(not r["cached"] for r in unique)
    study["cells"] = {"total": len(unique), "trained": trained, "cached": len(unique) - trained}
    study["command"] = command
    write_json(out / "study.json", study)
    write_report(out / "REPORT.md", study)
    if reference:
        write_index(out.parent)
    print(f"pdsgd reproduce {prof.name}: {study['cells']['trained']} cells trained, "
          f"{study['cells']['cached']} from the cache, {time.perf_counter() - started:.0f} s; "
          f"wrote {out / 'REPORT.md'} and {len(study['figures'])} figures")
    return study


def to_target_grid(profile, n_train):
    """The profile's time-to-accuracy grid within the grid it times, and its P.

    The largest P of the timing grid, its backend, its N, b and strategies where
    they meet the grid's, and no more rounds than its repeats: a grid shrunk on the command line
    shrinks this study too.
    """
    tt = profile.to_target
    sizes, workers, _ = resolve(profile, n_train)
    keep = tuple(n for n in tt.workers if n in workers) or (max(workers),)
    bs = tuple(b for b in tt.micro_batches if b in profile.micro_batches) or (
        min(profile.micro_batches),)
    strategies = tuple(s for s in tt.strategies if s in profile.strategies) or tuple(
        profile.strategies)
    grid = replace(tt, workers=keep, micro_batches=bs, strategies=strategies,
                   backend=profile.backend,
                   repeats=min(tt.repeats, profile.repeats))
    return grid, max(sizes)


def tensor_slices(parts, cache_dir):
    """Per tensor-parallel (N, N b) of the timing grid, one worker's slice against the whole
    network (:func:`pdsgd.study.throughput.slice_timing`, kept beside the cells)."""
    pairs = sorted({(r["cell"]["workers"], r["cell"]["workers"] * r["cell"]["micro_batch"])
                    for r in parts["timing"] + (parts.get("sweep") or [])
                    if r["cell"]["strategy"] == TENSOR and r["cell"]["workers"] > 1})
    if not pairs:
        return []
    sizes = parts["timing"][0]["config"]["sizes"]
    return cached_slices(pairs, sizes, Path(cache_dir) / "slices.json")


def command_line(profile, reference=None):
    """The ``pdsgd reproduce`` command that runs ``profile`` (for the report)."""
    words = ["pdsgd reproduce", f"--profile {profile.name}"]
    words += [f"--{k.replace('_', '-')} {v}" for k, v in profile.custom.items()]
    if reference:
        words.append(f"--reference {reference}")
    return " ".join(words)


def add_parser(subparsers):
    """Register ``pdsgd reproduce`` and its grid options."""
    p = subparsers.add_parser("reproduce", help="regenerate every result and figure")
    p.add_argument("--profile", choices=tuple(PROFILES), default="quick",
                   help="quick (default: mnist-5k, minutes) or full (the seed's grid, MNIST)")
    p.add_argument("--out", default="results")
    p.add_argument("--reference", nargs="?", const=True, default=None, metavar="NAME",
                   help="keep the run: write it into <out>/reference/NAME (default NAME: "
                        "<profile>-<dataset>) and list it in <out>/reference/README.md")
    p.add_argument("--force", action="store_true",
                   help="with --reference: replace a kept run of that name")
    p.add_argument("--quiet", action="store_true")
    grid = p.add_argument_group("the grid (each overrides the profile's)")
    grid.add_argument("--workers", type=int_list, metavar="1,2,4",
                      help="worker counts N (quick: 1, 2, 4, ... up to 4 per core, at least 32)")
    grid.add_argument("--max-workers", type=positive_int, metavar="M",
                      help="N = 1, 2, 4, ... up to M (the seed's #max_workers)")
    grid.add_argument("--train-sizes", type=int_list, metavar="1000,10000",
                      help="training sizes P")
    grid.add_argument("--max-train-size", type=positive_int, metavar="P",
                      help="the profile's sizes below P, and P (the seed's #max_trainsize)")
    grid.add_argument("--micro-batch", type=int_list, metavar="1,16",
                      help="samples per worker per iteration, one curve each (default 1,16)")
    grid.add_argument("--repeats", type=positive_int, help="runs of each timing cell")
    grid.add_argument("--epochs", type=positive_int, help="epochs of every run")
    grid.add_argument("--dataset", choices=DATASETS)
    grid.add_argument("--backend", choices=tuple(BACKENDS), help="the engine's backend")
    grid.add_argument("--parallel", type=lambda text: tuple(text.split(",")),
                      metavar="data,tensor",
                      help="what is split, one set of curves each (default: both)")
    p.set_defaults(func=main)


def main(args):
    """Run ``pdsgd reproduce`` from parsed CLI arguments."""
    profile = customize(PROFILES[args.profile], **{k: getattr(args, k) for k in GRID_OPTIONS})
    reproduce(args.out, profile, progress=not args.quiet, reference=args.reference,
              force=args.force)
    return 0
