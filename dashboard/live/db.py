"""The one module that knows SQLAlchemy and asyncpg: the monitor's URL, its engine, and its faults.

Everything else in ``dashboard.live`` gets rows as mappings and failures as ``ServerFault`` (a status from
``planner.snapshot.Status`` plus the server's own words, password masked), so no caller has to know which
driver raised what. The engine is built for one frugal monitoring connection: a pool of one, no overflow,
read-only, a short ``statement_timeout``, a connect timeout, ``application_name`` set, autocommit (each
statement is its own transaction, so ``pg_stat_activity`` is fresh on every sample: FACTS E8).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dashboard.live import queries
from planner.dsn import mask_in_text, scrub, url_secrets
from planner.dsn import mask_url as planner_mask_url
from planner.snapshot import Status

MONITOR_APPLICATION_NAME = "pool-planner-monitor"
"""``application_name`` of the monitor's own connections: how it recognises (and excludes) itself."""
MONITOR_SEARCH_PATH = "pg_catalog, pg_temp"
"""Sent as a startup parameter, so it holds before the first statement (the driver's own included) and beats
``ALTER DATABASE/ROLE ... SET search_path``: no function or operator planted in another schema can run as the
monitor's role (docs/security.md)."""

# asyncpg.connect() keyword arguments that make sense in a URL (SQLAlchemy passes every query key as one).
_ASYNCPG_URL_KEYS = frozenset(
    {"ssl", "host", "port", "password", "passfile", "direct_tls", "target_session_attrs", "krbsrvname", "gsslib",
     "prepared_statement_cache_size", "sslrootcert"}
)
# libpq spellings people paste: translated (sslmode) or dropped because the monitor sets its own.
_LIBPQ_RENAMES = {"sslmode": "ssl"}
_LIBPQ_IGNORED = frozenset({"application_name", "connect_timeout", "fallback_application_name"})
_DRIVERS = {"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2",
            "postgresql+pg8000", "postgres+asyncpg"}
_SSL_WORDS = re.compile(r"\bssl|\bcertificate", re.IGNORECASE)


class ServerFault(Exception):
    """Why a server gave no sample: a ``Status`` (never ``ok``), one readable line, and the SQLSTATE if any."""

    def __init__(self, status: Status, message: str, sqlstate: str | None = None):
        super().__init__(message)
        self.status: Status = status
        self.message = message
        self.sqlstate = sqlstate


def mask_url(url: str | URL) -> str:
    """The URL with its password (userinfo or ``password=``) replaced by ``***``, even when it cannot be parsed.

    The planner's helper, so the dashboard, the CLI and the planner mask the same way.
    """
    return planner_mask_url(url)


def monitor_url(url: str) -> URL:
    """Parse a connection URL for the monitor and switch it to asyncpg; ``ServerFault('bad-url')`` if unusable.

    Accepts ``postgresql://``, ``postgres://`` and any ``postgresql+driver://`` spelling (the monitor always
    uses asyncpg), translates libpq's ``sslmode=`` to asyncpg's ``ssl=`` (which takes the same values), keeps
    libpq's ``sslrootcert=`` (``create_monitor_engine`` loads it), and drops ``application_name`` /
    ``connect_timeout`` because the monitor sets its own. No message quotes any part of the password.
    """
    if not isinstance(url, str) or not url.strip():
        raise ServerFault("bad-url", "no database URL given (use --url or DATABASE_URL)")
    try:
        return _monitor_url(url.strip())
    except ServerFault as fault:
        fault.message = scrub(fault.message, url_secrets(url))
        raise ServerFault(fault.status, fault.message, fault.sqlstate) from None


def _monitor_url(url: str) -> URL:
    masked = mask_url(url)
    try:
        parsed = make_url(url)
        port = parsed.port
    except (sa_exc.ArgumentError, ValueError) as err:
        reason = "the port must be a number" if "int()" in str(err) else _first_line(err)
        raise ServerFault("bad-url", f"cannot parse the database URL {masked!r}: {reason}") from None
    if parsed.drivername not in _DRIVERS:
        raise ServerFault(
            "bad-url", f"not a PostgreSQL URL: {masked!r} (expected postgresql+asyncpg://user:password@host/db)"
        )
    query: dict[str, Any] = {}
    for key, value in parsed.query.items():
        if key in _LIBPQ_IGNORED:
            continue
        key = _LIBPQ_RENAMES.get(key, key)
        if key not in _ASYNCPG_URL_KEYS:
            allowed = ", ".join(sorted(_ASYNCPG_URL_KEYS | set(_LIBPQ_RENAMES)))
            raise ServerFault("bad-url", f"URL parameter {key!r} is not understood by asyncpg (known: {allowed})")
        query[key] = value
    for where, value in (("port", port), ("URL parameter port", query.get("port"))):
        if value is not None and not (str(value).isdigit() and 1 <= int(value) <= 65535):
            raise ServerFault("bad-url", f"{where} {value!r} in {masked!r} is not a TCP port (1-65535)")
    return parsed.set(drivername="postgresql+asyncpg", query=query)


