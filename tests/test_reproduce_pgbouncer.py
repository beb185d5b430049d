"""prepared-statement-cache, reproduced through a real PgBouncer (Debian's package) in transaction mode: asyncpg's
defaults fail with `prepared statement "__asyncpg_stmt_N__" does not exist`; with both statement caches off and
unique statement names they work. The static rule fires on the plan that declares this PgBouncer, and clears
with the fix."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
import time
from uuid import uuid4

import asyncpg
import pytest
from conftest import require_binary
from pgbouncer_kit import running_pgbouncer
from pgcluster import Cluster
from reproduce_kit import app_engine
from sqlalchemy import exc, text

from planner.budget import pgbouncer_budget
from planner.model import Deployment, Engine, PgBouncer, Plan
from planner.rules.static import static_findings

pytestmark = [pytest.mark.db, pytest.mark.pgbouncer]

PGBOUNCER = "/usr/sbin/pgbouncer"
QUERY = text("SELECT CAST(:n AS int) + 1")


def pgbouncer_version() -> str:
    out = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=True).stdout
    return re.search(r"PgBouncer (\d+\.\d+\.\d+)", out).group(1)


@pytest.fixture(scope="module")
def cluster():
    require_binary(PGBOUNCER, "pgbouncer")
    with Cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def bouncer(cluster):
    """(PgBouncer's port, its version) in transaction mode with 2 server connections."""
    version = pgbouncer_version()
    extra = "max_prepared_statements = 0\n" if tuple(map(int, version.split("."))) >= (1, 21) else ""
    with running_pgbouncer(cluster, "pgbouncer", f"pool_mode = transaction\ndefault_pool_size = 2\n{extra}") as bouncer:
        yield bouncer.port, version


@pytest.fixture(scope="module")
def session_bouncer(cluster):
    """(port, version) of a PgBouncer in session mode with 2 server connections, giving up on a waiting client
    after 2 s (query_wait_timeout; 120 s by default)."""
    settings = "pool_mode = session\ndefault_pool_size = 2\nquery_wait_timeout = 2\n"
    with running_pgbouncer(cluster, "pgbouncer-session", settings) as bouncer:
        yield bouncer.port, pgbouncer_version()


def plan_for(url: str, version: str, statement_cache_size: int | None) -> Plan:
    return Plan(
        engines=(Engine(application_name="shop", url=url, via_pgbouncer=True,
                        statement_cache_size=statement_cache_size),),
        pgbouncer=PgBouncer(version=version, pool_mode="transaction", host="127.0.0.1", default_pool_size=2),
    )


async def run_across_server_connections(engine, port: int) -> None:
    """Prepare on one server connection, then force the next transaction onto the other one.

    PgBouncer hands out the most recently used idle server connection first, so another client's open
    transaction takes the server connection where the app's statement was prepared."""
    async with engine.connect() as conn:
        assert (await conn.execute(QUERY, {"n": 1})).scalar() == 2
    other = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        await other.execute("BEGIN; SELECT 1")  # simple protocol: prepares nothing, holds a server connection
        async with engine.connect() as conn:
            assert (await conn.execute(QUERY, {"n": 2})).scalar() == 3
        await other.execute("ROLLBACK")
    finally:
        await other.close()


async def test_asyncpg_defaults_fail_behind_transaction_pooling_then_the_fix_works(bouncer):
    port, version = bouncer
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    (finding,) = [f for f in static_findings(plan_for(url, version, None)) if f.id == "prepared-statement-cache"]
    assert finding.severity == "critical"

    engine = app_engine(url, "shop", pool_size=1, max_overflow=0)
    try:
        with pytest.raises(exc.DBAPIError) as failure:
            await run_across_server_connections(engine, port)
        assert re.search(r'prepared statement "__asyncpg_stmt_[0-9a-f]+__" does not exist', str(failure.value))
    finally:
        await engine.dispose()

    fixed_url = url + "?prepared_statement_cache_size=0"
    assert [f.id for f in static_findings(plan_for(fixed_url, version, 0))] == []
    engine = app_engine(
        fixed_url, "shop", pool_size=4, max_overflow=0,
        connect_args={"statement_cache_size": 0, "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__"},
    )
    try:
        await run_across_server_connections(engine, port)

        async def request(n: int) -> int:
            async with engine.connect() as conn:
                return (await conn.execute(QUERY, {"n": n})).scalar()

        for _ in range(3):  # 4 client connections over 2 server connections, concurrently
            assert await asyncio.gather(*(request(n) for n in range(8))) == list(range(1, 9))
    finally:
        await engine.dispose()


WORKER = """
import asyncio, sys
from uuid import uuid4
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

async def main(url, full_fix):
    connect_args = {"statement_cache_size": 0, "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__"}
    engine = create_async_engine(url, pool_size=1, max_overflow=0, connect_args=connect_args if full_fix else {})
    try:
        async with engine.connect() as conn:
            print((await conn.execute(text("SELECT CAST(:n AS int) + 1"), {"n": 1})).scalar())
    finally:
        await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2] == "full"))
"""
"""One worker process of the app: a fresh interpreter, so asyncpg's statement-name counter starts at 0 again."""


def run_workers(url: str, fix: str, count: int = 3) -> list[subprocess.CompletedProcess]:
    return [subprocess.run([sys.executable, "-c", WORKER, url, fix], capture_output=True, text=True, timeout=60)
            for _ in range(count)]


async def test_the_lessons_fix_alone_collides_across_worker_processes(bouncer):
    """The lesson's fix is ?prepared_statement_cache_size=0 only: still flagged, and it fails for real once a
    second worker process prepares under the same generated name on the same server connection."""
    port, version = bouncer
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres?prepared_statement_cache_size=0"
    (finding,) = [f for f in static_findings(plan_for(url, version, None)) if f.id == "prepared-statement-cache"]
    assert finding.severity == "warning"
    assert 'connect_args={"statement_cache_size": 0}' in finding.message

    first, *later = await asyncio.to_thread(run_workers, url, "url-only")
    assert (first.returncode, first.stdout.strip()) == (0, "2")
    failed = [w for w in later if w.returncode != 0]
    assert failed, [w.stdout for w in later]
    assert re.search(r'prepared statement "__asyncpg_stmt_[0-9a-f]+__" already exists', failed[0].stderr)

    assert [f.id for f in static_findings(plan_for(url, version, 0))] == []
    workers = await asyncio.to_thread(run_workers, url, "full")
    assert [(w.returncode, w.stdout.strip()) for w in workers] == [(0, "2")] * 3, [w.stderr[-300:] for w in workers]


async def test_session_mode_pins_a_server_connection_per_pooled_client_and_the_next_client_waits(session_bouncer):
    """pool-overload for PgBouncer in session mode: a pool of 3 behind 2 server connections. Each pooled
    connection keeps its server connection while idle in the pool, so any further client waits in PgBouncer
    and fails after query_wait_timeout."""
    port, version = session_bouncer
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    plan = Plan(engines=(Engine(pool_size=3, max_overflow=0, url=url, via_pgbouncer=True),),
                deployment=Deployment(instances=1, workers=1, surge=0),
                pgbouncer=PgBouncer(version=version, pool_mode="session", default_pool_size=2, host="127.0.0.1"))
    assert (pgbouncer_budget(plan).clients_rollout_peak, pgbouncer_budget(plan).limit) == (3, 2)
    assert pgbouncer_budget(plan).verdict == "unsafe"
    (finding,) = [f for f in static_findings(plan) if f.id == "pool-overload"]
    assert "the other 1 wait in PgBouncer" in finding.message

    engine = app_engine(url, "shop", pool_size=3, max_overflow=0)
    try:
        held = [await engine.connect() for _ in range(2)]
        try:
            for conn in held:
                assert (await conn.execute(QUERY, {"n": 1})).scalar() == 2
        finally:
            for conn in held:
                await conn.close()  # back to the pool: idle, still connected to PgBouncer
        assert engine.sync_engine.pool.checkedin() == 2
        started = time.monotonic()
        with pytest.raises(asyncpg.PostgresError, match="query_wait_timeout"):
            other = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
            try:
                await other.execute("SELECT 1")
            finally:
                await other.close()
        assert time.monotonic() - started >= 1.5  # it waited for a server connection, then gave up
    finally:
        await engine.dispose()

    # the pool's connections closed, the server connections are free again
    other = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        assert await other.fetchval("SELECT 1") == 1
    finally:
        await other.close()
    roomy = dataclasses.replace(plan, pgbouncer=dataclasses.replace(plan.pgbouncer, default_pool_size=3))
    assert not [f for f in static_findings(roomy) if f.id == "pool-overload"]
    assert pgbouncer_budget(roomy).verdict != "unsafe"
