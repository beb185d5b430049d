"""Prometheus alert rules and a Grafana dashboard from a plan (pure: text out, no I/O).

``pool-planner export --format prometheus-rules`` and ``--format grafana``. The rules read the collector's
metrics (``pool-planner collect``, docs/metrics.md) and take their thresholds from the plan and the one policy
object (``planner.rules.thresholds``): live headroom below the tight margin, a service over its planned peak,
idle in transaction older than the limit, clients waiting in an application pool or in PgBouncer, a target
that gives no sample, the collector down. The YAML is written by hand (every string JSON-quoted, which YAML
reads as a double-quoted scalar), so no YAML library is needed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from planner.budget import plan_budgets
from planner.model import Plan
from planner.rules.live import _processes, plan_units
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds

METRIC_PREFIX = "pool_planner"
DEFAULT_JOB = "pool-planner"
DEFAULT_FOR_S = 60.0
P = METRIC_PREFIX


def service_ceilings(plan: Plan) -> dict[tuple[str, str], int]:
    """(server, service) -> the most connections the plan allows that service (every process at the
    autoscaling maximum x the ceilings of its engines), as the live ``connection-leak`` rule counts them;
    unbounded engines have no ceiling and are left out. ``service`` is the application_name with one service,
    the service's name with several (the collector's ``service`` label says the same)."""
    ceilings: dict[tuple[str, str], int] = {}
    for server in plan.servers:
        for unit in plan_units(plan, server):
            if not any(e.unbounded for e in unit.engines):
                processes, _ = _processes(unit.deployment)
                ceilings[(server.name, unit.subject)] = processes * sum(e.ceiling or 0 for e in unit.engines)
    return ceilings


@dataclass(frozen=True, slots=True)
class Rule:
    alert: str
    expr: str
    for_s: float
    severity: str
    summary: str
    labels: tuple[tuple[str, str], ...] = ()


def _q(value: str) -> str:
    """A PromQL label value (double-quoted, escaped)."""
    return json.dumps(value)


def free_slots(server: str) -> str:
    """PromQL: usable slots minus client connections on one server (``server`` already quoted); a server with
    no client connection has all its usable slots free."""
    usable = f"sum by (server) ({P}_usable_slots{{server={server}}})"
    return f"{usable} - (sum by (server) ({P}_connections{{server={server}}}) or {usable} * 0)"


def tight_margin(usable: int, th: Thresholds = DEFAULT_THRESHOLDS) -> int:
    """Free slots below which a server is tight: the same share the static verdict uses.

    >>> tight_margin(197)
    20
    """
    return max(1, math.ceil(th.tight_fraction * usable))


def alert_rules(plan: Plan, *, for_s: float = DEFAULT_FOR_S, job: str = DEFAULT_JOB,
                th: Thresholds = DEFAULT_THRESHOLDS) -> list[Rule]:
    """Every alert of the plan, thresholds filled in."""
    rules: list[Rule] = []
    for budget in plan_budgets(plan):
        s, margin = _q(budget.name), tight_margin(budget.usable, th)
        rules.append(Rule(
            "PoolPlannerHeadroomTight",
            f"{free_slots(s)} < {margin}", for_s, "warning",
            f"{budget.name}: fewer than {margin} free slots ({th.tight_fraction:.0%} of the plan's {budget.usable} "
            "usable): the next deploy or burst is refused", (("server", budget.name),)))
    for (server, service), peak in sorted(service_ceilings(plan).items()):
        rules.append(Rule(
            "PoolPlannerServiceOverPlan",
            f"sum by (server, service) ({P}_connections{{server={_q(server)},service={_q(service)}}}) > {peak}",
            for_s, "warning", f"{service} holds more than its planned peak of {peak} connections on {server}: "
            "its pools do not bound it", (("server", server), ("service", service))))
    limit = th.idle_in_transaction_warning_s
    rules += [
        Rule("PoolPlannerIdleInTransaction", f"{P}_idle_in_transaction_oldest_seconds > {limit:g}", 0, "warning",
             f"a session is idle in a transaction for more than {limit:g} s: it holds a slot and its locks"),
        Rule("PoolPlannerPoolWaiters", f"sum by (service, engine) ({P}_probe_waiting) > 0", for_s, "warning",
             "requests wait for a connection in the application's pool"),
        Rule("PoolPlannerPgBouncerWaiters", f"{P}_pgbouncer_clients{{state=\"waiting\"}} > 0",
             max(for_s, th.pgbouncer_waiting_window_s), "warning", "clients wait in PgBouncer for a server connection"),
        Rule("PoolPlannerCriticalFinding", f"{P}_finding{{severity=\"critical\"}} == 1", 0, "critical",
             "the collector reports a critical finding (the id label names it; docs/pitfalls.md)"),
        Rule("PoolPlannerTargetDown", f"{P}_up == 0", for_s, "critical",
             "a server or PgBouncer gives no sample (refused, down, or unreachable)"),
        Rule("PoolPlannerCollectorDown", f"up{{job={_q(job)}}} == 0 or absent(up{{job={_q(job)}}})", for_s,
             "critical", "the pool-planner collector is not scraped: nothing watches the plan"),
    ]
    return rules


def _duration(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


def prometheus_rules(plan: Plan, *, for_s: float = DEFAULT_FOR_S, job: str = DEFAULT_JOB) -> str:
    """A Prometheus rules file (YAML) for the plan."""
    lines = ["# pool-planner alert rules, generated from the plan (pool-planner export --format prometheus-rules)",
             "groups:", "  - name: pool-planner", "    rules:"]
    for rule in alert_rules(plan, for_s=for_s, job=job):
        lines += [f"      - alert: {rule.alert}", f"        expr: {json.dumps(rule.expr)}",
                  f"        for: {_duration(rule.for_s)}", "        labels:",
                  f"          severity: {json.dumps(rule.severity)}"]
        lines += [f"          {key}: {json.dumps(value)}" for key, value in rule.labels]
        lines += ["        annotations:", f"          summary: {json.dumps(rule.summary)}"]
    return "\n".join(lines) + "\n"


def _panel(panel_id: int, title: str, targets: list[tuple[str, str]], y: int, x: int = 0, kind: str = "timeseries",
           unit: str = "short") -> dict:
    return {
        "id": panel_id, "type": kind, "title": title, "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def grafana_dashboard(plan: Plan) -> str:
    """A Grafana dashboard (JSON model) with the panels the alerts watch, for every server of the plan."""
    panels, y = [], 0
    for budget in plan_budgets(plan):
        s = _q(budget.name)
        panels.append(_panel(len(panels) + 1, f"{budget.name}: connections by service vs the plan", [
            (f"sum by (service) ({P}_connections{{server={s}}})", "{{service}}"),
            (f"{P}_usable_slots{{server={s}}}", "usable slots"),
            (f"{P}_plan_connections{{server={s}}}", "plan {{line}}")], y))
        free = [(free_slots(s), "free slots"), (f"{P}_plan_headroom{{server={s}}}", "plan headroom")]
        title = f"{budget.name}: free slots (alert below {tight_margin(budget.usable)})"
        panels.append(_panel(len(panels) + 1, title, free, y, x=12))
        y += 8
    panels += [
        _panel(len(panels) + 1, "Oldest idle in transaction", [
            (f"{P}_idle_in_transaction_oldest_seconds", "{{server}} {{service}}")], y, unit="s"),
        _panel(len(panels) + 2, "Waiting for a connection (pool, PgBouncer)", [
            (f"sum by (service, engine) ({P}_probe_waiting)", "pool {{service}}/{{engine}}"),
            (f"{P}_pgbouncer_clients{{state=\"waiting\"}}", "pgbouncer {{pgbouncer}} {{database}}")], y, x=12),
        _panel(len(panels) + 3, "Sample latency", [(f"{P}_sample_latency_seconds", "{{kind}} {{target}}")],
               y + 8, unit="s"),
        _panel(len(panels) + 4, "Active findings", [(f"{P}_finding == 1", "{{severity}} {{id}} {{server}}")],
               y + 8, x=12, kind="table"),
    ]
    document = {
        "title": "pool-planner", "uid": "pool-planner", "schemaVersion": 39, "version": 1, "editable": True,
        "time": {"from": "now-1h", "to": "now"}, "refresh": "10s", "tags": ["pool-planner", "postgresql"],
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }
    return json.dumps(document, indent=2) + "\n"
