"""What one PgBouncer sample costs: PgBouncer's CPU, the round trips, and the sampler's own CPU.

A throwaway PostgreSQL 16 with a real PgBouncer in front (Debian's 1.18, and ``$PGBOUNCER_NEWEST`` too when
set: ``scripts/newest-pgbouncer.sh``), in transaction mode, with 10 and 200 idle client connections spread
over two pools. Per sample, side by side in one run (repetitions interleaved, in a rotated order):

- **ours**: ``PgBouncerSampler.sample()``, six SHOW commands (VERSION, CONFIG, POOLS, STATS, CLIENTS,
  SERVERS) and their parsing into a ``PgBouncerSnapshot``;
- **SHOW POOLS only**: what the smallest exporter asks (one command, rows not parsed);
- **bare round trip**: ``SHOW VERSION`` alone, the floor of any console query.

PgBouncer is one single-threaded process, so its CPU time per sample is the change of the first field of
``/proc/<pid>/schedstat`` (nanoseconds on CPU) across the call, read while it waits for us. The sampler's
CPU is this process's ``time.process_time()`` across the call; wall time is the client's round trips.

Run: ``python benchmarks/pgbouncer_sample_cost.py [--repetitions 200]`` (about 30 s per PgBouncer).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pgbouncer_kit import USERS, binaries, running_pgbouncer  # noqa: E402
from pgcluster import Cluster  # noqa: E402

from dashboard.live.pgbouncer import PgBouncerSampler, console_params  # noqa: E402

SETTINGS = "pool_mode = transaction\ndefault_pool_size = 5\nmax_client_conn = 1000\n"


def cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as handle:
        return int(handle.read().split()[0])


async def open_clients(port: int, count: int) -> list[asyncpg.Connection]:
    clients = []
    for i in range(count):
        clients.append(await asyncpg.connect(
            host="127.0.0.1", port=port, user="app", password=USERS["app"], database=("appdb", "postgres")[i % 2],
            server_settings={"application_name": f"bench-{i % 5}"}))
    await asyncio.gather(*(c.execute("SELECT 1") for c in clients[:20]))  # two pools with server connections
    return clients


async def measure(port: int, pid: int, url: str, repetitions: int,
                  per_command: bool) -> dict[str, dict[str, list[float]]]:
    sampler = PgBouncerSampler("bench", url)
    raw = await psycopg.AsyncConnection.connect(**console_params(url), autocommit=True, prepare_threshold=None)

    async def ours() -> None:
        snap = await sampler.sample()
        assert snap.ok, snap.error

    async def pools_only() -> None:
        await (await raw.execute("SHOW POOLS", prepare=False)).fetchall()

    async def bare() -> None:
        await (await raw.execute("SHOW VERSION", prepare=False)).fetchall()

    def one(command: str):
        async def run() -> None:
            await (await raw.execute(command, prepare=False)).fetchall()
        return run

    variants = {"ours (6 SHOW commands, parsed)": ours, "SHOW POOLS only": pools_only, "bare round trip": bare}
    if per_command:
        variants.update({f"{command} alone": one(command) for command in ("SHOW CONFIG", "SHOW STATS", "SHOW CLIENTS",
                                                                          "SHOW SERVERS")})
    results = {name: {"cpu_us": [], "wall_ms": [], "sampler_cpu_us": []} for name in variants}
    await ours()  # connect first: a held connection is what is measured
    names = list(variants)
    for rep in range(repetitions):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            before_cpu, before_own, started = cpu_ns(pid), time.process_time(), time.perf_counter()
            await variants[name]()
            wall = time.perf_counter() - started
            results[name]["cpu_us"].append((cpu_ns(pid) - before_cpu) / 1000)
            results[name]["sampler_cpu_us"].append((time.process_time() - before_own) * 1e6)
            results[name]["wall_ms"].append(wall * 1000)
    await sampler.close()
    await raw.close()
    return results


def report(version: str, clients: int, results: dict[str, dict[str, list[float]]]) -> None:
    bare = statistics.mean(results["bare round trip"]["cpu_us"])
    for name, values in results.items():
        cpu = statistics.mean(values["cpu_us"])
        print(f"| {version} | {clients} | {name} | {cpu:.0f} | {cpu / bare:.1f}x | "
              f"{statistics.median(values['wall_ms']):.2f} | {statistics.mean(values['sampler_cpu_us']):.0f} |")


async def run(repetitions: int, per_command: bool) -> None:
    print("| PgBouncer | clients | per sample | PgBouncer CPU µs (mean) | x bare | wall ms (median) | "
          "sampler CPU µs (mean) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    with Cluster({"max_connections": 100}) as cluster:
        for index, binary in enumerate(binaries()):
            for clients in (10, 200):
                with running_pgbouncer(cluster, f"bench-{index}-{clients}", SETTINGS, binary=binary,
                                       auth_type="md5") as bouncer:
                    conns = await open_clients(bouncer.port, clients)
                    try:
                        results = await measure(bouncer.port, bouncer.process.pid, bouncer.url("stats"), repetitions,
                                                per_command)
                    finally:
                        await asyncio.gather(*(c.close() for c in conns))
                    report(bouncer.version, clients, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--per-command", action="store_true", help="also each SHOW command alone")
    args = parser.parse_args()
    asyncio.run(run(args.repetitions, args.per_command))


if __name__ == "__main__":
    main()
