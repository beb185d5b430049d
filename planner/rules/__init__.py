"""Pitfall rules: pure functions from a plan (static) or a plan plus live samples (``live``) to Findings.

Ids are those of the table in docs/pitfalls.md; thresholds from ``thresholds.Thresholds``. Live rules live in
``planner.rules.live`` (imported from there, not re-exported here, so this package loads without them).
"""

from planner.rules.static import sort_findings, static_findings
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = ["DEFAULT_THRESHOLDS", "Thresholds", "sort_findings", "static_findings"]
