"""Static pitfall rules: each id fires on the plan that has the pitfall, with its numbers, and only then."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from planner_strategies import plans

from planner.model import Deployment, Engine, Finding, InputError, PgBouncer, Plan, Server, Workload
from planner.rules import DEFAULT_THRESHOLDS, Thresholds, sort_findings, static_findings

LESSON = Plan(
    engines=(Engine(pool_size=20, max_overflow=10, pool_timeout=30, pool_recycle=1800, pool_pre_ping=True),),
    deployment=Deployment(workers=4, surge=0),
)
GOOD = Plan(engines=(Engine(pool_size=4, max_overflow=3, pool_timeout=10, pool_recycle=300, pool_pre_ping=True,
                            url="postgresql+asyncpg://app@db:5432/app?ssl=require"),),
            deployment=Deployment(instances=2, workers=4), workload=Workload(rps=100, hold_ms=10, request_timeout_s=30))


def found(plan: Plan) -> list[dict]:
    return [f.as_dict() for f in static_findings(plan)]


def ids(plan: Plan) -> list[tuple[str, str]]:
    return [(f.id, f.severity) for f in static_findings(plan)]


def test_a_good_plan_has_no_findings():
    assert found(GOOD) == []


def test_lesson_example_overflow_exceeds_budget_although_its_rule_passes():
    assert found(LESSON) == [
        {
            "id": "overflow-exceeds-budget",
            "severity": "critical",
            "message": "primary: the lesson's rule passes (pool_size 20 x 4 processes = 80 <= max_connections 100) "
                       "but it ignores max_overflow: 4 processes x (20 + 10) = 120 > 97 usable",
            "fix": "count max_overflow in the budget: processes x (pool_size + max_overflow) must fit the usable slots",
            "snippet": "create_async_engine(url, pool_size=5, max_overflow=10)",
            "server": "primary", "service": None,
        },
        {
            "id": "too-many-connections",
            "severity": "critical",
            "message": "primary: at peak, 4 processes x (20 + 10) = 120 > 97 usable (max_connections 100 - 3 "
                       "reserved/other); the server refuses the rest with 'remaining connection slots are reserved "
                           "for roles with the SUPERUSER attribute'",
            "fix": "use the pools python -m planner recommend gives: primary: pool_size=5, max_overflow=10 (rollout "
                   "peak 60 <= 87 on primary); or PgBouncer, or a higher max_connections (recommend shows why each "
                   "number)",
            "snippet": "create_async_engine(url, pool_size=5, max_overflow=10)",
            "server": "primary", "service": None,
        },
    ]


def test_suggested_fix_of_the_lesson_example_is_itself_clean():
    fixed = dataclasses.replace(LESSON, engines=(dataclasses.replace(LESSON.engines[0], pool_size=14,
                                                                     max_overflow=7),))
    assert found(fixed) == []


def test_rollout_surge_fits_steady_not_rollout():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=5),), deployment=Deployment(instances=4, workers=2))
    rollout, too_many = found(plan)
    assert rollout["id"] == "rollout-surge"
    assert rollout["message"] == (
        "primary: fits in steady state (8 processes: 80 <= 97 usable) but not while a rolling deploy overlaps old "
        "and new instances: (4 instances + 1 surge) x 2 workers x (5 + 5) = 100 > 97")
    assert "maxSurge: 0" in rollout["snippet"]
    assert too_many["message"].startswith("primary: at rollout peak, 10 processes x (5 + 5) = 100 > 97 usable")


def test_tight_plan_is_a_warning():
    plan = Plan(engines=(Engine(pool_size=90, max_overflow=0),), deployment=Deployment(surge=0))
    [finding] = found(plan)
    assert (finding["id"], finding["severity"], finding["message"]) == (
        "too-many-connections", "warning",
        "primary: rollout peak 90 leaves 7 of 97 usable slots (7%), less than the 10% margin")


@pytest.mark.parametrize(("pool_size", "max_overflow", "what"), [(5, -1, "max_overflow=-1"), (0, 10, "pool_size=0")])
def test_unbounded_overflow(pool_size, max_overflow, what):
    plan = Plan(engines=(Engine(pool_size=pool_size, max_overflow=max_overflow),))
    [finding] = found(plan)
    assert (finding["id"], finding["severity"]) == ("unbounded-overflow", "critical")
    assert finding["message"].startswith(f"engine primary: {what} puts no ceiling on its connections")


def test_replica_engine_on_the_primary_server():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=0), Engine(name="replica", pool_size=5, max_overflow=0)))
    assert found(plan) == [{
        "id": "replica-same-server", "severity": "warning",
        "message": "engine replica, meant for a replica, connects to primary like primary: the primary carries every "
                   "pool, (5 + 0) + (5 + 0) per process, and the reads are not offloaded",
        "fix": 'point replica\'s URL at the replica server (and declare it as a [[servers]] entry with replica_of = '
               '"primary"), or size all the pools together against primary',
        "snippet": "", "server": "primary", "service": None,
    }]


def test_several_engines_on_one_server_on_purpose_are_not_a_replica_pitfall():
    """Issue #13: an application engine 20 + 30 and a workflow engine's two pools of 20, all on one server."""
    plan = Plan(servers=(Server(max_connections=500),),
                engines=(Engine(name="app", pool_size=20, max_overflow=30),
                         Engine(name="dbos-system", pool_size=20, max_overflow=0),
                         Engine(name="dbos-app", pool_size=20, max_overflow=0)),
                deployment=Deployment(instances=2, workers=2, surge=0))
    assert "replica-same-server" not in {f["id"] for f in found(plan)}
    flagged = dataclasses.replace(plan, engines=(*plan.engines[:2], dataclasses.replace(plan.engines[2], replica=True)))
    [finding] = [f for f in found(flagged) if f["id"] == "replica-same-server"]
    assert finding["message"].startswith("engine dbos-app, meant for a replica, connects to primary like app and "
                                         "dbos-system")


