"""How long the planner takes per call (what a dashboard slider move or a CI check pays).

recommend() memoises the queueing model's pool search, so a repeated call is cheaper than the first call for
new numbers (a slider moved to a new value): "cold" rows clear those caches before every call.

The last table is a dashboard slider move on a plan with several services: one service's rps moved to a value
not seen before (its pool search runs cold, the other services' are memoised, as on the page), then the page's
work for the new plan: budgets + static findings + the recommendation. 50 services x 10 servers against the
same move on a single-service plan, with exponential holds (closed form, no simulation) and constant holds (the
queueing simulation checks the moved service's pools). Targets: <= 20 ms without the simulation, <= 200 ms with it.

Run: python benchmarks/planner_speed.py. Prints the median of several repeats per operation (and, for the slider
table, the best and the median of the moves: on a machine shared with other jobs the best is the code's cost).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.budget import plan_budgets
from planner.config import load_plan
from planner.export import FORMATS, export
from planner.model import Deployment, Engine, PgBouncer, Plan, Server, Service, Workload
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


def fleet(hold_dist: str | None, services: int = 50, servers: int = 10) -> Plan:
    """``services`` services spread over ``servers`` servers; every third one also reads half its traffic from the
    next server (a replica engine)."""
    rows = []
    for i in range(services):
        home = f"db{i % servers}"
        engines = (Engine(name="primary", server=home, pool_size=4, max_overflow=2, application_name=f"svc{i}"),)
        if i % 3 == 0 and servers > 1:
            engines += (Engine(name="replica", server=f"db{(i + 1) % servers}", replica=True, pool_size=3,
                               max_overflow=1, traffic_share=0.5),)
        rows.append(Service(name=f"svc{i}", engines=engines, deployment=Deployment(instances=2 + i % 3, workers=2),
                            workload=Workload(rps=50 + 7 * i, hold_ms=5 + i % 7, hold_dist=hold_dist,
                                              request_timeout_s=30)))
    return Plan(servers=tuple(Server(name=f"db{i}", max_connections=400, other_clients=5) for i in range(servers)),
                services=tuple(rows))


_MOVES = itertools.count(1)


def slider_move(plan: Plan) -> Plan:
    """The first service's rps moved to a value not seen before."""
    first = plan.services[0]
    moved = dataclasses.replace(first.workload, rps=50 + next(_MOVES) * 0.37)
    return plan.with_services((dataclasses.replace(first, workload=moved), *plan.services[1:]))


def page_work(plan: Plan) -> None:
    plan_budgets(plan)
    static_findings(plan)
    recommend_for_plan(plan)


def move_ms(plan: Plan, moves: int = 25) -> tuple[float, float, float]:
    """(best wall, median wall, median CPU) ms of ``moves`` slider moves, each on a new plan, after one warm-up of
    the base plan. The CPU time (this process's) leaves out the waits for a core on a machine shared with other
    jobs, which the wall-clock median includes."""
    page_work(plan)
    wall, cpu = [], []
    for _ in range(moves):
        moved = slider_move(plan)
        start, start_cpu = time.perf_counter(), time.process_time()
        page_work(moved)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return min(wall), statistics.median(wall), statistics.median(cpu)


def slider_table() -> None:
    print()
    print("slider move: budgets + findings + recommendation; ms as best wall / median wall / median CPU")
    print(f"{'':<34} {'1 service x 1 server':>26} {'50 services x 10 servers':>28} {'target':>8}")
    for label, dist, target in (("exponential holds (closed form)", None, 20), ("constant holds (simulation)",
                                                                                 "const", 200)):
        single = "{:.1f} / {:.1f} / {:.1f}".format(*move_ms(fleet(dist, services=1, servers=1)))
        many = "{:.1f} / {:.1f} / {:.1f}".format(*move_ms(fleet(dist)))
        print(f"{label:<34} {single:>26} {many:>28} {target:>5} ms")


if __name__ == "__main__":
    main()
    slider_table()
