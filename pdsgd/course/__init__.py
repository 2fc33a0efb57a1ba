"""What the notebooks call: widget panels, measurements, tables, and ``make lab``.

``widgets`` holds the panels (sliders, Run and Stop, live plots) and ``panel``
what they share; ``background`` runs a panel's training in a thread that the
Stop button and Kernel > Interrupt can end; ``lessons`` the measurements a
notebook makes in one call (a gradient check, messages, barriers, the learning
rate rules); ``tables`` a trace and an iteration's time budget as tables;
``scaling`` notebook 3's timed grid, or what ``make reproduce`` measured;
``distributed`` the BSP-against-averaging comparison of notebook 5;
``without_barrier`` notebook 6's runs without the barrier, side by side; ``lab``
the ``make lab`` launcher; ``history`` a panel's runs side by side; ``demo`` kept
results replayed in a panel and :func:`present`, the projector's style; ``checks``
the exercises' checks and ``assignments`` their nbgrader version. The course trains
through :func:`pdsgd.train` and measures through :mod:`pdsgd.study`; it imports nothing
of the engine
(``tests/test_layers.py``).
"""

from pdsgd.course.demo import present

__all__ = ["present"]