def create_monitor_engine(
    url: URL, *, application_name: str = MONITOR_APPLICATION_NAME, timeout_s: float = 5.0
) -> AsyncEngine:
    """An engine for exactly one monitoring connection; build it on the event loop that will use it."""
    statement_ms = int(max(timeout_s, 0.5) * 1000)
    url, ssl_args = _with_root_certificate(url)
    return create_async_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=timeout_s,
        isolation_level="AUTOCOMMIT",
        connect_args={
            **ssl_args,
            "timeout": timeout_s,
            "command_timeout": timeout_s + 1,
            "server_settings": {
                "application_name": application_name,
                "search_path": MONITOR_SEARCH_PATH,
                "default_transaction_read_only": "on",
                "statement_timeout": str(statement_ms),
                "lock_timeout": str(statement_ms),
            },
        },
    )


def _with_root_certificate(url: URL) -> tuple[URL, dict[str, Any]]:
    """libpq's ``sslrootcert=`` as asyncpg's ``ssl`` context (asyncpg only reads it from ``PGSSLROOTCERT``).

    As in libpq, the file is used from ``sslmode=require`` up (require and verify-ca check the chain,
    verify-full also the host name); below that (and with no mode: libpq's ``prefer``) it is not used.
    An unreadable file is ``ServerFault('ssl')`` naming it.
    """
    query = dict(url.query)
    rootcert = query.pop("sslrootcert", None)
    if rootcert is None:
        return url, {}
    mode = str(query.get("ssl", "prefer"))
    if mode not in ("require", "verify-ca", "verify-full"):
        return url.set(query=query), {}
    try:
        context = ssl.create_default_context(cafile=str(rootcert))
    except (OSError, ssl.SSLError) as err:
        raise ServerFault("ssl", f"cannot use sslrootcert={rootcert!r} ({mode}): {_first_line(err)}") from None
    context.check_hostname = mode == "verify-full"
    del query["ssl"]
    return url.set(query=query), {"ssl": context}


async def connect(engine: AsyncEngine) -> AsyncConnection:
    """Check the one connection out (the caller keeps it between samples)."""
    return await engine.connect()


async def discard(connection: AsyncConnection | None) -> None:
    """Throw a (possibly dead) connection away so the pool opens a fresh one next time."""
    if connection is None:
        return
    with contextlib.suppress(Exception):  # already broken: nothing more to learn from it
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


async def fetch_one(connection: AsyncConnection, name: str, **params: object) -> Mapping[str, Any]:
    result = await connection.execute(queries.statement(name), params)
    row = result.mappings().one()
    await connection.commit()  # a no-op round trip-wise in autocommit; closes SQLAlchemy's bookkeeping
    return row


async def fetch_all(connection: AsyncConnection, name: str, **params: object) -> Sequence[Mapping[str, Any]]:
    result = await connection.execute(queries.statement(name), params)
    rows = result.mappings().all()
    await connection.commit()
    return rows


def classify(
    error: BaseException, *, url: URL | None = None, timeout_s: float | None = None, raw_url: str | None = None
) -> ServerFault:
    """Map any failure of connecting or sampling to a ``ServerFault`` with the server's words, password masked.

    ``raw_url``: the URL as the user typed it; it and every password in it are masked in the message along
    with the parsed URL's own (a driver may echo what it was given, or a host name may hold half of an
    unencoded password)."""
    if isinstance(error, ServerFault):
        return error
    secrets = (*(url_secrets(raw_url) if raw_url else ()), *_url_secrets(url))
    fault = _classify(error, url, timeout_s, secrets)
    if raw_url:
        fault.message = mask_in_text(fault.message, raw_url)
    fault.message = scrub(fault.message, secrets)
    return fault


def _url_secrets(url: URL | None) -> tuple[str, ...]:
    if url is None:
        return ()
    return url_secrets(url.render_as_string(hide_password=False)) + tuple(
        value for value in (url.password, url.query.get("password")) if isinstance(value, str)
    )


