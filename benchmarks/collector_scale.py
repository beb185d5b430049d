"""The collector at fleet scale on one machine: ``pool-planner collect`` against N real PostgreSQL 16 clusters
(pgserver's binaries, ``tests/pgcluster.py``), each holding 50 services' worth of client connections (one per
``application_name``), sampled every second. Baseline in the same run: the same collector against 1 server.

Prints, per run: per-sample latency per server (p50 / p99 / max of ``pool_planner_sample_latency_seconds``
read at every scrape), the collector's CPU (share of one core over the measured window, from /proc), its peak
memory (VmHWM) and the ``/metrics`` scrape time (p50 / p99 over one scrape a second).
Targets (issue 19): CPU <= 10% of one core, memory <= 200 MB, scrape <= 50 ms. Then the dashboard's overview
of the same number of servers (``benchmarks/fleet_overview.py``: its data and its AppTest render time) unless
``--no-overview``.

    /work/venv/bin/python benchmarks/collector_scale.py            # 10 servers
    /work/venv/bin/python benchmarks/collector_scale.py --servers 4 --seconds 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import psycopg  # noqa: E402
from collector_kit import CollectorProcess, libpq_url  # noqa: E402
from fleet_overview import report as overview_report  # noqa: E402
from pgcluster import Cluster  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

SERVICES = 50
CLK_TCK = os.sysconf("SC_CLK_TCK")


def plan_text(servers: int) -> str:
    lines = []
    for i in range(servers):
        lines += ["[[servers]]", f'name = "pg{i:02d}"', "max_connections = 100", "major_version = 16", ""]
        for j in range(5):  # five planned services per server; the other 45 are unplanned applications
            lines += ["[[engines]]", f'name = "pg{i:02d}-svc{j:02d}"', f'server = "pg{i:02d}"', "pool_size = 2",
                      "max_overflow = 1", f'application_name = "svc{j:02d}"', ""]
    return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(clusters: list[Cluster], seconds: float, folder: Path) -> dict[str, float]:
    plan = folder / f"plan-{len(clusters)}.toml"
    plan.write_text(plan_text(len(clusters)))
    args = ["--config", str(plan), "--data", str(folder), "--interval", "1",
            "--history", str(folder / f"history-{len(clusters)}.sqlite")]
    args += [arg for i, c in enumerate(clusters) for arg in ("--url", f"pg{i:02d}={c.url()}")]
    with CollectorProcess(args) as collector:
        pid = collector.proc.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # warm-up: every server sampled once
            if sum(1 for line in collector.lines if ": ok (sampling" in line) >= len(clusters):
                break
            time.sleep(0.2)
        time.sleep(2.0)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        scrapes, latencies, ticks, samples = [], [], [], 0
        while time.monotonic() - t0 < seconds:
            started = time.perf_counter()
            with urllib.request.urlopen(collector.metrics_url, timeout=5) as response:
                text = response.read().decode()
            scrapes.append((time.perf_counter() - started) * 1000)
            for family in text_string_to_metric_families(text):
                if family.name == "pool_planner_sample_latency_seconds":
                    latencies += [s.value * 1000 for s in family.samples]
                if family.name == "pool_planner_collector_tick_seconds":
                    ticks += [s.value * 1000 for s in family.samples]
                if family.name == "pool_planner_connections":
                    samples = max(samples, int(sum(s.value for s in family.samples)))
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
        rss = peak_rss_mb(pid)
        collector.terminate()
    return {"servers": len(clusters), "connections": samples, "latency_p50": pct(latencies, 0.5),
            "latency_p99": pct(latencies, 0.99), "latency_max": max(latencies, default=float("nan")),
            "cpu": cpu, "rss": rss, "scrape_p50": pct(scrapes, 0.5), "scrape_p99": pct(scrapes, 0.99),
            "tick_p50": pct(ticks, 0.5)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per run (30)")
    parser.add_argument("--no-overview", action="store_true", help="skip the dashboard overview's render time")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="collector-scale-"))
    clusters: list[Cluster] = []
    held: list[psycopg.Connection] = []
    try:
        started = time.monotonic()
        for _ in range(args.servers):
            clusters.append(Cluster({"max_connections": 100, "shared_buffers": "16MB"}).start())
        for cluster in clusters:
            for j in range(SERVICES):
                held.append(psycopg.connect(libpq_url(cluster.url()), application_name=f"svc{j:02d}"))
        print(f"{args.servers} clusters x {SERVICES} services' connections ready in "
              f"{time.monotonic() - started:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        rows = [run(clusters[:1], args.seconds, folder), run(clusters, args.seconds, folder)]
    finally:
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()
        for cluster in clusters:
            cluster.destroy()
    header = ("servers", "client conns", "sample p50 ms", "p99 ms", "max ms", "CPU % core", "peak RSS MB",
              "scrape p50 ms", "p99 ms", "judging p50 ms")
    print(" | ".join(header))
    for r in rows:
        print(f"{r['servers']} | {r['connections']} | {r['latency_p50']:.1f} | {r['latency_p99']:.1f} | "
              f"{r['latency_max']:.1f} | {r['cpu']:.1f} | {r['rss']:.0f} | {r['scrape_p50']:.1f} | "
              f"{r['scrape_p99']:.1f} | {r['tick_p50']:.1f}")
    full = rows[-1]
    print(f"targets: CPU <= 10% ({'met' if full['cpu'] <= 10 else 'MISSED'}), memory <= 200 MB "
          f"({'met' if full['rss'] <= 200 else 'MISSED'}), scrape <= 50 ms "
          f"({'met' if full['scrape_p99'] <= 50 else 'MISSED'})")
    if not args.no_overview:
        print("\nThe dashboard's overview of as many servers (benchmarks/fleet_overview.py):")
        overview_report(args.servers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
