"""``python -m pdsgd`` is the ``pdsgd`` command."""

import sys

from pdsgd.cli import main

sys.exit(main())
