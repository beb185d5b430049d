"""Predicted pool wait for one worker process: P(wait), wait percentiles, timeouts and open connections.

Inputs are per worker process (one event loop, one engine): the arrival rate, the hold time (checkout to
check-in, see ``holdtime``), ``pool_size``, ``max_overflow``, ``pool_timeout`` and the time to open a new
connection. Closed forms answer where they hold (no overflow, utilisation below 1, a timeout that almost
never fires, exponential-like hold times); a seeded simulation of SQLAlchemy's pool answers everywhere
else (overload, timeouts, constant or skewed holds, overflow with connect time and churn). ``method``
says which one answered. A checkout counts as waited when it took more than 1 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner import ids
from planner.model import Finding, InputError
from planner.queueing import erlang
from planner.queueing.holdtime import (
    DEFAULT_CHECKOUT_OVERHEAD_MS,
    DEFAULT_CONNECT_MS,
    PRE_PING_OVERHEAD_MS,
    HoldTime,
)
from planner.queueing.simulate import WAITED_MS, quantile, simulate

__all__ = [
    "DEFAULT_CHECKOUT_OVERHEAD_MS",
    "DEFAULT_CONNECT_MS",
    "OVERLOAD_ID",
    "PRE_PING_OVERHEAD_MS",
    "WAITED_MS",
    "HoldTime",
    "WaitPrediction",
    "meets_target",
    "overload_finding",
    "predict_wait",
]

OVERLOAD_ID = ids.POOL_OVERLOAD
"""Finding id: arrivals x hold time exceed the pool's ceiling; waits grow until pool_timeout fires."""
CLOSED_FORM_CS2 = (0.75, 1.5)
"""Hold-time variability (cs^2) for which Allen-Cunneen's P(wait) stays within ~0.02 of the simulation."""
NEGLIGIBLE_TIMEOUTS = 1e-4
MAX_TIMEOUT_RATE = 1e-3
"""A pool that meets a wait target must also time out fewer than this share of checkouts."""
SIM_ARRIVALS = 100_000


@dataclass(frozen=True, slots=True)
class WaitPrediction:
    """What one worker's pool will do under the workload. Times in ms; rates are fractions of checkouts."""

    utilisation: float
    """Offered load / (pool_size + max_overflow): rate x mean hold / ceiling. >= 1 is overload."""
    p_wait: float
    """P(a checkout takes more than 1 ms): queued for a connection or opening a new one."""
    wait_mean_ms: float
    wait_p50_ms: float
    wait_p95_ms: float
    wait_p99_ms: float
    timeout_rate: float
    """Fraction of checkouts that raise ``sqlalchemy.exc.TimeoutError`` after ``pool_timeout``."""
    open_mean: float
    """Mean open connections (what the server sees from this process)."""
    open_p99: float
    method: str
    """``erlang-c``, ``allen-cunneen`` (closed forms) or ``simulation``."""
    offered: float
    """rate x mean hold: the mean number of connections checked out (Little's law)."""
    connects_per_s: float = 0.0
    """New connections opened per second by overflow churn (0 with max_overflow=0 after warm-up)."""

    def as_dict(self) -> dict[str, object]:
        """The JSON the CLI prints (these keys exactly)."""
        return {
            "utilisation": round(self.utilisation, 4),
            "p_wait": round(self.p_wait, 4),
            "wait_ms": {
                "mean": round(self.wait_mean_ms, 3),
                "p50": round(self.wait_p50_ms, 3),
                "p95": round(self.wait_p95_ms, 3),
                "p99": round(self.wait_p99_ms, 3),
            },
            "timeout_rate": round(self.timeout_rate, 4),
            "open_connections": {"mean": round(self.open_mean, 2), "p99": self.open_p99},
            "method": self.method,
        }


def _check(rate_per_s: float, pool_size: int, max_overflow: int, pool_timeout_s: float, connect_ms: float) -> None:
    if isinstance(rate_per_s, bool) or not isinstance(rate_per_s, int | float) or not math.isfinite(rate_per_s):
        raise InputError("rps", f"must be a finite number, got {rate_per_s!r}")
    if rate_per_s < 0:
        raise InputError("rps", f"must be 0 or more requests per second, got {rate_per_s:g}")
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise InputError("pool_size", f"must be a whole number of at least 1, got {pool_size!r}")
    if isinstance(max_overflow, bool) or not isinstance(max_overflow, int) or max_overflow < 0:
        raise InputError(
            "max_overflow",
            f"must be a whole number of at least 0 (-1, unbounded, has no ceiling to plan for), got {max_overflow!r}",
        )
    if not (isinstance(pool_timeout_s, int | float) and math.isfinite(pool_timeout_s) and pool_timeout_s > 0):
        raise InputError("pool_timeout", f"must be a positive number of seconds, got {pool_timeout_s!r}")
    if not (isinstance(connect_ms, int | float) and math.isfinite(connect_ms) and connect_ms >= 0):
        raise InputError("connect_ms", f"must be 0 or more milliseconds, got {connect_ms!r}")


def _closed_form_method(hold: HoldTime, max_overflow: int, utilisation: float) -> str | None:
    if max_overflow or utilisation >= 1:
        return None
    if hold.shape == "exp" and hold.shift_ms == 0:
        return "erlang-c"
    low, high = CLOSED_FORM_CS2
    return "allen-cunneen" if low <= hold.cs2 <= high else None


