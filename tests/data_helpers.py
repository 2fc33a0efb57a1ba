"""What tests that need real data share: the guard of Debian's dataset-fashion-mnist."""

import os

import pytest

from pdsgd.data.datasets import FASHION_MNIST_SYSTEM_DIRS, IDX_FILES

FASHION_INSTALLED = all((FASHION_MNIST_SYSTEM_DIRS[0] / f).exists() for f in IDX_FILES)

#: Skips a test without Debian's dataset-fashion-mnist, except in CI (``CI=true``), where
#: `.ci/run` installs it: there the test runs, and fails, rather than hide that it did not.
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_INSTALLED and os.environ.get("CI") != "true",
    reason="Debian's dataset-fashion-mnist is not installed")
