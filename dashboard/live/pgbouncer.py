"""PgBouncer's admin console, sampled like a server: one held connection, six ``SHOW`` commands per sample.

The console (database ``pgbouncer``, a login in ``stats_users`` or ``admin_users``) speaks only the simple
query protocol. asyncpg connects but runs every fetch through the extended protocol, which the console
refuses ("extended query protocol not supported by admin console"), so this module uses psycopg 3 with
``prepare=False``: each ``SHOW`` is one simple-protocol Query message. (Several commands in one message
are refused too: "invalid command 'SHOW POOLS; SHOW VERSION'".)

``PgBouncerSampler.sample()`` never raises for a fault and never waits longer than its timeout: a PgBouncer
that is down, paused, refuses the login or breaks mid-sample gives a ``PgBouncerSnapshot`` whose status
(``unreachable``, ``refused``, ``auth``, ``bad-url``, ``ssl``, ``error``) and error say why, password masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import socket
import ssl
import time
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from dashboard.live import db
from dashboard.live.sampler import now_utc
from planner.pgbouncer_snapshot import (
    CONSOLE_DATABASE,
    ConnectionGroup,
    PgBouncerConfig,
    PgBouncerPool,
    PgBouncerSnapshot,
    PgBouncerTotals,
)

_T = TypeVar("_T")

DEFAULT_PORT = 6432
"""PgBouncer's default ``listen_port``: used when the URL names no port."""
SHOW_COMMANDS = ("SHOW VERSION", "SHOW CONFIG", "SHOW POOLS", "SHOW STATS", "SHOW CLIENTS", "SHOW SERVERS")
_URL_KEYS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "host", "port", "password"}
_IGNORED_KEYS = {"application_name", "connect_timeout", "fallback_application_name"}


def is_pgbouncer_url(url: str | None) -> bool:
    """True when ``url`` names PgBouncer's admin console (database ``pgbouncer``); False if it cannot be parsed."""
    if not isinstance(url, str) or not url.strip():
        return False
    try:
        return make_url(url.strip()).database == CONSOLE_DATABASE
    except (sa_exc.ArgumentError, ValueError):
        return False


def console_params(url: str) -> dict[str, Any]:
    """psycopg connection keywords for the console URL; ``ServerFault('bad-url')`` when it cannot be used.

    ``postgresql://``, ``postgres://`` and ``postgresql+<driver>://`` are accepted; without a port,
    PgBouncer's default 6432 is used. libpq's TLS keys (``sslmode``, ...) pass through.
    """
    if not isinstance(url, str) or not url.strip():
        raise db.ServerFault("bad-url", "no PgBouncer admin URL given")
    masked = db.mask_url(url.strip())
    try:
        parsed = make_url(url.strip())
        port = parsed.port
    except (sa_exc.ArgumentError, ValueError) as err:
        reason = "the port must be a number" if "int()" in str(err) else str(err).splitlines()[0]
        raise db.ServerFault("bad-url", f"cannot parse the PgBouncer admin URL {masked!r}: {reason}") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise db.ServerFault("bad-url", f"not a PostgreSQL-protocol URL: {masked!r}")
    if parsed.database != CONSOLE_DATABASE:
        raise db.ServerFault("bad-url", f"not PgBouncer's admin console (the database must be "
                             f"{CONSOLE_DATABASE!r}): {masked!r}")
    params: dict[str, Any] = {"host": parsed.host or "localhost", "port": port or DEFAULT_PORT,
                              "dbname": CONSOLE_DATABASE, "user": parsed.username, "password": parsed.password}
    for key, value in parsed.query.items():
        key = "sslmode" if key == "ssl" else key
        if key in _IGNORED_KEYS:
            continue
        if key not in _URL_KEYS:
            known = ", ".join(sorted(_URL_KEYS))
            raise db.ServerFault("bad-url", f"URL parameter {key!r} is not understood for PgBouncer's console "
                                 f"(known: {known})")
        params[key] = value if isinstance(value, str) else value[-1]
    return {key: value for key, value in params.items() if value is not None}


# ------------------------------------------------------------------------------------------------- rows


def _int(row: Mapping[str, Any], key: str) -> int | None:
    value = row.get(key)
    return None if value is None or value == "" else int(value)


