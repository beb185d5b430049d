"""The wait chart's points: predicted p99 checkout wait against pool_size (``planner.queueing``).

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

import math
from functools import lru_cache

import pandas as pd

from dashboard.inputs import PRIMARY
from planner.model import Plan
from planner.queueing import predict_wait
from planner.queueing.requirement import SIM_ARRIVALS, workload_hold

WAIT_CURVE_SIM_ARRIVALS = SIM_ARRIVALS
"""Simulated checkouts per point of the wait chart: the recommendation's own (``planner.queueing.requirement``),
so the chart and the recommended pool read p99 from the same simulation size (the CLI's ``wait`` uses more)."""


def wait_curve(plan: Plan, engine_name: str = PRIMARY, *, points: int = 30) -> pd.DataFrame:
    """Predicted p99 checkout wait of one worker process against pool_size (max_overflow as planned).

    Every value comes from ``planner.queueing.predict_wait``; an unbounded pool or no workload gives an
    empty frame.
    """
    columns = ["pool_size", "p99_wait_s", "timeout_rate", "utilisation", "method"]
    engine = next(e for e in plan.engines if e.name == engine_name)
    if plan.workload is None or engine.unbounded or plan.workload.hold_ms <= 0:
        return pd.DataFrame(columns=columns)
    rate = plan.workload.engine_rps(plan.deployment, engine)
    hold = workload_hold(plan.workload)  # hold_ms is checkout to check-in: the pool's own cost is in it
    last = max(engine.pool_size + 2, math.ceil(rate * hold.mean / 1000 * 1.5) + 3, 8)
    sizes = {max(1, round(1 + i * (last - 1) / (points - 1))) for i in range(points)}
    sizes = sorted(sizes | {max(engine.pool_size, 1)})
    rows = []
    for size in sizes:
        p = _wait_point(rate, hold, size, engine.max_overflow, engine.pool_timeout or 0.001)
        rows.append((size, p.wait_p99_ms / 1000, p.timeout_rate, p.utilisation, p.method))
    return pd.DataFrame(rows, columns=columns)


@lru_cache(maxsize=2048)
def _wait_point(rate: float, hold, pool_size: int, max_overflow: int, pool_timeout: float):
    """One point of the wait chart, memoised: a slider that does not change the per-worker load or the pool
    (max_connections, surge, the replica) reuses every point, and moving pool_size computes only new ones;
    a simulated point costs tens of milliseconds."""
    return predict_wait(rate, hold, pool_size, max_overflow, pool_timeout, sim_arrivals=WAIT_CURVE_SIM_ARRIVALS)


def wait_caption(plan: Plan, curve: pd.DataFrame, engine_name: str = PRIMARY) -> str:
    """One line under the wait chart: the current pool's predicted p99 and the per-worker load behind it."""
    engine = next(e for e in plan.engines if e.name == engine_name)
    row = curve[curve["pool_size"] == engine.pool_size].iloc[0]
    rate = plan.workload.engine_rps(plan.deployment, engine) if plan.workload else 0.0
    return (
        f"pool_size {engine.pool_size} (max_overflow {engine.max_overflow}): predicted p99 wait "
        f"{row.p99_wait_s * 1000:.1f} ms, {row.timeout_rate:.1%} of checkouts time out, utilisation "
        f"{row.utilisation:.2f} ({row.method}); per worker {rate:.3g} req/s"
    )
