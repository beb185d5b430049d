"""What the pool probe adds to a checkout + check-in, on a real pool, bare and probed side by side in one run.

Two engines on the same PostgreSQL, identical but for ``planner.probe.instrument``: a sync one (psycopg,
``QueuePool``: ``engine.connect()`` then ``close()``, the path every request takes) and an async one
(asyncpg, ``AsyncAdaptedQueuePool``: ``async with engine.connect()``). Rounds alternate bare and probed so
that drift on a shared machine hits all; the figure is the median over rounds of the process's CPU time
(``time.process_time``: other processes on shared cores do not count) per checkout + check-in, and the
median of the per-round differences, with their interquartile range (many short rounds: a round's engines
run within a tenth of a second of each other, so a load change on the host rarely splits a pair). A third
engine with one no-op ``checkin`` listener shows what SQLAlchemy's event dispatch alone costs, the floor of
any probe built on its public events (the probe itself uses none on the checkout and check-in paths). The
server's connection count by ``application_name`` shows the probe opens no connection of its own.
Target: <= 5 µs added per checkout.

    python benchmarks/probe_overhead.py                     # its own PostgreSQL 16 (pgserver), ~30 s
    python benchmarks/probe_overhead.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from planner.probe import instrument  # noqa: E402


def sync_round(engine, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        engine.connect().close()
    return (time.process_time() - started) / n * 1e6


async def async_round(engine, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        async with engine.connect():
            pass
    return (time.process_time() - started) / n * 1e6


def server_connections(url: str, names: list[str]) -> dict[str, int]:
    engine = create_engine(url.replace("+asyncpg", "+psycopg"), poolclass=None)
    sql = "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = :name"
    try:
        with engine.connect() as conn:
            return {name: conn.execute(text(sql), {"name": name}).scalar() or 0 for name in names}
    finally:
        engine.dispose()


VARIANTS = ("bare", "listener", "probed")
"""bare: no hook; listener: one no-op ``checkin`` listener (what any event-based probe pays SQLAlchemy's
dispatch); probed: ``instrument``."""


def prepare(engine, variant: str, service: str) -> None:
    if variant == "listener":
        event.listen(getattr(engine, "sync_engine", engine), "checkin", lambda *args: None)
    elif variant == "probed":
        instrument(engine, service=service)


def row(label: str, rounds: list[dict[str, float]]) -> str:
    median = {v: statistics.median(r[v] for r in rounds) for v in VARIANTS}
    added = [r["probed"] - r["bare"] for r in rounds]
    listener = statistics.median(r["listener"] - r["bare"] for r in rounds)
    low, _, high = statistics.quantiles(added, n=4)
    return (f"| {label} | {median['bare']:.1f} | {median['listener']:.1f} | {median['probed']:.1f} | "
            f"{listener:+.1f} | **{statistics.median(added):+.1f}** | {low:+.1f} to {high:+.1f} |")


def run(url: str, rounds: int, n: int) -> None:
    tag = f"probe-bench-{os.getpid()}"
    sync_url = url.replace("+asyncpg", "+psycopg")
    engines = {}
    for variant in VARIANTS:
        engines[variant] = create_engine(sync_url, pool_size=2, connect_args={"application_name": f"{tag}-{variant}"})
        prepare(engines[variant], variant, "bench")
    sync_rounds = []
    for i in range(rounds):
        order = VARIANTS if i % 2 == 0 else tuple(reversed(VARIANTS))
        for variant in order:
            sync_round(engines[variant], 50)  # warm
        sync_rounds.append({variant: sync_round(engines[variant], n) for variant in order})
    counts = server_connections(url, [f"{tag}-{variant}" for variant in VARIANTS])
    for engine in engines.values():
        engine.dispose()
    async_rounds = asyncio.run(async_pairs(url, rounds, n))
    print("CPU µs per checkout + check-in (median over rounds)")
    print("| pool | bare | no-op listener | probed | listener added | probe added | added, IQR |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(row("sync QueuePool, psycopg, `engine.connect().close()`", sync_rounds))
    print(row("async AsyncAdaptedQueuePool, asyncpg, `async with engine.connect()`", async_rounds))
    print("server connections after the sync run: " + ", ".join(f"{v} {counts[f'{tag}-{v}']}" for v in VARIANTS))
    print(f"{rounds} rounds x {n} checkouts per engine, alternating order")


async def async_pairs(url: str, rounds: int, n: int) -> list[dict[str, float]]:
    engines = {}
    for variant in VARIANTS:
        engines[variant] = create_async_engine(url, pool_size=2)
        prepare(engines[variant], variant, "bench-async")
    out = []
    try:
        for i in range(rounds):
            order = VARIANTS if i % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                await async_round(engines[variant], 50)
            out.append({variant: await async_round(engines[variant], n) for variant in order})
    finally:
        for engine in engines.values():
            await engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="asyncpg URL of a PostgreSQL (default: start an embedded one)")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--checkouts", type=int, default=300, help="checkouts per engine per round")
    args = parser.parse_args()
    url = args.url or os.environ.get("TEST_DATABASE_URL")
    if url:
        run(url, args.rounds, args.checkouts)
        return
    from pgcluster import Cluster

    cluster = Cluster().start()
    try:
        run(cluster.url(), args.rounds, args.checkouts)
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
