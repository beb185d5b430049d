"""Events the live chart marks, read from the history file: settings as they changed (restarts included).

Actions come from ``actions.ActionLog``; ``dashboard.incident.settings_events`` turns these settings
changes into restart and settings-change events.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from dashboard.live import queries
from dashboard.live.history import from_us, to_us


def settings_changes(path: str | Path, server: str, since: datetime | None = None,
                     until: datetime | None = None) -> list[tuple[datetime, str]]:
    """``(first seen at, settings JSON)`` each time the server's settings changed in the range, oldest first,
    preceded by the settings in force before ``since`` (when there were samples before it)."""
    params = {"server": server, "since_us": to_us(since) if since else 0, "until_us": to_us(until) if until else 2**62}
    if not Path(path).exists():
        return []
    with closing(sqlite3.connect(path, timeout=10)) as conn:
        before = conn.execute(queries.load("history_settings_before"), params).fetchall()
        rows = conn.execute(queries.load("history_settings_changes"), params).fetchall()
    return [(from_us(taken_us), body) for taken_us, body in [*before, *rows]]
