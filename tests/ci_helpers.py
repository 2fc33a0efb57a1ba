"""What every guard of the suite asks about the environment: are we in CI?

A guard that skips a test where something optional is missing (a browser, Debian's
dataset-fashion-mnist) must not skip in CI, where ``.ci/run`` installs it: there the
test runs, and fails, rather than hide that it did not. Every guard asks :func:`in_ci`.
"""

import os

#: The values of ``CI`` that mean yes (case and surrounding blanks do not matter).
TRUE = ("1", "true", "yes", "on")


def in_ci(environ=None):
    """Whether ``CI`` is set to a true value (``1``, ``true``, ``yes``, ``on``)."""
    environ = os.environ if environ is None else environ
    return environ.get("CI", "").strip().lower() in TRUE
