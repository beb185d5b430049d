"""How long the planner takes per call (what a dashboard slider move or a CI check pays).

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
from planner.model import Deployment, Server, Workload
from planner.rules import static_findings
from planner.sizing import recommend, recommend_for_plan

PLAN = load_plan(Path(__file__).resolve().parent.parent / "examples" / "plan.toml")


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
        "recommend_for_plan (fits)": lambda: recommend_for_plan(PLAN),
        "recommend, nothing fits (+ 3 alternatives)": lambda: recommend(
            Server(), Deployment(instances=10, workers=4), Workload(rps=2000, hold_ms=20)),
        "recommend, nothing fits, 64 workers (fewer-workers search)": lambda: recommend(
            Server(), Deployment(instances=10, workers=64), Workload(rps=20000, hold_ms=20)),
        **{f"export {fmt}": (lambda fmt=fmt: export(PLAN, fmt)) for fmt in FORMATS if fmt != "pgbouncer"},
    }
    print(f"{'operation':<62} {'median µs/call':>15}")
    for name, fn in cases.items():
        print(f"{name:<62} {median_us(fn, number=50 if 'nothing fits' in name else 200):>15.0f}")


if __name__ == "__main__":
    main()
