"""A plan judged for the verdict panel: budgets, verdict, arithmetic, static findings, headline figures,
the recommendation and its one-line summary (all from ``planner``).

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.budget import VERDICT_ORDER, PgBouncerBudget, ServerBudget, overall_verdict, pgbouncer_budget, plan_budgets
from planner.model import Finding, InputError, Plan
from planner.rules import static_findings
from planner.sizing import Recommendation, recommend_for_plan
from planner.text import visible


@dataclass(frozen=True)
class PlanView:
    """What the verdict, budget, findings and export panels show for one set of inputs."""

    plan: Plan
    budgets: tuple[ServerBudget, ...]
    verdict: str
    headroom: int | None
    """The smallest headroom over all servers (None: a pool is unbounded)."""
    arithmetic: str
    """The planner's own sentences for the tightest server, in one line."""
    findings: tuple[Finding, ...]
    tightest: ServerBudget
    """The server with the least headroom: the one the headline numbers describe."""
    bouncer: PgBouncerBudget | None = None
    """PgBouncer's client budget, when an engine goes through it."""

    @property
    def verdict_line(self) -> str:
        """The verdict box's text: the headroom of whatever decides the verdict, a server or PgBouncer."""
        b = self.bouncer
        if b is not None and VERDICT_ORDER[b.verdict] > VERDICT_ORDER[self.tightest.verdict]:
            limit = "server connections, session mode" if b.limited_by_server_connections else "max_client_conn"
            return (f"**{self.verdict.upper()}** · PgBouncer headroom {fmt(b.headroom)} at rollout peak "
                    f"({fmt(b.clients_rollout_peak)} clients, limit {b.limit}: {limit})")
        return f"**{self.verdict.upper()}** · headroom {fmt(self.headroom)} at rollout peak"


def evaluate(plan: Plan) -> PlanView:
    """Budgets, verdict and static findings of a plan (all from ``planner``)."""
    budgets = plan_budgets(plan)
    worst = min(budgets, key=lambda b: float("-inf") if b.headroom is None else b.headroom)
    arithmetic = " · ".join(
        line for line in worst.explanation if line.startswith(("rollout peak", "headroom", "peak = unbounded"))
    )
    arithmetic = f"{worst.name}: {arithmetic}" if len(budgets) > 1 else arithmetic
    bouncer = pgbouncer_budget(plan)
    if bouncer is not None:
        arithmetic += " · PgBouncer: " + " · ".join(line for line in bouncer.explanation
                                                   if line.startswith(("client rollout peak", "headroom")))
    return PlanView(
        plan=plan, budgets=budgets, verdict=overall_verdict(budgets, bouncer), headroom=worst.headroom,
        arithmetic=arithmetic, findings=tuple(static_findings(plan)), tightest=worst, bouncer=bouncer,
    )


def fmt(value: int | None) -> str:
    """A budget figure for display: None is an unbounded pool."""
    return "unbounded" if value is None else f"{value:,}"


def headline_metrics(view: PlanView) -> list[tuple[str, str]]:
    """The six numbers under the verdict, for the tightest server (all from ``planner.budget``)."""
    b = view.tightest
    return [
        ("Usable slots", fmt(b.usable)),
        ("Steady", fmt(b.steady)),
        ("Peak", fmt(b.peak)),
        ("Rollout peak", fmt(b.rollout_peak)),
        ("Headroom", fmt(b.headroom)),
        ("Lesson's rule", fmt(b.lesson_rule_total)),
    ]


METRIC_HELP: dict[str, str] = {
    "Lesson's rule": "pool_size × processes: what the lesson compares with max_connections (it leaves out "
                     "max_overflow, the reserved slots, other clients and rollouts)",
}
"""Tooltips of the headline figures whose label alone would be too long for its column."""


def plan_lines(budget: ServerBudget) -> dict[str, float | None]:
    """The horizontal lines the live chart draws for one server (the planner's figures)."""
    return {
        "steady": budget.steady,
        "peak": budget.peak,
        "rollout peak": budget.rollout_peak if budget.rollout_peak != budget.peak else None,
        "usable": budget.usable,
        "max_connections": budget.max_connections,
    }


def inline_error(error: InputError) -> str:
    """The one-line message the page shows for a bad combination of inputs."""
    return f"Cannot build this plan: {error}"


def recommendation(plan: Plan) -> Recommendation:
    """``planner.sizing.recommend_for_plan``: pool settings that fit, each number with its reason."""
    return recommend_for_plan(plan)


def recommendation_summary(rec: Recommendation) -> str:
    """One line: the recommended numbers, or that nothing fits."""
    if not rec.fits:
        return "Nothing fits as deployed: " + "; ".join(a.summary for a in rec.alternatives)
    if len(rec.services) > 1:  # a shared server: every service's pools, sized together
        return " · ".join(f"{visible(s.service)}: " + ", ".join(
            f"{a.name} {a.pool_size}+{a.max_overflow}" for a in s.engines) + f" x {s.workers} workers"
            for s in rec.services)
    parts = [f"{a.name}: pool_size={a.pool_size}, max_overflow={a.max_overflow}, pool_timeout={a.pool_timeout:g}, "
             f"pool_recycle={a.pool_recycle:g}, pool_pre_ping={a.pool_pre_ping}" for a in rec.engines]
    return f"{rec.workers} workers · " + " · ".join(parts)
