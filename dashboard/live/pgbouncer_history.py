"""PgBouncer samples in the history file, beside the servers': written by ``HistoryStore``'s writer thread,
read back as a per-pool frame for charts and as ``PgBouncerSnapshot`` lists for the live rules.

The schema (``queries/history_pgbouncer_schema.sql``) only adds tables, created when missing on every open:
a history file from before keeps its server samples and gains them. Client and server groups (``SHOW CLIENTS``
/ ``SHOW SERVERS``) are not kept, only the pools, the config and the totals.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.live import queries
from planner.pgbouncer_snapshot import PgBouncerConfig, PgBouncerPool, PgBouncerSnapshot

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
POOL_FIELDS = [f.name for f in fields(PgBouncerPool)]
FRAME_COLUMNS = ["taken_at", "name", "status", "database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle",
                 "sv_used", "maxwait_s", "avg_xact_ms", "avg_query_ms"]
"""``HistoryStore.pgbouncer_frame``'s columns: one row per (sample, pool); a gap is one row, counts NaN."""


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def migrate(conn: sqlite3.Connection) -> None:
    """Create the PgBouncer tables when missing (idempotent; existing data untouched)."""
    conn.executescript(queries.load("history_pgbouncer_schema"))


class PgBouncerWriter:
    """Inserts PgBouncer snapshots in the caller's transaction, each config body stored once."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.reset()

    def reset(self) -> None:
        self.configs = {body: id_ for id_, body in self.conn.execute(queries.load("history_pgbouncer_configs"))}

    def write(self, snapshots: list[PgBouncerSnapshot]) -> None:
        insert_sample = queries.load("history_pgbouncer_insert_sample")
        insert_pool = queries.load("history_pgbouncer_insert_pool")
        with self.conn:
            for snap in snapshots:
                cursor = self.conn.execute(insert_sample, {
                    "name": snap.name, "taken_us": _us(snap.taken_at), "status": snap.status, "version": snap.version,
                    "config_id": self._config_id(snap.config), "total_clients": snap.total_clients,
                    "console_clients": snap.console_clients, "latency_ms": snap.latency_ms, "error": snap.error,
                    "sqlstate": snap.sqlstate,
                })
                self.conn.executemany(insert_pool, [
                    {"sample_id": cursor.lastrowid, "seq": seq, **pool.as_dict()} for seq, pool in enumerate(snap.pools)
                ])

    def _config_id(self, config: PgBouncerConfig | None) -> int | None:
        if config is None:
            return None
        body = json.dumps(config.as_dict(), sort_keys=True)
        found = self.configs.get(body)
        if found is None:
            cursor = self.conn.execute(queries.load("history_pgbouncer_insert_config"), {"body": body})
            found = self.configs[body] = cursor.lastrowid
        return found


def prune(conn: sqlite3.Connection, cutoff_us: int) -> int:
    """Delete PgBouncer samples older than the cut-off (in the caller's transaction); returns how many."""
    conn.execute(queries.load("history_pgbouncer_prune_pools"), {"cutoff_us": cutoff_us})
    return conn.execute(queries.load("history_pgbouncer_prune_samples"), {"cutoff_us": cutoff_us}).rowcount


def names(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(queries.load("history_pgbouncer_names"))]


def snapshots(conn: sqlite3.Connection, bounds: dict[str, object]) -> list[PgBouncerSnapshot]:
    """The samples of one PgBouncer (``bounds``: name, since_us, until_us), oldest first, pools included."""
    samples = conn.execute(queries.load("history_pgbouncer_samples"), bounds).fetchall()
    if not samples:
        return []
    pools: dict[int, list[PgBouncerPool]] = {}
    ids = {"first_id": min(r[0] for r in samples), "last_id": max(r[0] for r in samples)}
    for row in conn.execute(queries.load("history_pgbouncer_pools"), ids):
        pools.setdefault(row[0], []).append(PgBouncerPool(**dict(zip(POOL_FIELDS, row[1:], strict=True))))
    configs: dict[str, PgBouncerConfig] = {}
    result = []
    for sample_id, name, taken_us, status, version, body, total, console, latency, error, sqlstate in samples:
        config = None if body is None else configs.setdefault(body, PgBouncerConfig(**json.loads(body)))
        result.append(PgBouncerSnapshot(
            name, _EPOCH + timedelta(microseconds=taken_us), status, version=version, config=config,
            pools=tuple(pools.get(sample_id, ())), console_clients=console, client_connections=total or 0,
            error=error, sqlstate=sqlstate,
            latency_ms=latency,
        ))
    return result


def frame(history: list[PgBouncerSnapshot]) -> pd.DataFrame:
    """Long form for charts: one row per (sample, pool); a gap is one row with status not ok and NaN counts,
    so a chart draws a gap, never a zero."""
    rows = []
    for snap in history:
        if not snap.ok:
            rows.append({"taken_at": snap.taken_at, "name": snap.name, "status": snap.status})
            continue
        for pool in snap.pools:
            rows.append({"taken_at": snap.taken_at, "name": snap.name, "status": snap.status,
                         **{key: getattr(pool, key) for key in FRAME_COLUMNS[3:]}})
    df = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    df["taken_at"] = pd.to_datetime(df["taken_at"], utc=True)
    for column in FRAME_COLUMNS[5:]:
        df[column] = df[column].astype("float64")
    return df
