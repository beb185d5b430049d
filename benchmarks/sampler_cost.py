"""What sampling costs the monitored server, and how many connections the sampler holds.

1. With 10, 200 and 500 client connections open on a throwaway PostgreSQL 16 (max_connections 600; 20
   applications; 70% idle, 20% idle in transaction, 10% active in pg_sleep), the server-side time of one
   sample: the CPU time the measuring backend process spends per execution (``/proc/<pid>/schedstat``, read
   while the backend waits for its client, so it includes receiving the statement, executing, encoding and
   sending the rows; the server runs on this host), the executor's own time (EXPLAIN (ANALYZE, TIMING OFF)
   "Execution Time", which excludes sending rows), and the client round trip; every query is a prepared
   statement run the same way (asyncpg: one Bind/Execute/Sync round trip), repetitions interleaved across
   queries in a rotated order, for:
   - ours: dashboard/live/queries/sample_activity.sql (grouped, SSL from the same scan, ages);
   - the bare ``SELECT count(*) FROM pg_stat_activity``;
   - equivalents of the activity queries of pg_activity (per-backend rows of non-idle sessions, joined to
     pg_database for the encoding, ordered by duration), PgHero (connection_sources: counts per database,
     user, application and address) and postgres_exporter (its stat_activity collector: every database x
     every state, joined to counts and max transaction duration per label set);
   - a per-backend draft (every column of every client backend joined to pg_stat_ssl), for contrast.
2. A ``Monitor`` sampling every second for 60 s (``--quick``: 10 s) while an observer connection counts the
   backends carrying the monitor's application_name twice a second: it must be exactly 1 throughout.
3. The history store at dashboard scale: 24 h of 1 s samples with 40 groups each (``--quick``: 2 h):
   write throughput, file size, and the time of the reads the dashboard makes.

Run: ``python benchmarks/sampler_cost.py [--quick]``. Timings on a shared machine are noisy; the ratios,
measured in one run with the queries interleaved, are the robust part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pgcluster import Cluster  # noqa: E402

from dashboard.live import HistoryStore, Monitor, queries  # noqa: E402
from dashboard.live.sampler import QUERY_CHARS  # noqa: E402
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot  # noqa: E402

APPS = 20
MONITOR_APP = "bench-monitor"

PG_ACTIVITY = """
SELECT a.pid, a.backend_xmin AS xmin, a.application_name, a.datname AS database, a.client_addr AS client,
       EXTRACT(epoch FROM (now() - a.query_start)) AS duration, a.wait_event AS wait, a.usename AS user,
       a.state, a.query, pg_catalog.pg_encoding_to_char(b.encoding) AS encoding,
       coalesce(a.leader_pid, a.pid) AS query_leader_pid, a.backend_type = 'parallel worker' AS is_parallel_worker
FROM pg_stat_activity a LEFT OUTER JOIN pg_database b ON a.datid = b.oid
WHERE a.state <> 'idle' AND a.pid <> pg_catalog.pg_backend_pid()
ORDER BY EXTRACT(epoch FROM (now() - a.query_start)) DESC
"""
PGHERO = """
SELECT datname AS database, usename AS user, application_name AS source, client_addr AS ip,
       COUNT(*) AS total_connections
FROM pg_stat_activity GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2, 3, 4
"""
POSTGRES_EXPORTER = """
SELECT pg_database.datname, tmp.state, tmp2.usename, tmp2.application_name, tmp2.backend_type,
       tmp2.wait_event_type, tmp2.wait_event, COALESCE(count, 0) AS count,
       COALESCE(max_tx_duration, 0) AS max_tx_duration
FROM (VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'),
             ('fastpath function call'), ('disabled')) AS tmp(state)
