"""Per-service rows of a multi-service plan's result (the ``services`` key of ``--json`` and of the JSON export)."""

from __future__ import annotations

from planner.budget import ServerBudget
from planner.model import Finding, Plan


def services_data(plan: Plan, budgets: tuple[ServerBudget, ...], findings: list[Finding]) -> list[dict[str, object]]:
    """Per service of a multi-service plan: its deployment, its part of each server it uses, its findings' ids."""
    out = []
    for service in plan.services:
        dep = service.deployment
        out.append({
            "name": service.name,
            "priority": service.priority,
            "instances": dep.instances, "workers": dep.workers, "autoscale_max": dep.autoscale_max,
            "surge_instances": dep.surge_instances,
            "servers": {b.name: share.as_dict() for b in budgets for share in b.shares
                        if share.service == service.name},
            "findings": [f.id for f in findings if f.service == service.name],
        })
    return out