@pytest.mark.parametrize(("name", "meant"), [("replica", True), ("read-replica", True), ("replica_2", True),
                                             ("replicator", False), ("dbos-app", False), ("app", False)])
def test_which_engine_names_mean_a_replica(name, meant):
    assert Engine(name=name).meant_as_replica is meant


def test_replica_below_primary_names_every_setting_lower_than_the_primary():
    plan = Plan(servers=(Server(max_connections=300, max_locks_per_transaction=128, max_wal_senders=5),
                         Server(name="replica", replica_of="primary", max_connections=100, max_wal_senders=10)),
                engines=(Engine(pool_size=5, max_overflow=0),
                         Engine(name="replica", server="replica", pool_size=5, max_overflow=0)))
    [finding] = [f for f in found(plan) if f["id"] == "replica-below-primary"]
    assert finding["severity"] == "critical" and finding["server"] == "replica"
    assert ("in the plan max_connections 100 < 300, max_locks_per_transaction 64 < 128 (standby < primary)"
            in finding["message"])
    assert "max_wal_senders" not in finding["message"]  # the standby may have more than its primary
    assert finding["snippet"] == ("# postgresql.conf on replica (restart)\nmax_connections = 300\n"
                                  "max_locks_per_transaction = 128")
    even = dataclasses.replace(plan, servers=(plan.servers[0], dataclasses.replace(
        plan.servers[1], max_connections=300, max_locks_per_transaction=128)))
    assert "replica-below-primary" not in {f["id"] for f in found(even)}


def test_replica_of_must_name_another_server():
    with pytest.raises(InputError, match="replica_of"):
        Plan(servers=(Server(replica_of="nowhere"),))
    with pytest.raises(InputError, match="replica_of"):
        Plan(servers=(Server(replica_of="primary"),))


def test_autoscaling_growth_is_not_called_a_rollout_surge():
    """Issue #13: 2 instances fit, the autoscaler's 5 do not; maxSurge 0 cannot help, so it is not suggested."""
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=5),),
                deployment=Deployment(instances=2, workers=2, surge=0, autoscale_max=5))
    by_id = {f["id"]: f for f in found(plan)}
    assert "rollout-surge" not in by_id
    auto = by_id["autoscale-exceeds-budget"]
    assert auto["severity"] == "critical"
    assert auto["message"] == (
        "primary: fits at 2 instances (4 processes: 40 <= 97 usable), but the autoscaler may run 5: 5 instances x 2 "
        "workers x (5 + 5) = 100 > 97 (and 100 during a rollout at that size); maxSurge 0 would not help, the "
        "growth is the autoscaler's")
    assert "maxSurge" not in auto["fix"] + auto["snippet"]
    assert auto["fix"].startswith("lower the autoscaler's maximum to 4 instances (HPA maxReplicas: 4; rollout peak "
                                  "then within 87); or cap each process at 8 connections")
    assert "PgBouncer" in auto["fix"]
    assert "maxReplicas: 4" in auto["snippet"]
    # the fix it gives clears it
    fixed = dataclasses.replace(plan, deployment=dataclasses.replace(plan.deployment, autoscale_max=4))
    assert not {"autoscale-exceeds-budget", "too-many-connections"} & set(by for by, _ in ids(fixed))


