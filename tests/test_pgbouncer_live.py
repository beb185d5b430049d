"""The PgBouncer sampler on a real PgBouncer (Debian's 1.18, and the newest one when ``PGBOUNCER_NEWEST`` is
set), in transaction and session mode: known waiting clients and busy server connections are created with
asyncpg and found exactly in the sample; a stopped, paused or restarted PgBouncer, a wrong console password
and a login that is not a console user are each a clear state within the timeout, never a stall."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import asyncpg
import pytest
from conftest import require_binary
from pgbouncer_kit import USERS, binaries, restart, running_pgbouncer, stop
from pgcluster import Cluster

from dashboard.live.pgbouncer import (
    PgBouncerSampler,
    averages,
    config_from_rows,
    console_params,
    is_pgbouncer_url,
    sample_pgbouncer_once,
    version_from_rows,
)
from planner.pgbouncer_snapshot import PgBouncerSnapshot, PgBouncerTotals
from planner.rules.pgbouncer_live import pgbouncer_live_findings

pytestmark = [pytest.mark.db, pytest.mark.pgbouncer]


@pytest.fixture(scope="module")
def cluster():
    require_binary("/usr/sbin/pgbouncer", "pgbouncer")
    with Cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module", params=binaries())
def binary(request):
    return request.param


@pytest.fixture(scope="module")
def transaction_bouncer(cluster, binary):
    settings = "pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 50\nquery_wait_timeout = 60\n"
    with running_pgbouncer(cluster, f"tx-{os.path.basename(os.path.dirname(binary))}", settings, binary=binary,
                           auth_type="md5") as bouncer:
        yield bouncer


@pytest.fixture(scope="module")
def session_bouncer(cluster, binary):
    settings = "pool_mode = session\ndefault_pool_size = 2\nmax_client_conn = 40\nquery_wait_timeout = 60\n"
    with running_pgbouncer(cluster, f"session-{os.path.basename(os.path.dirname(binary))}", settings,
                           binary=binary, auth_type="md5") as bouncer:
        yield bouncer


async def client(bouncer, application_name: str) -> asyncpg.Connection:
    return await asyncpg.connect(host="127.0.0.1", port=bouncer.port, user="app", password=USERS["app"],
                                 database="appdb", server_settings={"application_name": application_name})


async def sample(url: str, **kwargs) -> PgBouncerSnapshot:
    return await asyncio.to_thread(sample_pgbouncer_once, url, **kwargs)


async def poll(url: str, until, timeout_s: float = 10.0) -> PgBouncerSnapshot:
    deadline = time.monotonic() + timeout_s
    while True:
        snap = await sample(url)
        if snap.ok and until(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout_s} s; last sample: {snap!r}")
        await asyncio.sleep(0.1)


def appdb(snap: PgBouncerSnapshot):
    (pool,) = [p for p in snap.pools if p.database == "appdb"]
    return pool


def groups(snap_groups, **match) -> int:
    return sum(g.count for g in snap_groups if all(getattr(g, k) == v for k, v in match.items()))


async def test_transaction_mode_waiting_clients_and_the_busy_server_connection(transaction_bouncer):
    bouncer = transaction_bouncer
    url = bouncer.url("stats")
    holder = await client(bouncer, "holder")
    waiters = [await client(bouncer, "waiter") for _ in range(3)]
    try:
        await holder.execute("BEGIN; SELECT 1")  # holds the pool's only server connection
        queries = [asyncio.create_task(w.fetchval("SELECT 7")) for w in waiters]
        await asyncio.sleep(1.2)
        snap = await poll(url, lambda s: appdb(s).cl_waiting == 3)
        pool = appdb(snap)
        assert snap.version == bouncer.version
        assert (pool.user, pool.pool_mode) == ("postgres", "transaction")
        assert (pool.cl_active, pool.cl_waiting, pool.sv_active, pool.sv_idle) == (1, 3, 1, 0)
        assert pool.maxwait_s >= 1.0
        assert groups(snap.clients, database="appdb", state="waiting", application_name="waiter") == 3
        assert groups(snap.clients, database="appdb", state="active", application_name="holder") == 1
        assert groups(snap.servers, database="appdb", state="active") == 1
        assert max(g.max_wait_s for g in snap.clients if g.state == "waiting") >= 1.0
        config = snap.config
        assert (config.pool_mode, config.default_pool_size, config.max_client_conn) == ("transaction", 1, 50)
        assert config.query_wait_timeout_s == 60
        if bouncer.version_tuple < (1, 21):
            assert config.max_prepared_statements is None  # no such setting: no prepared statement support
        else:
            assert config.max_prepared_statements is not None
        assert snap.total_clients == 4 + snap.console_clients and snap.console_clients >= 1
        assert snap.as_dict()["pools"][0].keys() >= {"database", "user", "cl_active", "cl_waiting", "sv_active",
                                                      "sv_idle", "sv_used", "maxwait_s", "avg_xact_ms",
                                                      "avg_query_ms"}

        await holder.execute("ROLLBACK")
        assert await asyncio.gather(*queries) == [7, 7, 7]
        snap = await poll(url, lambda s: appdb(s).cl_waiting == 0 and appdb(s).sv_active == 0)
        assert appdb(snap).maxwait_s == 0
        assert appdb(snap).sv_idle + appdb(snap).sv_used == 1
    finally:
        for conn in [holder, *waiters]:
            await conn.close()


async def test_session_mode_pins_server_connections_and_the_next_client_waits(session_bouncer):
    bouncer = session_bouncer
    url = bouncer.url("admin")
    pinned = [await client(bouncer, "pinned") for _ in range(2)]
    late = await client(bouncer, "late")
    try:
        for conn in pinned:
            assert await conn.fetchval("SELECT 1") == 1  # idle now, but each keeps its server connection
        query = asyncio.create_task(late.fetchval("SELECT 2"))
        snap = await poll(url, lambda s: appdb(s).cl_waiting == 1)
        pool = appdb(snap)
        assert (pool.pool_mode, pool.cl_active, pool.cl_waiting, pool.sv_active, pool.sv_idle) == (
            "session", 2, 1, 2, 0)
        assert groups(snap.servers, database="appdb", state="active") == 2
        assert groups(snap.clients, state="waiting", application_name="late") == 1
        assert snap.config.pool_mode == "session" and snap.config.default_pool_size == 2
        await pinned[0].close()
        assert await query == 2
    finally:
        for conn in [*pinned, late]:
            await conn.close()


async def test_average_transaction_time_is_the_measured_hold(transaction_bouncer):
    """Interval averages from SHOW STATS' totals: 6 transactions of pg_sleep(0.05) between two samples."""
    bouncer = transaction_bouncer
    sampler = PgBouncerSampler("pgbouncer", bouncer.url("stats"))
    conn = await client(bouncer, "timed")
    try:
        first = await sampler.sample()
        assert first.ok
        for _ in range(6):
            await conn.execute("BEGIN; SELECT pg_sleep(0.05); COMMIT")
        second = await sampler.sample()
        pool = appdb(second)
        assert pool.avg_source == "interval" and pool.xacts == 6
        assert 50 <= pool.avg_xact_ms < 500
        assert pool.avg_query_ms is not None and pool.avg_query_ms >= 15
    finally:
        await conn.close()
        await sampler.close()


