"""Events the live chart marks, from the history file: settings as they changed (restarts included), and
deploys seen as a wave of new backends (``DeployWatcher``, fed every sample by the monitor).

Actions come from ``actions.ActionLog``; ``dashboard.incident`` turns all of these into chart marks.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from dashboard.live import queries
from dashboard.live.history import HistoryStore, from_us, to_us
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds
from planner.sessions import new_backends
from planner.snapshot import Snapshot


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


def _open(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.executescript(queries.load("history_actions_schema"))  # the migration: tables if missing
    return conn


class DeployWatcher:
    """Monitor hook (``Monitor(on_sample=DeployWatcher())``): logs a ``deploy`` event when an application
    has ``burst_new_backends`` or more backends at most ``burst_window_s`` old (the thresholds the
    ``cold-pool`` rule uses for a burst), once per wave. Needs samples with sessions."""

    def __init__(self, thresholds: Thresholds = DEFAULT_THRESHOLDS):
        self.thresholds = thresholds
        self._logged: dict[tuple[str, str], datetime] = {}

    def __call__(self, snapshot: Snapshot, history: HistoryStore) -> None:
        if not snapshot.ok or getattr(snapshot, "sessions", None) is None:
            return
        th = self.thresholds
        waves = {app: n for app, n in new_backends(snapshot.sessions, th.burst_window_s).items()
                 if n >= th.burst_new_backends}
        for app, count in sorted(waves.items()):
            last = self._logged.get((snapshot.server, app))
            if last is not None and (snapshot.taken_at - last).total_seconds() <= 2 * th.burst_window_s:
                continue  # the same wave, seen again by the next samples
            self._logged[(snapshot.server, app)] = snapshot.taken_at
            detail = f"{count} new backends of '{app or '(no application_name)'}' within {th.burst_window_s:g} s"
            with closing(_open(history.path)) as conn, conn:
                conn.execute(queries.load("history_insert_event"), {
                    "taken_us": to_us(snapshot.taken_at), "server": snapshot.server, "kind": "deploy",
                    "subject": app, "detail": detail})


def events(path: str | Path, server: str, since: datetime | None = None,
           until: datetime | None = None) -> list[tuple[datetime, str, str, str]]:
    """``(at, kind, subject, detail)`` of the server's logged events in the range, oldest first."""
    if not Path(path).exists():
        return []
    params = {"server": server, "since_us": to_us(since) if since else 0, "until_us": to_us(until) if until else 2**62}
    with closing(_open(path)) as conn:
        rows = conn.execute(queries.load("history_events"), params).fetchall()
    return [(from_us(taken_us), kind, subject, detail) for taken_us, kind, subject, detail in rows]
