"""``python -m ssc``: the launcher."""

import sys

from .cli import main

sys.exit(main())
