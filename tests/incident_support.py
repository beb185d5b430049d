"""A real lock chain for the incident tests (no tests here).

``lock_chain(url)``: in a table of its own, a ``billing-worker`` session updates a row and stays idle in its
transaction; a first ``reconcile-cron`` session updates the same row and waits for the blocker's
transaction, a second one waits behind the first (PostgreSQL queues it on the row's tuple lock). The
sessions run as a fresh non-superuser role (so a superuser monitor may signal them); everything is dropped
at the end, on the embedded server as on a shared one.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from polling import wait_until
from psycopg import sql
from sqlalchemy.engine import make_url


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def conninfo(url: str, user: str | None = None, **extra: str) -> str:
    parsed = make_url(url)
    return psycopg.conninfo.make_conninfo(
        host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=user or parsed.username,
        dbname=parsed.database, **({"password": parsed.password} if parsed.password and not user else {}), **extra,
    )


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(conninfo(url), autocommit=True)


@dataclass
class LockChain:
    table: str
    role: str
    blocker_pid: int
    waiter_pids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """How each waiter's statement ended (e.g. the cancel's error), in the order they ended."""



def _waiting(conn: psycopg.Connection, pid: int) -> bool:
    row = conn.execute("SELECT wait_event_type FROM pg_catalog.pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return bool(row and row[0] == "Lock")


@contextlib.contextmanager
def lock_chain(url: str, blocker_app: str = "billing-worker", waiter_app: str = "reconcile-cron",
               waiters: int = 2, *, head_start_s: float = 0.0, table: str | None = None,
               role: str | None = None) -> Iterator[LockChain]:
    """The chain; ``head_start_s`` = how long the blocker idles before the first waiter comes."""
    table, role = table or unique("incident_invoice"), role or unique("incident_app")
    boss = admin(url)
    boss.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    boss.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, status text)").format(sql.Identifier(table)))
    boss.execute(sql.SQL("INSERT INTO {} VALUES (42, 'open')").format(sql.Identifier(table)))
    boss.execute(sql.SQL("GRANT SELECT, UPDATE ON {} TO {}").format(sql.Identifier(table), sql.Identifier(role)))
    update = sql.SQL("UPDATE {} SET status = 'paid' WHERE id = 42").format(sql.Identifier(table))
    blocker = psycopg.connect(conninfo(url, role, application_name=blocker_app))
    conns = [blocker]
    threads: list[threading.Thread] = []
    try:
        blocker.execute(update)  # psycopg opened a transaction: now idle in it, holding the row lock
        chain = LockChain(table, role, blocker.info.backend_pid)
        time.sleep(head_start_s)
        for _ in range(waiters):
            conn = psycopg.connect(conninfo(url, role, application_name=waiter_app), autocommit=True)
            conns.append(conn)
            chain.waiter_pids.append(conn.info.backend_pid)
            thread = threading.Thread(target=_wait, args=(conn, update, chain), daemon=True)
            thread.start()
            threads.append(thread)
            wait_until(lambda pid=conn.info.backend_pid: _waiting(boss, pid))
        yield chain
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                boss.execute("SELECT pg_catalog.pg_terminate_backend(%s)", (conn.info.backend_pid,))
        for thread in threads:
            thread.join(10)
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        boss.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        wait_until(lambda: not boss.execute("SELECT 1 FROM pg_catalog.pg_stat_activity WHERE usename = %s",
                                            (role,)).fetchone())
        boss.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        boss.close()


def _wait(conn: psycopg.Connection, update: sql.Composable, chain: LockChain) -> None:
    try:
        conn.execute(update)
        chain.errors.append("done")
    except Exception as error:  # the test cancels or terminates it, or the blocker goes away
        chain.errors.append(f"{type(error).__name__}: {str(error).splitlines()[0]}")


@contextlib.contextmanager
def login_role(url: str, *grants: str) -> Iterator[str]:
    """A fresh non-superuser LOGIN role (granted ``grants``, e.g. pg_signal_backend), dropped at the end."""
    role = unique("incident_monitor")
    boss = admin(url)
    boss.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    for granted in grants:
        boss.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(granted), sql.Identifier(role)))
    try:
        yield role
    finally:
        boss.execute("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = %s",
                     (role,))
        wait_until(lambda: not boss.execute("SELECT 1 FROM pg_catalog.pg_stat_activity WHERE usename = %s",
                                            (role,)).fetchone())
        boss.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        boss.close()
