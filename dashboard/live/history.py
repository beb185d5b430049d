"""The sample history: an SQLite file under the data folder that outlives dashboard restarts.

Writes go through a queue to one writer thread that commits them in batches, so a slow disk never delays a
sample. Reads open their own short-lived connection (WAL mode: readers never block the writer) and first
wait for the writes already queued, so a reader sees every sample appended before the call.
A gap (status not ``ok``) is stored as a sample with no total and no groups, and comes back as a row whose
count is NaN, so a chart draws a gap and never a zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import sqlite3
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.live import pgbouncer_history, queries
from dashboard.live.store_health import (
    StoreHealth,
    is_corruption,
    move_aside,
    one_line,
    open_store,
    recovered,
)
from planner.pgbouncer_snapshot import PgBouncerSnapshot
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

log = logging.getLogger(__name__)

DEFAULT_RETENTION_S = 7 * 86_400
DATA_ENV = "POOL_PLANNER_DATA"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_FAR_FUTURE_US = 2**62
_PRUNE_EVERY_S = 600.0

FRAME_COLUMNS = ["taken_at", "server", "status", "application_name", "state", "count"]
TOTALS_COLUMNS = ["taken_at", "status", "total"]


def default_data_dir() -> Path:
    """``$POOL_PLANNER_DATA``, else ``./data``."""
    return Path(os.environ.get(DATA_ENV) or "data")


def default_history_path() -> Path:
    return default_data_dir() / "history.sqlite"


def to_us(moment: datetime) -> int:
    """Exact microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICRO


def from_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


