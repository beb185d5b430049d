"""Sizing several services on shared servers (``planner.sizing.shared`` through ``recommend_for_plan``): full pools
when they fit, a weighted fair share (by load or priority) when only the least fits, which service to cut when
nothing does; and ``live observe``'s shared recommendation (``recommend_observed_services``)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from planner_strategies import shared_plans

from planner.budget import plan_budgets, usable_slots
from planner.model import Deployment, Engine, Plan, Server, Service, Workload
from planner.observe import ProbeWindow, observe_service
from planner.observe_sizing import recommend_observed, recommend_observed_services
from planner.plan_io import load_plan
from planner.sizing import recommend, recommend_for_plan
from planner.sizing.fit import spare
from planner.sizing.shared import advice_of, cut_text

ROOT = Path(__file__).resolve().parent.parent
SERVICES = load_plan(ROOT / "examples" / "services.toml")


def two_services(max_connections: int, priority_a: float | None = None, priority_b: float | None = None,
                 rollout: str = "together") -> Plan:
    """A: 200 req/s x 10 ms, B: 400 req/s x 20 ms; each 1 instance x 2 workers, no surge, on one server.
    By Little's law x 1.5: A per worker 100 x 0.010 = 1 busy -> pool 2, overflow 1 (least 2, full 3 per process);
    B per worker 200 x 0.020 = 4 busy -> pool 6, overflow 3 (least 6, full 9)."""
    dep = Deployment(instances=1, workers=2, surge=0)
    return Plan(servers=(Server(max_connections=max_connections),), rollout=rollout, services=(
        Service("a", (Engine(),), dep, Workload(rps=200, hold_ms=10), priority_a),
        Service("b", (Engine(),), dep, Workload(rps=400, hold_ms=20), priority_b),
    ))


def given_of(rec, server: str = "primary") -> dict[str, int]:
    split = next(s for s in rec.splits if s.server == server)
    return {p.service: p.given for p in split.parts}


def test_full_pools_when_they_fit():
    # usable 100 - 3 = 97, spare ceil(9.7) = 10, allowed 87 >= 2 x 3 + 2 x 9 = 24
    rec = recommend_for_plan(two_services(100), model="littles-law")
    assert rec.fits and given_of(rec) == {"a": 6, "b": 18}
    assert [(a.pool_size, a.max_overflow) for a in advice_of(rec, "a")] == [(2, 1)]
    assert [(a.pool_size, a.max_overflow) for a in advice_of(rec, "b")] == [(6, 3)]
    assert rec.splits[0].rule == "wanted"


def test_split_by_load_when_only_the_least_fits():
    # usable 23 - 3 = 20, spare 2, allowed 18: least 2 x 2 + 2 x 6 = 16 fits, full 24 does not.
    # Weights by load: a 200 x 10 ms = 2 erlangs, b 400 x 20 ms = 8. Water-filling by rollout connections per unit
    # of weight: b's next step (2 x 7 / 8 = 1.75) is below a's (2 x 3 / 2 = 3): b gets the 2 left.
    rec = recommend_for_plan(two_services(23), model="littles-law")
    assert rec.fits and rec.splits[0].rule == "load"
    assert given_of(rec) == {"a": 4, "b": 14}
    assert [(a.pool_size, a.max_overflow) for a in advice_of(rec, "b")] == [(6, 1)]
    assert plan_budgets(rec.plan)[0].rollout_peak == 18


def test_priority_when_any_service_sets_one():
    # a priority 3, b priority 1: a's next step (2 x 3 / 3 = 2) is below b's (2 x 7 / 1 = 14): a gets the 2 left
    rec = recommend_for_plan(two_services(23, priority_a=3, priority_b=1), model="littles-law")
    assert rec.splits[0].rule == "priority" and given_of(rec) == {"a": 6, "b": 12}
    # a priority alone on a: b counts as priority 1
    assert given_of(recommend_for_plan(two_services(23, priority_a=3), model="littles-law")) == {"a": 6, "b": 12}


def test_nothing_fits_names_the_service_to_cut():
    # usable 18 - 3 = 15, spare 2, allowed 13 < least 16: 3 too many. By load the largest part goes first: b
    # (12 connections) by 3, i.e. 1 of its 2 rollout processes (6 each)
    rec = recommend_for_plan(two_services(18), model="littles-law")
    assert not rec.fits and rec.plan is None
    assert [(c.service, c.connections, c.processes) for c in rec.cuts] == [("b", 3, 1)]
    assert cut_text(rec.cuts[0]).startswith("cut b by 3 connections at rollout peak on primary: 1 fewer of its 2")
    # by priority the lowest goes first: a (4 connections, 2 per process) by 3 = both of its processes
    low_a = recommend_for_plan(two_services(18, priority_a=1, priority_b=3), model="littles-law")
    assert [(c.service, c.connections, c.processes) for c in low_a.cuts] == [("a", 3, 2)]
    assert "all of them: move it off the server" in cut_text(low_a.cuts[0])
    # and the max_connections that would fit everyone's least: 16 allowed needs usable 18 (18 - ceil(1.8) = 16)
    [alt] = low_a.alternatives
    assert alt.change == "max-connections" and "primary max_connections 18 -> 21" in alt.summary


def test_one_at_a_time_counts_only_the_largest_surge():
    """With surges: a 2 instances x 1 worker + 1 surge, b 2 x 1 + 1. Together: 3 x 3 + 3 x 9 = 36 at full pools;
    one at a time: 2 x 3 + 2 x 9 + the largest surge (b's 9) = 33."""
    dep = Deployment(instances=2, workers=1, surge=1)
    base = two_services(100)
    services = tuple(dataclasses.replace(s, deployment=dep) for s in base.services)
    together = base.with_services(services)
    one = dataclasses.replace(together, rollout="one-at-a-time")
    assert plan_budgets(recommend_for_plan(together, model="littles-law").plan)[0].rollout_peak == 36
    assert plan_budgets(recommend_for_plan(one, model="littles-law").plan)[0].rollout_peak == 33
    assert recommend_for_plan(one, model="littles-law").splits[0].rollout_peak == 33


def test_examples_services_hand_computed():
    """examples/services.toml: primary allowed 187 - ceil(18.7) = 168, 15 of them PgBouncer's. Full pools:
    orders-api (3 + 1) x 2 = 8 rollout processes x (3 + 2) = 40 (66.7 req/s x 12 ms per worker needs 3 for p99
    <= 10 ms); billing-worker (2 + 1) x 1 = 3 x (5 + 3) = 24 (20 req/s x 50 ms = 1 busy needs 5); reconcile-cron,
    no workload, SQLAlchemy's 5 + 10 = 15; rollout peak 40 + 24 + 15 + 15 = 94. Replica: search-api (3 + 2) x 4
    = 20 x (2 + 1) = 60 of 192 - 20 = 172."""
    rec = recommend_for_plan(SERVICES)
    assert rec.fits
    assert given_of(rec, "primary") == {"orders-api": 40, "billing-worker": 24, "reconcile-cron": 15}
    assert [(s.server, s.allowed, s.pgbouncer, s.rollout_peak) for s in rec.splits] == [
        ("primary", 168, 15, 94), ("replica", 172, 0, 60)]
    pools = {s.service: [(a.pool_size, a.max_overflow) for a in s.engines] for s in rec.services}
    assert pools == {"orders-api": [(3, 2)], "billing-worker": [(5, 3)], "reconcile-cron": [(5, 10)],
                     "search-api": [(2, 1)], "reports-api": [(4, 2)]}
    assert rec.pool_size == 3  # the first service's, as Plan.engines is
    data = rec.as_dict()
    assert {"fits", "pool_size", "engines", "plan"} <= data.keys() and len(data["services"]) == 5


def test_examples_services_on_a_smaller_primary_split_by_priority():
    """primary max_connections 90: usable 77, spare 8, allowed 69, PgBouncer 15: 54 for the direct pools. Least:
    8 x 3 + 3 x 5 + 1 x 1 = 40; full 40 + 24 + 15 = 79 > 54: split by priority (orders-api 3, the others 1)."""
    primary = dataclasses.replace(SERVICES.servers[0], max_connections=90)
    plan = dataclasses.replace(SERVICES, servers=(primary, SERVICES.servers[1]))
    rec = recommend_for_plan(plan)
    split = rec.splits[0]
    assert rec.fits and split.rule == "priority" and split.rollout_peak <= 69
    assert sum(p.given for p in split.parts) + 15 == split.rollout_peak
    assert all(p.least <= p.given <= p.wanted for p in split.parts)


SINGLE = Plan(engines=(Engine(),), deployment=Deployment(instances=3, workers=4),
              workload=Workload(rps=600, hold_ms=20))


def test_a_single_service_plan_is_sized_as_before():
    rec = recommend_for_plan(SINGLE)
    before = recommend(SINGLE.servers, SINGLE.deployment, SINGLE.workload, engines=SINGLE.engines)
    assert rec == before and rec.services == () and "services" not in rec.as_dict()


workloads = st.builds(Workload, rps=st.floats(1, 3000), hold_ms=st.floats(1, 200))


@settings(max_examples=40, deadline=None)
@given(shared_plans())
def test_a_fitting_shared_recommendation_never_exceeds_any_server(plan):
    rec = recommend_for_plan(plan)
    if not rec.fits:
        assert rec.shortfalls and rec.plan is None
        return
    for budget in plan_budgets(rec.plan):
        allowed = budget.usable - spare(budget.usable, 0.10)
        assert budget.rollout_peak is not None and budget.rollout_peak <= allowed, budget.explanation
        assert budget.verdict != "unsafe"
    for split in rec.splits:
        assert all(p.least <= p.given <= p.wanted for p in split.parts)


@settings(max_examples=30, deadline=None)
@given(st.integers(20, 400), st.floats(0.5, 5), st.floats(0.5, 5), workloads, st.integers(1, 4))
def test_priority_orders_the_shares(max_connections, low, high, workload, workers):
    """Two services alike but for their priority: the higher one never gets less."""
    assume(high > low)
    dep = Deployment(instances=2, workers=workers, surge=1)
    plan = Plan(servers=(Server(max_connections=max_connections),), services=(
        Service("low", (Engine(),), dep, workload, low), Service("high", (Engine(),), dep, workload, high)))
    rec = recommend_for_plan(plan)
    if rec.fits:
        shares = given_of(rec)
        assert shares["high"] >= shares["low"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(workloads, st.integers(1, 4), st.integers(1, 4), st.integers(30, 500)), min_size=2,
                max_size=3))
