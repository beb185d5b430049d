"""missing-monitor-privilege, reproduced: a monitoring role without pg_monitor sees other roles' sessions without
a state, so a session stuck in a transaction goes unnoticed; GRANT pg_monitor shows it."""

from __future__ import annotations

import pytest
from pgcluster import Cluster
from reproduce_kit import FAST, app_engine, by_id, fires, poll
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from planner.model import Engine, Plan

pytestmark = pytest.mark.db

PLAN = Plan(engines=(Engine(application_name="shop", pool_size=2, max_overflow=0),))


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as server:
        server.psql("CREATE ROLE app LOGIN; CREATE ROLE watcher LOGIN")
        yield server


async def test_unprivileged_monitor_misses_a_stuck_transaction_until_granted_pg_monitor(cluster):
    watcher_url = cluster.url(user="watcher")
    engine = app_engine(cluster.url(user="app"), "shop", pool_size=2, max_overflow=0)
    session = async_sessionmaker(engine)()
    try:
        await session.execute(text("SELECT 1"))  # left idle in a transaction
        history = []
        found = await poll(watcher_url, PLAN, fires("missing-monitor-privilege"), history=history,
                           thresholds=FAST)
        (finding,) = by_id(found, "missing-monitor-privilege")
        assert finding.message == (
            "primary: the monitoring role watcher has neither pg_monitor nor pg_read_all_stats: other roles' sessions "
            "show no state, ages, addresses or SSL (1 of 1 client backends without a visible state): counts by "
            "state, ages and SSL are partial"
        )
        assert finding.snippet == "GRANT pg_monitor TO watcher;"
        assert by_id(found, "idle-in-transaction") == []  # the stuck session is there, but invisible

        cluster.psql(finding.snippet)  # the fix, as given
        found = await poll(watcher_url, PLAN, fires("idle-in-transaction"), thresholds=FAST)
        assert by_id(found, "missing-monitor-privilege") == []
        assert by_id(found, "idle-in-transaction")[0].message.startswith(
            "app 'shop' (role app): 1 session idle in transaction"
        )
    finally:
        await session.close()
        await engine.dispose()
