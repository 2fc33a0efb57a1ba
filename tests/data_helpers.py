"""What tests that need real data share: the guard of Debian's dataset-fashion-mnist."""

import pytest
from ci_helpers import in_ci

from pdsgd.data.datasets import FASHION_MNIST_SYSTEM_DIRS, IDX_FILES

FASHION_INSTALLED = all((FASHION_MNIST_SYSTEM_DIRS[0] / f).exists() for f in IDX_FILES)

#: Skips a test without Debian's dataset-fashion-mnist, except in CI
#: (:func:`ci_helpers.in_ci`), where `.ci/run` installs it: there the test runs, and
#: fails, rather than hide that it did not.
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_INSTALLED and not in_ci(),
    reason="Debian's dataset-fashion-mnist is not installed")
