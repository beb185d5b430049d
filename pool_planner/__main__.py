"""``python -m pool_planner``: the ``pool-planner`` command (see pool_planner.cli)."""

import sys

from pool_planner.cli import main

sys.exit(main())
