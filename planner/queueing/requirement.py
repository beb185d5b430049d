"""Compatibility alias: the pool one worker needs moved to ``planner.sizing.requirement`` (which no longer
imports the sizing back). ``from planner.queueing.requirement import pool_requirement, smallest_pool,
workload_hold`` keeps working; no logic lives here."""

from planner.sizing.requirement import (
    DEFAULT_TARGET_P99_MS,
    PLANNING_POOL_TIMEOUT_S,
    SIM_ARRIVALS,
    _predict,
    pool_requirement,
    smallest_pool,
    workload_hold,
)

__all__ = ["DEFAULT_TARGET_P99_MS", "PLANNING_POOL_TIMEOUT_S", "SIM_ARRIVALS", "_predict", "pool_requirement",
           "smallest_pool", "workload_hold"]
