"""The dashboard's PgBouncer section: pure parts (targets, the pool table against the live config and the plan,
the per-pool summary for a joined view), and the page through Streamlit's AppTest against a real PgBouncer
with clients waiting in it."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from conftest import require_binary
from pgbouncer_kit import USERS, running_pgbouncer
from pgcluster import Cluster
from streamlit.testing.v1 import AppTest

from dashboard.live.db import ServerFault
from dashboard.pgbouncer_view import TABLE_COLUMNS, configured_targets, latest_pool_waits, pgbouncer_targets, pool_table
from planner.model import Engine, PgBouncer, Plan
from planner.pgbouncer_snapshot import PgBouncerConfig, PgBouncerPool, PgBouncerSnapshot

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
MARKDOWN_NAME = "__shop__*x*"
"""A database name that Markdown would turn into bold and italics: it must reach the page as text."""
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_targets_from_secrets_or_environment():
    assert pgbouncer_targets({}, {}) == {}
    assert pgbouncer_targets({"PGBOUNCER_ADMIN_URL": "postgresql://stats:pw@db:6432/pgbouncer"}, {}) == {
        "pgbouncer": "postgresql://stats:pw@db:6432/pgbouncer"}
    env = {"PGBOUNCER_ADMIN_URL": "a=postgresql://s@h1/pgbouncer, b=postgresql://s@h2/pgbouncer"}
    assert list(pgbouncer_targets(None, env)) == ["a", "b"]
    with pytest.raises(ServerFault):
        pgbouncer_targets(None, {"PGBOUNCER_ADMIN_URL": "postgresql://s:pw@h/app"})
    targets, error = configured_targets({"PGBOUNCER_ADMIN_URL": "postgresql://s:Secret-7@h/app"})
    assert targets == {} and "database must be 'pgbouncer'" in error and "Secret-7" not in error


def test_pool_table_against_the_live_config_and_the_plan():
    pool = PgBouncerPool("app", "shop", "transaction", 4, 3, 2, 0, 1, 1.25, avg_xact_ms=8.5, avg_query_ms=2.0,
                         avg_source="interval")
    config = PgBouncerConfig("transaction", 2, 50, 0, 120.0, 600.0)
    snap = PgBouncerSnapshot("pgb", T0, "ok", version="1.24.1", config=config, pools=(pool,), console_clients=1,
                             client_connections=8)
    plan = Plan(engines=(Engine(via_pgbouncer=True),), pgbouncer=PgBouncer(default_pool_size=5, max_client_conn=100))
    table = pool_table(snap, plan)
    assert list(table.columns) == TABLE_COLUMNS
    row = table.iloc[0].to_dict()
    assert (row["clients active"], row["clients waiting"], row["maxwait s"]) == (4, 3, 1.25)
    assert row["servers active / idle / used"] == "2 / 0 / 1"
    assert row["pool size live / plan"] == "2 / 5"
    assert row["clients / max_client_conn live / plan"] == "8 of 50 / 100"
    assert not any("None" in str(value) for value in row.values())
    unplanned = pool_table(snap, Plan()).iloc[0].to_dict()
    assert unplanned["pool size live / plan"] == "2 / not planned"
    assert (row["avg transaction ms"], row["avg query ms"]) == (8.5, 2.0)
    assert pool_table(PgBouncerSnapshot("pgb", T0, "auth"), plan).empty
    (wait,) = latest_pool_waits({"pgb": snap, "down": PgBouncerSnapshot("down", T0, "unreachable")})
    assert (wait.pgbouncer, wait.database, wait.user, wait.cl_waiting, wait.maxwait_s, wait.pool_size) == (
        "pgb", "app", "shop", 3, 1.25, 2)


@pytest.fixture(scope="module")
def cluster():
    require_binary("/usr/sbin/pgbouncer", "pgbouncer")
    with Cluster() as cluster:
        yield cluster


class Waiting:
    """One client holding the pool's only server connection, and two waiting, in a thread of their own."""

    def __init__(self, port: int):
        self.port = port
        self.release = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True)

    async def run(self) -> None:
        def connect():
            return asyncpg.connect(host="127.0.0.1", port=self.port, user="app", password=USERS["app"],
                                   database="appdb", server_settings={"application_name": "shop"})
        conns = [await connect() for _ in range(3)]
        conns.append(await asyncpg.connect(host="127.0.0.1", port=self.port, user="app", password=USERS["app"],
                                           database=MARKDOWN_NAME))
        try:
            await conns[3].fetchval("SELECT 1")
            await conns[0].execute("BEGIN; SELECT 1")
            queries = [asyncio.create_task(c.fetchval("SELECT 1")) for c in conns[1:3]]
            self.ready.set()
            await asyncio.to_thread(self.release.wait, 60)
            await conns[0].execute("ROLLBACK")
            await asyncio.gather(*queries)
        finally:
            for conn in conns:
                await conn.close()

    def __enter__(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(30)


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


@pytest.mark.db
@pytest.mark.pgbouncer
def test_the_page_shows_the_pools_and_the_waiting_clients(cluster, tmp_path, monkeypatch):
    settings = "pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 30\n"
    extra = f"{MARKDOWN_NAME} = host=127.0.0.1 port={{port}} dbname=postgres user=postgres\n"
    with running_pgbouncer(cluster, "page", settings, auth_type="md5", databases=extra) as bouncer, \
            Waiting(bouncer.port):
        monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets["DATABASE_URL"] = cluster.url()
        at.secrets["PGBOUNCER_ADMIN_URL"] = bouncer.url("stats")
        deadline = time.monotonic() + 30
        while True:
            at.run()
            assert not at.exception
            frames = [d.value for d in at.dataframe if "clients waiting" in d.value.columns]
            waited = [f for f in frames if (f["maxwait s"] >= 1.0).any()]
            if waited and any("pgbouncer-clients-waiting" in t for t in texts(at)):
                break
            assert time.monotonic() < deadline, (texts(at), frames)
            time.sleep(0.5)
        row = waited[0][waited[0]["database"] == "appdb"].iloc[0]
        assert (row["clients active"], row["clients waiting"]) == (1, 2)
        assert row["servers active / idle / used"].startswith("1 / 0 / ")
        assert row["pool size live / plan"].startswith("1 / ")
        assert row["clients / max_client_conn live / plan"].split(" / ")[0].endswith("of 30")
        assert any(t.startswith("pgbouncer (postgresql://stats:***@") and "PgBouncer 1.18" in t for t in texts(at))
        assert not [t for t in texts(at) if USERS["stats"] in t]
        assert any("pool appdb/postgres: 2 clients waiting" in t for t in texts(at))
        assert any(MARKDOWN_NAME in f["database"].tolist() for f in frames)  # as text in the table
        assert any(f"{MARKDOWN_NAME}/postgres" in t for t in texts(at))  # the findings quote it as text
        assert not [m.value for m in at.markdown if "__shop__" in m.value]  # never as Markdown