def test_when_both_the_autoscaler_and_the_surge_break_the_plan_each_is_named_with_its_fix():
    plan = Plan(servers=(Server(max_connections=100, other_clients=5),),
                engines=(Engine(pool_size=4, max_overflow=2),),
                deployment=Deployment(instances=3, workers=4, surge="25%", autoscale_max=4))
    by_id = {f["id"]: f for f in found(plan)}
    assert by_id["autoscale-exceeds-budget"]["message"].startswith(
        "primary: fits at 3 instances (12 processes: 72 <= 92 usable), but the autoscaler may run 4")
    assert by_id["rollout-surge"]["message"] == (
        "primary: fits in steady state (12 processes: 72 <= 92 usable) but not while a rolling deploy overlaps old "
        "and new instances: (3 instances + 1 surge) x 4 workers x (4 + 2) = 96 > 92")
    assert "maxReplicas" not in by_id["autoscale-exceeds-budget"]["fix"]  # no maximum would fit: not offered


def test_a_surge_on_top_of_an_autoscaling_maximum_that_fits_is_a_rollout_surge():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=5),),
                deployment=Deployment(instances=2, workers=2, surge=1, autoscale_max=4))
    by_id = {f["id"]: f for f in found(plan)}
    assert "autoscale-exceeds-budget" not in by_id
    assert by_id["rollout-surge"]["message"].startswith(
        "primary: fits in steady state and at the autoscaling maximum (8 processes: 80 <= 97 usable)")


def test_replica_url_pointing_at_the_primary_host():
    plan = Plan(servers=(Server(), Server(name="replica")),
                engines=(Engine(pool_size=5, max_overflow=0, url="postgresql+asyncpg://app@db/app"),
                         Engine(name="replica", server="replica", pool_size=5, max_overflow=0,
                                url="postgresql+asyncpg://app@db:5432/app")))
    [finding] = found(plan)
    assert finding["message"] == ("engines primary (server primary) and replica (server replica) have the same host "
                                  "db:5432/app: one server carries both pools, but the plan counts them on two")


def test_asyncpg_ssl_from_the_url():
    plan = dataclasses.replace(GOOD, engines=(dataclasses.replace(
        GOOD.engines[0], url="postgresql+asyncpg://app:hunter2@db/app?sslmode=verify-full"),))
    [finding] = static_findings(plan)
    assert (finding.id, finding.severity, finding.snippet) == (
        "asyncpg-ssl", "critical", "postgresql+asyncpg://app:***@db/app?ssl=verify-full")
    assert "hunter2" not in repr(finding)


def _bouncer_plan(version: str, url: str, statement_cache_size=None, mps=None) -> Plan:
    return Plan(engines=(Engine(pool_size=5, max_overflow=0, url=url, via_pgbouncer=True,
                                statement_cache_size=statement_cache_size),),
                pgbouncer=PgBouncer(version=version, max_prepared_statements=mps))


@pytest.mark.parametrize(("version", "query", "cache", "mps", "expected"), [
    ("1.18.0", "", None, None, [("prepared-statement-cache", "critical")]),
    ("1.22.0", "", None, None, [("prepared-statement-cache", "critical")]),  # 1.21-1.23 default 0
    ("1.22.0", "", None, 100, []),
    ("1.24.0", "", None, None, []),  # default 200 from 1.24
    ("1.25.2", "", None, 0, [("prepared-statement-cache", "critical")]),
    ("1.18.0", "?prepared_statement_cache_size=0", None, None, [("prepared-statement-cache", "warning")]),
    ("1.18.0", "?prepared_statement_cache_size=0", 0, None, []),
])
def test_prepared_statement_cache_with_declared_pgbouncer(version, query, cache, mps, expected):
    url = f"postgresql+asyncpg://app@pgbouncer:6432/app{query}"
    assert ids(_bouncer_plan(version, url, cache, mps)) == expected


