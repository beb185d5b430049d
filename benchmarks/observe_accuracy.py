"""How close ``live observe`` gets to the truth, on real workloads against a real server.

Each case runs a real workload (``benchmarks/observe_workload.py``: Poisson arrivals, worker threads, a real
SQLAlchemy pool holding connections in transactions for constant / exponential / lognormal times), observes it
with ``live observe``'s own code for ``--seconds`` and compares with the exact figures kept in the workload
process: the offered load (busy mean) within ±10 %, the hold within ±20 % where a source exists, censoring
flagged exactly when the pool was saturated. Then the workload is rerun with the recommended pool and its
measured p99 checkout wait is compared with the target it was sized for (10 ms).

    /work/venv/bin/python benchmarks/observe_accuracy.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
        [--seconds 120] [--rerun-seconds 120] [--only probe-exp,shared-db]

Databases are created with a unique prefix and dropped afterwards; the PgBouncer case starts its own
PostgreSQL 16 (pgserver) and PgBouncer (tests/pgbouncer_kit.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.observe_workload import Workload, quantile, sync_url  # noqa: E402
from dashboard.live.observe import observe, observe_live  # noqa: E402
from dashboard.live.probes import ProbeTarget  # noqa: E402
from planner.probe import serve, uninstrument  # noqa: E402

PREFIX = f"obsbench{os.getpid()}"
TARGET_MS = 10.0


@dataclass
class Service:
    name: str
    rate: float
    hold_ms: float
    dist: str
    pool_size: int
    max_overflow: int = 0
    sigma: float = 0.8
    pool_timeout: float = 60.0


@dataclass
class Case:
    name: str
    services: list[Service]
    probe: bool = False
    bouncer: bool = False
    saturated: bool = False
    own_database: bool = True
    rows: list[dict] = field(default_factory=list)


CASES = [
    Case("probe-exp", [Service("bexp", 100, 20, "exp", 6)], probe=True),
    Case("probe-const", [Service("bconst", 60, 30, "const", 4, 2)], probe=True),
    Case("probe-lognormal", [Service("blogn", 40, 50, "lognormal", 8, sigma=1.0)], probe=True),
    Case("saturated", [Service("bsat", 80, 50, "const", 2, pool_timeout=1.0)], probe=True, saturated=True),
    Case("shared-db", [Service("bsha", 50, 20, "exp", 4), Service("bshb", 30, 40, "exp", 4)]),
    Case("pgbouncer", [Service("bbnc", 60, 20, "exp", 5)], bouncer=True),
    Case("transactions", [Service("btx", 50, 20, "exp", 5)]),
]


def url_for(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextlib.contextmanager
def database(url: str, name: str):
    admin = create_engine(sync_url(url_for(url, "postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        quoted = conn.dialect.identifier_preparer.quote(name)
        conn.execute(text(f"CREATE DATABASE {quoted}"))  # pool-planner: ignore[sql-identifier-building]
    try:
        yield url_for(url, name)
    finally:
        with admin.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            drop = f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"  # pool-planner: ignore[sql-identifier-building]
            conn.execute(text(drop))
        admin.dispose()


@contextlib.contextmanager
def target(case: Case, url: str):
    """(app URL, monitor URL, console URL or None) for the case."""
    if not case.bouncer:
        with database(url, f"{PREFIX}_{case.name.replace('-', '_')}") as app_url:
            yield app_url, app_url, None
        return
    from pgbouncer_kit import USERS, running_pgbouncer
    from pgcluster import Cluster

    cluster = Cluster().start()
    try:
        settings = "pool_mode = transaction\ndefault_pool_size = 10\nmax_client_conn = 200\n"
        with running_pgbouncer(cluster, "bench", settings, auth_type="md5") as bouncer:
            yield (f"postgresql://app:{USERS['app']}@127.0.0.1:{bouncer.port}/appdb", cluster.url(),
                   bouncer.url("stats"))
    finally:
        cluster.destroy()


def workloads(case: Case, app_url: str, pools: dict[str, tuple[int, int]] | None = None) -> list[Workload]:
    out = []
    for i, s in enumerate(case.services):
        size, overflow = (pools or {}).get(s.name, (s.pool_size, s.max_overflow))
        out.append(Workload(app_url, f"{s.name}-1", rate=s.rate, hold_ms=s.hold_ms, dist=s.dist, sigma=s.sigma,
                            pool_size=size, max_overflow=overflow, pool_timeout=s.pool_timeout, seed=7 + i,
                            probe=s.name if case.probe else None, via_pgbouncer=case.bouncer, threads=96))
    return out


def run_observed(case: Case, app_url: str, monitor_url: str, console: str | None, seconds: float):
    loads = workloads(case, app_url)
    server = serve(port=0) if case.probe else None
    probes = [ProbeTarget(f"http://127.0.0.1:{server.server_port}/probe", s.name) for s in case.services] \
        if server else []
    try:
        for w, s in zip(loads, case.services, strict=True):
            w.warm(s.pool_size)
            w.start()
        time.sleep(3)
        for w in loads:
            w.count_from_now()
        window = observe_live(monitor_url, seconds=seconds, probes=probes, console=console)
        figures = [w.end_count() for w in loads]
    finally:
        for w in loads:
            w.stop()
            if w.probe is not None:
                uninstrument(w.probe)
        if server:
            server.shutdown()
    results = {r.observation.name: r for r in observe(window, processes={s.name: 1 for s in case.services},
                                                      target_p99_ms=TARGET_MS)}
    return window, results, figures


def rerun(case: Case, app_url: str, pools: dict[str, tuple[int, int]], seconds: float) -> list:
    loads = workloads(case, app_url, pools)
    try:
        for w, s in zip(loads, case.services, strict=True):
            w.warm(pools[s.name][0])
            w.start()
        time.sleep(2)
        for w in loads:
            w.count_from_now()
        time.sleep(seconds)
        return [w.end_count() for w in loads]
    finally:
        for w in loads:
            w.stop()
            if w.probe is not None:
                uninstrument(w.probe)


def pct(measured: float | None, exact: float) -> str:
    return "-" if measured is None or not exact else f"{(measured - exact) / exact * 100:+.1f}%"


def connects(figures) -> str:
    """The rerun's new connections: how many, their median open time, and the p99 wait of the checkouts that
    opened one (an overflow connection's checkout waits for the connect, which the model puts at 5 ms)."""
    if not figures.connects_ms:
        return "0"
    return (f"{len(figures.connects_ms)} x {figures.connect_p50_ms():.1f} ms (their wait p99 "
            f"{quantile(figures.opened_waits_ms, 0.99):.1f})")


def evaluate(case: Case, results, figures, reruns) -> None:
    for s, fig, again in zip(case.services, figures, reruns, strict=True):
        r = results.get(s.name)
        obs = r.observation if r else None
        exact_busy, exact_hold = fig.busy_mean(), fig.busy_s / max(1, fig.checkouts) * 1000
        load_ok = obs is not None and abs(obs.offered_fleet - exact_busy) <= 0.10 * exact_busy  # censored too
        hold_ok = obs is not None and (obs.hold_ms is None or abs(obs.hold_ms - exact_hold) <= 0.20 * exact_hold)
        censor_ok = obs is not None and obs.censored == case.saturated
        advice = r.advice if r else None
        p99 = again.wait_p99_ms() if again else None
        target_ok = (advice is not None and advice.p99_wait_ms is not None and p99 is not None
                     and p99 <= TARGET_MS)
        case.rows.append({
            "case": case.name, "service": s.name, "dist": s.dist, "pool": f"{s.pool_size}+{s.max_overflow}",
            "offered": f"{s.rate * s.hold_ms / 1000:.2f}", "exact_busy": f"{exact_busy:.2f}",
            "est_busy": "-" if obs is None else f"{obs.offered_fleet:.2f} ({pct(obs.offered_fleet, exact_busy)})",
            "source": "-" if obs is None else str(obs.source),
            "hold": "-" if obs is None or obs.hold_ms is None else
                    f"{obs.hold_ms:.1f} / {exact_hold:.1f} ({pct(obs.hold_ms, exact_hold)})",
            "censored": "-" if obs is None else ("yes" if obs.censored else "no"),
            "rec": "-" if advice is None or advice.pool_size is None else
                   f"{advice.pool_size}+{advice.max_overflow} ({advice.method})",
            "pred_p99": "-" if advice is None or advice.p99_wait_ms is None else f"{advice.p99_wait_ms:.1f}",
            "meas_p99": "-" if p99 is None else f"{p99:.1f}",
            "connects": "-" if again is None else connects(again),
            "verdict": ("load ok" if load_ok else "LOAD OFF") + (", hold ok" if hold_ok else ", HOLD OFF")
                       + (", censoring ok" if censor_ok else ", CENSORING WRONG")
                       + (", target met" if target_ok else (", target not claimed" if advice is None
                          or advice.p99_wait_ms is None else ", TARGET MISSED")),
        })


def run_case(case: Case, url: str, seconds: float, rerun_s: float) -> None:
    with target(case, url) as (app_url, monitor_url, console):
        window, results, figures = run_observed(case, app_url, monitor_url, console, seconds)
        pools = {}
        for s in case.services:
            advice = results[s.name].advice if s.name in results else None
            if advice is not None and advice.pool_size is not None:
                pools[s.name] = (advice.pool_size, advice.max_overflow or 0)
        reruns = rerun(case, app_url, pools, rerun_s) if len(pools) == len(case.services) and rerun_s > 0 \
            else [None] * len(case.services)
    evaluate(case, results, figures, reruns)
    print(f"  {case.name}: {len(window.ok_snapshots)} samples, mean sample latency {window.mean_latency_ms} ms",
          flush=True)


COLUMNS = ("case", "service", "dist", "pool", "offered", "exact_busy", "est_busy", "source", "hold", "censored",
           "rec", "pred_p99", "meas_p99", "connects", "verdict")
HEADERS = ("case", "service", "hold dist", "pool", "asked erlangs", "exact busy mean", "estimated (err)",
           "source", "hold ms est / exact (err)", "censored", "recommended", "pred p99 ms", "rerun p99 ms",
           "rerun connects (median)", "verdict")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="observation window per case (120, the issue's 2 minutes; shorter for a quick look)")
    parser.add_argument("--rerun-seconds", type=float, default=120.0,
                        help="rerun with the recommended pool (120: about 100 checkouts above a p99, so it is stable)")
    parser.add_argument("--only", help="comma-separated case names")
    args = parser.parse_args()
    chosen = [c for c in CASES if not args.only or c.name in args.only.split(",")]
    started = time.monotonic()
    for case in chosen:
        run_case(case, args.url, args.seconds, args.rerun_seconds)
    print(f"\nobserved {args.seconds:g} s per case, rerun {args.rerun_seconds:g} s; "
          f"{time.monotonic() - started:.0f} s in all; load average {os.getloadavg()[0]:.1f}\n")
    print("| " + " | ".join(HEADERS) + " |")
    print("|" + "---|" * len(HEADERS))
    for case in chosen:
        for row in case.rows:
            print("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
