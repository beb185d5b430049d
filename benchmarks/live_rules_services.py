"""What judging the live rules costs with several services: the dashboard's pitfalls panel runs
``tracked_live_findings`` over the last 10 minutes of 1 s samples at every refresh (no cache), the collector once
per tick with its per-sample cache.

Both plans are judged on the same 600 hand-built samples of 24 application groups (orders-1..8, billing-1..4,
search, reports, 10 unplanned clients). Each case runs in a subprocess for this tree and for a baseline tree
(default /work/main: the code before the per-service rules), so the figures print side by side. A baseline that
cannot run a case (no ``planner.attribution`` there) prints "-".

Run: python benchmarks/live_rules_services.py [--baseline /work/main] [--repeats 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("rules, 1 service, 600 samples", "rules, 4 services, 600 samples", "rules, 4 services, latest only",
         "attribute_counts(), 4 services, 1 sample")


def _samples(n: int = 600):
    from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

    settings = ServerSettings(max_connections=200, superuser_reserved_connections=3, reserved_connections=0,
                              idle_in_transaction_session_timeout_ms=0, idle_session_timeout_ms=0, ssl=False,
                              server_version_num=160002, can_see_all=True, role="monitor")
    names = ([f"orders-{i}" for i in range(1, 9)] + [f"billing-{i}" for i in range(1, 5)] + ["search", "reports"]
             + [f"cron-{c}" for c in "abcdefghij"])
    t0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
    groups = tuple(ActivityGroup("app", "app", name, "10.0.0.5", state, None, 2, 0, oldest_backend_s=30.0)
                   for name in names for state in ("idle",))
    return [Snapshot("primary", t0 + timedelta(seconds=i), "ok", groups, settings, 1) for i in range(n)]


def _plans():
    from planner.model import Deployment, Engine, Plan, Server, Service

    server = Server(max_connections=200, other_clients=5)
    one = Plan(servers=(server,), engines=(Engine(application_name="orders", pool_size=2, max_overflow=1),),
               deployment=Deployment(instances=4, workers=2))
    try:
        services = (Service("orders", (Engine(application_name="orders", pool_size=2, max_overflow=1),),
                            Deployment(instances=4, workers=2)),
                    Service("billing", (Engine(pool_size=2, max_overflow=0),), Deployment(instances=2, workers=2)),
                    Service("search", (Engine(application_name="search", pool_size=2),), Deployment()),
                    Service("reports", (Engine(pool_size=1, max_overflow=0),), Deployment()))
        many = Plan(servers=(server,), services=services)
    except TypeError:
        many = None
    return one, many


def _median_ms(fn, repeats: int, number: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1000)
    return statistics.median(runs)


def measure(repeats: int) -> dict[str, float | None]:
    """Run in the tree on sys.path: every case's median in ms (None: the tree cannot run it)."""
    from planner.rules.live import tracked_live_findings

    samples = _samples()
    one, many = _plans()
    found: dict[str, float | None] = {
        CASES[0]: _median_ms(lambda: tracked_live_findings(one, samples), repeats, 3),
        CASES[1]: _median_ms(lambda: tracked_live_findings(many, samples), repeats, 3) if many else None,
        CASES[2]: _median_ms(lambda: tracked_live_findings(many, samples[-1:]), repeats, 50) if many else None,
    }
    try:
        from planner.attribution import attribute_counts
    except ImportError:
        found[CASES[3]] = None
    else:
        pairs = [(g.application_name, g.count) for g in samples[-1].groups]
        found[CASES[3]] = _median_ms(lambda: attribute_counts(many, pairs), repeats, 2000)
    return found


def _run(root: Path, repeats: int) -> dict[str, float | None]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, __file__, "--measure", str(root), "--repeats", str(repeats)], env=env,
                         capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="/work/main")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, args.measure)
        print(json.dumps(measure(args.repeats)))
        return
    rounds: dict[str, list[dict]] = {"base": [], "ours": []}
    for _ in range(args.rounds):  # alternated, so a burst of load from elsewhere hits both sides
        rounds["base"].append(_run(Path(args.baseline), args.repeats))
        rounds["ours"].append(_run(ROOT, args.repeats))

    def cell(side: str, case: str) -> str:
        values = [r[case] for r in rounds[side] if r.get(case) is not None]
        return f"{statistics.median(values):10.3f}" if values else f"{'-':>10}"

    print(f"{'case (median ms per call, ' + str(args.rounds) + ' rounds)':46} {'baseline':>10} {'this tree':>10}")
    for case in CASES:
        print(f"{case:46} {cell('base', case)} {cell('ours', case)}")


if __name__ == "__main__":
    main()