async def test_wrong_console_password_and_a_login_that_is_no_console_user(transaction_bouncer):
    bouncer = transaction_bouncer
    started = time.monotonic()
    wrong = await sample(bouncer.url("stats", password="not-the-password"))
    plain = await sample(bouncer.url("plain"))
    assert time.monotonic() - started < 5
    assert wrong.status == "auth" and "password authentication failed" in wrong.error
    assert "not-the-password" not in wrong.error
    assert plain.status == "auth" and "stats_users" in plain.error and "'plain'" in plain.error
    assert USERS["plain"] not in plain.error
    assert (wrong.pools, plain.pools, wrong.total_clients) == ((), (), None)


async def test_stopped_paused_and_restarted_pgbouncer(cluster, binary):
    with running_pgbouncer(cluster, f"faults-{time.monotonic_ns()}", "pool_mode = transaction\n", binary=binary,
                           auth_type="md5") as bouncer:
        sampler = PgBouncerSampler("edge", bouncer.url("stats"), timeout_s=1.0)
        try:
            assert (await sampler.sample()).ok and sampler.connected
            os.kill(bouncer.process.pid, signal.SIGSTOP)  # accepts TCP in the kernel, answers nothing
            try:
                started = time.monotonic()
                paused = await sampler.sample()
                assert time.monotonic() - started < 4
                assert paused.status == "unreachable" and "within 1 s" in paused.error
                assert not sampler.connected
                started = time.monotonic()
                connecting = await sampler.sample()  # now the login itself gets no answer
                assert time.monotonic() - started < 4
                assert connecting.status == "unreachable" and "no answer" in connecting.error
            finally:
                os.kill(bouncer.process.pid, signal.SIGCONT)
            assert (await sampler.sample()).ok
            stop(bouncer)
            down = await sampler.sample()
            assert down.status == "unreachable", down
            started = time.monotonic()
            again = await sampler.sample()
            assert again.status == "unreachable" and "refused" in again.error
            assert time.monotonic() - started < 2
            restart(bouncer, binary)
            back = await sampler.sample()
            assert back.ok and back.version == bouncer.version
        finally:
            await sampler.close()


