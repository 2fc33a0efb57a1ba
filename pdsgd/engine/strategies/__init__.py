"""How N workers train together: one module per strategy, and the registry that names them.

==========  ===========  ================================================
name        option       module
==========  ===========  ================================================
bsp         algorithm    :mod:`~.data`: the seed's data-parallel BSP
average     algorithm    :mod:`~.averaging`: parameter averaging
tensor      parallel     :mod:`~.tensor`: split the hidden units
ssp, async  sync         :mod:`~.update_log`: no barrier, an update log
hogwild     sync         :mod:`~.hogwild`: unlocked writes
==========  ===========  ================================================

What a strategy provides: :mod:`pdsgd.engine.strategies.base`. Adding one: a
module, a :func:`register` line in :mod:`~.registry`, its tests
(docs/contributing.md).
"""

from pdsgd.engine.strategies.base import Outcome, Strategy
from pdsgd.engine.strategies.registry import (
    OPTIONS,
    Choices,
    choices,
    get,
    of,
    register,
    registered,
)
from pdsgd.engine.strategies.tensor import TENSOR

#: Each option's values (names), live from the registry.
ALGORITHMS, SYNCS, PARALLELS = Choices("algorithm"), Choices("sync"), Choices("parallel")

__all__ = ["ALGORITHMS", "Choices", "OPTIONS", "Outcome", "PARALLELS", "Strategy", "SYNCS",
           "TENSOR", "choices", "get", "of", "register", "registered"]