def test_prepared_statement_cache_message_names_the_version_and_the_missing_settings():
    [finding] = static_findings(_bouncer_plan("1.18.0", "postgresql+asyncpg://app@pgbouncer:6432/app"))
    assert finding.message == (
        'engine primary goes through PgBouncer in transaction mode (version 1.18.0 < 1.21) and lacks '
        '?prepared_statement_cache_size=0 in the URL and connect_args={"statement_cache_size": 0}: queries fail with '
        'prepared statement "__asyncpg_stmt_N__" does not exist')


def test_undeclared_pooler_port_is_a_warning():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=0, url="postgresql+asyncpg://app@db:6432/app"),))
    assert ids(plan) == [("prepared-statement-cache", "warning")]


def test_recycle_after_idle_timeout():
    plan = Plan(servers=(Server(idle_session_timeout_s=300),), engines=(Engine(pool_size=5, max_overflow=0),),
                lb_idle_timeout_s=350)
    assert found(plan) == [{
        "id": "recycle-after-idle-timeout", "severity": "warning",
        "message": "engine primary: pool_recycle unset (-1, never), primary's idle_session_timeout is 300 s: idle "
                   "pooled connections get closed under the pool, and the next checkout fails with 'connection is "
                   "closed'",
        "fix": "pool_recycle=150 (below 300 s) and pool_pre_ping=True",
        "snippet": "create_async_engine(url, pool_recycle=150, pool_pre_ping=True)", "server": "primary",
        "service": None,
    }]
    with_pre_ping = Plan(engines=(Engine(pool_size=5, max_overflow=0, pool_recycle=400, pool_pre_ping=True),),
                         lb_idle_timeout_s=350)
    assert ids(with_pre_ping) == [("recycle-after-idle-timeout", "info")]
    below = Plan(engines=(Engine(pool_size=5, max_overflow=0, pool_recycle=300),), lb_idle_timeout_s=350)
    assert ids(below) == []


def test_pool_timeout_exceeds_request_timeout():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=0, pool_timeout=30),),
                workload=Workload(rps=10, hold_ms=10, request_timeout_s=30))
    [finding] = found(plan)
    assert (finding["id"], finding["message"], finding["snippet"]) == (
        "pool-timeout-exceeds-request-timeout",
        "engine primary: pool_timeout 30 s >= request timeout 30 s: callers give up before the pool does, so overload "
        "shows as timeouts upstream instead of a clear pool TimeoutError, and the waiting work is wasted",
        "create_async_engine(url, pool_timeout=10)")  # recommend's: min(10, 0.5 x 30)


def test_pgbouncer_max_client_conn_below_the_fleet():
    plan = Plan(engines=(Engine(pool_size=10, max_overflow=10, via_pgbouncer=True, statement_cache_size=0,
                                url="postgresql+asyncpg://app@pgbouncer:6432/app?prepared_statement_cache_size=0"),),
                deployment=Deployment(instances=4, workers=2, surge=0),
                pgbouncer=PgBouncer(version="1.18.0", max_client_conn=100))
    [finding] = found(plan)
    assert (finding["id"], finding["message"], finding["snippet"]) == (
        "too-many-connections", "PgBouncer: 8 rollout processes x (10 + 10) = 160 client connections > "
        "max_client_conn 100", "max_client_conn = 160")


def test_bad_url_in_a_plan_is_an_input_error():
    plan = Plan(engines=(Engine(url="postgresql+asyncpg://app:pw@db:x/app"),))
    with pytest.raises(InputError, match=r"url: the port must be a number: postgresql\+asyncpg://app:\*\*\*@db:x/app"):
        static_findings(plan)


def test_sort_findings_by_severity_then_id():
    unsorted = [Finding("b", "info", "m"), Finding("z", "critical", "m"), Finding("a", "warning", "m"),
                Finding("a", "critical", "m")]
    assert [(f.severity, f.id) for f in sort_findings(unsorted)] == [
        ("critical", "a"), ("critical", "z"), ("warning", "a"), ("info", "b")]


def test_thresholds_are_validated():
    assert DEFAULT_THRESHOLDS.live_warning_fraction == 0.8 and DEFAULT_THRESHOLDS.live_critical_fraction == 0.95
    with pytest.raises(InputError, match="live_warning_fraction"):
        Thresholds(live_warning_fraction=0.99)
    with pytest.raises(InputError, match="cold_pool_fraction"):
        Thresholds(cold_pool_fraction=0)


