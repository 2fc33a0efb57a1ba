"""``python -m pdsgd`` is the ``pdsgd`` command."""

import sys

from .cli import main

sys.exit(main())