def test_urls_of_the_console():
    assert is_pgbouncer_url("postgresql://stats@db:6432/pgbouncer")
    assert is_pgbouncer_url("postgresql+asyncpg://stats:pw@db/pgbouncer?sslmode=require")
    assert not is_pgbouncer_url("postgresql://app@db:6432/app")
    assert not is_pgbouncer_url("not a url")
    assert console_params("postgres://stats:pw@db/pgbouncer?sslmode=require") == {
        "host": "db", "port": 6432, "dbname": "pgbouncer", "user": "stats", "password": "pw", "sslmode": "require"}
    bad = PgBouncerSampler("x", "postgresql://stats:pw@db:64x/pgbouncer")
    assert bad.url_fault is not None and bad.url_fault.status == "bad-url" and "pw" not in bad.url_fault.message
    snap = asyncio.run(PgBouncerSampler("x", "postgresql://stats:pw@db/pgbouncer?foo=1").sample())
    assert snap.status == "bad-url" and "'foo'" in snap.error


def test_rows_to_types_across_versions():
    old = config_from_rows([{"key": "pool_mode", "value": "transaction"}, {"key": "default_pool_size", "value": "20"},
                            {"key": "max_client_conn", "value": "100"}, {"key": "query_wait_timeout", "value": "120"},
                            {"key": "server_idle_timeout", "value": "600"}])
    assert (old.max_prepared_statements, old.query_wait_timeout_s, old.server_idle_timeout_s) == (None, 120, 600)
    new = config_from_rows([{"key": "pool_mode", "value": "session"}, {"key": "default_pool_size", "value": "5"},
                            {"key": "max_client_conn", "value": "10"},
                            {"key": "max_prepared_statements", "value": "200"},
                            {"key": "query_wait_timeout", "value": "500ms"}])
    assert (new.pool_mode, new.max_prepared_statements, new.query_wait_timeout_s) == ("session", 200, 0.5)
    assert version_from_rows([{"version": "PgBouncer 1.24.1"}]) == "1.24.1"
    before, now = PgBouncerTotals(10, 20, 1_000_000, 500_000, 0), PgBouncerTotals(14, 28, 1_200_000, 560_000, 4_000)
    assert averages(None, now, before) == {"avg_xact_ms": 50.0, "avg_query_ms": 7.5, "avg_wait_ms": 1.0, "xacts": 4,
                                           "avg_source": "interval"}
    row = {"avg_xact_count": 3, "avg_xact_time": 2500, "avg_query_time": 1000, "avg_wait_time": 0}
    assert averages(row, now, now) == {"avg_xact_ms": 2.5, "avg_query_ms": 1.0, "avg_wait_ms": 0.0,
                                       "avg_source": "stats_period"}
    assert averages({**row, "avg_xact_count": 0}, now, None) == {}  # no transaction in the period: no average


async def test_client_limit_near_and_at_max_client_conn(cluster, binary):
    """pgbouncer-client-limit from a real PgBouncer: a warning at 80%, critical at the limit, where the next
    application client is refused while the console still gets in."""
    settings = "pool_mode = transaction\nmax_client_conn = 5\n"
    with running_pgbouncer(cluster, f"limit-{time.monotonic_ns()}", settings, binary=binary,
                           auth_type="md5") as bouncer:
        clients = [await client(bouncer, "crowd") for _ in range(3)]
        try:
            snap = await sample(bouncer.url("stats"))
            assert snap.total_clients == 4  # 3 clients + the sampler's console connection
            (finding,) = [f for f in pgbouncer_live_findings(None, [snap]) if f.id == "pgbouncer-client-limit"]
            assert finding.severity == "warning" and "4 client connections" in finding.message
            clients += [await client(bouncer, "crowd") for _ in range(2)]
            full = await sample(bouncer.url("stats"))  # the console still gets in at the limit
            assert full.ok and full.total_clients == 6
            (finding,) = [f for f in pgbouncer_live_findings(None, [full]) if f.id == "pgbouncer-client-limit"]
            assert finding.severity == "critical" and "the next clients are refused" in finding.message
            with pytest.raises(asyncpg.PostgresError, match="no more connections allowed"):
                clients.append(await client(bouncer, "one-too-many"))
        finally:
            for conn in clients:
                await conn.close()
