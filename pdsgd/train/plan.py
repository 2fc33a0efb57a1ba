"""The training loop's options: :class:`TrainPlan`, beside the engine's ``EngineSpec``.

A run is the spec (how the engine computes an epoch) and the plan (which data,
how many epochs, at which rate, from which seed). Both are frozen values whose
fields are declared once with :func:`~pdsgd.options.option`: the check of each
value, :func:`pdsgd.train`'s default, ``pdsgd train``'s flag and the table in
``docs/options.md`` come from there. The loop reads the plan's attributes; the
dict that ``TrainResult.config``, ``metrics.json`` and checkpoints hold is made
from plan and spec at the edge (:meth:`TrainPlan.record`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pdsgd.arguments import non_negative_int, positive_float, positive_int
from pdsgd.data.datasets import DATASETS, SCALINGS
from pdsgd.errors import OptionError, positive
from pdsgd.options import check_options, option, options_of
from pdsgd.train.rates import LR_RULES, check_warmup, effective_lr, warmup_lr, whole_epochs


def seed_value(option, value):
    """An integer of zero or more."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise OptionError(option, value, "must be an integer >= 0")
    return value


def learning_rate(option, value):
    """A finite number greater than zero."""
    positive(option, value, integer=False)
    return value  # as given: a record keeps lr=1 as 1, as it always has


@dataclass(frozen=True)
class TrainPlan:
    """What the training loop runs: the data, the epochs, the learning rate and the seed.

    Parameters
    ----------
    dataset : str
        The dataset's name (:data:`pdsgd.data.DATASETS`); :func:`pdsgd.train`
        takes it, or a loaded :class:`~pdsgd.data.Dataset`, as ``data``.
    scaling : {"rashid", "zscore"}
        How the inputs were scaled (the command line's ``--scaling``; in Python
        the dataset's own).
    train_size : int, optional
        P: train on the first P samples; None: all (:meth:`for_run` sets the count).
    epochs : int
    lr : float
        The seed's learning rate, before ``lr_rule``.
    lr_rule : {"fixed", "linear"}
        See :func:`~pdsgd.train.rates.effective_lr`.
    warmup_epochs : int
        See :func:`~pdsgd.train.rates.warmup_lr`.
    seed : int
        Seeds the initial weights and every epoch's sample order.
    test_size : int, optional
        Test samples: set by :meth:`for_run` from the data, not an option.
    step_lr : float, optional
        The rate after warm-up (``lr`` under ``lr_rule``): set by :meth:`for_run`.
    """

    # The dataset's name is checked where it is loaded (load_dataset), not here.
    dataset: str = option(
        "mnist-5k", "the dataset (in Python also a loaded Dataset)", choices=DATASETS,
        check=None, keyword="data", group="training", arithmetic=True)
    scaling: str = option("rashid", "input scaling: x/255*0.99+0.01 (rashid) or z-score",
                          choices=SCALINGS, keyword=None, group="training", arithmetic=True)
    train_size: int | None = option(
        None, "P: train on the first P samples (default: all)", check=positive,
        parse=positive_int, metavar="P", group="seed", arithmetic=True)
    epochs: int = option(5, "passes over the training set", check=positive,
                         parse=positive_int, group="training")
    lr: float = option(0.1, "the learning rate (the seed's, before lr_rule)",
                       check=learning_rate, parse=positive_float, group="training",
                       arithmetic=True)
    lr_rule: str = option("fixed", "fixed: the seed's; linear: scale lr by N*b "
                          "(Goyal et al. 2017)", choices=LR_RULES, group="training",
                          arithmetic=True)
    warmup_epochs: int = option(
        0, "with lr_rule linear: raise lr to the scaled rate over the first W epochs "
        "(Goyal et al.'s gradual warm-up)", check=whole_epochs, parse=int, metavar="W",
        group="training", arithmetic=True)
    seed: int = option(0, "seeds the initial weights and every epoch's sample order",
                       check=seed_value, parse=non_negative_int, group="training",
                       arithmetic=True)
    test_size: int | None = None
    step_lr: float | None = None

    def __post_init__(self):
        check_options(self)
        check_warmup(self.warmup_epochs, self.lr_rule)

    @classmethod
    def options(cls):
        """Every option of the plan as its field declares it: :class:`~pdsgd.options.Option`."""
        return options_of(cls)

    @classmethod
    def arithmetic_fields(cls):
        """Names of the fields that change the weights, and ``step_lr``: resume must match them."""
        return (*(o.name for o in cls.options() if o.arithmetic), "step_lr")

    def for_run(self, data, spec):
        """This plan for ``data`` (a :class:`~pdsgd.train.prepare.TrainingData`) and ``spec``:
        the dataset's name, scaling and sizes, and the rate ``lr_rule`` gives N*b."""
        return replace(self, dataset=data.name, scaling=data.scaling, train_size=len(data.X),
                       test_size=len(data.X_test),
                       step_lr=effective_lr(self.lr, self.lr_rule, spec.workers,
                                            spec.micro_batch))

    def epoch_lr(self, epoch):
        """The learning rate of epoch ``epoch`` (0-based), warm-up included."""
        return warmup_lr(self.lr, self.step_lr, self.warmup_epochs, epoch)

    def record(self, spec):
        """The run's settings as ``TrainResult.config``, metrics.json and checkpoints hold them.

        The keys and their order are those every saved run has: resuming
        compares them (:func:`~pdsgd.checkpoint.check_resumable`) and the study
        and the course read them back.
        """
        return dict(dataset=self.dataset, scaling=self.scaling, train_size=self.train_size,
                    test_size=self.test_size, epochs=self.epochs, lr=self.lr,
                    lr_rule=self.lr_rule, step_lr=self.step_lr,
                    warmup_epochs=self.warmup_epochs, seed=self.seed,
                    round_size=spec.round_size, **spec.record())
