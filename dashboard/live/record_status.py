"""What ``record`` tells about the history store while it runs, and its exit code at the end.

Exit 2 when no server ever gave a sample (unknown database, wrong password, down the whole time: each was
retried all along and its state printed), so a script or a service manager sees that nothing was recorded.
A server down the whole time next to one that was sampled is recorded as gaps: that is a recording (exit 0).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from dashboard.live.monitor import ServerStatus
from dashboard.live.store_health import StoreHealth, StoreState

EXIT_OK, EXIT_NO_SAMPLE = 0, 2


def print_store_change(health: StoreHealth, shown: StoreState) -> StoreState:
    """Print the history's status line when its state changed since ``shown``; returns the state shown."""
    if health.state is not shown:
        print(health.line(), flush=True)
    return health.state


def record_exit_code(statuses: Mapping[str, ServerStatus]) -> int:
    """0 when some server or PgBouncer gave a sample; else 2, with one line per server saying why it never did."""
    never = [status for status in statuses.values() if status.last_ok_at is None]
    if len(never) < len(statuses):
        return EXIT_OK
    for status in never:
        print(f"error: {status.server}: no sample recorded ({status.state}: {status.reason or 'not sampled'})",
              file=sys.stderr)
    return EXIT_NO_SAMPLE
