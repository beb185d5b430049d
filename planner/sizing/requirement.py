"""The pool one worker needs: the smallest ``pool_size`` whose predicted p99 checkout wait meets a target.

This is what ``planner.sizing.recommend`` asks by default (``pool_requirement``); ``required_pool_size`` is
Little's law x (1 + headroom). Little's law (busy connections = rate x hold)
says how many connections are busy on average, not how long a checkout waits: at 2.5 busy connections an
exponential hold needs 7 to keep p99 under 10 ms, where Little's law x 1.5 gives 4 (p99 58 ms); at 20
busy it needs fewer than Little's law x 1.5. The reason text gives both numbers.

The search is cheap because recommend() runs it once per engine and per alternative it tries: a closed
form (Erlang C, or Allen-Cunneen for other variability) gives the first guess in microseconds; where the
closed form is not accurate enough (constant or skewed holds, see ``predict_wait``), the seeded
simulation checks the guess and its neighbours, usually two runs. Results are memoised per input.

This module absorbed ``planner.queueing.requirement`` (now a compatibility alias of it): the requirement and the
sizing no longer import each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from planner.model import Engine, InputError, PgBouncer, Workload
from planner.policy import DEFAULT_HEADROOM
from planner.queueing import HoldTime, WaitPrediction, erlang, meets_target, predict_wait


@dataclass(frozen=True, slots=True)
class PoolRequirement:
    """The smallest pool_size one worker needs for its traffic, and the sentence that shows why."""

    pool_size: int
    reason: str
    method: str = "littles-law"
    """Which model answered (``littles-law``; a queueing model names itself)."""


RequirementModel = Callable[[float, float], PoolRequirement]


def required_pool_size(per_worker_rps: float, hold_ms: float, *, headroom: float = DEFAULT_HEADROOM) -> PoolRequirement:
    """Little's law: busy connections = arrival rate x hold time; the pool gets ``headroom`` more, at least 1."""
    if headroom < 0:
        raise InputError("headroom", f"must be at least 0, got {headroom:g}")
    busy = per_worker_rps * hold_ms / 1000.0
    size = max(1, math.ceil(busy * (1 + headroom) - 1e-9))
    return PoolRequirement(
        size,
        f"pool_size {size}: Little's law gives {per_worker_rps:.4g} req/s per worker x {hold_ms:g} ms held = "
        f"{busy:.2f} busy connections on average; x {1 + headroom:g} headroom, rounded up (at least 1) = {size}",
    )



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
) -> PoolRequirement:
    """``PoolRequirement`` for ``planner.sizing``: the smallest pool meeting ``target_p99_ms`` of checkout wait.

    ``hold`` is the hold-time distribution (checkout to check-in); without it, ``hold_ms`` with ``hold_dist``
    (``exp`` or ``const``).
    """
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


SIZING_MODELS = ("queueing", "littles-law")


def requirement_model(model: str, workload: Workload | None, headroom: float) -> RequirementModel:
    """The per-worker requirement callable ``recommend`` uses for ``model``."""
    if model == "littles-law":
        return partial(required_pool_size, headroom=headroom)
    if model != "queueing":
        raise InputError("model", f"must be one of {', '.join(SIZING_MODELS)}, got {model!r}")
    if workload is None or workload.hold_ms <= 0:
        return partial(required_pool_size, headroom=headroom)
    return partial(pool_requirement, hold=workload_hold(workload), target_p99_ms=workload.target_p99_wait_ms)


def pgbouncer_pool_need(bouncer: PgBouncer | None, engines: Sequence[Engine], workload: Workload | None,
                        requirement: RequirementModel | None = None):
    """PgBouncer's server pool serves the whole fleet's transactions, like one pool for all of it:
    ``(req/s through it, busy connections, the pool the model sizes for it)``; the engines through it are those
    with ``via_pgbouncer`` on its server. None without PgBouncer, an engine through it or a workload, and in
    session mode (there the clients, not the traffic, decide)."""
    routed = [e for e in engines if e.via_pgbouncer and (bouncer is None or e.server == bouncer.server)]
    if bouncer is None or workload is None or not routed or bouncer.pool_mode == "session" or workload.hold_ms <= 0:
        return None
    fleet_rps = sum(workload.rps * e.traffic_share for e in routed)  # a request may use each routed engine
    requirement = requirement or requirement_model("queueing", workload, DEFAULT_HEADROOM)
    return fleet_rps, fleet_rps * workload.hold_ms / 1000.0, requirement(fleet_rps, workload.hold_ms)

