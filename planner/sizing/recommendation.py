"""``recommend()``: pool settings that fit the rollout peak into the usable slots with a margin, and meet
the workload's concurrency, with one sentence of arithmetic per number.

When nothing fits, the result says why (typed shortfalls, with their sentences) and lists the smallest changes
that would fit (``alternatives``), each with the plan it implies: never a silent best effort.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from planner.budget import overall_verdict, pgbouncer_budget, plan_budgets
from planner.model import Deployment, Engine, InputError, PgBouncer, Plan, Server, Workload
from planner.policy import DEFAULT_HEADROOM, DEFAULT_POLICY, Policy
from planner.sizing.alternatives import alternatives as find_alternatives
from planner.sizing.fit import Attempt, attempt, timeouts
from planner.sizing.requirement import RequirementModel, requirement_model
from planner.sizing.results import Recommendation
from planner.sizing.shared import SharedSizer, recommend_shared


@dataclass(frozen=True)
class Sizer:
    """One sizing setup (margin, per-worker requirement, policy): ``run`` tries a plan, ``size`` recommends."""

    margin: float
    model: RequirementModel
    policy: Policy = DEFAULT_POLICY

    def run(self, plan: Plan) -> Attempt:
        return attempt(plan, self.margin, self.model, self.policy)

    def size(self, plan: Plan) -> Recommendation:
        """The recommendation for ``plan`` without alternatives (what the alternatives try)."""
        return _recommend(plan, self, alternatives=False)


def recommend(
    servers: Server | Sequence[Server],
    deployment: Deployment,
    workload: Workload | None = None,
    *,
    engines: Sequence[Engine] | None = None,
    pgbouncer: PgBouncer | None = None,
    lb_idle_timeout_s: float | None = None,
    margin: float | None = None,
    headroom: float = DEFAULT_HEADROOM,
    requirement: RequirementModel | None = None,
    model: str = "queueing",
    hold_dist: str | None = None,
    target_p99_ms: float | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Recommendation:
    """Pool settings for every engine (default: one engine per server, ``primary`` then the server names) that
    keep the rollout peak at least ``margin`` (default: the policy's ``tight_fraction``) below each server's
    usable slots and give each worker the pool its traffic needs. Workers stay as deployed; fewer workers is
    offered as an alternative when nothing fits.

    ``model="queueing"`` (the default) sizes each pool as the smallest that meets the workload's p99
    checkout-wait target (``Workload.target_p99_wait_ms``, 10 ms) for its hold-time distribution
    (planner.queueing); ``hold_dist`` and ``target_p99_ms`` override the workload's. ``model="littles-law"``
    sizes by busy connections x (1 + ``headroom``). ``requirement`` replaces both with any callable."""
    server_tuple = (servers,) if isinstance(servers, Server) else tuple(servers)
    if not server_tuple:
        raise InputError("servers", "at least one server is needed")
    margin = policy.tight_fraction if margin is None else margin
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        raise InputError("margin", f"must be a fraction between 0 and 1, got {margin!r}")
    if engines is None:
        engines = tuple(Engine(name="primary" if i == 0 else s.name, server=s.name, pool_size=1, max_overflow=0)
                        for i, s in enumerate(server_tuple))  # pool numbers are placeholders: sizing sets them
    workload = _override(workload, hold_dist, target_p99_ms)
    if requirement is None:
        requirement = requirement_model(model, workload, headroom)
    template = Plan(servers=server_tuple, engines=tuple(engines), deployment=deployment, workload=workload,
                    pgbouncer=pgbouncer, lb_idle_timeout_s=lb_idle_timeout_s)
    return _recommend(template, Sizer(margin, requirement, policy))


def _override(workload: Workload | None, hold_dist: str | None, target_p99_ms: float | None) -> Workload | None:
    if workload is None or (hold_dist is None and target_p99_ms is None):
        return workload
    overrides: dict[str, object] = {}
    if hold_dist is not None:
        overrides.update(hold_dist=hold_dist, hold_p50_ms=None, hold_p95_ms=None, hold_p99_ms=None)
    if target_p99_ms is not None:
        overrides["target_p99_wait_ms"] = target_p99_ms
    return dataclasses.replace(workload, **overrides)


def recommend_for_plan(plan: Plan, **kwargs) -> Recommendation:
    """``recommend`` for the servers, engines, deployment, workload and PgBouncer of an existing plan.

    The one source of advised pool numbers: the ``recommend`` command, ``export --recommended``, the fixes and
    snippets of ``check``'s findings and the dashboard's "Recommended" all call this with the plan they judge.
    Without keyword arguments the result is cached per plan (a plan is immutable), so the rules that quote it
    cost one sizing per plan, not one per finding.

    A plan with several services is sized together (``planner.sizing.shared``): each service from its own
    workload, a shared server split between them by load or priority when their full pools do not fit."""
    if plan.multi_service:
        return _recommend_multi(plan, **kwargs)
    if not kwargs:
        try:
            return _recommend_cached(plan)
        except TypeError:  # an unhashable value inside the plan: size it uncached
            pass
    return recommend(plan.servers, plan.deployment, plan.workload, engines=plan.engines, pgbouncer=plan.pgbouncer,
                     lb_idle_timeout_s=plan.lb_idle_timeout_s, **kwargs)


def _recommend_multi(plan: Plan, *, margin: float | None = None, model: str = "queueing",
                     headroom: float = DEFAULT_HEADROOM, policy: Policy = DEFAULT_POLICY,
                     hold_dist: str | None = None, target_p99_ms: float | None = None,
                     littles_law: frozenset[str] = frozenset()) -> Recommendation:
    margin = policy.tight_fraction if margin is None else margin
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        raise InputError("margin", f"must be a fraction between 0 and 1, got {margin!r}")
    if hold_dist is not None or target_p99_ms is not None:
        plan = plan.with_services(tuple(dataclasses.replace(s, workload=_override(s.workload, hold_dist,
                                                                                   target_p99_ms))
                                        for s in plan.services))
    sizer = SharedSizer(float(margin), model, headroom, policy, frozenset(littles_law))
    try:
        return _shared_cached(plan, sizer)
    except TypeError:  # an unhashable value inside the plan: size it uncached
        return recommend_shared(plan, sizer)


@lru_cache(maxsize=256)
def _shared_cached(plan: Plan, sizer: SharedSizer) -> Recommendation:
    return recommend_shared(plan, sizer)


@lru_cache(maxsize=256)
def _recommend_cached(plan: Plan) -> Recommendation:
    return recommend(plan.servers, plan.deployment, plan.workload, engines=plan.engines, pgbouncer=plan.pgbouncer,
                     lb_idle_timeout_s=plan.lb_idle_timeout_s)


def engine_timeouts(plan: Plan, engine: Engine, policy: Policy = DEFAULT_POLICY) -> tuple[float, float]:
    """``(pool_timeout, pool_recycle)`` the planner advises for an engine, from the request and idle timeouts
    alone (the same numbers ``recommend`` gives, whether or not the pools fit)."""
    pool_timeout, _, pool_recycle, _ = timeouts(plan, engine, policy)
    return pool_timeout, pool_recycle


def _fitted_rollout(plan: Plan, policy: Policy) -> str:
    budgets = plan_budgets(plan, policy)
    rollout = "; ".join(f"{b.name} {b.rollout_peak} of {b.usable} usable ({b.verdict})" for b in budgets)
    bouncer = pgbouncer_budget(plan, policy)
    if bouncer is not None:
        rollout += (f"; PgBouncer {bouncer.clients_rollout_peak} clients of {bouncer.limit} "
                    f"({'server connections' if bouncer.limited_by_server_connections else 'max_client_conn'}, "
                    f"{bouncer.verdict})")
    assert overall_verdict(budgets, bouncer) != "unsafe", budgets  # the sizing's own invariant
    return rollout


def _recommend(template: Plan, sizer: Sizer, *, alternatives: bool = True) -> Recommendation:
    tried = sizer.run(template)
    dep = template.deployment
    if tried.fits:
        plan = dataclasses.replace(template, engines=tuple(tried.engines))
        rollout = _fitted_rollout(plan, sizer.policy)
        reasons = [*tried.reasons, f"workers {dep.workers}: as deployed; rollout peak {rollout}"]
        for advice in tried.advice:
            reasons += [f"{advice.name}: {r}" for r in advice.reasons]
        return Recommendation(True, plan, tuple(tried.advice), dep.workers, tuple(reasons))
    alts = find_alternatives(template, tried, sizer) if alternatives else ()
    return Recommendation(False, None, (), dep.workers, tuple(tried.reasons),
                          tuple(w.sentence for w in tried.shortfalls), alts, tuple(tried.shortfalls))
