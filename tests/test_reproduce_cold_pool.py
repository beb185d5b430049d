"""cold-pool, reproduced: the lesson's warm-up leaves one connection per worker, traffic then opens a burst of new
backends; the warm-up from the finding's own snippet opens pool_size per worker and the finding clears."""

from __future__ import annotations

import asyncio

import pytest
from pgcluster import Cluster
from reproduce_kit import FAST, app_engine, by_id, clear, fires, hold, poll, release, sample
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from planner.model import Deployment, Engine, Plan
from planner.rules.live import WARMUP_SNIPPET, live_findings

pytestmark = pytest.mark.db

PLAN = Plan(engines=(Engine(application_name="api", pool_size=4, max_overflow=2),), deployment=Deployment(workers=2))


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as server:
        yield server


async def lesson_warmup(engine) -> None:
    """The lesson's warmup_pool(), verbatim in effect: one session, one SELECT 1."""
    async with async_sessionmaker(engine)() as session:
        await session.execute(text("SELECT 1"))


def workers(url: str):
    """Two worker processes' pools (each process has its own), as the plan's 2 workers would."""
    return [app_engine(url, "api", pool_size=4, max_overflow=2) for _ in range(2)]


async def test_lesson_warmup_leaves_the_pool_cold_then_the_snippet_warms_it(cluster):
    url = cluster.url()
    engines = workers(url)
    try:
        for engine in engines:
            await lesson_warmup(engine)
            assert engine.pool.checkedin() == 1  # not pool_size: sequential checkouts reuse one connection
        found = await poll(url, PLAN, fires("cold-pool"))
        (cold,) = by_id(found, "cold-pool")
        assert cold.severity == "info"
        assert cold.message.startswith("app 'api': 2 connections ")
        assert "far below the plan's 2 workers x pool_size 4 = 8 (< 50%)" in cold.message

        namespace: dict = {}
        exec(WARMUP_SNIPPET, namespace)  # the finding's own fix, run as the user would paste it
        for engine in engines:
            await namespace["prewarm"](engine)
            assert engine.pool.checkedin() == 4
        await poll(url, PLAN, clear("cold-pool"))
        assert (await sample(url)).count_by("application_name")["api"] == 8
    finally:
        for engine in engines:
            await engine.dispose()


async def test_traffic_on_a_cold_pool_opens_a_burst_of_backends(cluster):
    url = cluster.url()
    engines = workers(url)
    held = []
    try:
        for engine in engines:
            await lesson_warmup(engine)
        history = [await sample(url)]
        for engine in engines:  # 4 concurrent requests per worker arrive at once
            held += await hold(engine, 4)
        history.append(await sample(url))
        (burst,) = by_id(live_findings(PLAN, history, FAST), "cold-pool")
        assert burst.severity == "warning"
        assert burst.message.startswith("app 'api': 2 -> 8 connections within ")
        assert burst.message.endswith(
            "(+6 new backends) while its pool was cold (< 50% of 2 workers x pool_size 4 = 8): the requests that "
            "opened them each waited for a new connection"
        )
    finally:
        await release(held)
        for engine in engines:
            await engine.dispose()


async def test_warm_pool_takes_the_same_traffic_without_a_burst(cluster):
    url = cluster.url()
    engines = workers(url)
    namespace: dict = {}
    exec(WARMUP_SNIPPET, namespace)
    held = []
    try:
        await asyncio.gather(*(namespace["prewarm"](engine) for engine in engines))
        history = [await sample(url)]
        for engine in engines:
            held += await hold(engine, 4)
        history.append(await sample(url))
        assert by_id(live_findings(PLAN, history, FAST), "cold-pool") == []
        assert history[-1].count_by("application_name")["api"] == 8  # the warmed connections serve it
    finally:
        await release(held)
        for engine in engines:
            await engine.dispose()
