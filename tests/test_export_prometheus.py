"""The alert rules and the Grafana dashboard from any plan (pure): one headroom rule per server, one
over-plan rule per bounded planned service, thresholds as the plan's own numbers, and every metric they read
is one the collector exports and docs/metrics.md documents."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from hypothesis import given, settings
from planner_strategies import plans

from planner.budget import plan_budgets
from planner.export_prometheus import alert_rules, grafana_dashboard, prometheus_rules, service_ceilings, tight_margin
from planner.rules.thresholds import DEFAULT_THRESHOLDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "metrics.md").read_text()
EMITTED = set(re.findall(r'f"\{P\}_([a-z_0-9]+)"', (ROOT / "dashboard" / "live" / "metrics.py").read_text()))
EMITTED |= {f"probe_{n}" for n in ("checked_out", "idle", "overflow", "waiting", "pool_size")}
METRIC = re.compile(r"\bpool_planner_([a-z_0-9]+)")


def documented(name: str) -> bool:
    return f"`pool_planner_{name}`" in DOCS or f"`pool_planner_{name}_total`" in DOCS or (
        name.startswith("probe_") and "`pool_planner_probe_checked_out`, `_idle`" in DOCS)


@settings(max_examples=60, deadline=None)
@given(plans())
def test_rules_follow_the_plan_and_read_only_exported_metrics(plan):
    rules = alert_rules(plan, for_s=30)
    budgets = plan_budgets(plan)
    headroom = [r for r in rules if r.alert == "PoolPlannerHeadroomTight"]
    assert [dict(r.labels)["server"] for r in headroom] == [b.name for b in budgets]
    for rule, budget in zip(headroom, budgets, strict=True):
        margin = tight_margin(budget.usable)
        assert margin == max(1, math.ceil(DEFAULT_THRESHOLDS.tight_fraction * budget.usable))
        assert rule.expr.endswith(f"< {margin}")
    over = {(dict(r.labels)["server"], dict(r.labels)["service"]): r for r in rules
            if r.alert == "PoolPlannerServiceOverPlan"}
    assert set(over) == set(service_ceilings(plan))
    for key, peak in service_ceilings(plan).items():
        assert over[key].expr.endswith(f"> {peak}")
    text = prometheus_rules(plan, for_s=30)
    assert text.count("- alert: ") == len(rules)
    grafana = json.loads(grafana_dashboard(plan))
    exprs = [r.expr for r in rules] + [t["expr"] for p in grafana["panels"] for t in p["targets"]]
    names = {m for expr in exprs for m in METRIC.findall(expr)}
    assert names <= EMITTED and all(documented(n) for n in names), names - EMITTED


def test_every_exported_metric_is_documented():
    assert EMITTED and [n for n in sorted(EMITTED) if not documented(n)] == []
