"""The pool one worker needs for a p99 checkout-wait target: what ``planner.sizing.recommend`` asks when the
hold-time distribution is known. Little's law (with headroom) stays the answer whenever it already meets the
target; the queueing model only ever raises it."""

from __future__ import annotations

import math

from planner.model import InputError
from planner.queueing import HoldTime, predict_wait, smallest_pool_for_target

DEFAULT_TARGET_P99_MS = 10.0


def pool_requirement(
    per_worker_rps: float,
    hold_ms: float,
    *,
    hold_dist: str = "exp",
    target_p99_ms: float = DEFAULT_TARGET_P99_MS,
    headroom: float | None = None,
):
    """``PoolRequirement`` for ``planner.sizing``: max(Little's law x headroom, smallest pool meeting the target).

    ``hold_ms`` is checkout to check-in (the workload's figure); ``hold_dist`` is ``exp`` or ``const``.
    """
    from planner.sizing import DEFAULT_HEADROOM, PoolRequirement, required_pool_size  # sizing imports us lazily

    base = required_pool_size(per_worker_rps, hold_ms, headroom=DEFAULT_HEADROOM if headroom is None else headroom)
    if per_worker_rps <= 0 or hold_ms <= 0:
        return base
    if hold_dist not in ("exp", "const"):
        raise InputError("hold_dist", f"must be exp or const, got {hold_dist!r}")
    hold = HoldTime(hold_ms, hold_dist)  # type: ignore[arg-type]
    at_base = predict_wait(per_worker_rps, hold, base.pool_size, sim_arrivals=30_000)
    target = f"p99 checkout wait <= {target_p99_ms:g} ms"
    if at_base.utilisation < 1 and at_base.wait_p99_ms <= target_p99_ms and at_base.timeout_rate < 1e-3:
        return PoolRequirement(
            base.pool_size, f"{base.reason}; the queueing model ({hold.describe()} hold) predicts p99 wait "
            f"{at_base.wait_p99_ms:.1f} ms, within {target_p99_ms:g} ms", base.method,
        )
    offered = per_worker_rps * hold_ms / 1000.0
    ceiling = max(base.pool_size, math.ceil(offered + 10 * math.sqrt(offered) + 20))
    size = smallest_pool_for_target(per_worker_rps, hold, target_p99_ms, max_pool=ceiling)
    if size is None:  # cannot happen for a positive target; keep Little's law and say so
        return PoolRequirement(base.pool_size, f"{base.reason}; no pool up to {ceiling} meets {target}", base.method)
    best = predict_wait(per_worker_rps, hold, size, sim_arrivals=30_000)
    return PoolRequirement(
        size,
        f"pool_size {size}: the queueing model ({hold.describe()} hold, {per_worker_rps:.4g} req/s per worker) "
        f"needs {size} for {target} (predicted p99 {best.wait_p99_ms:.1f} ms, P(wait) {best.p_wait:.2f}); "
        f"Little's law x {1 + (DEFAULT_HEADROOM if headroom is None else headroom):g} gives {base.pool_size}, "
        f"whose p99 wait would be {at_base.wait_p99_ms:.0f} ms",
        f"queueing:{best.method}",
    )