class HistoryStore:
    """Samples of every monitored server, kept ``retention_s`` seconds (default 7 days).

    ``path`` is the SQLite file (its folder is created). ``HistoryStore.temporary()`` gives a throwaway one.
    """

    def __init__(self, path: str | Path, *, retention_s: float = DEFAULT_RETENTION_S):
        if not (isinstance(retention_s, int | float) and math.isfinite(retention_s) and retention_s > 0):
            raise ValueError(f"retention_s must be a positive number of seconds, got {retention_s!r}")
        self.path = Path(path)
        self.retention_s = float(retention_s)
        self.last_error: str | None = None
        """The last write failure (the writer logs it and keeps going), or None."""
        self._temporary_dir: tempfile.TemporaryDirectory[str] | None = None
        opened = open_store(self.path, _schema())
        self._target, self._uri, self._keeper, self._health = opened.target, opened.uri, opened.keeper, opened.health
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="history-writer", daemon=True)
        self._writer.start()
        self._queue.put(("prune", None))

    @classmethod
    def default(cls, *, retention_s: float = DEFAULT_RETENTION_S) -> HistoryStore:
        """The store at ``$POOL_PLANNER_DATA/history.sqlite`` (default ``./data/history.sqlite``)."""
        return cls(default_history_path(), retention_s=retention_s)

    @classmethod
    def temporary(cls, *, retention_s: float = DEFAULT_RETENTION_S) -> HistoryStore:
        """A store in a temporary folder, removed by ``close()``."""
        folder = tempfile.TemporaryDirectory(prefix="pool-planner-history-")
        store = cls(Path(folder.name) / "history.sqlite", retention_s=retention_s)
        store._temporary_dir = folder
        return store

    # ---------------------------------------------------------------------------------------------- writing

    def append(self, snapshot: Snapshot | PgBouncerSnapshot) -> None:
        """Queue one snapshot (of a server or a PgBouncer) for writing; returns at once (the writer commits it)."""
        if self._closed:
            raise RuntimeError("HistoryStore is closed")
        if isinstance(snapshot, PgBouncerSnapshot):
            self._queue.put(("pgbouncer", snapshot))
            return
        if not isinstance(snapshot, Snapshot):
            raise TypeError(f"append() takes a Snapshot, got {type(snapshot).__name__} (or a PgBouncerSnapshot)")
        self._queue.put(("snapshot", snapshot))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything appended so far is committed; False if the writer did not finish in time."""
        if self._closed or not self._writer.is_alive():
            return True
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout_s)

    def prune(self, now: datetime | None = None) -> int:
        """Delete samples older than the retention; returns how many. (The writer also prunes every 10 min.)"""
        self.flush()
        with closing(self._connect()) as conn:
            return self._prune(conn, now)

    def close(self) -> None:
        """Commit what is queued, stop the writer, and remove a temporary store's folder."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(("close", None))
        self._writer.join(timeout=30)
        if self._keeper is not None:
            self._keeper.close()
        if self._temporary_dir is not None:
            self._temporary_dir.cleanup()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- reading

    def servers(self) -> list[str]:
        """Names of the servers with at least one sample (none when the file cannot be read)."""
        return self._read("_servers", [])

    def _servers(self) -> list[str]:
        with self._reading() as conn:
            return [row[0] for row in conn.execute(queries.load("history_servers"))]

    def frame(self, server: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """``_frame`` (below); an empty frame when the file cannot be read (see ``health()``)."""
        return self._read("_frame", _unpack_frame(server, [], []), server, since, until)

    def _frame(self, server: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """Long form for charts: ``taken_at`` (UTC), ``server``, ``status``, ``application_name``, ``state``,
        ``count``, one row per (sample, application, state), summed over database, role, address and wait.

        A gap is one row with status not ``ok`` and count NaN. An ok sample without client backends is one
        row with application_name and state None and count 0. An application absent from an ok sample had
        no connection then (count 0), which a chart gets by pivoting and filling the ok samples with 0.
        """
        with self._reading() as conn:
            rows = conn.execute(queries.load("history_frame"), self._range(server, since, until)).fetchall()
            app_states = conn.execute(queries.load("history_app_states")).fetchall()
        return _unpack_frame(server, rows, app_states)

    def totals(self, server: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """``_totals`` (below); an empty frame when the file cannot be read (see ``health()``)."""
        return self._read("_totals", _totals_frame([]), server, since, until)

    def _totals(self, server: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """Per sample: ``taken_at`` (UTC), ``status``, ``total`` client backends (NaN for a gap), plus
        ``own_connections``, ``latency_ms`` and ``error``."""
        with self._reading() as conn:
            rows = conn.execute(queries.load("history_totals"), self._range(server, since, until)).fetchall()
        return _totals_frame(rows)


    def snapshots(
        self, server: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Snapshot]:
        """The samples of one server in a time range, oldest first, as ``Snapshot`` objects (for live rules);
        none when the file cannot be read (see ``health()``)."""
        return self._read("_snapshots", [], server, since, until)

    def _snapshots(
        self, server: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Snapshot]:
        with self._reading() as conn:
            samples = conn.execute(queries.load("history_samples"), self._range(server, since, until)).fetchall()
            if not samples:
                return []
            groups: dict[int, list[ActivityGroup]] = {}
            bounds = {"first_id": min(r[0] for r in samples), "last_id": max(r[0] for r in samples)}
            for row in conn.execute(queries.load("history_groups"), bounds):
                groups.setdefault(row[0], []).append(ActivityGroup(*row[1:]))
        settings_cache: dict[str, ServerSettings] = {}
        result = []
        for sample_id, name, taken_us, status, own, latency, error, sqlstate, body in samples:
            settings = None
            if body is not None:
                settings = settings_cache.get(body) or settings_cache.setdefault(
                    body, ServerSettings(**json.loads(body))
                )
            result.append(
                Snapshot(
                    server=name, taken_at=from_us(taken_us), status=status, groups=tuple(groups.get(sample_id, ())),
                    settings=settings, own_connections=own, error=error, sqlstate=sqlstate, latency_ms=latency,
                )
            )
        return result

    def pgbouncer_names(self) -> list[str]:
        """Names of the PgBouncers with at least one sample."""
        with self._reading() as conn:
            return pgbouncer_history.names(conn)

    def pgbouncer_snapshots(
        self, name: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[PgBouncerSnapshot]:
        """The samples of one PgBouncer in a time range, oldest first (pools and config; no client groups)."""
        bounds = self._range(name, since, until)
        bounds["name"] = bounds.pop("server")
        with self._reading() as conn:
            return pgbouncer_history.snapshots(conn, bounds)

    def pgbouncer_frame(self, name: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """Per (sample, pool): ``pgbouncer_history.FRAME_COLUMNS``; a gap is one row with NaN counts."""
        return pgbouncer_history.frame(self.pgbouncer_snapshots(name, since, until))

    # ---------------------------------------------------------------------------------------------- internals

    def health(self) -> StoreHealth:
        """How writing goes: ``ok``, ``unwritable`` (memory only) or ``failing`` (mid-run), and any corrupt file
        moved aside (``dashboard.live.store_health``). Cheap: read it on every page run or status line."""
        return self._health

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._target, timeout=10, check_same_thread=False, uri=self._uri)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        self.flush()
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA query_only = ON")
            yield conn

    def _read(self, method: str, empty: Any, *args: Any) -> Any:
        """``method(*args)``, or ``empty`` when the file cannot be read (the fault shows in ``health()``, a
        corrupt file is handed to the writer to move aside): a broken disk never breaks a page."""
        try:
            return getattr(self, method)(*args)
        except sqlite3.Error as err:
            self._health = replace(self._health, reason=f"reading failed: {one_line(err)}")
            if is_corruption(err) and not self._closed:
                self._queue.put(("corrupt", err))
            return empty

    @staticmethod
    def _range(server: str, since: datetime | None, until: datetime | None) -> dict[str, object]:
        return {
            "server": server,
            "since_us": to_us(since) if since is not None else -_FAR_FUTURE_US,
            "until_us": to_us(until) if until is not None else _FAR_FUTURE_US,
        }

    def _prune(self, conn: sqlite3.Connection, now: datetime | None) -> int:
        cutoff = to_us(now or datetime.now(UTC)) - int(self.retention_s * 1_000_000)
        with conn:
            conn.execute(queries.load("history_prune_groups"), {"cutoff_us": cutoff})
            deleted = conn.execute(queries.load("history_prune_samples"), {"cutoff_us": cutoff}).rowcount
            deleted += pgbouncer_history.prune(conn, cutoff)
        return deleted

    def _write_pgbouncer(self, writer: pgbouncer_history.PgBouncerWriter, bouncers: list[PgBouncerSnapshot]) -> None:
        if not bouncers:
            return
        try:
            writer.write(bouncers)
        except Exception as err:  # as for server samples: a bad disk must not kill the writer
            self.last_error = f"{len(bouncers)} PgBouncer samples not saved to {self.path}: {err}"
            log.warning(self.last_error)
            writer.reset()

    def _write_loop(self) -> None:
        conn, writer = self._write(None, None, [], None)
        bouncer_writer: pgbouncer_history.PgBouncerWriter | None = None
        next_prune = time.monotonic() + _PRUNE_EVERY_S
        try:
            while True:
                try:
                    item = self._queue.get(timeout=max(0.1, next_prune - time.monotonic()))
                except queue.Empty:
                    item = ("prune", None)
                batch = [item]
                while len(batch) < 5_000:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                bouncers = [payload for kind, payload in batch if kind == "pgbouncer"]
                if bouncers and conn is not None:  # the store is failing: the server samples' gap row says so
                    if bouncer_writer is None or bouncer_writer.conn is not conn:
                        bouncer_writer = pgbouncer_history.PgBouncerWriter(conn)
                    self._write_pgbouncer(bouncer_writer, bouncers)
                snapshots = [payload for kind, payload in batch if kind == "snapshot"]
                corrupt = next((payload for kind, payload in batch if kind == "corrupt"), None)
                if snapshots or corrupt is not None:
                    conn, writer = self._write(conn, writer, snapshots, corrupt)
                if conn is not None and (any(kind == "prune" for kind, _ in batch) or time.monotonic() >= next_prune):
                    try:
                        self._prune(conn, None)
                    except sqlite3.Error as err:
                        self.last_error = f"pruning {self.path} failed: {err}"
                        log.warning(self.last_error)
                    next_prune = time.monotonic() + _PRUNE_EVERY_S
                for kind, payload in batch:
                    if kind == "flush":
                        payload.set()
                if any(kind == "close" for kind, _ in batch):
                    return
        finally:
            if conn is not None:
                conn.close()

    def _write(
        self, conn: sqlite3.Connection | None, writer: _Writer | None, snapshots: list[Snapshot],
        corrupt: BaseException | None,
    ) -> tuple[sqlite3.Connection | None, _Writer | None]:
        """Write a batch (after the gap of a failure that just ended); on failure count the samples as not
        saved, move a corrupt file aside, and drop the connection so the next batch opens the file afresh."""
        try:
            if corrupt is not None:
                raise corrupt
            if conn is None or writer is None:
                conn = self._connect()
                conn.executescript(_schema())
                writer = _Writer(conn)
            writer.write(recovery_gaps(self._health) + snapshots)
            self._health = recovered(self._health)
            return conn, writer
        except Exception as err:  # a bad disk must not kill the writer: say so and go on
            if is_corruption(err) and not self._uri:
                with contextlib.suppress(OSError):
                    self._health = replace(self._health, moved_aside=move_aside(self.path))
            self._health = self._health.failing(one_line(err), [(s.server, s.taken_at) for s in snapshots])
            self.last_error = f"{len(snapshots)} samples not saved to {self.path}: {err}"
            log.warning(self.last_error)
            if conn is not None:
                conn.close()
            return None, None


def _schema() -> str:
    """The whole history schema: the servers' tables and PgBouncer's (each idempotent)."""
    return queries.load("history_schema") + "\n" + queries.load("history_pgbouncer_schema")


def recovery_gaps(health: StoreHealth) -> list[Snapshot]:
    """One gap per server whose samples were dropped while the store was failing, at the first one."""
    return [
        Snapshot(server, first, "error", error=f"not recorded: the history store failed ({health.reason}); "
                                              f"{count} samples from {first.isoformat(timespec='seconds')} to "
                                              f"{last.isoformat(timespec='seconds')} were not saved")
        for server, (first, last, count) in health.dropped.items()
    ]


class _Writer:
    """Inserts snapshots in one transaction per batch, storing each group key and settings body once."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.reset()

    def reset(self) -> None:
        self.keys: dict[tuple, int] = {
            tuple(row[1:]): row[0] for row in self.conn.execute(queries.load("history_keys"))
        }
        self.settings: dict[str, int] = {
            body: id_ for id_, body in self.conn.execute(queries.load("history_settings_all"))
        }
        self.app_states: dict[tuple[str, str | None], int] = {
            (app, state): id_ for id_, app, state in self.conn.execute(queries.load("history_app_states"))
        }

    def write(self, snapshots: list[Snapshot]) -> None:
        insert_sample = queries.load("history_insert_sample")
        insert_group = queries.load("history_insert_group")
        with self.conn:
            for snap in snapshots:
                cursor = self.conn.execute(
                    insert_sample,
                    {
                        "server": snap.server, "taken_us": to_us(snap.taken_at), "status": snap.status,
                        "total": snap.total, "own_connections": snap.own_connections,
                        "latency_ms": snap.latency_ms, "error": snap.error, "sqlstate": snap.sqlstate,
                        "settings_id": self._settings_id(snap.settings), "counts": self._counts(snap),
                    },
                )
                sample_id = cursor.lastrowid
                self.conn.executemany(
                    insert_group,
                    [
                        {
                            "sample_id": sample_id, "seq": seq, "key_id": self._key_id(g), "count": g.count,
                            "ssl_count": g.ssl_count, "oldest_idle_in_transaction_s": g.oldest_idle_in_transaction_s,
                            "oldest_xact_s": g.oldest_xact_s, "oldest_backend_s": g.oldest_backend_s,
                            "youngest_backend_s": g.youngest_backend_s, "last_query": g.last_query,
                        }
                        for seq, g in enumerate(snap.groups)
                    ],
                )

    def _key_id(self, group: ActivityGroup) -> int:
        key = (group.datname, group.usename, group.application_name, group.client_addr, group.state,
               group.wait_event_type)
        found = self.keys.get(key)
        if found is None:
            cursor = self.conn.execute(queries.load("history_insert_key"), dict(zip(_KEY_FIELDS, key, strict=True)))
            found = self.keys[key] = cursor.lastrowid
        return found

    def _counts(self, snap: Snapshot) -> bytes | None:
        """Connections per (application_name, state) packed as little-endian int32 pairs; None for a gap."""
        if not snap.ok:
            return None
        sums: dict[int, int] = {}
        for group in snap.groups:
            pair = (group.application_name, group.state)
            found = self.app_states.get(pair)
            if found is None:
                cursor = self.conn.execute(
                    queries.load("history_insert_app_state"), {"application_name": pair[0], "state": pair[1]}
                )
                found = self.app_states[pair] = cursor.lastrowid
            sums[found] = sums.get(found, 0) + group.count
        flat = [value for item in sums.items() for value in item]
        return struct.pack(f"<{len(flat)}i", *flat)

    def _settings_id(self, settings: ServerSettings | None) -> int | None:
        if settings is None:
            return None
        body = json.dumps(settings.as_dict(), sort_keys=True)
        found = self.settings.get(body)
        if found is None:
            cursor = self.conn.execute(queries.load("history_insert_settings"), {"body": body})
            found = self.settings[body] = cursor.lastrowid
        return found


_KEY_FIELDS = ("datname", "usename", "application_name", "client_addr", "state", "wait_event_type")


_NO_PAIR_OK = struct.pack("<2i", -1, 0)  # an ok sample without client backends: one row, count 0
_NO_PAIR_GAP = struct.pack("<2i", -1, -1)  # a gap: one row, count NaN


def _unpack_frame(server: str, rows: list[tuple], app_states: list[tuple]) -> pd.DataFrame:
    """Samples with packed (app_state id, count) pairs -> the long-form frame, vectorised with numpy."""
    if not rows:
        frame = pd.DataFrame({column: pd.Series(dtype="str") for column in FRAME_COLUMNS})
        frame["taken_at"] = pd.to_datetime(frame["taken_at"], utc=True)
        frame["count"] = frame["count"].astype("float64")
        return frame
    taken_us = np.fromiter((row[0] for row in rows), dtype="int64", count=len(rows))
    statuses = np.array([row[1] for row in rows], dtype=object)
    blobs = [row[2] or (_NO_PAIR_OK if row[1] == "ok" else _NO_PAIR_GAP) for row in rows]
    pairs_per_sample = np.fromiter((len(blob) // 8 for blob in blobs), dtype="int64", count=len(blobs))
    pairs = np.frombuffer(b"".join(blobs), dtype="<i4").reshape(-1, 2)
    ids, counts = pairs[:, 0], pairs[:, 1].astype("float64")
    counts[counts < 0] = np.nan
    size = max([0, *(row[0] for row in app_states)]) + 2
    apps = np.full(size, None, dtype=object)
    states = np.full(size, None, dtype=object)
    for id_, app, state in app_states:
        apps[id_], states[id_] = app, state
    lookup = np.where(ids < 0, size - 1, ids)  # the last slot stays None: the no-pair rows
    return pd.DataFrame(
        {
            "taken_at": pd.to_datetime(np.repeat(taken_us, pairs_per_sample), unit="us", utc=True),
            "server": server,
            "status": pd.Series(np.repeat(statuses, pairs_per_sample), dtype="str"),
            "application_name": pd.Series(apps[lookup], dtype="str"),
            "state": pd.Series(states[lookup], dtype="str"),
            "count": counts,
        },
        columns=FRAME_COLUMNS,
    )


def _totals_frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["taken_us", "status", "total", "own_connections", "latency_ms", "error"])
    df["total"] = df["total"].astype("float64")
    df["status"] = df["status"].astype("str")
    df["error"] = df["error"].astype("str")  # missing = NaN whether or not any sample failed
    df.insert(0, "taken_at", pd.to_datetime(df.pop("taken_us"), unit="us", utc=True))
    return df
