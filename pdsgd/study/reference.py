"""Kept runs of the study: ``results/reference/<name>/`` and the index that sets them side by side.

A run of ``pdsgd reproduce --reference`` is committed to the repository, so that
a reader sees what a whole grid measured without running it: its ``REPORT.md``,
``study.json`` and PNG figures (the cell cache, the model and the SVG copies
are not kept: see ``.gitignore``). One machine rarely answers every claim of the seed (a 2-core
machine cannot show a speedup curve, a 16-core one has no N beyond its
threads), so :func:`write_index` writes ``results/reference/README.md``: one row
per kept run with its machine, grid and command, and for each claim the
verdict of every run, naming the machine that answered it and the speedup the
run judged it on (the hardware speedup, or the seed's S for a run kept before
the hardware speedup was measured).
"""

from __future__ import annotations

import json
from pathlib import Path

from pdsgd.errors import OptionError, PdsgdError
from pdsgd.files import atomic_path
from pdsgd.study.report import claim_summary, grid_summary, machine_summary

INDEX_HEAD = """# Reference runs of `make reproduce`

Each folder below is one run of `pdsgd reproduce ... --reference`, kept in the repository:
its `REPORT.md` (the seed's claims against that machine, every table and figure),
`study.json` (every number) and figures. Its cell cache is not kept: to measure it
again, run the command in its row (on a quiet machine: timings move with the load).
This page is written by that command; do not edit it by hand.
"""


def reference_dir(out, reference, profile, dataset):
    """``out/reference/<name>``: ``reference`` is the name, or True for ``<profile>-<dataset>``."""
    name = f"{profile.name}-{dataset}" if reference is True else str(reference)
    if not name or "/" in name or name.startswith("."):
        raise OptionError("reference", name, "must be a plain folder name")
    return Path(out) / "reference" / name


def refuse_to_replace(folder):
    """Raise :class:`PdsgdError` if ``folder`` holds a finished kept run."""
    if (Path(folder) / "study.json").exists():
        raise PdsgdError(f"--reference {Path(folder).name}: {folder} holds a kept run; pass "
                         "--force to replace it, or give another name")


def load_studies(root):
    """``{name: study}`` of every ``root/<name>/study.json``, by name."""
    studies = {}
    for path in sorted(Path(root).glob("*/study.json")):
        try:
            studies[path.parent.name] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a run being written, or damaged: left out of the index
    return studies


def render_index(studies):
    """The index as Markdown (see the module docstring)."""
    parts = [INDEX_HEAD]
    if not studies:
        parts.append("No reference run is kept yet. The full profile on Fashion-MNIST, on a "
                     "quiet 2-core machine (about 30 minutes):\n\n"
                     "```bash\nmake reference\n```")
        return "\n".join(parts) + "\n"
    rows = ["| run | machine | grid | command | finished |", "| --- | --- | --- | --- | --- |"]
    for name, s in studies.items():
        rows.append(f"| [{name}]({name}/REPORT.md) | {machine_summary(s['machine'])} | "
                    f"{grid_summary(s)} | `{s.get('command', '')}` | {s.get('finished', '')} |")
    parts.append("\n".join(rows))
    parts.append("## Which machine answered which claim\n\n"
                 "Per run, the verdict of each curve (strategy and micro-batch b; b = 1 is the "
                 "seed's setting). \"cannot tell\" means that machine or grid could not test "
                 "the claim; the run's REPORT.md says why.")
    claims = [c["claim"] for c in next(iter(studies.values()))["claims"] if c.get("first", True)]
    head = "| the seed says | " + " | ".join(
        f"{n} ({s['machine'].get('hardware_threads')} threads)" for n, s in studies.items())
    rows = [head + " |", "|" + " --- |" * (len(studies) + 1)]
    rows.append("| judged on | " + " | ".join(judged_on_words(s) for s in studies.values())
                + " |")
    for claim in claims:
        rows.append(f"| {claim} | " + " | ".join(claim_summary(s, claim)
                                                  for s in studies.values()) + " |")
    parts.append("\n".join(rows))
    return "\n\n".join(parts) + "\n"


def judged_on_words(study):
    """Which speedup a run's claims were judged on, named with its baseline."""
    if any(c.get("measure") == "hardware_speedup" for c in study["claims"]):
        return "the hardware speedup (against sequential minibatch SGD at batch N b)"
    return "the seed's S (against the sequential run at b)"


def write_index(root):
    """Write ``root/README.md`` from the runs kept under ``root``; return its path."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "README.md"
    with atomic_path(path) as tmp:
        tmp.write_text(render_index(load_studies(root)))
    return path
