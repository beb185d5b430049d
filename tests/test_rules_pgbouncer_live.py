"""The PgBouncer live rules on hand-built samples (pure: no PgBouncer needed). The real PgBouncer end of
them is in tests/test_pgbouncer_live.py."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from planner.model import Engine, PgBouncer, Plan
from planner.pgbouncer_snapshot import (
    ConnectionGroup,
    PgBouncerConfig,
    PgBouncerPool,
    PgBouncerSnapshot,
    pool_wait_for,
    pool_waits,
)
from planner.rules.pgbouncer_live import pgbouncer_live_findings, suggested_pool_size
from planner.rules.thresholds import DEFAULT_THRESHOLDS

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
CONFIG = PgBouncerConfig(pool_mode="transaction", default_pool_size=2, max_client_conn=100, max_prepared_statements=200,
                         query_wait_timeout_s=120.0, server_idle_timeout_s=600.0)


def pool(cl_waiting=0, maxwait_s=0.0, cl_active=2, sv_active=2, mode="transaction") -> PgBouncerPool:
    return PgBouncerPool("app", "app", mode, cl_active=cl_active, cl_waiting=cl_waiting, sv_active=sv_active,
                         sv_idle=0, sv_used=0, maxwait_s=maxwait_s, avg_xact_ms=12.5)


def snap(*pools, at=0.0, clients=4, config=CONFIG, version="1.24.1", status="ok") -> PgBouncerSnapshot:
    groups = (ConnectionGroup("app", "app", "active", "shop", clients, 0.0),) if clients else ()
    return PgBouncerSnapshot("pgb", T0 + timedelta(seconds=at), status, version=version, config=config,
                             pools=tuple(pools), clients=groups, console_clients=1,
                             client_connections=clients + 1)


def ids(findings) -> list[str]:
    return [f.id for f in findings]


def test_a_long_wait_fires_at_once_and_critical_near_query_wait_timeout():
    (finding,) = pgbouncer_live_findings(None, [snap(pool(cl_waiting=3, maxwait_s=1.5))])
    assert (finding.id, finding.severity, finding.server) == ("pgbouncer-clients-waiting", "warning", "pgb")
    assert "3 clients waiting" in finding.message and "1.5 s" in finding.message
    assert finding.snippet == "default_pool_size = 5"
    (critical,) = pgbouncer_live_findings(None, [snap(pool(cl_waiting=1, maxwait_s=60.0))])
    assert critical.severity == "critical"


def test_short_waits_fire_only_when_they_last_the_window():
    brief = [snap(pool(cl_waiting=1, maxwait_s=0.01), at=t) for t in (0, 1, 2)]
    assert pgbouncer_live_findings(None, brief) == []
    lasting = [snap(pool(cl_waiting=1, maxwait_s=0.01), at=t) for t in range(0, 12)]
    (finding,) = pgbouncer_live_findings(None, lasting)
    assert "12 samples in a row over 11.0 s" in finding.message
    broken = [*lasting[:6], snap(pool(), at=6), *lasting[7:]]
    assert pgbouncer_live_findings(None, broken) == []
    gap = dataclasses.replace(lasting[5], status="unreachable", pools=(), config=None)
    assert ids(pgbouncer_live_findings(None, [*lasting[:5], gap, *lasting[6:]])) == ["pgbouncer-clients-waiting"]


def test_client_limit():
    assert pgbouncer_live_findings(None, [snap(pool(), clients=78)]) == []
    (warning,) = pgbouncer_live_findings(None, [snap(pool(), clients=79)])  # 79 + 1 console = 80%
    assert (warning.id, warning.severity, warning.snippet) == ("pgbouncer-client-limit", "warning",
                                                               "max_client_conn = 101")
    (critical,) = pgbouncer_live_findings(None, [snap(pool(), clients=99)])
    assert critical.severity == "critical" and "the next clients are refused" in critical.message


def test_plan_differs_and_agrees():
    planned = PgBouncer(version="1.24.1", pool_mode="transaction", default_pool_size=2, max_client_conn=100)
    plan = Plan(engines=(Engine(url="postgresql+asyncpg://app@pgbouncer:6432/app", via_pgbouncer=True,
                                statement_cache_size=0),), pgbouncer=planned)
    assert pgbouncer_live_findings(plan, [snap(pool())]) == []
    assert pgbouncer_live_findings(dataclasses.replace(plan, pgbouncer=dataclasses.replace(
        planned, version="1.24")), [snap(pool())]) == []
    live = dataclasses.replace(CONFIG, pool_mode="session", default_pool_size=5)
    (finding,) = pgbouncer_live_findings(plan, [snap(pool(mode="session"), config=live)])
    assert finding.id == "pgbouncer-plan-differs"
    assert "pool_mode: plan transaction, live session; default_pool_size: plan 2, live 5" in finding.message
    assert finding.snippet == '[pgbouncer]\npool_mode = "session"\ndefault_pool_size = 5'


def test_a_config_without_sizes_is_judged_without_crashing():
    plan = Plan(engines=(Engine(via_pgbouncer=True, statement_cache_size=0,
                                url="postgresql+asyncpg://app@pgbouncer:6432/app?prepared_statement_cache_size=0"),),
                pgbouncer=PgBouncer(version="1.24.1", default_pool_size=2, max_client_conn=100))
    bare = PgBouncerConfig(pool_mode="transaction", default_pool_size=0, max_client_conn=0, max_prepared_statements=0)
    assert ids(pgbouncer_live_findings(plan, [snap(pool(), config=bare)])) == ["pgbouncer-plan-differs"]


def test_prepared_statements_confirmed_live_only_where_certain():
    old = dataclasses.replace(CONFIG, max_prepared_statements=None)
    (info,) = pgbouncer_live_findings(None, [snap(pool(), version="1.18.0", config=old)])
    assert (info.id, info.severity) == ("prepared-statement-cache", "info")
    assert "1.18.0 < 1.21" in info.message and "app/app" in info.message
    assert pgbouncer_live_findings(None, [snap(pool(mode="session"), version="1.18.0", config=old)]) == []
    assert pgbouncer_live_findings(None, [snap(pool(), version="1.24.1")]) == []  # 200 prepared statements kept
    zero = dataclasses.replace(CONFIG, max_prepared_statements=0)
    assert ids(pgbouncer_live_findings(None, [snap(pool(), config=zero)])) == ["prepared-statement-cache"]
    # with a plan: the static rule judges each routed engine with the live facts
    plan = Plan(engines=(Engine(url="postgresql+asyncpg://app@pgbouncer:6432/app", via_pgbouncer=True),),
                pgbouncer=PgBouncer(version="1.24.1", pool_mode="transaction", default_pool_size=2))
    found = pgbouncer_live_findings(plan, [snap(pool(), version="1.18.0", config=old)])
    (critical,) = [f for f in found if f.id == "prepared-statement-cache"]
    assert critical.severity == "critical" and critical.message.startswith("confirmed live (PgBouncer 1.18.0")
    assert ids(found) == ["prepared-statement-cache", "pgbouncer-plan-differs"]


def test_a_gap_yields_nothing_and_pool_waits_summary():
    gap = PgBouncerSnapshot("pgb", T0, "unreachable", error="connection refused")
    assert pgbouncer_live_findings(None, [gap]) == [] and pool_waits(gap) == ()
    (wait,) = pool_waits(snap(pool(cl_waiting=2, maxwait_s=0.4)))
    assert (wait.waiting, wait.cl_waiting, wait.maxwait_s, wait.pool_size, wait.avg_xact_ms) == (True, 2, 0.4, 2, 12.5)
    forced = dataclasses.replace(wait, user="postgres", cl_waiting=5)
    assert pool_wait_for((wait, forced), "app", "app") is wait  # the client's user, when a pool has it
    assert pool_wait_for((forced,), "app", "app") is forced  # a database that forces user=: the database decides
    assert pool_wait_for((wait, forced), "app") is forced and pool_wait_for((wait,), "other") is None


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 200)), min_size=1, max_size=15))
def test_waiting_fires_only_with_waiting_clients_and_suggests_enough(samples):
    history = [snap(pool(cl_waiting=w, maxwait_s=m if w else 0.0), at=i) for i, (w, m) in enumerate(samples)]
    found = [f for f in pgbouncer_live_findings(None, history, DEFAULT_THRESHOLDS)
             if f.id == "pgbouncer-clients-waiting"]
    latest = history[-1].pools[0]
    if latest.cl_waiting == 0:
        assert found == []
    elif latest.maxwait_s >= DEFAULT_THRESHOLDS.pgbouncer_maxwait_warning_s:
        assert len(found) == 1
    for finding in found:
        assert suggested_pool_size(latest) > latest.sv_active
        assert finding.snippet == f"default_pool_size = {suggested_pool_size(latest)}"
