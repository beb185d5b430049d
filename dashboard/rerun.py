"""What one rerun of the page computes from the plan, computed once and handed to every panel.

The verdict, the "Recommended" expander, the pitfalls panel and the export tabs all show the same plan: the
static findings (``planner.rules.static_findings``) and the recommendation (``planner.sizing.recommend_for_plan``)
are computed here once per rerun, and the export receives the findings instead of judging the plan again
(tests/test_app_computes_once.py counts the calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.exports_view import ExportFile, export_files
from dashboard.planview import PlanView, evaluate, recommendation
from planner.model import InputError, Plan
from planner.sizing import Recommendation


@dataclass(frozen=True)
class RerunView:
    """One rerun's judgement of the plan: what the verdict, recommendation, pitfalls and export panels draw."""

    view: PlanView
    """Budgets, verdict and the static findings (one ``static_findings`` pass)."""
    recommendation: Recommendation | None
    """None when the planner cannot size these inputs (``recommendation_error`` says why)."""
    recommendation_error: InputError | None
    exports: tuple[ExportFile, ...]
    """Every export tab, the JSON one with ``view.findings`` (not a second pass)."""

    @property
    def plan(self) -> Plan:
        return self.view.plan


def judge(plan: Plan) -> RerunView:
    """Everything the page shows about a plan, each from its one function, each computed once."""
    view = evaluate(plan)
    try:
        rec, rec_error = recommendation(plan), None
    except InputError as err:
        rec, rec_error = None, err
    return RerunView(view, rec, rec_error, tuple(export_files(plan, view.findings)))
