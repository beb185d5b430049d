"""The connection arithmetic: whole budgets for known plans, and its invariants for any plan."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given
from hypothesis import strategies as st
from planner_strategies import plans

from planner.budget import (
    ServerBudget,
    ServiceShare,
    overall_verdict,
    pgbouncer_budget,
    plan_budgets,
    plan_verdict,
    server_budget,
    usable_slots,
)
from planner.model import Deployment, Engine, PgBouncer, Plan, Server

LESSON = Plan(
    engines=(Engine(pool_size=20, max_overflow=10, pool_timeout=30, pool_recycle=1800, pool_pre_ping=True),),
    deployment=Deployment(instances=1, workers=4, surge=0),
)


def test_lesson_example_is_unsafe_although_its_rule_passes():
    assert server_budget(LESSON, LESSON.servers[0]) == ServerBudget(
        name="primary",
        max_connections=100,
        usable=97,
        per_process_steady=20,
        per_process_peak=30,
        processes=4,
        rollout_processes=4,
        pgbouncer_connections=0,
        steady=80,
        peak=120,
        rollout_peak=120,
        headroom=-23,
        lesson_rule_total=80,
        verdict="unsafe",
        explanation=(
            "usable = max_connections 100 - superuser_reserved 3 - reserved 0 - other clients 0 = 97",
            "processes = 1 instances x 4 workers = 4",
            "steady = 4 processes x pool_size (20) = 80",
            "peak = 4 processes x (20 + 10) = 120",
            "rollout peak = (1 instances + 0 surge) x 4 workers x 30 = 120",
            "headroom = usable 97 - rollout peak 120 = -23 (120 > 97)",
        ),
        shares=(ServiceShare(service="app", processes=4, rollout_processes=4, per_process_steady=20,
                             per_process_peak=30, steady=80, peak=120, autoscale_peak=120, rollout_peak=120),),
    )


def test_lesson_example_with_kubernetes_default_surge_doubles_at_rollout():
    plan = dataclasses.replace(LESSON, deployment=Deployment(instances=1, workers=4))
    budget = plan_budgets(plan)[0]
    assert (budget.steady, budget.peak, budget.rollout_processes, budget.rollout_peak, budget.headroom) == (
        80, 120, 8, 240, -143)


def test_rollout_counts_autoscale_maximum_and_rounds_surge_up():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=5),),
                deployment=Deployment(instances=3, workers=2, surge="25%", autoscale_max=6))
    budget = plan_budgets(plan)[0]
    # surge: ceil(6 x 25%) = 2 -> (6 + 2) x 2 workers = 16 processes x 10
    assert (budget.processes, budget.rollout_processes, budget.steady, budget.peak, budget.rollout_peak) == (
        6, 16, 30, 60, 160)
    assert budget.verdict == "unsafe"


def test_tight_and_safe_boundaries():
    # usable 97; 10% of 97 = 9.7 spare needed for safe
    def verdict(per_process: int) -> str:
        plan = Plan(engines=(Engine(pool_size=per_process, max_overflow=0),),
                    deployment=Deployment(workers=1, surge=0))
        return plan_budgets(plan)[0].verdict

    assert [verdict(n) for n in (87, 88, 97, 98)] == ["safe", "tight", "tight", "unsafe"]


def test_two_engines_on_one_server_add_up_and_other_server_is_separate():
    plan = Plan(
        servers=(Server(), Server(name="replica", max_connections=50)),
        engines=(Engine(pool_size=10, max_overflow=5), Engine(name="reports", pool_size=2, max_overflow=1),
                 Engine(name="replica", server="replica", pool_size=4, max_overflow=4)),
        deployment=Deployment(instances=2, workers=3, surge=1),
    )
    primary, replica = plan_budgets(plan)
    assert (primary.per_process_steady, primary.per_process_peak, primary.steady, primary.peak,
            primary.rollout_peak, primary.verdict) == (12, 18, 72, 108, 162, "unsafe")
    assert (replica.usable, replica.steady, replica.peak, replica.rollout_peak, replica.headroom,
            replica.verdict) == (47, 24, 48, 72, -25, "unsafe")
    assert overall_verdict(plan_budgets(plan)) == "unsafe"


def test_pgbouncer_connections_are_counted_once_not_per_process():
    plan = Plan(
        engines=(Engine(pool_size=10, max_overflow=10, via_pgbouncer=True),),
        deployment=Deployment(instances=10, workers=4),
        pgbouncer=PgBouncer(default_pool_size=30, pools=2),
    )
    budget = plan_budgets(plan)[0]
    assert (budget.pgbouncer_connections, budget.steady, budget.peak, budget.rollout_peak, budget.verdict) == (
        60, 60, 60, 60, "safe")


def test_unbounded_overflow_is_unsafe_with_no_peak():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=-1),))
    budget = plan_budgets(plan)[0]
    assert (budget.peak, budget.rollout_peak, budget.headroom, budget.verdict) == (None, None, None, "unsafe")


def test_usable_slots_subtracts_every_reservation():
    assert usable_slots(Server(max_connections=100, superuser_reserved_connections=3, reserved_connections=2,
                               other_clients=7)) == 88


@given(plans(), st.integers(1, 8))
def test_more_workers_never_lower_the_peak(plan, extra):
    more = dataclasses.replace(plan, deployment=dataclasses.replace(
        plan.deployment, workers=min(plan.deployment.workers + extra, 1024)))
    before, after = plan_budgets(plan)[0], plan_budgets(more)[0]
    assert after.steady >= before.steady
    assert after.peak >= before.peak
    assert after.rollout_peak >= before.rollout_peak
    assert after.headroom <= before.headroom


@given(plans())
def test_steady_le_peak_le_rollout_and_verdict_matches_headroom(plan):
    budget = plan_budgets(plan)[0]
    assert budget.steady <= budget.peak <= budget.rollout_peak
    assert budget.headroom == budget.usable - budget.rollout_peak
    if budget.verdict == "unsafe":
        assert budget.rollout_peak > budget.usable or budget.usable <= 0
    else:
        assert budget.rollout_peak <= budget.usable


def _routed(pool_mode: str = "transaction", **bouncer) -> Plan:
    return Plan(engines=(Engine(pool_size=5, max_overflow=10, via_pgbouncer=True),),
                deployment=Deployment(instances=3, workers=4, surge="25%"),
                pgbouncer=PgBouncer(pool_mode=pool_mode, **bouncer))


def test_pgbouncer_max_client_conn_makes_the_plan_unsafe_though_the_server_is_safe():
    plan = _routed(max_client_conn=100)  # (3 + 1 surge) x 4 workers x (5 + 10) = 240 clients
    bouncer = pgbouncer_budget(plan)
    assert (bouncer.clients_steady, bouncer.clients_peak, bouncer.clients_rollout_peak, bouncer.limit,
            bouncer.headroom, bouncer.verdict) == (60, 180, 240, 100, -140, "unsafe")
    assert plan_budgets(plan)[0].verdict == "safe"  # the server sees PgBouncer's 20 connections
    assert plan_verdict(plan) == overall_verdict(plan_budgets(plan), bouncer) == "unsafe"
    assert bouncer.explanation[-1] == "headroom = limit 100 - client rollout peak 240 = -140 (240 > 100)"
    assert plan_verdict(dataclasses.replace(plan, pgbouncer=PgBouncer(max_client_conn=250))) == "tight"
    assert plan_verdict(dataclasses.replace(plan, pgbouncer=PgBouncer(max_client_conn=300))) == "safe"


def test_in_session_mode_each_client_needs_a_server_connection():
    plan = _routed("session", max_client_conn=1000, default_pool_size=100, pools=2)
    bouncer = pgbouncer_budget(plan)
    assert (bouncer.limit, bouncer.headroom, bouncer.verdict) == (200, -40, "unsafe")  # min(1000, 100 x 2)
    assert "in session mode each client holds a server connection" in bouncer.explanation[2]
    transaction = dataclasses.replace(plan, pgbouncer=dataclasses.replace(plan.pgbouncer, pool_mode="transaction"))
    assert (pgbouncer_budget(transaction).limit, pgbouncer_budget(transaction).verdict) == (1000, "safe")


def test_no_pgbouncer_budget_without_an_engine_routed_through_it():
    assert pgbouncer_budget(LESSON) is None
    assert pgbouncer_budget(dataclasses.replace(LESSON, pgbouncer=PgBouncer())) is None
    unbounded = _routed(max_client_conn=10_000)
    unbounded = dataclasses.replace(unbounded, engines=(Engine(max_overflow=-1, via_pgbouncer=True),))
    assert (pgbouncer_budget(unbounded).clients_rollout_peak, pgbouncer_budget(unbounded).verdict) == (None, "unsafe")


@given(st.integers(1, 40), st.integers(0, 40), st.integers(1, 8), st.integers(1, 8), st.integers(1, 3000),
       st.sampled_from(["session", "transaction", "statement"]), st.integers(1, 200))
def test_pgbouncer_verdict_is_unsafe_exactly_when_its_clients_exceed_its_limit(
        pool, overflow, instances, workers, max_client_conn, mode, default_pool_size):
    plan = Plan(engines=(Engine(pool_size=pool, max_overflow=overflow, via_pgbouncer=True),),
                deployment=Deployment(instances=instances, workers=workers),
                pgbouncer=PgBouncer(pool_mode=mode, max_client_conn=max_client_conn,
                                    default_pool_size=default_pool_size))
    bouncer = pgbouncer_budget(plan)
    clients = (instances + math.ceil(instances * 0.25)) * workers * (pool + overflow)
    limit = min(max_client_conn, default_pool_size) if mode == "session" else max_client_conn
    assert (bouncer.clients_rollout_peak, bouncer.limit) == (clients, limit)
    assert (bouncer.verdict == "unsafe") == (clients > limit)
    assert (plan_verdict(plan) == "unsafe") == (clients > limit or plan_budgets(plan)[0].verdict == "unsafe")