CROSS JOIN pg_database
LEFT JOIN (
    SELECT datname, state, usename, application_name, backend_type, wait_event_type, wait_event,
           count(*) AS count, MAX(EXTRACT(EPOCH FROM now() - xact_start))::float AS max_tx_duration
    FROM pg_stat_activity WHERE pid <> pg_backend_pid()
    GROUP BY datname, state, usename, application_name, backend_type, wait_event_type, wait_event
) AS tmp2 ON tmp.state = tmp2.state AND pg_database.datname = tmp2.datname
"""
PER_BACKEND = """
SELECT a.pid, a.datname, a.usename, a.application_name, a.client_addr, a.backend_start, a.xact_start,
       a.query_start, a.state_change, a.state, a.wait_event_type, a.wait_event, s.ssl
FROM pg_stat_activity a LEFT JOIN pg_stat_ssl s USING (pid)
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
"""
BARE = "SELECT count(*) FROM pg_stat_activity"


def ours(name: str) -> tuple[str, tuple]:
    """One of our sample queries with asyncpg's $n placeholders and its parameters."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    sql = re.sub(r"(?<![:\w]):(\w+)", number, queries.sent_text(name))
    values = {"query_chars": QUERY_CHARS}
    return sql, tuple(values[name] for name in names)


QUERIES: dict[str, tuple[str, tuple]] = {
    "ours (sample_activity.sql)": ours("sample_activity"),
    "ours, opt-in query text": ours("sample_activity_with_queries"),
    "bare count(*)": (BARE, ()),
    "pg_activity": (PG_ACTIVITY, ()),
    "PgHero connection_sources": (PGHERO, ()),
    "postgres_exporter stat_activity": (POSTGRES_EXPORTER, ()),
    "per-backend rows + pg_stat_ssl": (PER_BACKEND, ()),
}
THREE = ("pg_activity", "PgHero connection_sources", "postgres_exporter stat_activity")


