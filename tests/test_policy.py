"""One policy object (planner.policy.Thresholds): moving each knob moves the outcome it names, in the verdict,
the static findings and the sizing alike (no module keeps its own copy of a threshold)."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from planner_strategies import plans

from planner.budget import plan_budgets, plan_verdict
from planner.model import Deployment, Engine, Plan, Server, Workload
from planner.policy import DEFAULT_POLICY, Policy, Thresholds
from planner.rules import static_findings
from planner.rules.thresholds import Thresholds as OldThresholds
from planner.sizing import engine_timeouts, recommend

fractions = st.floats(0.01, 1.0)


def test_the_policy_is_one_class_under_both_names():
    assert Policy is Thresholds is OldThresholds


def test_a_plan_with_38_percent_headroom_is_safe_by_default_and_tight_at_half():
    plan = Plan(servers=(Server(max_connections=100),), engines=(Engine(pool_size=5, max_overflow=1),),
                deployment=Deployment(instances=1, workers=10, surge=0))
    (budget,) = plan_budgets(plan)
    assert (budget.usable, budget.rollout_peak) == (97, 60)  # 37 of 97 spare: 38%
    assert plan_verdict(plan) == "safe"
    assert plan_verdict(plan, Thresholds(tight_fraction=0.5)) == "tight"
    warnings = [f for f in static_findings(plan, Thresholds(tight_fraction=0.5)) if f.id == "too-many-connections"]
    assert [f.severity for f in warnings] == ["warning"]
    assert not [f for f in static_findings(plan) if f.id == "too-many-connections"]


@settings(max_examples=150, deadline=None)
@given(plans(), fractions)
def test_tight_fraction_moves_the_verdict_it_names(plan, tight):
    policy = Thresholds(tight_fraction=tight)
    for budget in plan_budgets(plan, policy):
        if budget.rollout_peak is None or budget.usable <= 0 or budget.rollout_peak > budget.usable:
            assert budget.verdict == "unsafe"
        else:
            expected = "tight" if budget.usable - budget.rollout_peak < tight * budget.usable else "safe"
            assert budget.verdict == expected
    assert plan_verdict(plan, Thresholds(tight_fraction=1.0)) in ("tight", "unsafe")


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 0.6), st.integers(1, 6), st.integers(1, 8))
def test_the_sizing_margin_is_the_policys_tight_fraction(tight, instances, workers):
    policy = Thresholds(tight_fraction=tight)
    rec = recommend(Server(max_connections=500), Deployment(instances=instances, workers=workers), policy=policy)
    if rec.fits:
        (budget,) = plan_budgets(rec.plan, policy)
        assert budget.usable - budget.rollout_peak >= math.ceil(tight * budget.usable)
        assert plan_verdict(rec.plan, policy) == "safe"


@settings(max_examples=100, deadline=None)
@given(fractions, st.floats(0.5, 60.0))
def test_pool_timeout_fraction_moves_the_advised_pool_timeout(fraction, request_timeout):
    plan = Plan(workload=Workload(rps=10, hold_ms=5, request_timeout_s=request_timeout))
    policy = dataclasses.replace(DEFAULT_POLICY, pool_timeout_fraction_of_request_timeout=fraction)
    timeout, _ = engine_timeouts(plan, plan.engines[0], policy)
    assert timeout == min(10.0, math.floor(request_timeout * fraction * 10) / 10 if request_timeout * fraction >= 0.1
                          else request_timeout * fraction)


@settings(max_examples=100, deadline=None)
@given(fractions, st.floats(10.0, 7200.0))
def test_recycle_fraction_moves_the_advised_pool_recycle(fraction, idle):
    plan = Plan(servers=(Server(idle_session_timeout_s=idle),))
    policy = dataclasses.replace(DEFAULT_POLICY, recycle_fraction_of_idle_timeout=fraction)
    _, recycle = engine_timeouts(plan, plan.engines[0], policy)
    assert recycle == float(min(1800.0, max(1, math.floor(idle * fraction))))
