"""``make reproduce`` / ``pdsgd reproduce``: the seed's experiment, from scratch, in one command.

It trains the 784-200-10 network (lr 0.1) for a grid of worker counts N and
training sizes P, times every cell, and writes under ``results/``:

- ``seed_defaults/``: the seed's default run (N = 1, 5 epochs): model, metrics, history figure;
- the study's figures (PNG and SVG), ``study.json`` (every number behind them) and
  ``REPORT.md``, which sets the seed's claims beside what this machine measured.

Cells are cached under ``results/.cache`` (see :mod:`pdsgd.study.experiment`): a second
run trains nothing, an interrupted one resumes. Two profiles: ``quick`` (the
default: the embedded ``mnist-5k``, a few minutes on 2 cores) and ``full`` (the
seed's grid on full MNIST, or Fashion-MNIST when only that is present).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from pdsgd.data.datasets import load_dataset
from pdsgd.errors import DataError, PdsgdError
from pdsgd.files import write_json
from pdsgd.study.analysis import analyse, draw_figures, save_seed_defaults
from pdsgd.study.experiment import Cell, machine_facts, run_grid
from pdsgd.study.report import write_report

SEED_EPOCHS = 5


@dataclass(frozen=True)
class Profile:
    """What one ``--profile`` runs.

    Attributes
    ----------
    datasets : tuple of str
        Tried in order; the first one present is used (a notice says so).
    sizes, workers : tuple of int
        The grid of P and N for the timings (N = 1 runs sequentially *and* on the engine).
    timing_epochs, repeats : int
        Epochs of each timing cell, and how many times each is run (medians are reported).
    accuracy_workers : tuple of int
        N for the accuracy runs (largest P, :data:`SEED_EPOCHS` epochs, both lr rules).
    timeline : tuple of int
        ``(P, N, epochs)`` of the one run whose trace is drawn.
    backend : str
        The engine's backend for N workers.
    accuracy_backend : str, optional
        Backend of the accuracy runs; default ``backend``. Every backend computes
        the same weights (the serial one is the oracle the others are tested
        against), so a profile short of time may learn its accuracies on the
        fast serial backend and take the time axis from the timing cells.
    notes : tuple of str
        Where the profile departs from the seed's settings, for the report.
    data_options, settings : dict
        Passed to :func:`pdsgd.data.datasets.load_dataset` and over the seed's training
        settings (:data:`pdsgd.study.experiment.SEED_SETTINGS`); tests shrink the problem here.
    """

    name: str
    datasets: tuple
    sizes: tuple
    workers: tuple
    timing_epochs: int
    repeats: int
    accuracy_workers: tuple
    timeline: tuple
    backend: str = "processes"
    accuracy_backend: str | None = None
    notes: tuple = field(default=())
    data_options: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


PROFILES = {
    "quick": Profile(
        name="quick", datasets=("mnist-5k",), sizes=(1000, 2000, 4000), workers=(1, 2, 4, 8),
        timing_epochs=1, repeats=3, accuracy_workers=(1, 2, 4, 8), timeline=(1000, 2, 1),
        accuracy_backend="serial",
        notes=("quick profile: the embedded mnist-5k, P up to 4,000 (the seed: up to 60,000).",
               "quick profile: timing cells train 1 epoch each, not the seed's 5: an epoch's "
               "time is steady, so the speedups are the same, and three repeats fit in the "
               "time budget.",
               "quick profile: accuracies are learnt on the serial backend, which computes the "
               "same weights as the processes backend, in a fraction of the time; "
               "'accuracy against wall time' puts them at the processes backend's measured "
               "epoch time (the timing cells at the largest P).")),
    "full": Profile(
        name="full", datasets=("mnist", "fashion-mnist"), sizes=(1000, 10_000, 60_000),
        workers=(1, 2, 4, 8, 16), timing_epochs=SEED_EPOCHS, repeats=3,
        accuracy_workers=(1, 2, 4, 8, 16), timeline=(10_000, 4, 1)),
}


def load_profile_data(profile):
    """Load the profile's first available dataset: ``(dataset, notice or None)``."""

    missing = []
    for name in profile.datasets:
        try:
            data = load_dataset(name, **profile.data_options)
        except DataError as error:
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


