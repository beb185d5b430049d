"""One monitored server: its engine, its one held connection, and turning query rows into a ``Snapshot``.

``ServerSampler.sample()`` never raises for a server fault: it returns a ``Snapshot`` whose status says what
went wrong (``unreachable``, ``refused``, ``auth``, ``bad-url``, ``ssl``, ``error``) with the server's words,
so a gap is recorded as a gap and never as zero connections. The settings and the database/role names are
read once per connection; each sample after that is a single round trip, whose oids, raw timestamps and
``now()`` become names and ages here, off the server (a sample with sessions that meets a backend whose
attributes it left out but had not seen takes a second one: ``sessions.BackendCache``). ``sample_once`` is
the synchronous one-shot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dashboard.live import db
from dashboard.live import sessions as live_sessions
from planner.sessions import QUERY_CHARS
from planner.snapshot import STANDBY_SETTINGS, ActivityGroup, ServerSettings, Snapshot


def settings_from_row(row: Mapping[str, Any]) -> ServerSettings:
    """The settings query's row as ``ServerSettings`` (column names equal field names)."""
    return ServerSettings(
        max_connections=int(row["max_connections"]),
        superuser_reserved_connections=int(row["superuser_reserved_connections"]),
        reserved_connections=None if row["reserved_connections"] is None else int(row["reserved_connections"]),
        idle_in_transaction_session_timeout_ms=int(row["idle_in_transaction_session_timeout_ms"] or 0),
        idle_session_timeout_ms=int(row["idle_session_timeout_ms"] or 0),
        ssl=bool(row["ssl"]),
        server_version_num=int(row["server_version_num"]),
        can_see_all=bool(row["can_see_all"]),
        role=row["role"],
        superuser=bool(row.get("superuser")),
        **{name: _int_or_none(row.get(name)) for name in STANDBY_SETTINGS},
        postmaster_start=row["postmaster_start"].isoformat() if row.get("postmaster_start") else None,
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _age_s(sampled_at: datetime, moment: datetime | None) -> float | None:
    """Seconds from ``moment`` to the sample's ``now()``; None without a moment; never negative."""
    if moment is None:
        return None
    return max((sampled_at - moment).total_seconds(), 0.0)


def groups_from_rows(
    rows: Iterable[Mapping[str, Any]], names: Mapping[tuple[str, int], str], own_application_name: str
) -> tuple[tuple[ActivityGroup, ...], int]:
    """Client-backend groups (most connections first), and the count of our own connections, kept apart.

    ``rows`` are the sample query's (oids, raw timestamps, the statement's ``now()``); ``names`` maps
    ("database" | "role", oid) to a name (an oid missing from it shows as ``(oid N)``).
    """
    groups: list[ActivityGroup] = []
    own = 0
    for row in rows:
        application_name = row["application_name"] or ""
        if application_name == own_application_name:
            own += int(row["count"])
            continue
        sampled_at = row["sampled_at"]
        groups.append(
            ActivityGroup(
                datname=_name(names, "database", row["datid"]),
                usename=_name(names, "role", row["usesysid"]),
                application_name=application_name,
                client_addr=None if row["client_addr"] is None else str(row["client_addr"]),
                state=row["state"],
                wait_event_type=row["wait_event_type"],
                count=int(row["count"]),
                ssl_count=int(row["ssl_count"]),
                oldest_idle_in_transaction_s=_age_s(sampled_at, _idle_in_transaction_since(row)),
                oldest_xact_s=_age_s(sampled_at, row["oldest_xact_start"]),
                oldest_backend_s=_age_s(sampled_at, row["oldest_backend_start"]),
                youngest_backend_s=_age_s(sampled_at, row["youngest_backend_start"]),
                last_query=row.get("last_query"),
            )
        )
    groups.sort(key=_display_order)
    return tuple(groups), own


def _idle_in_transaction_since(row: Mapping[str, Any]) -> datetime | None:
    """The group's oldest state change when its state is idle in transaction (aborted or not), else None.

    The query returns the oldest ``state_change`` of every group instead of testing each row's state:
    state is a group key, so the test is made here once per group, off the server.
    """
    if (row["state"] or "").startswith("idle in transaction"):
        return row["oldest_state_change"]
    return None


def _name(names: Mapping[tuple[str, int], str], kind: str, oid: int | None) -> str | None:
    if oid is None:
        return None
    return names.get((kind, int(oid))) or f"(oid {oid})"


def _display_order(group: ActivityGroup) -> tuple:
    text = (group.datname, group.usename, group.application_name, group.client_addr, group.state,
            group.wait_event_type)
    return (-group.count, *((value is None, value or "") for value in text))


def missing_names(rows: Iterable[Mapping[str, Any]], names: Mapping[tuple[str, int], str]) -> bool:
    """True when a row names a database or role oid the cache does not know (created since we connected)."""
    for row in rows:
        for kind, column in (("database", "datid"), ("role", "usesysid")):
            if row[column] is not None and (kind, int(row[column])) not in names:
                return True
    return False


def permission_note(settings: ServerSettings | None) -> str | None:
    """What to tell the user when our role cannot see other roles' sessions, and the GRANT that fixes it."""
    if settings is None or settings.can_see_all:
        return None
    role = settings.role or "<monitoring role>"
    return (
        f"role {role} has no pg_monitor (pg_read_all_stats): other roles' sessions are counted but their state, "
        f"ages, wait events and SSL are hidden, so counts by state are partial. Fix: GRANT pg_monitor TO {role};"
    )


def now_utc() -> datetime:
    return datetime.now(UTC)


class ServerSampler:
    """Samples one server over one held connection; reconnects on the next ``sample()`` after a fault.

    Build it, use it and ``close()`` it on one event loop: the engine's pool belongs to that loop (FACTS F3).
    """

    def __init__(
        self,
        server: str,
        url: str,
        *,
        application_name: str = db.MONITOR_APPLICATION_NAME,
        collect_queries: bool = False,
        timeout_s: float = 5.0,
        collect_sessions: bool = False,
        known_margin_s: float = live_sessions.KNOWN_MARGIN_S,
    ):
        self.server = server
        self.application_name = application_name
        self.collect_queries = collect_queries
        self.collect_sessions = collect_sessions
        """Sample one row per backend (``sample_sessions.sql``) and fill ``Snapshot.sessions``."""
        self.timeout_s = timeout_s
        self.masked_url = db.mask_url(url)
        self._raw_url = url if isinstance(url, str) else None
        self.url: URL | None = None
        self.url_fault: db.ServerFault | None = None
        try:
            self.url = db.monitor_url(url)
        except db.ServerFault as fault:
            self.url_fault = fault
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None
        self.settings: ServerSettings | None = None
        self.own_pid: int | None = None
        self._names: dict[tuple[str, int], str] = {}
        self._backends = live_sessions.BackendCache(known_margin_s)
        """The unchanging attributes of the backends seen by this connection's previous sample with sessions."""

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def sample(self) -> Snapshot:
        """One sample, or a gap whose status and error say why (never raises for a server fault)."""
        taken_at = now_utc()
        try:
            async with asyncio.timeout(2 * self.timeout_s + 1):
                if self._connection is None:
                    await self._connect()
                assert self._connection is not None
                started = time.perf_counter()
                rows = await self._fetch()
                latency_ms = (time.perf_counter() - started) * 1000
                if missing_names(rows, self._names):
                    await self._read_names()
        except Exception as error:
            fault = db.classify(error, url=self.url, timeout_s=self.timeout_s, raw_url=self._raw_url)
            await self._drop()
            return Snapshot(self.server, taken_at, fault.status, error=fault.message, sqlstate=fault.sqlstate)
        sessions = None
        if self.collect_sessions:
            sessions = live_sessions.sessions_from_rows(rows, lambda kind, oid: _name(self._names, kind, oid),
                                                        self.application_name)
            rows = live_sessions.group_rows(rows)
        groups, own = groups_from_rows(rows, self._names, self.application_name)
        return Snapshot(
            self.server, taken_at, "ok", groups=groups, settings=self.settings, own_connections=own,
            latency_ms=round(latency_ms, 3), sessions=sessions,
        )

    async def _fetch(self) -> Sequence[Mapping[str, Any]]:
        """The sample's one statement: per backend with sessions, else grouped (with or without query text)."""
        assert self._connection is not None
        if self.collect_sessions:
            return await self._fetch_sessions()
        if self.collect_queries:
            return await db.fetch_all(self._connection, "sample_activity_with_queries", query_chars=QUERY_CHARS)
        return await db.fetch_all(self._connection, "sample_activity")

    async def _fetch_sessions(self) -> list[dict[str, Any]]:
        """One row per backend, whole: the backends the previous sample saw come without their unchanging
        attributes, put back from ``self._backends``; a backend it did not see among them costs a second
        round trip asking for everything (a miss: one that took longer than the margin to show up)."""
        assert self._connection is not None
        name, params = "sample_sessions", {}
        if self.collect_queries:
            name, params = "sample_sessions_with_queries", {"query_chars": QUERY_CHARS}
        known_before = self._backends.known_before()
        rows = await db.fetch_all(self._connection, name, known_before=known_before, **params)
        whole = self._backends.complete(rows, known_before)
        if whole is None:
            rows = await db.fetch_all(self._connection, name, known_before=None, **params)
            whole = self._backends.complete(rows, None)
        assert whole is not None  # nothing is left out when known_before is None
        return whole

    async def _connect(self) -> None:
        if self.url_fault is not None:
            raise self.url_fault
        assert self.url is not None
        if self._engine is None:
            self._engine = db.create_monitor_engine(
                self.url, application_name=self.application_name, timeout_s=self.timeout_s
            )
        connection = await db.connect(self._engine)
        try:
            row = await db.fetch_one(connection, "settings")
        except BaseException:
            await db.discard(connection)
            raise
        self._connection = connection
        self.settings = settings_from_row(row)
        self.own_pid = int(row["own_pid"])
        await self._read_names()

    async def _read_names(self) -> None:
        assert self._connection is not None
        rows = await db.fetch_all(self._connection, "names")
        self._names = {(row["kind"], int(row["oid"])): row["name"] for row in rows}

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._backends.clear()
        self.settings = None
        self.own_pid = None
        await db.discard(connection)

    async def close(self) -> None:
        """Close the connection and the engine's pool (call on the loop that used them)."""
        await self._drop()
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(Exception):  # shutting down; the server drops the backend either way
                await engine.dispose()


def sample_once(
    url: str,
    server: str = "primary",
    *,
    collect_queries: bool = False,
    timeout_s: float = 5.0,
    application_name: str = db.MONITOR_APPLICATION_NAME,
    collect_sessions: bool = False,
) -> Snapshot:
    """Connect, sample once, disconnect; a ``Snapshot`` with status ``ok`` or the fault (never raises for one).

    Runs on a fresh event loop in a worker thread, so it is safe to call from anywhere, including a thread
    that already runs a loop (Streamlit's script thread, a Jupyter cell).
    """

    async def run() -> Snapshot:
        sampler = ServerSampler(
            server, url, application_name=application_name, collect_queries=collect_queries, timeout_s=timeout_s,
            collect_sessions=collect_sessions,
        )
        try:
            return await sampler.sample()
        finally:
            await sampler.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sample-once") as pool:
        return pool.submit(asyncio.run, run()).result()
