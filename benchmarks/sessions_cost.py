"""What a sample with sessions (``sample --sessions``, the dashboard's incident view) costs the server.

A sample with sessions runs ``sample_sessions.sql`` (one row per backend, ``pg_blocking_pids`` for lock
waiters only) instead of ``sample_activity.sql`` (grouped): still one statement and one round trip. Its
cost is the values it sends, so it is measured in the two cases the sampler meets: "steady", every sample
after the first on a connection, where the backends it has seen come without their database, role,
address and SSL (``:known_before`` is a moment after every client backend started), and "all new", the
first sample on a connection or one where every backend is new (a reconnect storm). Same method and
workload as ``sampler_cost.py`` (throwaway PostgreSQL 16, 20 applications, 70% idle, 20% idle in
transaction, 10% active in pg_sleep; backend CPU per execution from /proc/<pid>/schedstat, executor time
from EXPLAIN ANALYZE, client round trip; repetitions interleaved in a rotated order), repeated ``--rounds``
times on the same backends (the table gives the medians over the rounds and each round's ratio), plus a
run with lock waiters: 5% of the connections queued on one row held by an idle-in-transaction session
(``--waiters``).

Run: ``python benchmarks/sessions_cost.py [--sizes 10,200,500] [--reps 40] [--rounds 3]`` (about 2 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

import sampler_cost  # noqa: E402
from pgcluster import Cluster  # noqa: E402

from planner.sessions import QUERY_CHARS  # noqa: E402


def ours(name: str, **values: object) -> tuple[str, tuple]:
    """One of our sample statements with asyncpg's $n placeholders and its parameters (as ``sampler_cost.ours``)."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    sql = re.sub(r"(?<![:\w]):(\w+)", number, sampler_cost.queries.sent_text(name))
    return sql, tuple(values[n] for n in names)


Figures = tuple[float, float, float]
"""cpu ms (mean per execution), executor ms (median), round trip ms (median): ``sampler_cost.measure``."""
GROUPED = "grouped (sample_activity.sql, today)"
BARE = "bare count(*)"
BLOCKED_BY = "CASE WHEN s.wait_event_type = 'Lock' THEN pg_catalog.pg_blocking_pids(s.pid) END AS blocked_by,\n"


def queries_for(known_before: datetime) -> dict[str, tuple[str, tuple]]:
    """The statements compared, ``known_before`` being a moment after every client backend had started.

    "steady" is every sample after the first on a connection: the backends the previous sample saw come
    without their database, role, address and SSL (the sampler keeps them); "all new" is the first sample,
    or one where every backend started since the previous sample (a reconnect storm), which sends them all.
    The diagnostic is the steady statement without its ``pg_blocking_pids`` column, to show what the lock
    waiters' ``pg_blocking_pids()`` calls cost (the sampler never runs it).
    """
    steady = ours("sample_sessions", known_before=known_before)
    without_blockers = steady[0].replace(BLOCKED_BY, "")
    assert without_blockers != steady[0], "sample_sessions.sql no longer has the blocked_by expression"
    return {
        GROUPED: ours("sample_activity"),
        "sessions, steady (sample_sessions.sql)": steady,
        "diagnostic: steady without blocked_by": (without_blockers, steady[1]),
        "sessions, all new (first sample)": ours("sample_sessions", known_before=None),
        "sessions + masked query text, steady": ours("sample_sessions_with_queries", known_before=known_before,
                                                     query_chars=QUERY_CHARS),
        BARE: (sampler_cost.BARE, ()),
    }


async def lock_waiters(cluster: Cluster, n: int) -> tuple[list[asyncpg.Connection], list[asyncio.Task]]:
    """One idle-in-transaction holder of a row and ``n`` sessions queued behind it."""
    kwargs = dict(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres")
    setup = await asyncpg.connect(**kwargs)
    await setup.execute("DROP TABLE IF EXISTS bench_lock; CREATE TABLE bench_lock (id int PRIMARY KEY, v int);"
                        "INSERT INTO bench_lock VALUES (1, 0)")
    await setup.close()
    holder = await asyncpg.connect(**kwargs, server_settings={"application_name": "billing-worker"})
    await holder.execute("BEGIN")
    await holder.execute("UPDATE bench_lock SET v = v + 1 WHERE id = 1")
    conns = [holder] + [await asyncpg.connect(**kwargs, server_settings={"application_name": "reconcile-cron"})
                        for _ in range(n)]
    tasks = [asyncio.create_task(c.execute("UPDATE bench_lock SET v = v + 1 WHERE id = 1")) for c in conns[1:]]
    await asyncio.sleep(0.5)
    return conns, tasks


async def quiet(cluster: Cluster) -> None:
    """End the previous run's backends (one in pg_sleep does not notice its client left) and wait for them."""
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres")
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        while await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'") > 1:
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def server_now(cluster: Cluster) -> datetime:
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres", database="postgres")
    try:
        return await conn.fetchval("SELECT now()")
    finally:
        await conn.close()


async def run_size(cluster: Cluster, n: int, reps: int, waiters: int, rounds: int) -> list[dict[str, Figures]]:
    """``rounds`` measurements (each ``reps`` interleaved repetitions of every query) on the same backends."""
    await quiet(cluster)
    conns, tasks = await sampler_cost.open_clients(cluster, n - waiters)
    extra: tuple[list, list] = ([], [])
    try:
        if waiters:
            extra = await lock_waiters(cluster, waiters)
        saved = sampler_cost.QUERIES
        sampler_cost.QUERIES = queries_for(await server_now(cluster))
        try:
            return [await sampler_cost.measure(cluster, reps) for _ in range(rounds)]
        finally:
            sampler_cost.QUERIES = saved
    finally:
        await sampler_cost.close_clients(conns + extra[0], tasks + extra[1])


def table_rows(n: int, waiters: int, rounds: list[dict[str, Figures]]) -> list[str]:
    """One row per query: the medians over the rounds (each round's cpu is its mean per execution, its
    executor and round trip their medians), and every round's ratio to the bare count."""
    rows = []
    for name in rounds[0]:
        cpu = statistics.median(r[name][0] for r in rounds)
        today = statistics.median(r[name][0] / r[GROUPED][0] for r in rounds)
        per_round = [r[name][0] / r[BARE][0] for r in rounds]
        executor = statistics.median(r[name][1] for r in rounds)
        trip = statistics.median(r[name][2] for r in rounds)
        rows.append(f"| {n} | {waiters} | {name} | {cpu:.3f} | {today:.2f} | **{statistics.median(per_round):.2f}** | "
                    f"{' '.join(f'{x:.2f}' for x in per_round)} | {executor:.3f} | {trip:.3f} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,200,500")
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per size, on the same backends (3)")
    parser.add_argument("--waiters", type=float, default=0.05, help="share of connections waiting on a lock (0.05)")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    print(f"# sample cost with sessions ({datetime.now(UTC).isoformat(timespec='seconds')}, {args.rounds} rounds "
          f"of {args.reps} reps)\n")
    print("| connections | lock waiters | query | cpu ms | x today | x bare | x bare, each round | executor ms | "
          "round trip ms |")
    print("|---:|---:|---|---:|---:|---:|---|---:|---:|", flush=True)
    with Cluster({"max_connections": max(600, max(sizes) + 50)}) as cluster:
        for n in sizes:
            for waiters in sorted({0, int(n * args.waiters)}):
                rounds = asyncio.run(run_size(cluster, n, args.reps, waiters, args.rounds))
                print("\n".join(table_rows(n, waiters, rounds)), flush=True)
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
