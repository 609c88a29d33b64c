"""``python -m memories`` is the same as the ``memories`` console script."""

import sys

from memories.cli import main

sys.exit(main())