def _classify(error: BaseException, url: URL | None, timeout_s: float | None, secrets: Sequence[str]) -> ServerFault:
    where = _where(url)
    root = _driver_error(error)
    sqlstate = getattr(root, "sqlstate", None) or getattr(getattr(error, "orig", None), "sqlstate", None)
    words = _first_line(root)
    if sqlstate:
        return _by_sqlstate(sqlstate, words, where)
    if _is_client_configuration(root):
        if _SSL_WORDS.search(scrub(words, secrets)):
            return ServerFault("ssl", f"TLS set-up for {where}: {words} (give the server's CA as sslrootcert=/path "
                                      f"in the URL or PGSSLROOTCERT, or use sslmode=require)")
        return ServerFault("bad-url", f"the database URL cannot be used: {words}")
    if isinstance(root, sa_exc.ArgumentError | sa_exc.NoSuchModuleError):
        return ServerFault("bad-url", f"the database URL cannot be used: {words}")
    if isinstance(root, TypeError) and "unexpected keyword argument" in words:
        return ServerFault("bad-url", f"a URL parameter is not understood by asyncpg: {words}")
    if isinstance(root, ssl.SSLError) or _SSL_WORDS.search(scrub(words, secrets)):
        return ServerFault("ssl", f"TLS problem with {where}: {words}")
    if isinstance(root, socket.gaierror):
        return ServerFault("unreachable", f"cannot resolve the host of {where}: {words}")
    if isinstance(root, TimeoutError | asyncio.TimeoutError):
        seconds = f" within {timeout_s:g} s" if timeout_s else ""
        return ServerFault("unreachable", f"no answer from {where}{seconds}")
    if isinstance(root, ConnectionRefusedError):
        return ServerFault("unreachable", f"connection refused by {where} (is the server running?)")
    if _is_lost_connection(root):
        return ServerFault(
            "unreachable", f"connection to {where} lost (backend terminated, server restarting or network cut): {words}"
        )
    if isinstance(root, OSError):
        return ServerFault("unreachable", f"cannot connect to {where}: {words}")
    return ServerFault("error", f"{type(root).__name__}: {words}")


def _by_sqlstate(sqlstate: str, words: str, where: str) -> ServerFault:
    if sqlstate == "53300":
        return ServerFault("refused", f"the server refused the connection for lack of slots: {words}", sqlstate)
    if sqlstate == "28000" and ("no encryption" in words or "SSL" in words):
        return ServerFault("ssl", f"the server requires TLS for this connection: {words}", sqlstate)
    if sqlstate.startswith("28"):
        return ServerFault("auth", words, sqlstate)
    if sqlstate == "3D000":
        return ServerFault("bad-url", words, sqlstate)
    if sqlstate == "57P03":
        return ServerFault("unreachable", f"{where} is not accepting connections yet: {words}", sqlstate)
    if sqlstate in ("57P01", "57P02") or sqlstate.startswith("08"):
        return ServerFault("unreachable", f"connection to {where} lost: {words}", sqlstate)
    if sqlstate == "57014":
        return ServerFault("error", f"the sample query was cancelled (statement_timeout?): {words}", sqlstate)
    return ServerFault("error", f"{words} (SQLSTATE {sqlstate})", sqlstate)


def _driver_error(error: BaseException) -> BaseException:
    """The innermost useful exception: asyncpg's own, or the OS error under SQLAlchemy's wrappers."""
    if isinstance(error, sa_exc.DBAPIError):
        inner = getattr(error, "driver_exception", None) or error.orig
        if inner is not None:
            error = inner
    seen = 0
    while seen < 5 and getattr(error, "sqlstate", None) is None and not _is_client_configuration(error):
        cause = error.__cause__ or (error.__context__ if not error.__suppress_context__ else None)
        if cause is None or isinstance(cause, asyncio.CancelledError):
            break
        if not isinstance(cause, OSError | TimeoutError) and not hasattr(cause, "sqlstate"):
            break
        error = cause
        seen += 1
    return error


def _is_client_configuration(error: BaseException) -> bool:
    """asyncpg's ClientConfigurationError: the client's settings are wrong (its own words say how); the OS
    error under it (a missing ~/.postgresql/root.crt) is not a network fault."""
    return type(error).__name__ == "ClientConfigurationError"


def _is_lost_connection(error: BaseException) -> bool:
    name = type(error).__name__
    text = str(error).lower()
    # InternalClientError "cannot switch to state 12; another operation (2) is in progress": the server's
    # termination notice (57P01 on a restart) reached the idle held connection, asyncpg waits for a
    # ReadyForQuery that never comes, and the socket's close is not processed yet: a lost connection.
    return (
        name in ("ConnectionDoesNotExistError", "ConnectionResetError", "BrokenPipeError")
        or (name == "InternalClientError" and "cannot switch to state" in text)
        or "connection is closed" in text
        or "connection was closed" in text
        or "underlying connection is closed" in text
    )


def _where(url: URL | None) -> str:
    if url is None:
        return "the server"
    host = url.host or url.query.get("host") or "localhost"
    return f"{host}:{url.port or 5432}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].strip()
