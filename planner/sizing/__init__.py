"""The sizing: pool settings that fit, with one sentence of arithmetic per number, or why nothing fits and the
smallest changes that would.

One way down: ``recommendation`` (``recommend``, ``recommend_for_plan``) -> ``alternatives`` -> ``fit`` (one
attempt, typed ``Shortfall``s) -> ``requirement`` (the pool one worker needs: the queueing model's smallest pool
for a p99 checkout-wait target, or Little's law) -> ``results`` (the typed results). Thresholds come from
``planner.policy``. The names below are this package's public interface (``from planner.sizing import ...``).
"""

from planner.policy import BURST_FRACTION, DEFAULT_HEADROOM
from planner.sizing.fit import (
    DEFAULT_MAX_OVERFLOW,
    DEFAULT_PGBOUNCER_POOL,
    DEFAULT_POOL_RECYCLE_S,
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_TIMEOUT_S,
)
from planner.sizing.recommendation import Sizer, engine_timeouts, recommend, recommend_for_plan
from planner.sizing.requirement import (
    SIZING_MODELS,
    PoolRequirement,
    RequirementModel,
    pgbouncer_pool_need,
    pool_requirement,
    required_pool_size,
)
from planner.sizing.results import Alternative, EngineAdvice, Limit, Recommendation, Shortfall

__all__ = [
    "BURST_FRACTION",
    "DEFAULT_HEADROOM",
    "DEFAULT_MAX_OVERFLOW",
    "DEFAULT_PGBOUNCER_POOL",
    "DEFAULT_POOL_RECYCLE_S",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_POOL_TIMEOUT_S",
    "SIZING_MODELS",
    "Alternative",
    "EngineAdvice",
    "Limit",
    "PoolRequirement",
    "Recommendation",
    "RequirementModel",
    "Shortfall",
    "Sizer",
    "engine_timeouts",
    "pgbouncer_pool_need",
    "pool_requirement",
    "recommend",
    "recommend_for_plan",
    "required_pool_size",
]
