"""The learning rate of each epoch: the seed's fixed rate, Goyal et al.'s linear rule, warm-up."""

from __future__ import annotations

import numpy as np

from pdsgd.errors import OptionError, choice

LR_RULES = ("fixed", "linear")


def effective_lr(lr, rule, workers, micro_batch):
    """The parent's learning rate under ``rule`` (after any warm-up).

    ``fixed`` is the seed's: the same ``lr`` whatever the batch ``N * b``.
    ``linear`` is Goyal et al. (2017): scale ``lr`` by the batch size, so that
    one step on ``N * b`` samples moves as far as ``N * b`` single-sample steps.
    """
    choice("lr_rule", rule, LR_RULES)
    return lr * workers * micro_batch if rule == "linear" else lr


def whole_epochs(option, value):
    """A whole number of epochs, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise OptionError(option, value, "must be a whole number of epochs >= 0")
    return int(value)


def check_warmup(warmup_epochs, rule):
    """Return ``warmup_epochs`` (an integer >= 0), or raise :class:`OptionError`."""
    warmup_epochs = whole_epochs("warmup_epochs", warmup_epochs)
    if warmup_epochs > 0 and rule != "linear":
        raise OptionError("warmup_epochs", warmup_epochs,
                          "applies to {lr_rule}linear only: a fixed rate has nothing "
                          "to warm up to")
    return warmup_epochs


def warmup_lr(lr, step_lr, warmup_epochs, epoch):
    """The learning rate of epoch ``epoch`` (0-based): Goyal et al.'s gradual warm-up.

    For ``warmup_epochs = W > 0`` the rate rises from the unscaled ``lr`` to the
    scaled ``step_lr`` over the first W epochs. Goyal et al. raise it a little
    every iteration; here every epoch runs at one rate, the rate their ramp has
    halfway through that epoch: ``lr + (step_lr - lr) * (epoch + 1/2) / W``.
    From epoch W on, ``step_lr``.
    """
    if epoch >= warmup_epochs:
        return step_lr
    return lr + (step_lr - lr) * (epoch + 0.5) / warmup_epochs


def epoch_lr(config, epoch):
    """The learning rate of epoch ``epoch`` of a recorded run (``TrainResult.config``).

    See :func:`warmup_lr`; a record without ``warmup_epochs`` had no warm-up.
    A run in progress asks its plan: :meth:`~pdsgd.train.plan.TrainPlan.epoch_lr`.
    """
    return warmup_lr(config["lr"], config["step_lr"], config.get("warmup_epochs", 0), epoch)
