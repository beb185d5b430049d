"""``python -m dashboard.live sample|record``: see ``dashboard.live.cli``."""

import sys

from dashboard.live.cli import main

sys.exit(main())
