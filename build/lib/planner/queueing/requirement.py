"""The pool one worker needs: the smallest ``pool_size`` whose predicted p99 checkout wait meets a target.

This is what ``planner.sizing.recommend`` asks by default. Little's law (busy connections = rate x hold)
says how many connections are busy on average, not how long a checkout waits: at 2.5 busy connections an
exponential hold needs 7 to keep p99 under 10 ms, where Little's law x 1.5 gives 4 (p99 58 ms); at 20
busy it needs fewer than Little's law x 1.5. The reason text gives both numbers.

The search is cheap because recommend() runs it once per engine and per alternative it tries: a closed
form (Erlang C, or Allen-Cunneen for other variability) gives the first guess in microseconds; where the
closed form is not accurate enough (constant or skewed holds, see ``predict_wait``), the seeded
simulation checks the guess and its neighbours, usually two runs. Results are memoised per input.
"""

from __future__ import annotations

import math
from functools import lru_cache

from planner.model import InputError, Workload
from planner.queueing import HoldTime, WaitPrediction, erlang, meets_target, predict_wait

DEFAULT_TARGET_P99_MS = 10.0
SIM_ARRIVALS = 30_000
"""Simulated checkouts per candidate pool size (enough for a stable p99; the CLI's ``wait`` uses more)."""
PLANNING_POOL_TIMEOUT_S = 30.0
"""The search asks for a pool that meets the target with SQLAlchemy's default timeout, so timeouts never
decide it (the recommended pool_timeout is set separately, from the request timeout)."""


def workload_hold(workload: Workload) -> HoldTime:
    """The workload's hold-time distribution: its mean ``hold_ms`` (checkout to check-in, as measured) with
    the given variability: ``exp`` unless ``const`` or measured percentiles (a fitted lognormal) are given."""
    percentiles = workload.hold_percentiles
    if percentiles is not None:
        return HoldTime.from_percentiles(workload.hold_ms, *percentiles)
    return HoldTime(workload.hold_ms, workload.hold_dist or "exp")


@lru_cache(maxsize=4096)
def _predict(rate: float, hold: HoldTime, pool_size: int) -> WaitPrediction:
    return predict_wait(rate, hold, pool_size, 0, PLANNING_POOL_TIMEOUT_S, sim_arrivals=SIM_ARRIVALS)


def _closed_form_guess(rate: float, hold: HoldTime, target_p99_ms: float) -> int:
    """Smallest pool whose Allen-Cunneen p99 wait meets the target (exact for exponential holds)."""
    offered = rate * hold.mean / 1000.0

    def meets(size: int) -> bool:
        c_wait, theta = erlang.wait_tail(size, offered, hold.mean, hold.cs2)
        return erlang.wait_quantile(c_wait, theta, 0.99) <= target_p99_ms

    low = max(1, math.floor(offered) + 1)
    if meets(low):
        return low
    step = 1
    while not meets(low + step):  # more connections never wait longer: double, then bisect
        low, step = low + step, step * 2
    high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if meets(middle) else (middle, high)
    return high


@lru_cache(maxsize=4096)
def smallest_pool(rate: float, hold: HoldTime, target_p99_ms: float) -> tuple[int, WaitPrediction]:
    """The smallest pool_size (no overflow) meeting the target, and its prediction. Memoised."""
    floor = max(1, math.floor(rate * hold.mean / 1000.0) + 1)  # below this the pool cannot keep up
    size = _closed_form_guess(rate, hold, target_p99_ms)
    at = _predict(rate, hold, size)
    if at.method != "simulation":
        return size, at  # the closed form answered: the guess is the answer
    if meets_target(at, target_p99_ms):
        while size > floor:
            below = _predict(rate, hold, size - 1)
            if not meets_target(below, target_p99_ms):
                break
            size, at = size - 1, below
        return size, at
    while not meets_target(at, target_p99_ms):
        size += 1
        at = _predict(rate, hold, size)
    return size, at


def pool_requirement(
    per_worker_rps: float,
    hold_ms: float,
    *,
    hold: HoldTime | None = None,
    hold_dist: str = "exp",
    target_p99_ms: float = DEFAULT_TARGET_P99_MS,
):
    """``PoolRequirement`` for ``planner.sizing``: the smallest pool meeting ``target_p99_ms`` of checkout wait.

    ``hold`` is the hold-time distribution (checkout to check-in); without it, ``hold_ms`` with ``hold_dist``
    (``exp`` or ``const``).
    """
    from planner.sizing import DEFAULT_HEADROOM, PoolRequirement, required_pool_size  # sizing imports us lazily

    if not (isinstance(target_p99_ms, int | float) and math.isfinite(target_p99_ms) and target_p99_ms > 0):
        raise InputError("target_p99_wait_ms", f"must be a positive number of milliseconds, got {target_p99_ms!r}")
    if hold is None:
        if hold_dist not in ("exp", "const"):
            raise InputError("hold_dist", f"must be exp or const, got {hold_dist!r}")
        if hold_ms <= 0:
            return required_pool_size(per_worker_rps, hold_ms)
        hold = HoldTime(hold_ms, hold_dist)  # type: ignore[arg-type]
    little = required_pool_size(per_worker_rps, hold.mean)
    if per_worker_rps <= 0:
        return PoolRequirement(1, "pool_size 1: no traffic per worker, so one connection never waits",
                               "queueing")
    size, best = smallest_pool(float(per_worker_rps), hold, float(target_p99_ms))
    offered = per_worker_rps * hold.mean / 1000.0
    note = ("" if size == little.pool_size else
            f"; Little's law x {1 + DEFAULT_HEADROOM:g} would give {little.pool_size}"
            + (f", whose p99 wait would be {_predict(per_worker_rps, hold, little.pool_size).wait_p99_ms:.0f} ms"
               if little.pool_size < size else " (more than needed)"))
    return PoolRequirement(
        size,
        f"pool_size {size}: {per_worker_rps:.4g} req/s per worker x {hold.mean:g} ms held = {offered:.2f} busy "
        f"connections on average; the queueing model ({hold.describe()} hold) needs {size} for p99 checkout wait "
        f"<= {target_p99_ms:g} ms (predicted p99 {best.wait_p99_ms:.1f} ms, P(wait) {best.p_wait:.2f}, "
        f"{best.method}){note}",
        f"queueing:{best.method}",
    )
