"""recycle-after-idle-timeout, reproduced: a server with idle_session_timeout closes the pool's idle connections
and the next checkout fails with "connection is closed"; pool_recycle below the timeout (the finding's fix)
replaces them at checkout instead, with no pre-ping needed."""

from __future__ import annotations

import asyncio

import pytest
from pgcluster import Cluster
from reproduce_kit import FAST, app_engine, by_id, sample
from sqlalchemy import exc, text

from planner.model import Engine, Plan
from planner.rules.live import live_findings

pytestmark = pytest.mark.db

TIMEOUT_S = 2


@pytest.fixture(scope="module")
def cluster():
    with Cluster({"idle_session_timeout": TIMEOUT_S * 1000}) as server:
        yield server


def plan(**engine) -> Plan:
    return Plan(engines=(Engine(application_name="shop", pool_size=1, max_overflow=0, **engine),))


async def one_request(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()


async def test_idle_session_timeout_kills_pooled_connections_until_pool_recycle_is_below_it(cluster):
    url = cluster.url()
    (finding,) = by_id(live_findings(plan(), [await sample(url)], FAST), "recycle-after-idle-timeout")
    assert (finding.severity, finding.message) == (
        "warning",
        "engine 'primary': pool_recycle unset (-1) is not below primary's live idle_session_timeout 2 s: the server "
        "closes pooled connections that sit idle, and the next checkout fails with 'connection is closed' (the plan "
        "says off)",
    )
    assert finding.snippet == "create_async_engine(url, pool_recycle=1, pool_pre_ping=True)"

    engine = app_engine(url, "shop", pool_size=1, max_overflow=0)  # as the plan says: no recycle
    try:
        await one_request(engine)
        await asyncio.sleep(TIMEOUT_S + 0.5)  # the request gap: the server ends the idle backend
        with pytest.raises(exc.DBAPIError, match="connection is closed"):
            await one_request(engine)
    finally:
        await engine.dispose()

    engine = app_engine(url, "shop", pool_size=1, max_overflow=0, pool_recycle=1)  # the fix, without pre-ping
    try:
        first = await one_request(engine)
        await asyncio.sleep(TIMEOUT_S + 0.5)
        assert await one_request(engine) != first  # recycled at checkout: a new backend, no error
    finally:
        await engine.dispose()
    assert by_id(live_findings(plan(pool_recycle=1), [await sample(url)], FAST), "recycle-after-idle-timeout") == []


async def test_pre_ping_alone_hides_it_at_the_cost_of_a_reconnect(cluster):
    url = cluster.url()
    (finding,) = by_id(live_findings(plan(pool_pre_ping=True), [await sample(url)], FAST), "recycle-after-idle-timeout")
    assert finding.severity == "info"
    assert finding.message.endswith("; pool_pre_ping=True hides it at the cost of a reconnect")
    engine = app_engine(url, "shop", pool_size=1, max_overflow=0, pool_pre_ping=True)
    try:
        first = await one_request(engine)
        await asyncio.sleep(TIMEOUT_S + 0.5)
        assert await one_request(engine) != first  # the ping failed, the pool reconnected
    finally:
        await engine.dispose()
