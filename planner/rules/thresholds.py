"""Compatibility alias: the policy object moved to ``planner.policy`` (one policy for budget, sizing and rules).

``from planner.rules.thresholds import Thresholds, DEFAULT_THRESHOLDS`` keeps working; no logic lives here.
"""

from planner.policy import DEFAULT_THRESHOLDS, Thresholds

__all__ = ["DEFAULT_THRESHOLDS", "Thresholds"]
