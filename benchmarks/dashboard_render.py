"""How fast the dashboard redraws: 24 h of 1 s samples for 20 applications on one server.

Prints: the time of one live-fragment rerun (history -> DataFrame -> downsampled figure -> JSON for the
browser), the points per trace sent to the browser, and the planner's recompute time per slider move.
Targets (issue 6): rerun <= 250 ms on the 2-core machine, <= 2,000 points per trace, planner <= 20 ms.

    python benchmarks/dashboard_render.py [--hours 24] [--apps 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import plotly.io

from dashboard import charts, state
from dashboard.live.history import HistoryStore
from dashboard.timeline import Timeline
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

SETTINGS = ServerSettings(max_connections=500, superuser_reserved_connections=3, reserved_connections=0,
                          idle_in_transaction_session_timeout_ms=0, idle_session_timeout_ms=0, ssl=False,
                          server_version_num=160002, can_see_all=True)


SPIKE = 1_000
"""Extra active connections of one app during ONE second at mid-history: the 24 h view must still show it."""


def fill(store: HistoryStore, end: datetime, seconds: int, apps: int, seed: int = 7) -> None:
    """One sample per second; each app has idle and active backends; a few gaps and one 1 s spike."""
    rng = random.Random(seed)
    spike_at = seconds // 2
    for i in range(seconds):
        taken = end - timedelta(seconds=seconds - i)
        if i % 7200 == 3600:  # an outage of 30 s every 2 h
            for j in range(30):
                store.append(Snapshot("primary", taken + timedelta(seconds=j), "unreachable", error="timeout"))
            continue
        groups = []
        for a in range(apps):
            active = rng.randint(0, 4) + (SPIKE if i == spike_at and a == 0 else 0)
            groups.append(ActivityGroup("app", "app", f"svc-{a:02d}", None, "idle", None, rng.randint(2, 6), 0))
            groups.append(ActivityGroup("app", "app", f"svc-{a:02d}", None, "active", None, active, 0))
        store.append(Snapshot("primary", taken, "ok", tuple(groups), SETTINGS, own_connections=1, latency_ms=0.5))
    store.flush(timeout_s=3600)


def fill_one(store: HistoryStore, taken: datetime, apps: int) -> None:
    groups = tuple(ActivityGroup("app", "app", f"svc-{a:02d}", None, "idle", None, 3, 0) for a in range(apps))
    store.append(Snapshot("primary", taken, "ok", groups, SETTINGS, own_connections=1, latency_ms=0.5))
    store.flush()


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    seconds = int(args.hours * 3600)
    end = datetime.now(UTC).replace(microsecond=0)

    store = HistoryStore.temporary(retention_s=seconds + 86_400)
    try:
        t0 = time.perf_counter()
        fill(store, end, seconds, args.apps)
        print(f"history: {seconds:,} samples x {args.apps} apps x 2 states written in {time.perf_counter() - t0:.1f} s")

        plan = state.build_plan(state.Inputs(max_connections=500, workers=4, instances=5, pool_size=5))
        lines = state.plan_lines(state.evaluate(plan).tightest)
        since = end - timedelta(hours=args.hours)

        read_ms, frame = timed(lambda: store.frame("primary", since=since), 1)
        timeline = Timeline(store, "primary")
        t0 = time.perf_counter()
        timeline.window("state", since)
        cold_ms = (time.perf_counter() - t0) * 1000
        results = {}
        for by in ("state", "application_name"):
            def rerun(by=by):
                # one fragment rerun: the sampler added a sample since the last refresh
                fill_one(store, end + timedelta(seconds=len(results) * 1000 + rerun.n), args.apps)
                rerun.n += 1
                wide = timeline.window(by, since)
                fig = charts.wide_figure(wide, by, lines)
                return fig, plotly.io.to_json(fig, validate=False)
            rerun.n = 0
            fig_ms, (fig, payload) = timed(rerun, args.repeat)
            results[by] = (fig_ms, fig, len(payload))
        inputs = [state.Inputs(pool_size=p, max_overflow=10, workers=4) for p in range(1, 41)]
        plan_ms = statistics.median(
            timed(lambda i=i: state.evaluate(state.build_plan(i)), 3)[0] for i in inputs
        )
        wait_ms, _ = timed(lambda: state.wait_curve(plan), 3)
    finally:
        store.close()

    print(f"rows in the {args.hours:g} h frame: {len(frame):,}")
    print(f"{'step':<60}{'ms':>10}")
    print(f"{'read the whole range once (HistoryStore.frame)':<60}{read_ms:>10.1f}")
    print(f"{'first draw: read + pivot the range (once per process)':<60}{cold_ms:>10.1f}")
    for by, (fig_ms, fig, size) in results.items():
        points = max(len(t.x) for t in fig.data)
        label = f"live-fragment rerun by {by} (median of {args.repeat})"
        print(f"{label:<60}{fig_ms:>10.1f}   {len(fig.data)} traces, max {points:,} points/trace, "
              f"{size / 1e6:.2f} MB JSON")
        peak = max(max(y for y in t.y if y == y) for t in fig.data if t.name == "total")
        kept = "kept" if peak >= SPIKE else "LOST"
        print(f"   1 s spike of +{SPIKE} connections in the {args.hours:g} h view: highest total {peak:g} ({kept})")
    print(f"{'planner recompute per slider move (build + evaluate)':<60}{plan_ms:>10.2f}")
    print(f"{'wait curve (30 queueing predictions, cached per plan)':<60}{wait_ms:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
