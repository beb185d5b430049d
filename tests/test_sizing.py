"""recommend(): whole recommendations for known inputs, alternatives when nothing fits, and invariants."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planner_strategies import deployments, servers, workloads

from planner.budget import plan_budgets, plan_verdict
from planner.model import Deployment, Engine, InputError, PgBouncer, Plan, Server, Workload
from planner.queueing import HoldTime, predict_wait
from planner.rules import static_findings
from planner.sizing import (
    EngineAdvice,
    PoolRequirement,
    recommend,
    recommend_for_plan,
    required_pool_size,
)


def test_required_pool_size_is_littles_law_with_headroom():
    assert required_pool_size(50, 20) == PoolRequirement(
        2,
        "pool_size 2: Little's law gives 50 req/s per worker x 20 ms held = 1.00 busy connections on average; "
        "x 1.5 headroom, rounded up (at least 1) = 2",
    )
    assert [required_pool_size(r, 100).pool_size for r in (0, 10, 100, 200)] == [1, 2, 15, 30]
    assert required_pool_size(100, 100, headroom=0).pool_size == 10


def test_lesson_server_without_workload_gets_sqlalchemy_defaults_that_fit():
    rec = recommend(Server(), Deployment(workers=4, surge=0))
    assert rec.fits and rec.alternatives == () and rec.why == ()
    assert rec.engines == (EngineAdvice(
        "primary", "primary", 5, 10, 10.0, 1800.0, True, 1,
        (
            "pool_size 5: no workload given: SQLAlchemy's default 5, capped by the budget (on primary, 21 "
            "connections per process for 1 engine(s))",
            "max_overflow 10: bursts above the pool, up to 10 (SQLAlchemy default), limited to what the budget "
            "leaves (on primary, 21 connections per process for 1 engine(s))",
            "pool_timeout 10 s: no request timeout given; fail a checkout after 10 s rather than queue for "
            "SQLAlchemy's 30 s",
            "pool_recycle 1800 s: no idle timeout given; replace connections every 30 min, with pool_pre_ping=True "
            "to survive restarts and dropped connections",
            "pool_pre_ping True: one round trip per checkout buys silent recovery from restarts and dropped "
            "connections",
        ),
    ),)
    assert rec.reasons[0] == (
        "primary: 97 usable - 10 spare (10% margin) = 87 connections allowed at rollout peak; (87) / 4 rollout "
        "processes ((1 instances + 0 surge) x 4 workers) = 21 per process")
    budget = plan_budgets(rec.plan)[0]
    assert (budget.steady, budget.peak, budget.rollout_peak, budget.headroom, budget.verdict) == (
        20, 60, 60, 37, "safe")


def test_lesson_with_kubernetes_surge_caps_overflow_to_the_budget():
    rec = recommend(Server(), Deployment(workers=4))  # 8 rollout processes: 87 // 8 = 10 per process
    assert (rec.fits, rec.pool_size, rec.max_overflow, rec.workers) == (True, 5, 5, 4)
    assert plan_budgets(rec.plan)[0].rollout_peak == 80


def test_workload_sizes_the_pool_and_pool_timeout_stays_below_request_timeout():
    rec = recommend(Server(max_connections=200), Deployment(instances=3, workers=4, surge=1),
                    Workload(rps=1200, hold_ms=25, request_timeout_s=5))
    # 1200 / 12 = 100 req/s per worker x 25 ms = 2.5 busy; p99 wait <= 10 ms (exponential hold) needs 7;
    # overflow ceil(7 x 0.5) = 4; 16 rollout processes x 11 = 176 <= 177 allowed
    assert (rec.fits, rec.pool_size, rec.max_overflow, rec.pool_timeout, rec.pool_recycle) == (True, 7, 4, 2.5, 1800)
    assert rec.engines[0].required_pool_size == 7
    assert "per worker: 1200 req/s / (3 instances x 4 workers) = 100 req/s" in rec.reasons[0]
    assert predict_wait(100, HoldTime(25), 7).wait_p99_ms <= 10 < predict_wait(100, HoldTime(25), 6).wait_p99_ms


def test_littles_law_model_sizes_by_busy_connections_with_headroom():
    rec = recommend(Server(max_connections=200), Deployment(instances=3, workers=4, surge=1),
                    Workload(rps=1200, hold_ms=25, request_timeout_s=5), model="littles-law")
    # 2.5 busy -> x 1.5 = 3.75 -> 4; overflow ceil(4 x 0.5) = 2
    assert (rec.fits, rec.pool_size, rec.max_overflow) == (True, 4, 2)
    assert rec.engines[0].reasons[0].startswith("pool_size 4: Little's law gives 100 req/s per worker")


def test_unknown_sizing_model_is_an_input_error():
    with pytest.raises(InputError, match="model: must be one of queueing, littles-law"):
        recommend(Server(), Deployment(), Workload(rps=10, hold_ms=5), model="erlang")


def test_recycle_goes_below_the_shortest_idle_timeout():
    rec = recommend(Server(idle_session_timeout_s=600), Deployment(), lb_idle_timeout_s=350)
    assert rec.pool_recycle == 175
    assert rec.engines[0].reasons[3].startswith("pool_recycle 175 s: below the load balancer's idle timeout 350 s")


def test_nothing_fits_says_why_and_offers_the_smallest_changes():
    rec = recommend(Server(), Deployment(instances=10, workers=4), Workload(rps=2000, hold_ms=20, request_timeout_s=15))
    assert (rec.fits, rec.plan, rec.engines, rec.pool_size) == (False, None, (), None)
    # 50 req/s per worker x 20 ms = 1 busy: 4 connections keep p99 wait within 10 ms
    assert rec.why == ("primary: 52 rollout processes x 4 connections per process (4, the least the workload needs) "
                       "= 208 > 87 allowed (97 usable - 10 spare)",)
    # fewer workers cannot fit: even 1 worker per instance needs 13 x 9 connections
    assert [a.change for a in rec.alternatives] == ["pgbouncer", "max-connections"]
    bouncer, bigger = rec.alternatives
    # PgBouncer's pool serves the fleet: 2000 req/s x 20 ms = 40 busy, 47 keep p99 within 10 ms
    assert (bouncer.plan.pgbouncer.default_pool_size, bouncer.plan.pgbouncer.max_client_conn) == (47, 312)
    assert predict_wait(2000, HoldTime(20), 47).wait_p99_ms <= 10 < predict_wait(2000, HoldTime(20), 46).wait_p99_ms
    assert all(e.via_pgbouncer for e in bouncer.plan.engines)
    assert bigger.plan.servers[0].max_connections == 235  # 52 x 4 = 208 <= 232 usable - 24 spare
    assert bigger.summary.startswith("raise primary max_connections 100 -> 235")
    for alternative in rec.alternatives:
        assert [b.verdict for b in plan_budgets(alternative.plan)] == ["safe"]


def test_littles_law_model_finds_fewer_workers():
    rec = recommend(Server(), Deployment(instances=10, workers=4), Workload(rps=2000, hold_ms=20, request_timeout_s=15),
                    model="littles-law")
    assert rec.why == ("primary: 52 rollout processes x 2 connections per process (2, the least the workload needs) "
                       "= 104 > 87 allowed (97 usable - 10 spare)",)
    assert [a.change for a in rec.alternatives] == ["fewer-workers", "pgbouncer", "max-connections"]
    fewer, bouncer, bigger = rec.alternatives
    assert fewer.plan.deployment.workers == 3
    assert (bouncer.plan.pgbouncer.default_pool_size, bouncer.plan.pgbouncer.max_client_conn) == (60, 156)
    assert bigger.plan.servers[0].max_connections == 119


def test_pgbouncer_is_not_offered_when_the_server_cannot_hold_the_busy_connections():
    rec = recommend(Server(), Deployment(instances=10, workers=64), Workload(rps=20000, hold_ms=20))
    # 400 connections busy fleet-wide: 87 allowed server connections cannot carry them, PgBouncer or not
    assert [a.change for a in rec.alternatives] == ["max-connections"]


def test_max_connections_alternative_is_the_smallest_that_fits():
    rec = recommend(Server(), Deployment(instances=10, workers=4), Workload(rps=2000, hold_ms=20))
    bigger = next(a for a in rec.alternatives if a.change == "max-connections")
    n = bigger.plan.servers[0].max_connections
    smaller = dataclasses.replace(Server(), max_connections=n - 1)
    assert not recommend(smaller, Deployment(instances=10, workers=4), Workload(rps=2000, hold_ms=20)).fits


def test_server_with_no_usable_slot():
    rec = recommend(Server(max_connections=10, other_clients=7), Deployment())
    assert not rec.fits
    assert rec.why == ("primary: usable slots 0 <= 0: the reserved slots and other clients take all 10 connections",)
    assert [a.change for a in rec.alternatives] == ["max-connections"]


def test_primary_and_replica_on_separate_servers_each_get_their_own_budget():
    rec = recommend([Server(), Server(name="replica", max_connections=50)], Deployment(workers=4, surge=0))
    assert [(e.name, e.server, e.pool_size, e.max_overflow) for e in rec.engines] == [
        ("primary", "primary", 5, 10), ("replica", "replica", 5, 5)]  # replica: (47 - 5) // 4 = 10 per process


def test_two_engines_on_one_server_share_it():
    plan = Plan(engines=(Engine(name="primary"), Engine(name="reports")), deployment=Deployment(workers=4, surge=0))
    rec = recommend_for_plan(plan)
    assert [(e.name, e.pool_size, e.max_overflow) for e in rec.engines] == [("primary", 5, 6), ("reports", 5, 5)]
    assert plan_budgets(rec.plan)[0].rollout_peak == 84  # 4 x 21 <= 87


def test_a_queueing_model_plugs_in_as_the_requirement():
    def fixed(per_worker_rps: float, hold_ms: float) -> PoolRequirement:
        return PoolRequirement(7, f"pool_size 7: the model says so for {per_worker_rps:g} req/s", "test-model")

    rec = recommend(Server(), Deployment(workers=2, surge=0), Workload(rps=10, hold_ms=5), requirement=fixed)
    assert (rec.pool_size, rec.max_overflow, rec.engines[0].reasons[0]) == (
        7, 4, "pool_size 7: the model says so for 5 req/s")


def test_pgbouncer_in_the_plan_keeps_the_server_at_default_pool_size():
    plan = Plan(engines=(Engine(via_pgbouncer=True),), deployment=Deployment(instances=20, workers=4),
                pgbouncer=PgBouncer(default_pool_size=40, max_client_conn=2000))
    rec = recommend_for_plan(plan)
    assert (rec.fits, rec.pool_size, rec.max_overflow) == (True, 5, 10)
    assert plan_budgets(rec.plan)[0].rollout_peak == 40


def test_pgbouncer_max_client_conn_too_low_does_not_fit():
    plan = Plan(engines=(Engine(via_pgbouncer=True),), deployment=Deployment(instances=20, workers=4),
                pgbouncer=PgBouncer(default_pool_size=40, max_client_conn=100))
    rec = recommend_for_plan(plan)
    assert not rec.fits
    assert rec.why == ("PgBouncer max_client_conn 100 < 1500 client connections at rollout peak (100 processes x "
                       "their pools)",)


@pytest.mark.parametrize("margin", [-0.1, 1, 1.5, True])
def test_bad_margin_is_an_input_error(margin):
    with pytest.raises(InputError, match="margin"):
        recommend(Server(), Deployment(), margin=margin)


@settings(max_examples=150, deadline=None)
@given(servers(), deployments(), workloads)
def test_a_recommended_plan_never_exceeds_the_usable_slots_at_rollout_peak(server, deployment, workload):
    rec = recommend(server, deployment, workload)
    if rec.fits:
        budget = plan_budgets(rec.plan)[0]
        assert budget.rollout_peak <= budget.usable
        assert budget.verdict == "safe"
        assert rec.pool_size >= rec.engines[0].required_pool_size
        if workload is not None and workload.request_timeout_s is not None:
            assert rec.pool_timeout < workload.request_timeout_s
    else:
        assert rec.plan is None and rec.why
        for alternative in rec.alternatives:
            assert all(b.verdict == "safe" for b in plan_budgets(alternative.plan))


@settings(max_examples=60, deadline=None)
@given(st.integers(-5, 0), st.integers(-5, 0))
def test_invalid_inputs_raise_input_error(max_connections, workers):
    with pytest.raises(InputError):
        recommend(Server(max_connections=max_connections), Deployment(workers=workers))


def test_a_replica_taking_a_share_of_requests_is_sized_for_that_share_only():
    servers = (Server(), Server(name="replica", max_connections=100))
    dep = Deployment(instances=2, workers=2, surge=0)
    load = Workload(rps=800, hold_ms=20)  # 200 req/s per worker: 4 busy connections
    full = (Engine(name="primary"), Engine(name="replica", server="replica"))
    share = (Engine(name="primary"), Engine(name="replica", server="replica", traffic_share=0.25))
    sized = {e.name: e.pool_size for e in recommend_for_plan(Plan(servers, full, dep, load)).engines}
    shared_rec = recommend_for_plan(Plan(servers, share, dep, load))
    shared = {e.name: e.pool_size for e in shared_rec.engines}
    # the replica's pool is what one engine needs at a quarter of the per-worker rate
    alone = recommend(Server(), dep, Workload(rps=200, hold_ms=20)).pool_size
    assert shared == {"primary": sized["primary"], "replica": alone}
    assert alone < sized["replica"]
    assert any("replica 25% = 50 req/s" in reason for reason in shared_rec.reasons)


@settings(max_examples=40, deadline=None)
@given(low=st.floats(0.05, 1.0), high=st.floats(0.05, 1.0), rps=st.floats(1, 2000), hold_ms=st.floats(1, 200))
def test_a_larger_share_of_requests_never_gets_a_smaller_pool(low, high, rps, hold_ms):
    low, high = sorted((low, high))
    big = Server(max_connections=10_000)
    dep = Deployment(workers=2, surge=0)

    def pool(share: float) -> int:
        plan = Plan((big,), (Engine(traffic_share=share),), dep, Workload(rps=rps, hold_ms=hold_ms))
        return recommend_for_plan(plan).pool_size

    assert pool(low) <= pool(high)


@pytest.mark.parametrize("share", [0, -0.1, 1.01, float("nan"), "half", True])
def test_a_traffic_share_outside_0_to_1_is_refused_by_name(share):
    with pytest.raises(InputError, match="traffic_share"):
        Engine(traffic_share=share)


def test_a_pgbouncer_max_client_conn_too_low_gets_a_settings_alternative():
    plan = Plan(engines=(Engine(via_pgbouncer=True),), deployment=Deployment(instances=20, workers=4),
                pgbouncer=PgBouncer(default_pool_size=40, max_client_conn=100))
    [alternative] = [a for a in recommend_for_plan(plan).alternatives if a.change == "pgbouncer-settings"]
    assert alternative.summary == "in pgbouncer.ini: max_client_conn 100 -> 1500"
    assert alternative.plan.pgbouncer.max_client_conn == 1500
    assert recommend_for_plan(alternative.plan).fits


def test_session_mode_pgbouncer_needs_a_server_connection_per_client():
    plan = Plan(engines=(Engine(via_pgbouncer=True),), deployment=Deployment(instances=2, workers=4, surge=0),
                workload=Workload(rps=200, hold_ms=20),
                pgbouncer=PgBouncer(pool_mode="session", default_pool_size=20, max_client_conn=1000))
    rec = recommend_for_plan(plan)
    assert not rec.fits
    assert rec.why[0].startswith("PgBouncer in session mode: 40 client connections at rollout peak > its 20 server")
    [alternative] = [a for a in rec.alternatives if a.change == "pgbouncer-settings"]
    # 8 processes x (3 + 2): the server has room for a server connection each
    assert alternative.summary == ("in pgbouncer.ini: default_pool_size 20 -> 40 (session mode: one server "
                                   "connection per client)")
    assert recommend_for_plan(alternative.plan).fits

    crowded = dataclasses.replace(plan, deployment=Deployment(instances=20, workers=4, surge=0))
    [alternative] = [a for a in recommend_for_plan(crowded).alternatives if a.change == "pgbouncer-settings"]
    assert alternative.summary.startswith("in pgbouncer.ini: pool_mode session -> transaction (")
    assert alternative.plan.pgbouncer.pool_mode == "transaction" and recommend_for_plan(alternative.plan).fits


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 8), st.sampled_from(["session", "transaction"]), st.integers(1, 400),
       st.integers(10, 5000), workloads)
def test_a_recommended_plan_through_pgbouncer_is_never_unsafe(instances, workers, mode, max_client_conn,
                                                              default_pool_size, workload):
    plan = Plan(servers=(Server(max_connections=1000),), engines=(Engine(via_pgbouncer=True),),
                deployment=Deployment(instances=instances, workers=workers), workload=workload,
                pgbouncer=PgBouncer(pool_mode=mode, default_pool_size=min(default_pool_size, 900),
                                    max_client_conn=max_client_conn))
    rec = recommend_for_plan(plan)
    for candidate in ([rec.plan] if rec.fits else [a.plan for a in rec.alternatives]):
        assert plan_verdict(candidate) != "unsafe"
        assert not [f for f in static_findings(candidate) if f.id == "pool-overload"], candidate


def test_a_pgbouncer_pool_too_small_for_the_fleets_traffic_does_not_fit():
    plan = Plan(engines=(Engine(via_pgbouncer=True),), deployment=Deployment(instances=5, workers=4, surge=0),
                workload=Workload(rps=1000, hold_ms=50),
                pgbouncer=PgBouncer(default_pool_size=40, max_client_conn=2000))
    rec = recommend_for_plan(plan)
    assert not rec.fits
    assert rec.why == ("PgBouncer: 1000 req/s x 50 ms = 50.0 server connections busy fleet-wide; its pool needs 61 "
                       "for the p99 wait target, it has 40 (default_pool_size x pools)",)
    [alternative] = [a for a in rec.alternatives if a.change == "pgbouncer-settings"]
    assert alternative.summary == ("in pgbouncer.ini: default_pool_size 40 -> 61 (1000 req/s x 50 ms = 50.0 busy "
                                   "fleet-wide)")
    fixed = recommend_for_plan(alternative.plan)
    assert fixed.fits and not [f for f in static_findings(fixed.plan) if f.id == "pool-overload"]


def test_the_pgbouncer_alternative_sizes_its_pool_as_the_sizing_then_checks_it():
    """Two engines on one server, each used by every request: PgBouncer's pool carries both engines' traffic
    (2 x 1000 req/s x 20 ms = 40 busy); sized for one engine only, the alternative would not fit its own check."""
    plan = Plan(servers=(Server(max_connections=200),),
                engines=(Engine(name="primary"), Engine(name="replica", server="primary")),
                deployment=Deployment(instances=10, workers=4), workload=Workload(rps=1000, hold_ms=20))
    rec = recommend_for_plan(plan)
    [alternative] = [a for a in rec.alternatives if a.change == "pgbouncer"]
    assert "default_pool_size 47 (2000 req/s x 20 ms = 40.0 busy connections fleet-wide" in alternative.summary
    assert recommend_for_plan(alternative.plan).fits and plan_verdict(alternative.plan) != "unsafe"
