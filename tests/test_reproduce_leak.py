"""Leaks, reproduced on a real server: a session left in a transaction, the server setting that would end it,
an engine per request that escapes its pool's bound, and connections that outlive pool_recycle."""

from __future__ import annotations

import asyncio

import pytest
from pgcluster import Cluster
from reproduce_kit import FAST, app_engine, by_id, clear, fires, hold, poll, release, sample, without_monitor_role
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from planner.model import Deployment, Engine, Plan
from planner.rules.live import live_findings

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as server:
        yield server


def shop_plan(**engine) -> Plan:
    return Plan(engines=(Engine(application_name="shop", pool_size=2, max_overflow=0, **engine),),
                deployment=Deployment(workers=1))


async def test_session_left_in_a_transaction_then_closed(cluster):
    url = cluster.url()
    engine = app_engine(url, "shop", pool_size=2, max_overflow=0)
    Session = async_sessionmaker(engine)
    session = Session()  # the lesson's leak: no `async with`, so nothing ends the transaction on error
    try:
        await session.execute(text("SELECT count(*) FROM pg_class WHERE relname = :name"), {"name": "orders"})
        found = await poll(url, shop_plan(), fires("idle-in-transaction"), collect_queries=True)
        (leak,) = by_id(found, "idle-in-transaction")
        assert leak.severity == "warning"
        assert leak.message.startswith("app 'shop' (role postgres): 1 session idle in transaction, the oldest for ")
        assert leak.message.endswith('last statement: "SELECT count(*) FROM pg_class WHERE relname = $1"')
        (setting,) = by_id(found, "no-idle-in-transaction-timeout")  # PostgreSQL's default: off
        assert (setting.severity, "; 1 session idle in transaction for " in setting.message) == ("warning", True)
        assert setting.snippet.startswith("ALTER ROLE postgres SET idle_in_transaction_session_timeout = '60s';")
    finally:
        await session.close()  # the fix: the connection goes back to the pool, rolled back
    found = await poll(url, shop_plan(), clear("idle-in-transaction"))
    assert [(f.id, f.severity) for f in found] == [("no-idle-in-transaction-timeout", "info")]
    await engine.dispose()


async def test_idle_in_transaction_timeout_ends_the_forgotten_transaction():
    with Cluster() as own:  # a server of its own: the fix changes a server setting
        url = own.url()
        assert by_id(live_findings(None, [await sample(url)]), "no-idle-in-transaction-timeout")
        own.psql("ALTER DATABASE postgres SET idle_in_transaction_session_timeout = '1s'")  # the snippet's fix
        assert without_monitor_role(live_findings(None, [await sample(url)])) == []
        engine = app_engine(url, "shop", pool_size=2, max_overflow=0)
        session = async_sessionmaker(engine)()
        await session.execute(text("SELECT 1"))
        await asyncio.sleep(1.5)  # past the 1 s timeout: the server has ended the transaction and the backend
        with pytest.raises(exc.DBAPIError) as ended:
            await session.execute(text("SELECT 1"))
        assert "connection is closed" in str(ended.value)  # what the application sees (FACTS E7)
        await session.close()
        snap = await sample(url)
        assert snap.count_by("application_name").get("shop", 0) == 0
        await engine.dispose()


async def test_engine_per_request_escapes_the_plan_then_one_engine_bounds_it(cluster):
    url = cluster.url()
    plan = shop_plan()
    leaked = []
    for _ in range(5):  # the anti-pattern: create_async_engine inside the request handler
        engine = app_engine(url, "shop", pool_size=2, max_overflow=0)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        leaked.append(engine)  # never disposed: each keeps its connection open
    found = await poll(url, plan, fires("connection-leak"))
    (leak,) = by_id(found, "connection-leak")
    assert leak.message == (
        "app 'shop': 5 connections to primary > plan's 1 worker x (2 + 0) = 2: its pools do not bound it"
    )
    for engine in leaked:
        await engine.dispose()
    engine = app_engine(url, "shop", pool_size=2, max_overflow=0, pool_timeout=5)  # the fix: one per process

    async def request():
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.05)"))

    await asyncio.gather(*(request() for _ in range(10)))  # 10 concurrent requests queue for 2 connections
    found = await poll(url, plan, clear("connection-leak"))
    snap = await sample(url)
    assert snap.count_by("application_name")["shop"] == 2
    await engine.dispose()


async def test_connections_outlive_pool_recycle_until_it_is_set(cluster):
    url = cluster.url()
    plan = shop_plan(pool_recycle=1)  # the plan says 1 s; the code forgot it
    engine = app_engine(url, "shop", pool_size=2, max_overflow=0)
    conns = await hold(engine, 2)
    await release(conns)
    history = []
    found = await poll(url, plan, fires("connection-leak", "recycling is not happening"), history=history)
    assert by_id(found, "connection-leak")[0].message.startswith("app 'shop': oldest connection ")
    await release(await hold(engine, 2))  # traffic goes on, but without pool_recycle the same backends stay
    assert by_id(live_findings(plan, [await sample(url)], FAST), "connection-leak")
    await engine.dispose()

    engine = app_engine(url, "shop", pool_size=2, max_overflow=0, pool_recycle=1)  # the fix
    await release(await hold(engine, 2))
    await asyncio.sleep(1.6)  # older than pool_recycle + slack; recycle happens at the next checkout
    assert by_id(live_findings(plan, [await sample(url)], FAST), "connection-leak")
    await release(await hold(engine, 2))  # checkout replaces both
    assert by_id(live_findings(plan, [await sample(url)], FAST), "connection-leak") == []
    await engine.dispose()
