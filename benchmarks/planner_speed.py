"""How long the planner takes per call (what a dashboard slider move or a CI check pays).

recommend() memoises the queueing model's pool search, so a repeated call is cheaper than the first call for
new numbers (a slider moved to a new value): "cold" rows clear those caches before every call.

Run: python benchmarks/planner_speed.py. Prints the median of several repeats per operation.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.budget import plan_budgets
from planner.config import load_plan
from planner.export import FORMATS, export
from planner.model import Deployment, Engine, PgBouncer, Plan, Server, Workload
from planner.rules import static_findings
from planner.sizing import recommend, recommend_for_plan, recommendation, requirement

PLAN = load_plan(Path(__file__).resolve().parent.parent / "examples" / "plan.toml")
BOUNCED = Plan(engines=(Engine(via_pgbouncer=True),), deployment=Deployment(instances=5, workers=4),
               workload=Workload(rps=1000, hold_ms=20), pgbouncer=PgBouncer(default_pool_size=40, max_client_conn=2000))


def cold(fn):
    """``fn`` with the queueing model's memoised searches cleared first (what new slider values pay)."""

    def call():
        requirement.smallest_pool.cache_clear()
        requirement._predict.cache_clear()
        recommendation._recommend_cached.cache_clear()  # recommend_for_plan's per-plan cache (the fixes use it)
        return fn()

    return call


def median_us(fn, repeats: int = 7, number: int = 200) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def main() -> None:
    cases = {
        "plan_budgets (primary + replica)": lambda: plan_budgets(PLAN),
        "static_findings (primary + replica, URLs)": lambda: static_findings(PLAN),
        "static_findings, cold (its budget fixes size the plan)": cold(lambda: static_findings(PLAN)),
        "recommend_for_plan (fits), memoised": lambda: recommend_for_plan(PLAN),
        "recommend_for_plan (fits), cold": cold(lambda: recommend_for_plan(PLAN)),
        "recommend, constant holds, cold (simulation)": cold(lambda: recommend(
            Server(), Deployment(instances=2, workers=4), Workload(rps=400, hold_ms=20, hold_dist="const"))),
        "recommend, measured (lognormal) holds, cold (simulation)": cold(lambda: recommend(
            Server(), Deployment(instances=2, workers=4),
            Workload(rps=400, hold_ms=20, hold_p50_ms=12, hold_p95_ms=60, hold_p99_ms=120))),
        "recommend through PgBouncer (fleet pool sized too), cold": cold(lambda: recommend_for_plan(BOUNCED)),
        "recommend, nothing fits (+ 3 alternatives), cold": cold(lambda: recommend(
            Server(), Deployment(instances=10, workers=4), Workload(rps=2000, hold_ms=20))),
        "recommend, nothing fits, 64 workers (fewer-workers search), cold": cold(lambda: recommend(
            Server(), Deployment(instances=10, workers=64), Workload(rps=20000, hold_ms=20))),
        **{f"export {fmt}": (lambda fmt=fmt: export(PLAN, fmt)) for fmt in FORMATS if fmt != "pgbouncer"},
    }
    print(f"{'operation':<66} {'median µs/call':>15}")
    for name, fn in cases.items():
        print(f"{name:<66} {median_us(fn, number=10 if 'cold' in name else 200):>15.0f}")


if __name__ == "__main__":
    main()
