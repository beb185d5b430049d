"""Helpers for the sampler tests: client sessions put in known states on a real server (no tests here).

The sessions are plain asyncpg connections (not the code under test), each with a test
``application_name`` so that the assertions only look at what the test itself created, even on a server
that other test runs use at the same time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def connect_kwargs(url: str) -> dict[str, object]:
    """asyncpg.connect() keyword arguments for a SQLAlchemy URL (TCP host, port, user, password, database)."""
    parsed = make_url(url)
    kwargs: dict[str, object] = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username,
        "database": parsed.database,
    }
    if parsed.password:
        kwargs["password"] = parsed.password
    return kwargs


def with_user(url: str, user: str, password: str | None = None, database: str | None = None) -> str:
    parsed = make_url(url).set(username=user, password=password)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def open_session(url: str, application_name: str, *, ssl: object = False) -> asyncpg.Connection:
    return await asyncpg.connect(
        **connect_kwargs(url), ssl=ssl, server_settings={"application_name": application_name}
    )


class Sessions:
    """Opens client sessions in known states and closes them all at the end (``async with``)."""

    def __init__(self, url: str, application_name: str):
        self.url = url
        self.application_name = application_name
        self.connections: list[asyncpg.Connection] = []
        self.tasks: list[asyncio.Task] = []
        self.opened_first: float | None = None
        self.opened_last: float | None = None

    async def _open(self, ssl: object = False) -> asyncpg.Connection:
        before = time.time()
        conn = await open_session(self.url, self.application_name, ssl=ssl)
        after = time.time()
        self.opened_first = before if self.opened_first is None else self.opened_first
        self.opened_last = after
        self.connections.append(conn)
        return conn

    async def idle(self, n: int, *, ssl: object = False) -> list[asyncpg.Connection]:
        return [await self._open(ssl) for _ in range(n)]

    async def active(self, n: int, seconds: float = 60) -> list[asyncpg.Connection]:
        """n sessions busy in pg_sleep (cancelled at the end)."""
        conns = [await self._open() for _ in range(n)]
        self.tasks += [asyncio.create_task(c.execute("SELECT pg_sleep($1)", seconds)) for c in conns]
        return conns

    async def idle_in_transaction(self, n: int, statement: str = "SELECT 1") -> tuple[float, float]:
        """n sessions left idle in a transaction after ``statement``; returns the wall-clock window
        (before the first BEGIN, after the last statement) in which their state changed."""
        conns = [await self._open() for _ in range(n)]
        before = time.time()
        for conn in conns:
            await conn.execute("BEGIN")
            await conn.execute(statement)
        return before, time.time()

    async def __aenter__(self) -> Sessions:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.connections:
            conn.terminate()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def eventually(check: Callable[[], object], timeout_s: float = 10.0, every_s: float = 0.05) -> object:
    """Poll ``check`` (sync or async) until it returns a truthy value; fail with its last value."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s; last value: {last!r}")