def test_services_on_servers_of_their_own_are_sized_as_alone(rows):
    """Nothing shared: each service's pools are what the single-service sizing gives it on its server."""
    servers = tuple(Server(name=f"s{i}", max_connections=m) for i, (_, _, _, m) in enumerate(rows))
    services = tuple(Service(f"svc{i}", (Engine(name="main", server=f"s{i}"),),
                             Deployment(instances=n, workers=w), wl) for i, (wl, n, w, _) in enumerate(rows))
    plan = Plan(servers=servers, services=services)
    rec = recommend_for_plan(plan)
    alone = {s.name: recommend_for_plan(plan.service_plan(s.name)) for s in services}
    assert rec.fits == all(a.fits for a in alone.values())
    if rec.fits:
        for service in services:
            assert [(a.pool_size, a.max_overflow) for a in advice_of(rec, service.name)] == \
                [(a.pool_size, a.max_overflow) for a in alone[service.name].engines]


def observed(name: str, rate: float, hold: float, processes: int):
    busy = rate * hold / 1000
    probe = ProbeWindow(checkouts=int(rate * 60), window_s=60.0, hold_sum_ms=int(rate * 60) * hold)
    return observe_service(name, [round(busy)] * 5, [10] * 5, processes=processes, probe=probe)


def test_observe_sizes_every_measured_service_together():
    """orders-api measured at twice its planned rate (800 req/s x 12 ms): 133 req/s per worker x 12 ms = 1.6 busy;
    the others as planned. One shared sizing gives each its pools and the primary's split."""
    obs = [observed("orders-api-3", 800, 12, 6), observed("billing-worker", 40, 50, 2)]
    advice = recommend_observed_services(obs, SERVICES)
    orders = advice["orders-api-3"]
    measured_plan = SERVICES.with_services(tuple(
        dataclasses.replace(s, workload=dataclasses.replace(orders.workload)) if s.name == "orders-api" else s
        for s in SERVICES.services))
    shared = recommend_for_plan(measured_plan.with_services(tuple(
        dataclasses.replace(s, workload=advice["billing-worker"].workload) if s.name == "billing-worker" else s
        for s in measured_plan.services)))
    assert orders.service == "orders-api" and orders.fits
    assert (orders.pool_size, orders.max_overflow) == (advice_of(shared, "orders-api")[0].pool_size,
                                                       advice_of(shared, "orders-api")[0].max_overflow)
    assert orders.splits == shared.splits and orders.splits[0].server == "primary"
    assert orders.p99_wait_ms is not None and orders.p99_wait_ms <= 10 * 1.5
    assert math.isclose(orders.workload.rps, 800, rel_tol=1e-3)
    assert "shared_servers" in orders.as_dict()
    # the one-observation path gives the same sizing for that service
    assert recommend_observed(obs[0], plan=SERVICES).service == "orders-api"


def test_observe_on_a_full_shared_server_says_whom_to_cut():
    tiny = dataclasses.replace(SERVICES.servers[0], max_connections=40)
    plan = dataclasses.replace(SERVICES, servers=(tiny, SERVICES.servers[1]))
    advice = recommend_observed_services([observed("orders-api", 800, 12, 6)], plan)["orders-api"]
    assert not advice.fits and advice.pool_size is None and advice.cuts
    assert usable_slots(tiny) == 27