def predict_wait(
    rate_per_s: float,
    hold: HoldTime,
    pool_size: int,
    max_overflow: int = 0,
    pool_timeout_s: float = 30.0,
    connect_ms: float = DEFAULT_CONNECT_MS,
    *,
    handoff_ms: float = 0.0,
    sim_arrivals: int = SIM_ARRIVALS,
    seed: int = 1,
    force_simulation: bool = False,
) -> WaitPrediction:
    """Predict one worker's pool under Poisson arrivals at ``rate_per_s`` holding for ``hold``.

    ``handoff_ms``: how long a connection checked in to a waiting task sits until the event loop resumes
    that task (0 on an idle loop; ~1 ms on a busy shared CPU, see docs/queueing.md). Above 0 it is simulated.
    """
    _check(rate_per_s, pool_size, max_overflow, pool_timeout_s, connect_ms)
    if not (isinstance(handoff_ms, int | float) and math.isfinite(handoff_ms) and handoff_ms >= 0):
        raise InputError("handoff_ms", f"must be 0 or more milliseconds, got {handoff_ms!r}")
    ceiling = pool_size + max_overflow
    offered = rate_per_s * hold.mean / 1000.0
    utilisation = offered / ceiling
    if rate_per_s == 0:
        return WaitPrediction(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, float(pool_size), pool_size, "erlang-c", 0.0)
    method = None if force_simulation or handoff_ms else _closed_form_method(hold, max_overflow, utilisation)
    if method:
        c_wait, theta = erlang.wait_tail(pool_size, offered, hold.mean, hold.cs2)
        timeout_rate = c_wait * math.exp(-theta * pool_timeout_s * 1000.0)
        if timeout_rate < NEGLIGIBLE_TIMEOUTS:
            return WaitPrediction(
                utilisation=utilisation,
                p_wait=c_wait * math.exp(-theta * WAITED_MS),
                wait_mean_ms=c_wait / theta,
                wait_p50_ms=erlang.wait_quantile(c_wait, theta, 0.50),
                wait_p95_ms=erlang.wait_quantile(c_wait, theta, 0.95),
                wait_p99_ms=erlang.wait_quantile(c_wait, theta, 0.99),
                timeout_rate=timeout_rate,
                open_mean=float(pool_size),
                open_p99=pool_size,
                method=method,
                offered=offered,
            )
    sim = simulate(rate_per_s, hold, pool_size, max_overflow, pool_timeout_s, connect_ms, handoff_ms,
                   arrivals=sim_arrivals, seed=seed)
    waits = sim.waits_ms
    waited = sum(1 for w in waits if w > WAITED_MS)
    return WaitPrediction(
        utilisation=utilisation,
        p_wait=waited / len(waits),
        wait_mean_ms=sum(waits) / len(waits),
        wait_p50_ms=quantile(waits, 0.50),
        wait_p95_ms=quantile(waits, 0.95),
        wait_p99_ms=quantile(waits, 0.99),
        timeout_rate=sim.timeouts / len(waits),
        open_mean=sim.open_mean,
        open_p99=sim.open_p99,
        method="simulation",
        offered=offered,
        connects_per_s=sim.connects_per_s,
    )


def meets_target(prediction: WaitPrediction, target_p99_ms: float) -> bool:
    """The target holds: the pool keeps up, p99 wait is within it, and checkouts (almost) never time out."""
    return (prediction.utilisation < 1 and prediction.wait_p99_ms <= target_p99_ms
            and prediction.timeout_rate < MAX_TIMEOUT_RATE)


def overload_finding(
    rate_per_s: float,
    hold: HoldTime,
    pool_size: int,
    max_overflow: int = 0,
    pool_timeout_s: float = 30.0,
    connect_ms: float = DEFAULT_CONNECT_MS,
    *,
    server: str | None = None,
    sim_arrivals: int = 30_000,
) -> Finding | None:
    """A ``pool-overload`` finding when rate x hold reaches the pool's ceiling (utilisation >= 1), with the
    share of checkouts that will raise ``TimeoutError``; None when the pool keeps up."""
    _check(rate_per_s, pool_size, max_overflow, pool_timeout_s, connect_ms)
    ceiling = pool_size + max_overflow
    offered = rate_per_s * hold.mean / 1000.0
    if offered < ceiling:
        return None
    result = predict_wait(rate_per_s, hold, pool_size, max_overflow, pool_timeout_s, connect_ms,
                          sim_arrivals=sim_arrivals)
    needed = math.ceil(offered / 0.8)
    return Finding(
        id=OVERLOAD_ID,
        severity="critical",
        message=(
            f"{rate_per_s:g} req/s x {hold.mean:g} ms hold = {offered:.1f} connections busy on average, "
            f"but one process has at most {pool_size} + {max_overflow} = {ceiling} (utilisation "
            f"{result.utilisation:.2f}): the queue grows until pool_timeout={pool_timeout_s:g}s fires, about "
            f"{result.timeout_rate:.0%} of checkouts ({result.timeout_rate * rate_per_s:.1f}/s) will raise "
            f"sqlalchemy.exc.TimeoutError"
        ),
        fix=(
            f"Give each process at least {needed} connections (utilisation 0.8), spread the traffic over more "
            f"workers, or shorten the time a request holds its connection; check the budget still fits."
        ),
        snippet=f"create_async_engine(url, pool_size={needed}, max_overflow=0, pool_timeout={pool_timeout_s:g})",
        server=server,
    )
