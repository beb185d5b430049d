"""``autoscale-exceeds-budget``: the autoscaler's maximum, not a rollout, takes the plan over the server's slots.

Apart from ``rollout-surge`` because the fixes differ: deploying with ``maxSurge: 0`` removes the surge
instances, not the ones the autoscaler adds. What helps is fewer instances at most (the HPA's
``maxReplicas``), smaller pools per process, or PgBouncer in front (the server then holds PgBouncer's pool,
however many pods run).
"""

from __future__ import annotations

import dataclasses

from planner import ids
from planner.budget import ServerBudget
from planner.model import Finding, Plan


def autoscale_peak(plan: Plan, budget: ServerBudget) -> int | None:
    """Connections at the autoscaling maximum outside a rollout (None: unbounded)."""
    if budget.per_process_peak is None:
        return None
    return plan.deployment.autoscale_processes * budget.per_process_peak + budget.pgbouncer_connections


def _largest_max_replicas(plan: Plan, budget: ServerBudget, allowed: int) -> int | None:
    """The largest autoscaling maximum whose rollout peak (surge included) stays within ``allowed``; None when
    even no autoscaling does not fit."""
    dep = plan.deployment
    per_process = budget.per_process_peak or 0
    best = None
    for n in range(dep.instances, dep.max_instances):
        trial = dataclasses.replace(dep, autoscale_max=n)
        if trial.rollout_processes * per_process + budget.pgbouncer_connections <= allowed:
            best = n
    return best


def autoscale_finding(plan: Plan, budget: ServerBudget, terms: str, allowed: int) -> Finding:
    """The finding, with the three fixes sized from the plan's own numbers."""
    dep = plan.deployment
    name, usable = budget.name, budget.usable
    peak = autoscale_peak(plan, budget)
    bouncer = f" + {budget.pgbouncer_connections} via PgBouncer" if budget.pgbouncer_connections else ""
    n = _largest_max_replicas(plan, budget, allowed)
    per_process = max(allowed - budget.pgbouncer_connections, 0) // max(dep.rollout_processes, 1)
    fixes = []
    if n is not None:
        fixes.append(f"lower the autoscaler's maximum to {n} instances (HPA maxReplicas: {n}; rollout peak then "
                     f"within {allowed})")
    if per_process >= 1:
        fixes.append(f"cap each process at {per_process} connections (pool_size + max_overflow) on {name}, so "
                     f"{dep.rollout_processes} processes at the maximum with their rollout surge fit")
    fixes.append("put PgBouncer in front (transaction mode): the server then holds its default_pool_size "
                 "connections however many pods the autoscaler runs (python -m planner recommend sizes it)")
    snippet = ("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n"
               f"  minReplicas: {dep.instances}\n  maxReplicas: {n}") if n is not None else ""
    return Finding(
        ids.AUTOSCALE_EXCEEDS_BUDGET, "critical",
        f"{name}: fits at {dep.instances} instances ({budget.processes} processes: {budget.peak} <= {usable} usable), "
        f"but the autoscaler may run {dep.max_instances}: {dep.max_instances} instances x {dep.workers} workers x "
        f"{terms}{bouncer} = {peak} > {usable} (and {budget.rollout_peak} during a rollout at that size); "
        f"maxSurge 0 would not help, the growth is the autoscaler's",
        "; or ".join(fixes),
        snippet, name,
    )


def _rollout_surge(plan: Plan, budget: ServerBudget, terms: str, instances: int, fits: str) -> Finding:
    dep = plan.deployment
    at = dataclasses.replace(dep, instances=instances, autoscale_max=None)
    rollout = at.rollout_processes * (budget.per_process_peak or 0) + budget.pgbouncer_connections
    bouncer = f" + {budget.pgbouncer_connections} via PgBouncer" if budget.pgbouncer_connections else ""
    return Finding(
        ids.ROLLOUT_SURGE, "critical",
        f"{budget.name}: fits {fits} ({at.processes} processes: "
        f"{at.processes * (budget.per_process_peak or 0) + budget.pgbouncer_connections} <= {budget.usable} usable) "
        f"but not while a rolling deploy overlaps old and new instances: ({instances} instances + "
        f"{at.surge_instances} surge) x {dep.workers} workers x {terms}{bouncer} = {rollout} > {budget.usable}",
        "lower the pools so the rollout peak fits, or deploy with maxSurge 0 / maxUnavailable >= 1 "
        "(old pods stop before new ones start)",
        "strategy:\n  rollingUpdate:\n    maxSurge: 0\n    maxUnavailable: 1", budget.name,
    )


def growth_findings(plan: Plan, budget: ServerBudget, terms: str, allowed: int) -> list[Finding]:
    """For a plan whose peak fits but whose rollout peak does not: ``autoscale-exceeds-budget`` when the
    autoscaler's maximum alone is too much, ``rollout-surge`` when the surge is (on top of the autoscaling
    maximum when that fits, else on top of the steady instances): each with the fix that helps it."""
    dep, usable = plan.deployment, budget.usable
    if (autoscale_peak(plan, budget) or 0) <= usable:
        fits = "in steady state" + (" and at the autoscaling maximum" if dep.max_instances > dep.instances else "")
        return [_rollout_surge(plan, budget, terms, dep.max_instances, fits)]
    out = [autoscale_finding(plan, budget, terms, allowed)]
    steady = dataclasses.replace(dep, autoscale_max=None)
    if steady.rollout_processes * (budget.per_process_peak or 0) + budget.pgbouncer_connections > usable:
        out.append(_rollout_surge(plan, budget, terms, dep.instances, "in steady state"))  # the surge alone too
    return out


__all__ = ["autoscale_finding", "autoscale_peak", "growth_findings"]
