"""Instructions the monitored server spends per sample, counted by valgrind: the noise-free half of the cost.

sampler_cost.py measures the backend's CPU time, which is what the server pays, but on a shared two-core
machine its ratios move by +-0.06 between runs (and more on a slower host), too much to tell whether a query
change saves 3%. Here the PostgreSQL 16 server runs under ``valgrind --tool=callgrind``: every backend it
forks is counted, instruction by instruction, the same whatever else the machine does. For each query, two
fresh connections prepare it and run it K1 and K2 times; each backend writes its total when it exits, and
(total(K2) - total(K1)) / (K2 - K1) is what one more execution costs, with connecting, preparing and the
first executions' cache warm-up cancelled out. The client connections are opened as in sampler_cost.py
(20 applications; 70% idle, 20% idle in transaction, 10% active).

What it does not count: the kernel's part (receiving the statement, sending the rows), which is about the
same for every query and so makes the CPU-time ratios smaller than these; and cache misses, which make some
instructions dearer than others. Valgrind runs the server some 50x slower, so this takes a few minutes.

Run: ``python benchmarks/sampler_instructions.py [--sizes 10,200,500] [--k1 5 --k2 25]``. Needs valgrind
(Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

from pgcluster import RUN_AS, Cluster  # noqa: E402
from pgserver._commands import POSTGRES_BIN_PATH  # noqa: E402
from sampler_cost import QUERIES, THREE, close_clients, open_clients  # noqa: E402

OURS = "ours (sample_activity.sql)"
BARE = "bare count(*)"
EXTRA = {
    # Not queries anyone runs: the floor of what the issue asks for, to show where the allowance goes.
    "floor: grouped on our six keys, count only": (
        "SELECT s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type, count(*) "
        "FROM pg_stat_get_activity(NULL) AS s WHERE s.backend_type = 'client backend' "
        "GROUP BY s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type", ()),
}


class CallgrindServer:
    """A throwaway cluster whose postmaster, and so every backend it forks, runs under callgrind."""

    def __init__(self, max_connections: int):
        self.cluster = Cluster()
        self.out = Path(tempfile.mkdtemp(prefix="cg", dir="/tmp"))
        self.out.chmod(0o777)
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}/cg.%p",
                   f"--log-file={self.out}/valgrind.log", str(POSTGRES_BIN_PATH / "postgres"),
                   "-D", str(self.cluster.pgdata), "-p", str(self.cluster.port), "-h", "127.0.0.1",
                   "-k", str(self.cluster.socket_dir), "-c", f"max_connections={max_connections}"]
        if RUN_AS:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def connect(self, **kwargs) -> asyncpg.Connection:
        return await asyncpg.connect(host="127.0.0.1", port=self.cluster.port, user="postgres",
                                     database="postgres", timeout=120, command_timeout=600, **kwargs)

    async def wait_ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await (await self.connect()).close()
                return
            except (OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"server under valgrind did not start: see {self.out}/valgrind.log") from None
                await asyncio.sleep(1)

    def instructions_of(self, pid: int, timeout_s: float = 300) -> int:
        """Total instructions of an exited backend, from the file callgrind writes when it exits."""
        path = self.out / f"cg.{pid}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if path.exists():
                found = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M)
                if found:
                    return int(found.group(1))
            time.sleep(0.2)
        raise TimeoutError(f"no callgrind totals for backend {pid}")

    async def per_execution(self, sql: str, args: tuple, k1: int, k2: int) -> float:
        totals = []
        for runs in (k1, k2):
            conn = await self.connect()
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            statement = await conn.prepare(sql)
            for _ in range(runs):
                await statement.fetch(*args)
            await conn.close()
            totals.append(self.instructions_of(pid))
        return (totals[1] - totals[0]) / (k2 - k1)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.cluster.destroy()
        shutil.rmtree(self.out, ignore_errors=True)


async def measure(sizes: list[int], k1: int, k2: int) -> list[str]:
    server = CallgrindServer(max(600, max(sizes) + 50))
    lines = ["## Server instructions per sample (callgrind)", "",
             f"Per execution: (instructions of a backend that ran it {k2} times - one that ran it {k1} times) / "
             f"{k2 - k1}. User-space instructions only (no kernel send/receive); deterministic.", "",
             "| client connections | query | instructions (k) | x bare count |", "|---:|---|---:|---:|"]
    try:
        await server.wait_ready()
        for n in sizes:
            conns, tasks = await open_clients(server.cluster, n)
            try:
                results = {name: await server.per_execution(sql, args, k1, k2)
                           for name, (sql, args) in {**QUERIES, **EXTRA}.items()}
            finally:
                await close_clients(conns, tasks)
            bare = results[BARE]
            block = [f"| {n} | {name} | {value / 1e3:.1f} | {value / bare:.3f} |" for name, value in results.items()]
            mine = results[OURS] / bare
            verdict = "met" if mine <= 1.5 else "MISSED"
            block.append(f"| {n} | *ours / bare = {mine:.3f}x (target <= 1.5x: {verdict}); "
                         + ", ".join(f"{name} {results[name] / bare:.3f}x" for name in THREE) + "* | | |")
            print("\n".join(block), flush=True)
            lines += block
            await asyncio.sleep(1)
    finally:
        server.close()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,200,500", help="client connection counts (10,200,500)")
    parser.add_argument("--k1", type=int, default=5, help="executions in the first backend (5)")
    parser.add_argument("--k2", type=int, default=25, help="executions in the second backend (25)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.k2 <= args.k1 or args.k1 < 1:
        print("--k2 must be larger than --k1, and --k1 at least 1", file=sys.stderr)
        return 2
    sizes = [int(part) for part in args.sizes.split(",")]
    print("# sampler instructions\n", flush=True)
    asyncio.run(measure(sizes, args.k1, args.k2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