@settings(deadline=None)  # plans with a workload size the fix with recommend(): simulation for constant holds
@given(plans())
def test_budget_findings_agree_with_the_verdict(plan):
    from planner.budget import plan_budgets

    verdict = plan_budgets(plan)[0].verdict
    budget_ids = {f.id for f in static_findings(plan) if f.id in
                  ("too-many-connections", "overflow-exceeds-budget", "rollout-surge", "unbounded-overflow")}
    assert bool(budget_ids) == (verdict != "safe")


def test_budget_fix_uses_the_recommended_pool_when_the_plan_has_a_workload():
    from planner.sizing import recommend_for_plan

    plan = Plan(engines=(Engine(pool_size=20, max_overflow=10),), deployment=Deployment(instances=3, workers=4),
                workload=Workload(rps=600, hold_ms=20))
    finding = next(f for f in static_findings(plan) if f.id == "too-many-connections")
    rec = recommend_for_plan(plan)
    assert (rec.pool_size, rec.max_overflow) == (4, 1)  # 50 req/s x 20 ms per worker needs 4; the budget leaves 5
    assert finding.fix.startswith("use the pools python -m planner recommend gives: primary: pool_size=4, "
                                  "max_overflow=1 (rollout peak 80 <= 87 on primary)")
    assert finding.snippet == "create_async_engine(url, pool_size=4, max_overflow=1)"


def _pooled(mode: str, *, rps: float = 100.0, **bouncer) -> Plan:
    return Plan(engines=(Engine(pool_size=5, max_overflow=5, via_pgbouncer=True,
                                url="postgresql+asyncpg://app@pgbouncer:6432/app"),),
                deployment=Deployment(instances=2, workers=4, surge=0), workload=Workload(rps=rps, hold_ms=50),
                pgbouncer=PgBouncer(pool_mode=mode, **bouncer))


def test_session_mode_pins_a_server_connection_per_client():
    plan = _pooled("session", default_pool_size=30, max_client_conn=500)  # 8 processes x 10 = 80 clients > 30
    [finding] = [f for f in static_findings(plan) if f.id == "pool-overload"]
    assert finding.severity == "critical" and finding.server == "primary"
    assert finding.message.startswith(
        "PgBouncer in session mode: 8 rollout processes x (5 + 5) = 80 client connections")
    assert "the other 50 wait in PgBouncer" in finding.message
    assert finding.fix.endswith("default_pool_size = 80 (primary has room for 97)")
    assert finding.snippet == "pool_mode = transaction"
    roomy = dataclasses.replace(plan, pgbouncer=dataclasses.replace(plan.pgbouncer, default_pool_size=80))
    assert not [f for f in static_findings(roomy) if f.id == "pool-overload"]


def test_transaction_mode_pool_overloaded_by_the_fleets_traffic():
    plan = _pooled("transaction", rps=1000.0, default_pool_size=40, max_client_conn=500)  # 1000 x 50 ms = 50 busy
    [finding] = [f for f in static_findings(plan) if f.id == "pool-overload"]
    assert "1000 req/s x 50 ms held = 50.0 server connections busy" in finding.message
    assert finding.severity == "critical" and "its queue grows until query_wait_timeout" in finding.message
    # the queueing model's pool for the fleet (50 busy, exponential holds, p99 wait <= 10 ms), as recommend sizes it
    assert finding.fix.startswith("default_pool_size = 61 (primary has room for 97), sized by the queueing model")
    assert finding.snippet == "default_pool_size = 61"
    bigger = dataclasses.replace(plan, workload=Workload(rps=3000.0, hold_ms=50))  # 150 busy: no room on primary
    [finding] = [f for f in static_findings(bigger) if f.id == "pool-overload"]
    assert finding.fix.startswith("not a larger default_pool_size: primary has room for 97, not 165")
    assert finding.snippet == ""
    near = _pooled("transaction", rps=700.0, default_pool_size=40, max_client_conn=500)  # 35 busy of 40
    [finding] = [f for f in static_findings(near) if f.id == "pool-overload"]
    assert finding.severity == "warning"
    assert finding.message.endswith("clients wait in its queue beyond the p99 target (10 ms), which needs 45")
    assert not [f for f in static_findings(_pooled("transaction", rps=500.0, default_pool_size=40,
                                                   max_client_conn=500)) if f.id == "pool-overload"]  # 25 busy
