"""When does pg_stat_database count a pooled service's transactions? (the ``transactions`` source of
``live observe``, docs/observe.md).

Runs the same workload twice in a database of its own (``--connections`` connections, each running a 20 ms
transaction every 100 ms): once with bare ``SELECT pg_sleep(0.02)`` transactions, once with the same reading a
one-row table. Reads ``xact_commit + xact_rollback`` every 0.2 s from another connection and prints how often
the counter moved, its largest gap, and its slope between the first and last move next to the rate run.

    /work/venv/bin/python benchmarks/pgstat_flush.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
        [--seconds 40] [--connections 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.observe import counter_rate

COUNTER = "SELECT xact_commit + xact_rollback FROM pg_catalog.pg_stat_database WHERE datname = %s"


def _worker(url: str, reads_table: bool, stop: threading.Event, done: list[int]) -> None:
    with psycopg.connect(url) as conn:
        while not stop.is_set():
            if reads_table:
                conn.execute("SELECT pg_catalog.pg_sleep(0.02) FROM public.rows WHERE id = 1")
            else:
                conn.execute("SELECT pg_catalog.pg_sleep(0.02)")
            conn.commit()
            done[0] += 1
            time.sleep(0.08)


def run(admin_url: str, reads_table: bool, seconds: float, connections: int) -> str:
    name = f"pgstatflush{os.getpid()}_{int(reads_table)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE public.rows (id integer PRIMARY KEY)")
            conn.execute("INSERT INTO public.rows VALUES (1)")
        stop, done = threading.Event(), [0]
        threads = [threading.Thread(target=_worker, args=(url, reads_table, stop, done)) for _ in range(connections)]
        for t in threads:
            t.start()
        time.sleep(2)
        times, counts = [], []
        with psycopg.connect(admin_url, autocommit=True) as monitor:
            before, started = done[0], time.monotonic()
            while time.monotonic() - started < seconds:
                times.append(time.monotonic() - started)
                counts.append(monitor.execute(COUNTER, (name,)).fetchone()[0])
                time.sleep(0.2)
            ran = (done[0] - before) / (time.monotonic() - started)
        stop.set()
        for t in threads:
            t.join()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    moves = [times[i] for i in range(1, len(counts)) if counts[i] != counts[i - 1]]
    gap = max((b - a for a, b in itertools.pairwise(moves)), default=0.0)
    rate = counter_rate(times, counts)
    what = "reads a table" if reads_table else "bare pg_sleep"
    return (f"| {what} | {ran:.1f} | {len(moves)} | {gap:.1f} | "
            f"{'none (refused)' if rate is None else f'{rate:.1f}'} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--connections", type=int, default=5)
    args = parser.parse_args()
    with psycopg.connect(args.url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    print(f"PostgreSQL {version}, {args.connections} connections, {args.seconds:g} s, counter read every 0.2 s\n")
    print("| transactions | run per s | counter moves | largest gap s | counter_rate per s |")
    print("|---|---:|---:|---:|---:|")
    for reads_table in (False, True):
        print(run(args.url, reads_table, args.seconds, args.connections), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
