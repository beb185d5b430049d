"""What the plan-judging commands share: the --json flag, the result as data, and its text rendering."""

from __future__ import annotations

import argparse
import json

from planner.budget import PgBouncerBudget, ServerBudget, overall_verdict, pgbouncer_budget, plan_budgets
from planner.model import Finding, Plan
from planner.services_report import services_data


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def result_data(plan: Plan, findings: list[Finding]) -> dict[str, object]:
    """``servers`` (name, usable, steady, peak, rollout_peak, headroom, verdict, ...), ``pgbouncer`` (its client
    budget, or null), ``verdict`` (the worst of them), ``findings``."""
    budgets = plan_budgets(plan)
    bouncer = pgbouncer_budget(plan)
    data: dict[str, object] = {
        "servers": [b.as_dict() for b in budgets],
        "pgbouncer": bouncer.as_dict() if bouncer else None,
        "verdict": overall_verdict(budgets, bouncer),
        "findings": [f.as_dict() for f in findings],
    }
    if plan.multi_service:
        data["rollout"] = plan.rollout
        data["services"] = services_data(plan, budgets, findings)
    return data


def render_services(plan: Plan, budgets: tuple[ServerBudget, ...], findings: list[Finding]) -> list[str]:
    """One line per service of a multi-service plan: its deployment and its part of each server."""
    lines = [f"services ({len(plan.services)}, rollout {plan.rollout}):"]
    for row in services_data(plan, budgets, findings):
        parts = "; ".join(f"{server} steady {share['steady']}, peak {share['peak']}, rollout peak "
                          f"{share['rollout_peak']}" for server, share in row["servers"].items()) or "through PgBouncer"
        weight = f", priority {row['priority']:g}" if row["priority"] is not None else ""
        count = len(row["findings"])
        lines.append(f"  {row['name']} ({row['instances']} instances x {row['workers']} workers{weight}): {parts}; "
                     f"{count} finding{'s' if count != 1 else ''} of its own")
    return lines


def dumps(data: object) -> str:
    return json.dumps(data, indent=2)


def render_budget(budget: ServerBudget | PgBouncerBudget) -> list[str]:
    name = budget.name if isinstance(budget, ServerBudget) else f"PgBouncer (in front of {budget.server})"
    return [f"{name}: {budget.verdict.upper()}", *(f"  {line}" for line in budget.explanation)]


def render_findings(findings: list[Finding]) -> list[str]:
    if not findings:
        return ["findings: none"]
    lines = [f"findings ({len(findings)}):"]
    for f in findings:
        about = f" [{f.service}]" if f.service else ""
        lines.append(f"  {f.severity} {f.id}{about}: {f.message}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
        if f.snippet:
            lines += [f"      {line}" for line in f.snippet.splitlines()]
    return lines


def render_result(plan: Plan, findings: list[Finding]) -> str:
    budgets = plan_budgets(plan)
    bouncer = pgbouncer_budget(plan)
    lines: list[str] = []
    for budget in (*budgets, *([bouncer] if bouncer else [])):
        lines += render_budget(budget)
    if plan.multi_service:
        lines += render_services(plan, budgets, findings)
    lines.append(f"verdict: {overall_verdict(budgets, bouncer)}")
    lines += render_findings(findings)
    return "\n".join(lines)