def _seconds(value: Any) -> float | None:
    """A ``SHOW CONFIG`` duration ("120", "0.5", "120s", "500ms") in seconds; None if it is not one."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|min|h)?\s*", str(value))
    if not match:
        return None
    factor = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}[match.group(2)]
    return float(match.group(1)) * factor


def _config_int(values: Mapping[str, str], key: str) -> int | None:
    value = values.get(key)
    return int(value) if value is not None and str(value).lstrip("-").isdigit() else None


def config_from_rows(rows: Sequence[Mapping[str, Any]]) -> PgBouncerConfig:
    """``SHOW CONFIG`` (key, value, ...) as ``PgBouncerConfig``; keys this version lacks become None."""
    values = {str(row["key"]): row["value"] for row in rows}
    return PgBouncerConfig(
        pool_mode=str(values.get("pool_mode", "session")),
        default_pool_size=_config_int(values, "default_pool_size") or 0,
        max_client_conn=_config_int(values, "max_client_conn") or 0,
        max_prepared_statements=_config_int(values, "max_prepared_statements"),
        query_wait_timeout_s=_seconds(values.get("query_wait_timeout")),
        server_idle_timeout_s=_seconds(values.get("server_idle_timeout")),
        min_pool_size=_config_int(values, "min_pool_size"),
        reserve_pool_size=_config_int(values, "reserve_pool_size"),
        max_db_connections=_config_int(values, "max_db_connections"),
        max_user_connections=_config_int(values, "max_user_connections"),
    )


def version_from_rows(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """``SHOW VERSION`` ("PgBouncer 1.18.0") as ``1.18.0``."""
    for row in rows:
        match = re.search(r"(\d+\.\d+(?:\.\d+)?)", str(row.get("version", "")))
        if match:
            return match.group(1)
    return None


def totals_from_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, PgBouncerTotals]:
    """``SHOW STATS``' cumulative counters per database."""
    return {
        str(row["database"]): PgBouncerTotals(
            int(row["total_xact_count"]), int(row["total_query_count"]), int(row["total_xact_time"]),
            int(row["total_query_time"]), int(row["total_wait_time"]))
        for row in rows
    }


def _ms(microseconds: float) -> float:
    return round(microseconds / 1000.0, 3)


def averages(stats_row: Mapping[str, Any] | None, now: PgBouncerTotals | None,
             before: PgBouncerTotals | None) -> dict[str, Any]:
    """Mean transaction, query and wait time of one database: over the interval since ``before`` when it had
    transactions (exact, from the totals), else PgBouncer's own average over its ``stats_period``."""
    if now is not None and before is not None and now.xact_count > before.xact_count:
        xacts = now.xact_count - before.xact_count
        queries = max(now.query_count - before.query_count, 1)
        return {"avg_xact_ms": _ms((now.xact_time_us - before.xact_time_us) / xacts),
                "avg_query_ms": _ms((now.query_time_us - before.query_time_us) / queries),
                "avg_wait_ms": _ms((now.wait_time_us - before.wait_time_us) / xacts),
                "xacts": xacts, "avg_source": "interval"}
    if stats_row is None or not float(stats_row.get("avg_xact_count") or 0):
        return {}  # no transaction in PgBouncer's last stats_period: no average (PgBouncer shows 0)
    return {"avg_xact_ms": _ms(float(stats_row["avg_xact_time"])),
            "avg_query_ms": _ms(float(stats_row["avg_query_time"])),
            "avg_wait_ms": _ms(float(stats_row.get("avg_wait_time") or 0)), "avg_source": "stats_period"}


def pools_from_rows(pool_rows: Sequence[Mapping[str, Any]], stats_rows: Sequence[Mapping[str, Any]],
                    before: Mapping[str, PgBouncerTotals]) -> tuple[PgBouncerPool, ...]:
    """``SHOW POOLS`` (without the console's pseudo-pool), each with its database's averages."""
    stats = {str(row["database"]): row for row in stats_rows}
    totals = totals_from_rows(stats_rows)
    pools = []
    for row in pool_rows:
        database = str(row["database"])
        if database == CONSOLE_DATABASE:
            continue
        maxwait_s = float(row.get("maxwait") or 0) + float(row.get("maxwait_us") or 0) / 1e6
        pools.append(PgBouncerPool(
            database=database, user=str(row["user"]), pool_mode=row.get("pool_mode"),
            cl_active=int(row["cl_active"]), cl_waiting=int(row["cl_waiting"]), sv_active=int(row["sv_active"]),
            sv_idle=int(row["sv_idle"]), sv_used=int(row["sv_used"]), maxwait_s=round(maxwait_s, 6),
            sv_tested=_int(row, "sv_tested") or 0, sv_login=_int(row, "sv_login") or 0,
            cl_active_cancel_req=_int(row, "cl_active_cancel_req"),
            cl_waiting_cancel_req=_int(row, "cl_waiting_cancel_req"),
            sv_active_cancel=_int(row, "sv_active_cancel"), sv_being_canceled=_int(row, "sv_being_canceled"),
            **averages(stats.get(database), totals.get(database), before.get(database)),
        ))
    pools.sort(key=lambda p: (p.database, p.user))
    return tuple(pools)