def build_cells(profile, n_train):
    """Every cell of the profile: ``{"timing": [...], "accuracy": [...], "timeline": [...]}``.

    Sizes above ``n_train`` are dropped (the dataset holds fewer samples). The
    sequential N = 1 cell at the largest P with the seed's epochs keeps its model:
    it is the seed's default run, saved under ``seed_defaults/``.
    """
    sizes = [p for p in profile.sizes if p <= n_train] or [n_train]
    p_max = max(sizes)

    def cell(p, n, backend, rule="fixed", epochs=profile.timing_epochs, repeat=0, **kw):
        seed_run = (backend is None and p == p_max and epochs == SEED_EPOCHS and rule == "fixed"
                    and repeat == 0)
        return Cell(train_size=p, workers=n, backend=backend, lr_rule=rule, epochs=epochs,
                    repeat=repeat, keep_model=seed_run, **kw)

    timing = [cell(p, 1, None, repeat=r) for r in range(profile.repeats) for p in sizes]
    timing += [cell(p, n, profile.backend, repeat=r) for r in range(profile.repeats)
               for p in sizes for n in profile.workers]
    accuracy = [cell(p_max, 1, None, epochs=SEED_EPOCHS)]
    accuracy += [cell(p_max, n, profile.accuracy_backend or profile.backend, rule,
                      epochs=SEED_EPOCHS)
                 for rule in ("fixed", "linear") for n in profile.accuracy_workers if n > 1]
    tp, tn, te = profile.timeline
    timeline = [cell(min(tp, p_max), tn, profile.backend, epochs=te, keep_trace=True)]
    return {"timing": timing, "accuracy": accuracy, "timeline": timeline}


def reproduce(out="results", profile="quick", *, progress=True, cache_dir=None, train_fn=None,
              formats=("png", "svg")):
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

    Returns
    -------
    dict
        The study (what ``study.json`` holds).
    """

    started = time.perf_counter()
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else out / ".cache"
    data, notice = load_profile_data(prof)
    groups = build_cells(prof, len(data.X_train))
    cells = [c for part in groups.values() for c in part]
    records = run_grid(cells, data, cache_dir=cache_dir, settings=prof.settings,
                       progress=progress, train_fn=train_fn, desc=f"reproduce {prof.name}")
    by_cell = dict(zip(cells, records, strict=True))
    parts = {k: [by_cell[c] for c in v] for k, v in groups.items()}
    study = analyse(prof, data, parts, notice, machine_facts())
    study["seed_defaults"] = save_seed_defaults(parts["accuracy"][0], cache_dir,
                                                out / "seed_defaults")
    study["figures"] = draw_figures(study, parts["timeline"][0], cache_dir, out, formats)
    unique = list(by_cell.values())
    trained = sum(not r["cached"] for r in unique)
    study["cells"] = {"total": len(unique), "trained": trained, "cached": len(unique) - trained}
    write_json(out / "study.json", study)
    write_report(out / "REPORT.md", study)
    print(f"pdsgd reproduce {prof.name}: {study['cells']['trained']} cells trained, "
          f"{study['cells']['cached']} from the cache, {time.perf_counter() - started:.0f} s; "
          f"wrote {out / 'REPORT.md'} and {len(study['figures'])} figures")
    return study


def tiny_profile(**changes):
    """A profile small enough for tests (synthetic data, a few hundred samples)."""
    base = Profile(name="tiny", datasets=("synthetic",), sizes=(60, 120), workers=(1, 2),
                   timing_epochs=1, repeats=2, accuracy_workers=(1, 2), timeline=(60, 2, 1),
                   backend="serial", data_options=dict(train_size=120, test_size=50,
                                                       synthetic_features=20),
                   settings=dict(hidden=[8]))
    return replace(base, **changes)


def add_parser(subparsers):
    """Register ``pdsgd reproduce``."""
    p = subparsers.add_parser("reproduce", help="regenerate every result and figure")
    p.add_argument("--profile", choices=tuple(PROFILES), default="quick",
                   help="quick (default: mnist-5k, minutes) or full (the seed's grid, MNIST)")
    p.add_argument("--out", default="results")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=main)


def main(args):
    """Run ``pdsgd reproduce`` from parsed CLI arguments."""
    reproduce(args.out, args.profile, progress=not args.quiet)
    return 0
