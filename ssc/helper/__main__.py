"""``python -I -m ssc.helper``: the system helper, as its systemd unit starts it."""

import sys

from .service import main

sys.exit(main())