def groups_from_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[tuple[ConnectionGroup, ...], int]:
    """``SHOW CLIENTS`` / ``SHOW SERVERS`` rows counted per (database, user, state, application_name), most
    first; console clients are counted apart (the second value)."""
    counts: dict[tuple[str, str, str, str], list[float]] = {}
    console = 0
    for row in rows:
        if row.get("database") == CONSOLE_DATABASE:
            console += 1
            continue
        key = (str(row.get("database")), str(row.get("user")), str(row.get("state")),
               str(row.get("application_name") or ""))
        wait_s = float(row.get("wait") or 0) + float(row.get("wait_us") or 0) / 1e6
        entry = counts.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] = max(entry[1], wait_s)
    groups = [ConnectionGroup(*key, count=int(count), max_wait_s=round(wait, 6))
              for key, (count, wait) in counts.items()]
    groups.sort(key=lambda g: (-g.count, g.database, g.user, g.state, g.application_name))
    return tuple(groups), console


# ------------------------------------------------------------------------------------------------- faults


_AUTH_WORDS = ("password authentication failed", "no such user", "authentication failed", "no password supplied",
               "sasl authentication failed")


def classify(error: BaseException, params: Mapping[str, Any] | None, timeout_s: float) -> db.ServerFault:
    """Any failure of connecting to or reading the console as a ``ServerFault``, the password masked."""
    if isinstance(error, db.ServerFault):
        return error
    fault = _classify(error, params or {}, timeout_s)
    password = (params or {}).get("password")
    if password:
        fault.message = fault.message.replace(str(password), "***")
    return fault


def _classify(error: BaseException, params: Mapping[str, Any], timeout_s: float) -> db.ServerFault:
    where = f"PgBouncer at {params.get('host', 'localhost')}:{params.get('port', DEFAULT_PORT)}"
    words = _words(error)
    lower = words.lower()
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(error, TimeoutError | asyncio.TimeoutError) or "timeout expired" in lower:
        return db.ServerFault("unreachable", f"no answer from {where} within {timeout_s:g} s (down or paused?)")
    if "connection refused" in lower or isinstance(error, ConnectionRefusedError):
        return db.ServerFault("unreachable", f"connection refused by {where} (is PgBouncer running?)")
    if "not allowed" in lower:
        user = params.get("user", "?")
        return db.ServerFault("auth", f"user {user!r} may not use PgBouncer's admin console ({words}): add it to "
                              "stats_users (read-only is enough) or admin_users in pgbouncer.ini", sqlstate)
    if any(text in lower for text in _AUTH_WORDS):
        return db.ServerFault("auth", f"{where}: {words}", sqlstate)
    if "no more connections allowed" in lower or "max_client_conn" in lower:
        return db.ServerFault("refused", f"{where} refused the connection for lack of client slots: {words}", sqlstate)
    if isinstance(error, ssl.SSLError) or re.search(r"\bssl|\btls\b|certificate", lower):
        return db.ServerFault("ssl", f"TLS problem with {where}: {words}", sqlstate)
    if isinstance(error, socket.gaierror) or "could not translate host name" in lower:
        return db.ServerFault("unreachable", f"cannot resolve the host of {where}: {words}")
    if isinstance(error, psycopg.OperationalError | OSError):
        return db.ServerFault("unreachable", f"connection to {where} failed or was lost: {words}", sqlstate)
    return db.ServerFault("error", f"{where}: {type(error).__name__}: {words}", sqlstate)


def _words(error: BaseException) -> str:
    """The driver's message without libpq's "connection to server at ... failed:" prefix, on one line."""
    text = " ".join(str(error).split()) or type(error).__name__
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'connection to server at "[^"]*" \([^)]*\), port \d+ failed: ', "", text)
    text = re.sub(r'connection to server at "[^"]*", port \d+ failed: ', "", text)
    return text.replace("FATAL: ", "").strip()


# ------------------------------------------------------------------------------------------------- sampler


