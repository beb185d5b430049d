"""too-many-connections and monitor-refused, reproduced: a pool larger than a small server, the server's own
refusal (SQLSTATE 53300) seen by the app and by the dashboard, then the recommended plan that fits."""

from __future__ import annotations

import asyncio
import time

import pytest
from pgcluster import Cluster
from reproduce_kit import FAST, app_engine, by_id, release, sample, without_monitor_role
from sqlalchemy import exc, text

from planner.model import Deployment, Engine, Plan, Server
from planner.rules.live import live_findings
from planner.rules.static import static_findings
from planner.sizing import recommend

pytestmark = pytest.mark.db

SUPERUSER_ONLY = "remaining connection slots are reserved for roles with the SUPERUSER attribute"  # PG16 (FACTS E6)


@pytest.fixture(scope="module")
def small():
    with Cluster({"max_connections": 10, "superuser_reserved_connections": 3}) as server:
        server.psql("CREATE ROLE app LOGIN; CREATE ROLE monitor LOGIN; GRANT pg_monitor TO monitor")
        yield server


SERVER = Server(max_connections=10, superuser_reserved_connections=3, other_clients=1)  # 1 for the dashboard
LESSON_STYLE = Plan(
    servers=(SERVER,),
    engines=(Engine(application_name="orders", pool_size=5, max_overflow=10, pool_timeout=2),),
    deployment=Deployment(workers=1),
)


async def test_pool_larger_than_the_server_is_refused_then_the_recommendation_fits(small):
    app_url, monitor_url, superuser_url = small.url(user="app"), small.url(user="monitor"), small.url()
    # The plan is already wrong on paper: 1 worker x (5 + 10) = 15 > 6 usable.
    assert "too-many-connections" in [f.id for f in static_findings(LESSON_STYLE)]

    engine = app_engine(app_url, "orders", pool_size=5, max_overflow=10, pool_timeout=2)
    results = await asyncio.gather(*(engine.connect() for _ in range(10)), return_exceptions=True)
    held = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    try:
        assert (len(held), len(refused)) == (7, 3)  # 10 - 3 superuser slots; the pool wanted 10 of its 15
        error = refused[0]
        assert isinstance(error, exc.DBAPIError)  # not OperationalError, as the lesson's table says
        assert error.orig.sqlstate == "53300"
        assert SUPERUSER_ONLY in str(error)

        # The dashboard, as a monitoring role without superuser, is refused the same way.
        snap = await sample(monitor_url)
        assert (snap.status, snap.sqlstate, snap.error.endswith(SUPERUSER_ONLY)) == ("refused", "53300", True)
        found = without_monitor_role(live_findings(LESSON_STYLE, [snap], FAST))
        assert [(f.id, f.severity) for f in found] == [
            ("too-many-connections", "critical"),
            ("monitor-refused", "warning"),
        ]
        assert found[0].message == (
            f'primary is out of connection slots: "{snap.error}" (SQLSTATE 53300): every slot an ordinary role '
            "may use is taken"
        )
        assert "GRANT pg_use_reserved_connections TO <monitoring role>;" in found[1].snippet

        # A superuser still gets in (a reserved slot) and sees who holds the rest.
        found = without_monitor_role(live_findings(LESSON_STYLE, [await sample(superuser_url)], FAST))
        assert [(f.id, f.severity, f.message) for f in found] == [
            (
                "too-many-connections", "critical",
                "primary: 8 connections (7 clients + 1 monitor) = 133% of 6 usable (max_connections 10 - "
                "superuser_reserved 3 - reserved 0 - other clients 1), at or above 95%; largest: 'orders' 7",
            ),
            ("no-idle-in-transaction-timeout", "info", found[1].message),
        ]
    finally:
        await release(held)
        await engine.dispose()

    # The fix: the planner's recommendation for this server and deployment.
    advice = recommend(SERVER, LESSON_STYLE.deployment, engines=LESSON_STYLE.engines)
    assert advice.fits
    (planned,) = advice.plan.engines
    assert static_findings(advice.plan) == []
    engine = app_engine(
        app_url, "orders", pool_size=planned.pool_size, max_overflow=planned.max_overflow,
        pool_timeout=planned.pool_timeout, pool_recycle=planned.pool_recycle, pool_pre_ping=planned.pool_pre_ping,
    )

    async def request() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.3)"))

    traffic = asyncio.gather(*(request() for _ in range(10)))  # the same 10 concurrent requests now queue
    try:
        deadline = time.monotonic() + 5
        while True:
            snap = await sample(monitor_url)
            if snap.ok and snap.count_by("application_name").get("orders") == planned.pool_size + planned.max_overflow:
                break
            assert time.monotonic() < deadline, snap
            await asyncio.sleep(0.05)
        # At its ceiling under load, the app holds 2 + 1 monitor of 6 usable: nothing but the server's default.
        assert [f.id for f in live_findings(advice.plan, [snap], FAST)] == ["no-idle-in-transaction-timeout"]
    finally:
        await traffic  # every request served: none refused
        await engine.dispose()
    assert by_id(live_findings(advice.plan, [await sample(monitor_url)], FAST), "too-many-connections") == []
