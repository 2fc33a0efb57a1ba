"""Checkpoints: the parent model and where training stands, saved atomically, loaded with care.

A checkpoint is one ``.npz`` file (loadable with ``allow_pickle=False``)
holding the parameters, the network's shape and the *position*: the next
epoch and iteration to run, the history so far and the run's configuration.
Because every epoch's sample order is drawn from ``(seed, epoch)`` alone,
resuming from it replays exactly what an uninterrupted run would have done, and
gives the same final weights, bit for bit.

A good checkpoint is never replaced by a worse one: a model with non-finite
weights is not saved, and a new checkpoint replaces the old one only once it
has been written completely and read back whole. A damaged, truncated, empty,
incomplete or nonsensical checkpoint is refused in one line before anything
is trained or written.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdsgd.engine.shuffle import n_iterations
from pdsgd.errors import PdsgdError
from pdsgd.files import atomic_path, npz_bytes, write_bytes
from pdsgd.mlp import MLP
from pdsgd.spec import EngineSpec
from pdsgd.train.plan import TrainPlan

#: Settings that must match for a resumed run to continue the same computation: every
#: option of the training plan and of the engine spec that changes the weights.
MUST_MATCH = (*TrainPlan.arithmetic_fields(), *EngineSpec.arithmetic_fields())
#: What a checkpoint written before a setting existed means by it.
OLD_DEFAULTS = {"algorithm": "bsp", "local_steps": 1, "parallel": "data", "scaling": "rashid",
                "warmup_epochs": 0}
#: The per-epoch metrics a checkpoint's history holds, in order.
HISTORY = ("epoch", "loss", "train_accuracy", "test_accuracy", "seconds")


#: Prefix of the runner's state arrays in a checkpoint file.
STATE = "state_"


class BadCheckpoint(PdsgdError):
    """A checkpoint file that cannot be resumed from: the message says why."""


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
    state : dict of ndarray
        What the runner needs beyond the weights to go on bit for bit (the
        serial simulation of SSP and async in mid-window,
        :meth:`pdsgd.engine.strategies.schedule.SyncSimulation.state`); often empty.
    """

    model: MLP
    epoch: int
    iteration: int
    history: dict
    config: dict
    state: dict = field(default_factory=dict)


def save_checkpoint(path, model, *, epoch, iteration, history, config, state=None):
    """Write a checkpoint to ``path`` atomically (complete or absent, never half written).

    The new file replaces an existing one only after it has been read back
    and found whole.

    Parameters
    ----------
    path : str or Path
    model : MLP
        The parent model.
    epoch, iteration : int
        The next iteration to run.
    history, config : dict
        JSON-serialisable.
    state : dict of ndarray, optional
        The runner's state beyond the weights (:attr:`Checkpoint.state`).

    Raises
    ------
    PdsgdError
        If the weights are not finite (the old checkpoint stays).
    OSError
        If the file cannot be written (a full disk); the old checkpoint stays.
    """
    if not np.all(np.isfinite(model.params)):
        raise PdsgdError(f"{path}: the model's weights are not finite; the checkpoint "
                         "there was kept as it was")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"epoch": int(epoch), "iteration": int(iteration),
                       "history": history, "config": config}, default=str)
    kept = {STATE + name: value for name, value in (state or {}).items()}
    data = npz_bytes(**model.arrays(), **kept, meta=np.array(meta))
    with atomic_path(path) as tmp:
        write_bytes(tmp, data)
        read_checkpoint(tmp, path)  # whole, or the old one stays


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`, checking everything in it.

    Raises
    ------
    PdsgdError
        If the file is missing, or is not a whole, sensible pdsgd checkpoint
        (:class:`BadCheckpoint`).
    """
    path = Path(path)
    if not path.is_file():
        raise PdsgdError(f"--resume {path}: no such checkpoint file; give the path that "
                         "--checkpoint-every wrote (default <out>/checkpoint.npz)")
    return read_checkpoint(path)


def read_checkpoint(path, name=None):
    """Read and check the checkpoint in file ``path`` (called ``name`` in messages)."""
    name = path if name is None else name
    try:
        with np.load(path, allow_pickle=False) as f:
            sizes = [int(s) for s in np.atleast_1d(f["sizes"])]
            if len(sizes) < 2 or min(sizes) < 1:
                raise ValueError(f"layer sizes {sizes}")
            model = MLP(sizes, bias=bool(f["bias"]), dtype=str(f["dtype"]),
                        params=f["params"].copy())
            meta = json.loads(str(f["meta"]))
            state = {k[len(STATE):]: f[k] for k in f.files if k.startswith(STATE)}
    except KeyError as error:
        raise BadCheckpoint(f"--resume {name}: not a pdsgd checkpoint (it has no "
                            f"{error} entry)") from None
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise BadCheckpoint(f"--resume {name}: not a whole pdsgd checkpoint (damaged, cut "
                            f"short or empty: {type(error).__name__}: {error})") from None
    if not np.all(np.isfinite(model.params)):
        raise BadCheckpoint(f"--resume {name}: its weights are not all finite (nan or inf); "
                            "resume from an earlier checkpoint or start again")
    epoch, iteration, history, config = _position(meta, name)
    return Checkpoint(model, epoch, iteration, history, config, state)


def _position(meta, name):
    """The checkpoint's epoch, iteration, history and config, each checked."""
    def bad(what):
        return BadCheckpoint(f"--resume {name}: {what}; it cannot be resumed from")

    if not isinstance(meta, dict):
        raise bad("its position is not a record")
    epoch, iteration = meta.get("epoch"), meta.get("iteration")
    for key, value in (("epoch", epoch), ("iteration", iteration)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(f"its {key} {value!r} is not a count")
    history, config = meta.get("history"), meta.get("config")
    if not isinstance(config, dict):
        raise bad("it has no configuration")
    if not isinstance(history, dict) or list(history) != list(HISTORY):
        raise bad(f"its history does not hold {', '.join(HISTORY)}")
    for key, values in history.items():
        if not isinstance(values, list) or len(values) != epoch:
            raise bad(f"its history of {key} does not have one value per finished epoch "
                      f"({epoch})")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in values):
            raise bad(f"its history of {key} holds values that are not finite numbers")
    return epoch, iteration, history, config


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
    per_epoch = n_iterations(config["train_size"], 1, config["round_size"])
    if checkpoint.iteration >= per_epoch:
        raise BadCheckpoint(f"cannot resume: the checkpoint's position, iteration "
                            f"{checkpoint.iteration} of epoch {checkpoint.epoch}, is past the "
                            f"{per_epoch} iterations of an epoch of this run")


def _sizes_fields(sizes):
    """The spec's size fields, for a checkpoint that recorded only ``sizes``."""
    if not sizes:
        return {}
    return {"n_inputs": sizes[0], "hidden": list(sizes[1:-1]), "n_outputs": sizes[-1]}


def _norm(value):
    return list(value) if isinstance(value, tuple) else value