class PgBouncerSampler:
    """Samples one PgBouncer over one held console connection; reconnects on the next ``sample()`` after a fault.

    Build it, use it and ``close()`` it on one event loop.
    """

    def __init__(self, name: str, url: str, *, timeout_s: float = 5.0,
                 application_name: str = db.MONITOR_APPLICATION_NAME):
        self.name = name
        self.timeout_s = timeout_s
        self.application_name = application_name
        self.masked_url = db.mask_url(url)
        self.params: dict[str, Any] | None = None
        self.url_fault: db.ServerFault | None = None
        try:
            self.params = console_params(url)
        except db.ServerFault as fault:
            self.url_fault = fault
        self._connection: psycopg.AsyncConnection | None = None
        self._totals: dict[str, PgBouncerTotals] = {}
        self.own_pid: int | None = None  # the console has no backend pid; kept for the Monitor's status line

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def sample(self) -> PgBouncerSnapshot:
        """One sample, or a gap whose status and error say why (never raises for a fault, never stalls)."""
        taken_at = now_utc()
        try:
            async with asyncio.timeout(self.timeout_s + max(2, math.ceil(self.timeout_s)) + 1):
                if self._connection is None:
                    await self._connect()
            started = time.perf_counter()
            rows = await self._bounded(self._show_all())
            latency_ms = (time.perf_counter() - started) * 1000
        except Exception as error:
            fault = classify(error, self.params, self.timeout_s)
            await self._drop()
            return PgBouncerSnapshot(self.name, taken_at, fault.status, error=fault.message, sqlstate=fault.sqlstate)
        return self._snapshot(taken_at, rows, latency_ms)

    def _snapshot(self, taken_at, rows: Mapping[str, list[dict[str, Any]]], latency_ms: float) -> PgBouncerSnapshot:
        clients, console = groups_from_rows(rows["SHOW CLIENTS"])
        servers, _ = groups_from_rows(rows["SHOW SERVERS"])
        pools = pools_from_rows(rows["SHOW POOLS"], rows["SHOW STATS"], self._totals)
        self._totals = totals_from_rows(rows["SHOW STATS"])
        return PgBouncerSnapshot(
            self.name, taken_at, "ok", version=version_from_rows(rows["SHOW VERSION"]),
            config=config_from_rows(rows["SHOW CONFIG"]), pools=pools, clients=clients, servers=servers,
            console_clients=console, client_connections=len(rows["SHOW CLIENTS"]), latency_ms=round(latency_ms, 3),
        )

    async def _show_all(self) -> dict[str, list[dict[str, Any]]]:
        return {command: await self._show(command) for command in SHOW_COMMANDS}

    async def _bounded(self, work: Coroutine[Any, Any, _T]) -> _T:
        """``work`` within the timeout. Past it, the connection's socket is shut down, so the driver sees the
        connection end at once: cancelling psycopg instead would make it send PgBouncer a cancel request
        and wait up to 10 s more for a PgBouncer that answers nothing (a paused process, a dead host)."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
            if task in done:
                return task.result()
            self._cut()
            await asyncio.wait({task}, timeout=1.0)  # it fails at once on the shut socket; never waited on longer
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the timeout is what is reported
            raise TimeoutError
        finally:
            if not task.done():
                self._cut()
                task.cancel()

    def _cut(self) -> None:
        """Shut the console connection's socket down under the driver (it then fails fast, no cancel request)."""
        connection = self._connection
        with contextlib.suppress(Exception):  # already closed: nothing to cut
            fd = connection.pgconn.socket if connection is not None else -1
            if fd >= 0:
                with socket.socket(fileno=os.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)

    async def _show(self, command: str) -> list[dict[str, Any]]:
        assert self._connection is not None
        cursor = await self._connection.execute(command, prepare=False)
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]

    async def _connect(self) -> None:
        if self.url_fault is not None:
            raise self.url_fault
        assert self.params is not None
        self._connection = await psycopg.AsyncConnection.connect(
            **self.params, autocommit=True, prepare_threshold=None, application_name=self.application_name,
            connect_timeout=max(2, math.ceil(self.timeout_s)),
        )
        self._totals = {}

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._totals = {}
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to learn from it
                await connection.close()

    async def close(self) -> None:
        await self._drop()


def sample_pgbouncer_once(url: str, name: str = "pgbouncer", *, timeout_s: float = 5.0,
                          application_name: str = db.MONITOR_APPLICATION_NAME) -> PgBouncerSnapshot:
    """Connect to the console, sample once, disconnect; never raises for a fault (safe from any thread)."""

    async def run() -> PgBouncerSnapshot:
        sampler = PgBouncerSampler(name, url, timeout_s=timeout_s, application_name=application_name)
        try:
            return await sampler.sample()
        finally:
            await sampler.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgbouncer-once") as pool:
        return pool.submit(asyncio.run, run()).result()


