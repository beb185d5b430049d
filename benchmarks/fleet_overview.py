"""The servers' overview at fleet size (issue 19): 10 servers with a history of 1 s samples, 5 services each.

Prints, side by side with the baselines in the same run:
- the overview's data (``dashboard.fleet.fleet_rows``: each server's 15 min sparkline from its ``Timeline``,
  joined with the plan's budgets): the first read (cold: a new session's Timelines read the store) and a live
  refresh (warm: one new sample per server, read incrementally), for 1 and for N servers;
- one AppTest run of a page that draws the overview (``dashboard.fleet_page``: table, sparklines, filter, picker),
  for 1 and N servers, against the same page without the overview (Streamlit's own cost per run).
Target: the live fragment refreshes every 2 s; the overview should cost well under that (<= 250 ms per refresh,
the dashboard's rerun target of issue 6).

    /work/venv/bin/python benchmarks/fleet_overview.py [--servers 10] [--minutes 60] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import fleet  # noqa: E402
from dashboard.live.history import HistoryStore  # noqa: E402
from dashboard.timeline import Timeline  # noqa: E402
from planner.budget import plan_budgets  # noqa: E402
from planner.plan_io import plan_from_toml  # noqa: E402
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot  # noqa: E402

PAGE = Path(__file__).resolve().with_name("fleet_overview_page.py")
SERVICES = 5
SETTINGS = ServerSettings(max_connections=100, superuser_reserved_connections=3, reserved_connections=0,
                          idle_in_transaction_session_timeout_ms=0, idle_session_timeout_ms=0, ssl=False,
                          server_version_num=160002, can_see_all=True)


def server_name(i: int) -> str:
    return f"pg{i:02d}"


def plan_text(servers: int) -> str:
    lines = []
    for i in range(servers):
        lines += ["[[servers]]", f'name = "{server_name(i)}"', "max_connections = 100", ""]
        for j in range(SERVICES):
            lines += ["[[engines]]", f'name = "{server_name(i)}-svc{j}"', f'server = "{server_name(i)}"',
                      "pool_size = 2", "max_overflow = 1", f'application_name = "svc{j}"', ""]
    return "\n".join(lines)


def sample(server: str, taken: datetime, rng: random.Random) -> Snapshot:
    groups = []
    for j in range(SERVICES):
        groups.append(ActivityGroup("app", "app", f"svc{j}", None, "idle", None, rng.randint(1, 4), 0))
        groups.append(ActivityGroup("app", "app", f"svc{j}", None, "active", None, rng.randint(0, 3), 0))
    return Snapshot(server, taken, "ok", tuple(groups), SETTINGS, own_connections=1, latency_ms=0.5)


def fill(path: Path, servers: int, seconds: int, end: datetime) -> None:
    rng = random.Random(19)
    with HistoryStore(path) as store:
        for i in range(seconds):
            for s in range(servers):
                store.append(sample(server_name(s), end - timedelta(seconds=seconds - i), rng))
        store.flush(timeout_s=3600)


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def prep(path: Path, plan_toml: str, repeat: int) -> tuple[float, float, int]:
    """(cold ms, warm ms, sparkline points): the overview's rows from a new session's Timelines, then refreshes
    with one new sample per server each."""
    budgets = plan_budgets(plan_from_toml(plan_toml))
    store = HistoryStore(path)
    servers = store.servers()
    rng = random.Random(7)
    latest = {s: sample(s, datetime.now(UTC), rng) for s in servers}
    def rows_from(lines: dict[str, Timeline]) -> list[fleet.ServerRow]:
        since = fleet.since(datetime.now(UTC))
        return fleet.fleet_rows(budgets, latest, servers, lambda s: lines[s].window_with_gaps("state", since))

    colds, rows = [], []
    for _ in range(repeat):
        lines = {s: Timeline(store, s) for s in servers}
        t0 = time.perf_counter()
        rows = rows_from(lines)
        colds.append((time.perf_counter() - t0) * 1000)

    def refresh() -> None:
        for s in servers:
            store.append(sample(s, datetime.now(UTC), rng))
        store.flush()
        rows_from(lines)

    warm = median_ms(refresh, repeat)
    store.close()
    return statistics.median(colds), warm, max(len(r.trend) for r in rows)


def page_run(path: Path, plan_path: Path, overview: bool, repeat: int) -> float:
    """The median AppTest run of the benchmark page (its Timelines cached after the first run)."""
    os.environ.update(FLEET_BENCH_STORE=str(path), FLEET_BENCH_PLAN=str(plan_path),
                      FLEET_BENCH_OVERVIEW="1" if overview else "0")
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.run()
    if at.exception:
        raise SystemExit(f"the benchmark page failed: {at.exception[0].message}")
    return median_ms(at.run, repeat)


def report(servers: int = 10, minutes: float = 60, repeat: int = 7) -> list[dict[str, float]]:
    folder = Path(tempfile.mkdtemp(prefix="fleet-overview-"))
    end = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for n in sorted({1, servers}):
        path, plan_path = folder / f"history-{n}.sqlite", folder / f"plan-{n}.toml"
        plan_path.write_text(plan_text(n))
        t0 = time.perf_counter()
        fill(path, n, int(minutes * 60), end)
        filled = time.perf_counter() - t0
        cold, warm, points = prep(path, plan_path.read_text(), repeat)
        rows.append({"servers": n, "fill_s": filled, "cold": cold, "warm": warm, "points": points,
                     "page_without": page_run(path, plan_path, False, repeat),
                     "page_with": page_run(path, plan_path, True, repeat)})
    print(f"{minutes:g} min of 1 s samples per server, {SERVICES} services x 2 states; median of {repeat}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("servers | rows cold ms | rows refresh ms | sparkline points | page without overview ms | "
          "page with overview ms | overview's share ms")
    for r in rows:
        print(f"{r['servers']} | {r['cold']:.1f} | {r['warm']:.1f} | {r['points']} | {r['page_without']:.1f} | "
              f"{r['page_with']:.1f} | {r['page_with'] - r['page_without']:.1f}")
    full = rows[-1]
    print(f"target: the overview's refresh <= 250 ms at {full['servers']} servers "
          f"({'met' if full['page_with'] - full['page_without'] + full['warm'] <= 250 else 'MISSED'})")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=60.0, help="history per server (60)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    report(args.servers, args.minutes, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
