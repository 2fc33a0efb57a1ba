"""Checkpoints: the parent model and where training stands, saved atomically.

A checkpoint is one ``.npz`` file (loadable with ``allow_pickle=False``)
holding the parameters, the network's shape and the *position*: the next
epoch and iteration to run, the history so far and the run's configuration.
Because every epoch's sample order is drawn from ``(seed, epoch)`` alone,
resuming from it replays exactly what an uninterrupted run would have done, and
gives the same final weights, bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdsgd.errors import PdsgdError
from pdsgd.files import write_npz
from pdsgd.mlp import MLP
from pdsgd.spec import EngineSpec

#: Settings that must match for a resumed run to continue the same computation: the
#: run's own, and every field of the engine spec that changes the weights.
MUST_MATCH = ("dataset", "scaling", "train_size", "lr", "lr_rule", "step_lr", "warmup_epochs",
              "seed", *EngineSpec.arithmetic_fields())
#: What a checkpoint written before a setting existed means by it.
OLD_DEFAULTS = {"algorithm": "bsp", "local_steps": 1, "scaling": "rashid", "warmup_epochs": 0}


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes
    ----------
    model : MLP
    epoch, iteration : int
        The next iteration to run: ``iteration`` of epoch ``epoch`` (0-based).
    history : dict of list
        Per-epoch metrics of the epochs already finished.
    config : dict
        The configuration of the run that wrote it.
    """

    model: MLP
    epoch: int
    iteration: int
    history: dict
    config: dict


def save_checkpoint(path, model, *, epoch, iteration, history, config):
    """Write a checkpoint to ``path`` atomically (complete or absent, never half written).

    Parameters
    ----------
    path : str or Path
    model : MLP
        The parent model.
    epoch, iteration : int
        The next iteration to run.
    history, config : dict
        JSON-serialisable.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"epoch": int(epoch), "iteration": int(iteration),
                       "history": history, "config": config}, default=str)
    write_npz(path, sizes=np.array(model.sizes), bias=np.array(model.bias),
              dtype=np.array(model.dtype.name), params=model.params, meta=np.array(meta))


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    PdsgdError
        If the file is missing or is not a pdsgd checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise PdsgdError(f"--resume {path}: no such checkpoint file; give the path that "
                         "--checkpoint-every wrote (default <out>/checkpoint.npz)")
    try:
        with np.load(path, allow_pickle=False) as f:
            model = MLP(f["sizes"].tolist(), bias=bool(f["bias"]), dtype=str(f["dtype"]),
                        params=f["params"].copy())
            meta = json.loads(str(f["meta"]))
    except (OSError, ValueError, KeyError) as error:
        raise PdsgdError(f"--resume {path}: not a pdsgd checkpoint ({error})") from None
    return Checkpoint(model, meta["epoch"], meta["iteration"], meta["history"], meta["config"])


def check_resumable(checkpoint, config):
    """Raise :class:`PdsgdError` unless ``config`` continues the checkpointed run."""
    old = {**OLD_DEFAULTS, **_sizes_fields(checkpoint.config.get("sizes")), **checkpoint.config}
    diff = [f"{k}: {old.get(k)!r} there, {config.get(k)!r} here" for k in MUST_MATCH
            if _norm(old.get(k)) != _norm(config.get(k))]
    if diff:
        raise PdsgdError("cannot resume: the checkpoint comes from a different run ("
                         + "; ".join(diff) + "); use the same settings")
    if checkpoint.epoch >= config["epochs"]:
        raise PdsgdError(f"cannot resume: the checkpoint has already finished "
                         f"{checkpoint.epoch} epochs; ask for more with --epochs")


def _sizes_fields(sizes):
    """The spec's size fields, for a checkpoint that recorded only ``sizes``."""
    if not sizes:
        return {}
    return {"n_inputs": sizes[0], "hidden": list(sizes[1:-1]), "n_outputs": sizes[-1]}


def _norm(value):
    return list(value) if isinstance(value, tuple) else value
