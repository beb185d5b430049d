"""The dashboard's side of ``pool-planner collect``: when a collector is writing the history the page would use,
read it instead of sampling (``attach``), so the page opens no connection of its own and closing it loses nothing.

``CollectorReader`` answers what the page asks a ``Monitor`` (``latest``, ``status``, ``pgbouncer_latest``,
``pgbouncer_status``, ``history``, ``targets``, ``pgbouncers``) from the history file and the collector's
heartbeat (``dashboard.live.collector``). When the heartbeat goes stale (the collector stopped or hangs) every
target reads as ``error`` with that reason, so the page says the monitor itself is down; the samples already
recorded stay on the chart, and the collector draws its own downtime as a gap when it starts again.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard.live.collector import heartbeat_path, read_heartbeat
from dashboard.live.history import HistoryStore
from dashboard.live.monitor import ServerStatus
from planner.dsn import mask_url
from planner.pgbouncer_snapshot import PgBouncerSnapshot
from planner.snapshot import Snapshot

LATEST_WINDOW_S = 120.0
"""How far back ``latest()`` looks for each target's newest sample."""
CACHE_S = 0.5


def _status(fields: dict) -> ServerStatus:
    def moment(key: str) -> datetime | None:
        return datetime.fromisoformat(fields[key]) if fields.get(key) else None

    return ServerStatus(str(fields["server"]), str(fields["url"]), str(fields["state"]), fields.get("reason"),
                        moment("since") or datetime.now(UTC), moment("next_retry_at"), moment("last_ok_at"),
                        int(fields.get("failures", 0)), int(fields.get("samples", 0)), fields.get("own_pid"))


class CollectorReader:
    """A read-only stand-in for ``Monitor`` over a running collector's history and heartbeat."""

    def __init__(self, history: Path, document: dict, store: HistoryStore | None = None):
        self.heartbeat = heartbeat_path(history)
        self.interval_s = float(document["interval_s"])
        self.targets = dict(document["servers"])
        """name -> masked URL (the collector never writes a password)."""
        self.pgbouncers = dict(document["pgbouncers"])
        self.history = store if store is not None else HistoryStore(history, retention_s=float(document["retention_s"]))
        self.history_error: str | None = None
        self._document = document
        self._read_at = time.monotonic()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._heartbeat() is not None

    def _heartbeat(self) -> dict | None:
        with self._lock:
            if time.monotonic() - self._read_at > CACHE_S:
                self._document = read_heartbeat(self.heartbeat) or {**self._document, "stale": True}
                self._read_at = time.monotonic()
            return None if self._document.get("stale") else self._document

    def _statuses(self, key: str) -> dict[str, ServerStatus]:
        document = self._heartbeat()
        stored = (document or self._document).get(key, {})
        statuses = {name: _status(fields) for name, fields in stored.items()}
        if document is None:
            since = datetime.fromtimestamp(float(self._document["updated_at"]), UTC)
            reason = f"the collector stopped sampling at {since:%H:%M:%S} UTC (pool-planner collect is not running)"
            statuses = {name: ServerStatus(name, mask_url(s.url), "error", reason, since, None, s.last_ok_at,
                                           s.failures, s.samples) for name, s in statuses.items()}
        return statuses

    def status(self) -> dict[str, ServerStatus]:
        return self._statuses("status")

    def pgbouncer_status(self) -> dict[str, ServerStatus]:
        return self._statuses("pgbouncer_status")

    def latest(self) -> dict[str, Snapshot]:
        since = datetime.now(UTC) - timedelta(seconds=max(LATEST_WINDOW_S, 5 * self.interval_s))
        found = {}
        for name in self.targets:
            recent = self.history.snapshots(name, since=since)
            if recent:
                found[name] = recent[-1]
        return found

    def pgbouncer_latest(self) -> dict[str, PgBouncerSnapshot]:
        since = datetime.now(UTC) - timedelta(seconds=max(LATEST_WINDOW_S, 5 * self.interval_s))
        found = {}
        for name in self.pgbouncers:
            recent = self.history.pgbouncer_snapshots(name, since=since)
            if recent:
                found[name] = recent[-1]
        return found

    def retry_now(self) -> None:
        """Nothing to wake here: the collector retries on its own schedule."""

    def stop(self) -> None:
        self.history.close()


def open_store(history: Path) -> HistoryStore:
    """The page's ``HistoryStore`` for ``history``, with the running collector's retention if there is one (so
    the page never prunes what the collector keeps)."""
    document = read_heartbeat(heartbeat_path(history))
    if document is None:
        return HistoryStore(history)
    return HistoryStore(history, retention_s=float(document["retention_s"]))


def attach(history: Path, servers: dict[str, str], store: HistoryStore | None = None) -> CollectorReader | None:
    """A reader over ``history`` when a collector runs for it and samples at least ``servers`` (by name and
    masked URL); None otherwise (the page then samples itself)."""
    document = read_heartbeat(heartbeat_path(history))
    if document is None:
        return None
    covered = document.get("servers", {})
    if any(covered.get(name) != mask_url(url) for name, url in servers.items()):
        return None
    return CollectorReader(history, document, store)