async def open_clients(cluster: Cluster, n: int) -> tuple[list[asyncpg.Connection], list[asyncio.Task]]:
    async def one(i: int) -> asyncpg.Connection:
        return await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres",
                                     server_settings={"application_name": f"app-{i % APPS:02d}"})

    conns: list[asyncpg.Connection] = []
    for start in range(0, n, 50):
        conns += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    tasks = []
    for i, conn in enumerate(conns):
        kind = (i // APPS) % 10  # every application gets a mix of states
        if kind in (1, 2):
            await conn.execute("BEGIN")
            await conn.execute("SELECT 1")
        elif kind == 3:
            tasks.append(asyncio.create_task(conn.execute("SELECT pg_sleep(3600)")))
    await asyncio.sleep(0.3)
    return conns, tasks


async def close_clients(conns: list[asyncpg.Connection], tasks: list[asyncio.Task]) -> None:
    for conn in conns:
        conn.terminate()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def backend_cpu_ns(pid: int) -> int:
    """Nanoseconds a server process has run on a CPU (first field of /proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def idle_backend_cpu_ns(pid: int, timeout_s: float = 0.05) -> int:
    """``backend_cpu_ns`` once the backend sleeps waiting for its client (state S).

    The client has the result before the backend has finished its last send and gone back to waiting, and
    the kernel brings a running process's schedstat up to date only at scheduler events (a tick, a switch);
    read while it sleeps, each execution's CPU is counted whole, in its own interval, none of its neighbours'.
    """
    deadline = time.monotonic() + timeout_s
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        text = stat.read_text()
        if text[text.rindex(")") + 2] == "S":
            break
    return backend_cpu_ns(pid)


async def measure(cluster: Cluster, reps: int) -> dict[str, tuple[float, float, float]]:
    """Per query: mean backend CPU ms per execution, median executor ms, median round-trip ms."""
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres",
                                 server_settings={"application_name": MONITOR_APP})
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        explain = {name: await conn.prepare("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql)
                   for name, (sql, _) in QUERIES.items()}
        plain = {name: await conn.prepare(sql) for name, (sql, _) in QUERIES.items()}
        cpu: dict[str, int] = dict.fromkeys(QUERIES, 0)
        executor: dict[str, list[float]] = {name: [] for name in QUERIES}
        trip: dict[str, list[float]] = {name: [] for name in QUERIES}
        names = list(QUERIES)
        for rep in range(reps):
            # Each repetition starts one query further on, so no query always follows the same neighbour.
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                args = QUERIES[name][1]
                plan = await explain[name].fetchval(*args)
                executor[name].append(json.loads(plan)[0]["Execution Time"])
                before = idle_backend_cpu_ns(pid)
                started = time.perf_counter()
                await plain[name].fetch(*args)
                trip[name].append((time.perf_counter() - started) * 1000)
                cpu[name] += idle_backend_cpu_ns(pid) - before
        return {
            name: (cpu[name] / reps / 1e6, statistics.median(executor[name]), statistics.median(trip[name]))
            for name in QUERIES
        }
    finally:
        await conn.close()


async def count_rows(cluster: Cluster) -> int:
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres")
    try:
        sql, args = QUERIES["ours (sample_activity.sql)"]  # one row per group
        return len(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def cost_section(cluster: Cluster, sizes: list[int], reps: int) -> list[str]:
    lines = ["## Server-side cost of one sample", "",
             f"{reps} repetitions per query, interleaved. cpu ms = the backend's CPU time per execution (all of it: "
             "execute, encode, send); executor ms = EXPLAIN ANALYZE Execution Time (median); round trip = client "
             "wall time over TCP on the same host (median).", ""]
    header = "| client connections | query | cpu ms | x bare | executor ms | x bare | round trip ms |"
    for n in sizes:

        async def run(n: int = n):
            conns, tasks = await open_clients(cluster, n)
            try:
                return await measure(cluster, reps), await count_rows(cluster)
            finally:
                await close_clients(conns, tasks)

        results, groups = asyncio.run(run())
        bare_cpu, bare_exec, _ = results["bare count(*)"]
        mine = results["ours (sample_activity.sql)"][0]
        block = [f"### {n} client connections ({groups} groups in our result)", "", header,
                 "|---|---|---:|---:|---:|---:|---:|"]
        for name, (cpu_ms, exec_ms, trip_ms) in results.items():
            block.append(f"| {n} | {name} | {cpu_ms:.3f} | {cpu_ms / bare_cpu:.2f} | {exec_ms:.3f} | "
                         f"{exec_ms / bare_exec:.2f} | {trip_ms:.3f} |")
        faster = [name for name in THREE if results[name][0] < mine]
        verdict = "met" if mine / bare_cpu <= 1.5 else "MISSED"
        block += ["", f"cpu: ours / bare count = {mine / bare_cpu:.2f}x (target <= 1.5x: {verdict}); "
                  + ", ".join(f"{name} / ours = {results[name][0] / mine:.2f}x" for name in THREE)
                  + (f"; cheaper than ours: {', '.join(faster)}" if faster else "; none of the three is cheaper"), ""]
        print("\n".join(block), flush=True)
        lines += block
        time.sleep(1)  # let the terminated backends exit before the next size
    return lines


def connection_section(cluster: Cluster, seconds: float) -> list[str]:
    counts: list[int] = []
    monitor = Monitor({"bench": cluster.url()}, interval_s=1.0, application_name=MONITOR_APP)

    async def observe() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres",
                                     server_settings={"application_name": "bench-observer"})
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                counts.append(await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", MONITOR_APP))
                await asyncio.sleep(0.5)
        finally:
            await conn.close()

    cpu_before = time.process_time()
    monitor.start()
    time.sleep(1.5)  # first connect
    asyncio.run(observe())
    status = monitor.status()["bench"]
    monitor.stop()
    cpu = time.process_time() - cpu_before
    after_stop = asyncio.run(_count_after_stop(cluster))
    lines = ["## Connections held by the monitor", "",
             f"Monitor at 1 s for {seconds:.0f} s, observed {len(counts)} times: backends with its application_name "
             f"min {min(counts)}, max {max(counts)} (exactly one: {'yes' if set(counts) == {1} else 'NO'}); "
             f"{status.samples} samples, state {status.state}; after stop(): {after_stop}. "
             f"Process CPU during the run (monitor thread + observer): {cpu:.2f} s.", ""]
    print("\n".join(lines), flush=True)
    return lines


async def _count_after_stop(cluster: Cluster) -> int:
    await asyncio.sleep(0.5)
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres")
    try:
        return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", MONITOR_APP)
    finally:
        await conn.close()


def history_section(hours: float) -> list[str]:
    samples = int(hours * 3600)
    settings = ServerSettings(100, 3, None, 0, 0, False, 160002, True, "monitor")
    start = datetime.now(UTC) - timedelta(seconds=samples)
    with tempfile.TemporaryDirectory() as folder:
        store = HistoryStore(Path(folder) / "history.sqlite")
        began = time.perf_counter()
        queued = 0.0
        for i in range(samples):
            groups = tuple(
                ActivityGroup("shop", "app", f"app-{a:02d}", "10.0.0.1", state, "Client", 1 + (i + a) % 7, 0,
                              None, None, 100.0 + i, 1.0)
                for a in range(APPS) for state in ("idle", "active")
            )
            gap = i % 3600 == 1800
            snapshot = Snapshot("primary", start + timedelta(seconds=i), "unreachable" if gap else "ok",
                                () if gap else groups, None if gap else settings, 0 if gap else 1, latency_ms=1.0)
            appending = time.perf_counter()
            store.append(snapshot)
            queued += time.perf_counter() - appending
        store.flush(timeout_s=3600)
        written = time.perf_counter() - began
        size_mb = (Path(folder) / "history.sqlite").stat().st_size / 1e6
        now = start + timedelta(seconds=samples)  # just after the last sample
        reads = {
            f"frame, all {hours:g} h": lambda: store.frame("primary"),
            "frame, last 1 h": lambda: store.frame("primary", since=now - timedelta(hours=1)),
            "frame, last 15 min": lambda: store.frame("primary", since=now - timedelta(minutes=15)),
            f"totals, all {hours:g} h": lambda: store.totals("primary"),
            "snapshots, last 5 min": lambda: store.snapshots("primary", since=now - timedelta(minutes=5)),
        }
        timings = {}
        for name, read in reads.items():
            read()  # warm the page cache
            best = min(_timed(read) for _ in range(3))
            timings[name] = (best, len(read()))
        store.close()
    lines = ["## History store at dashboard scale", "",
             f"{samples} samples x {2 * APPS} groups ({hours:g} h at 1 s): append() took "
             f"{queued / samples * 1e6:.1f} us per sample on the sampling side (it only queues); "
             f"building and writing them all took "
             f"{written:.1f} s ({written / samples * 1e3:.2f} ms per sample, the writer thread in parallel); "
             f"file {size_mb:.0f} MB.",
             "", "| read | seconds (best of 3) | rows |", "|---|---:|---:|"]
    lines += [f"| {name} | {seconds:.3f} | {rows} |" for name, (seconds, rows) in timings.items()]
    lines.append("")
    print("\n".join(lines), flush=True)
    return lines


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 10 s connection run, 2 h history")
    parser.add_argument("--sizes", default="10,200,500", help="client connection counts (10,200,500)")
    parser.add_argument("--reps", type=int, help="repetitions per query and size (default 200; quick 40)")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--history-only", action="store_true")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    reps = args.reps or (40 if args.quick else 200)
    print(f"# sampler cost ({datetime.now(UTC).isoformat(timespec='seconds')}, quick={args.quick})\n", flush=True)
    if not args.history_only:
        with Cluster({"max_connections": max(600, max(sizes) + 50)}) as cluster:
            cost_section(cluster, sizes, reps)
            connection_section(cluster, 10.0 if args.quick else 60.0)
    if not args.skip_history:
        history_section(2.0 if args.quick else 24.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
