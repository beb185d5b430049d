"""One demo worker PROCESS (``python -m dashboard.demo_worker worker CONFIG``): an async engine from the demo
plan, a Poisson stream of requests, the scenario read from a control file, counts written to a stats file.

Part of the demo (``dashboard.demo`` re-exports every name).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from uuid import uuid4

from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import create_async_engine

from dashboard.demo_plan import PGBOUNCER_SCENARIO
from planner.probe import instrument, serve

SQL_DIR = Path(__file__).with_name("demo_sql")


COLD_CYCLE_S = 20.0
"""Cold start: one cycle (pools disposed and warmed up the lesson's way at its start)."""


COLD_QUIET_S = 10.0
"""Cold start: seconds of one-request-at-a-time traffic after the warm-up: each pool keeps its one connection,
so the fleet sits at 1 per worker, below half the plan's pool_size x workers (cold-pool's threshold)."""


COLD_BURST = 7
"""Cold start: requests arriving at once in every worker when the quiet ends: 4 x 6 new backends within one
sample interval, the jump cold-pool's burst rule looks for (at least 20 by default), and 4 x 7 = 28 stays below
the 37 usable slots (no refusal muddles it)."""


COLD_BURST_HOLD_S = 1.5


@cache
def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


@dataclass(frozen=True)
class WorkerConfig:
    """What one worker process needs: where to connect, its pool settings and its traffic."""

    url: str
    application_name: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: float
    pool_pre_ping: bool
    rps: float
    hold_ms: float
    control: str
    stats: str
    pgbouncer_url: str = ""
    """The same database through the demo's PgBouncer (the "PgBouncer queue" scenario), "" without one."""
    service: str = ""
    """The service the probe reports (the plan's application_name; the workers' names add ``-N``)."""


class _Worker:
    """One application process: an async engine from the plan and a stream of requests."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self.counts = {"served": 0, "pool_timeouts": 0, "refused": 0, "errors": 0, "leaked": 0}
        self.scenario = "normal"
        self.engine = self._engine()
        self.bouncer_engine = None
        self.leaks: list[asyncio.Task] = []
        self.inflight: set[asyncio.Task] = set()
        self.since = time.time()
        """When the scenario was switched (wall clock, from the control file): the cold start cycle's origin."""
        self._cold_cycle = -1
        self._burst_fired = False
        # the in-app probe, on its own port: the dashboard shows this pool next to the server's view
        instrument(self.engine, service=config.service or config.application_name)
        self.probe_server = serve(port=0)

    def _engine(self, url: str | None = None):
        c = self.config
        connect_args: dict = {"server_settings": {"application_name": c.application_name}}
        if url:  # through the demo's PgBouncer 1.18 in transaction mode: no prepared statement kept
            connect_args.update(statement_cache_size=0, prepared_statement_name_func=lambda: f"__asyncpg_{uuid4()}__")
        return create_async_engine(
            url or c.url, pool_size=c.pool_size, max_overflow=c.max_overflow, pool_timeout=c.pool_timeout,
            pool_recycle=c.pool_recycle, pool_pre_ping=c.pool_pre_ping, connect_args=connect_args,
        )

    def _request_engine(self):
        """The engine of this moment's scenario: through PgBouncer in the PgBouncer one."""
        if self.scenario != PGBOUNCER_SCENARIO or not self.config.pgbouncer_url:
            return self.engine
        if self.bouncer_engine is None:
            self.bouncer_engine = self._engine(self.config.pgbouncer_url)
        return self.bouncer_engine

    async def request(self, hold_s: float) -> None:
        try:
            async with self._request_engine().connect() as conn:
                await conn.execute(text(load_sql("request")), {"hold_s": hold_s})
            self.counts["served"] += 1
        except exc.TimeoutError:
            self.counts["pool_timeouts"] += 1
        except exc.DBAPIError as err:
            refused = getattr(err.orig, "sqlstate", None) == "53300"
            self.counts["refused" if refused else "errors"] += 1
        except Exception:
            self.counts["errors"] += 1

    async def leak(self) -> None:
        """A handler that begins a transaction and never ends it: the session stays idle in transaction."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text(load_sql("leak")))
                self.counts["leaked"] += 1
                await asyncio.Event().wait()  # forgotten until the scenario changes (cancelled)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counts["errors"] += 1

    def read_scenario(self) -> str:
        try:
            control = json.loads(Path(self.config.control).read_text())
            self.since = float(control.get("since", self.since))
            return control["scenario"]
        except (OSError, ValueError, KeyError, TypeError):
            return self.scenario

    async def cold_start_step(self, hold_s: float) -> bool:
        """One step of the cold start cycle (wall clock from the switch, so every worker is in step: a sample
        sees all of them quiet, then all of them bursting). True when this step took the place of a request."""
        elapsed = max(time.time() - self.since, 0.0)
        cycle, phase = int(elapsed // COLD_CYCLE_S), elapsed % COLD_CYCLE_S
        if cycle != self._cold_cycle:
            self._cold_cycle, self._burst_fired = cycle, False
            await self.drop_inflight()  # a restarted worker has no request in flight...
            await self.engine.dispose()  # ...and an empty pool
            await self.request(0)  # the lesson's warm-up: one SELECT 1 in one session opens one connection
            return True
        if phase < COLD_QUIET_S:
            await self.request(hold_s * random.uniform(0.5, 1.5))  # one at a time: the pool stays at one
            return True
        if not self._burst_fired:
            self._burst_fired = True
            for _ in range(COLD_BURST):
                self.spawn(self.request(COLD_BURST_HOLD_S))
        # while the burst holds its connections, nothing else arrives: every new backend is the burst's own
        return phase < COLD_QUIET_S + COLD_BURST_HOLD_S

    async def drop_inflight(self) -> None:
        """Cancel the requests in flight and wait for them: requests still queued for the pool (thousands after a
        connection storm) would otherwise keep the disposed pool, and its connections, alive."""
        tasks = list(self.inflight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro) -> None:
        if len(self.inflight) < 500:
            task = asyncio.create_task(coro)
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        else:
            coro.close()

    def write_stats(self) -> None:
        path = Path(self.config.stats)
        tmp = path.with_suffix(".tmp")
        probe = f"http://127.0.0.1:{self.probe_server.server_address[1]}/probe"
        tmp.write_text(json.dumps({"application_name": self.config.application_name, "scenario": self.scenario,
                                   "probe": probe, **self.counts}))
        tmp.replace(path)

    async def run(self, stop: asyncio.Event) -> None:
        last_check = cycle_start = 0.0
        parent = os.getppid()
        hold_s = self.config.hold_ms / 1000
        while not stop.is_set():
            now = time.monotonic()
            if now - last_check >= 0.5:
                last_check = now
                if os.getppid() != parent:
                    break  # the dashboard died without stopping us (SIGKILL): do not run on as an orphan
                scenario = self.read_scenario()
                if scenario != self.scenario:
                    for task in self.leaks:
                        task.cancel()
                    self.leaks.clear()
                    await self.drop_inflight()  # the new scenario starts from its own traffic
                    self.scenario, cycle_start, self._cold_cycle = scenario, now, -1
                self.write_stats()
            rate, hold = self.config.rps, hold_s
            if self.scenario == "leaking session" and len(self.leaks) < 3 and now - cycle_start > 3 * len(self.leaks):
                self.leaks.append(asyncio.create_task(self.leak()))
            elif self.scenario == "cold start" and await self.cold_start_step(hold):
                await asyncio.sleep(random.expovariate(max(rate, 0.1)))
                continue
            elif self.scenario == "connection storm":
                rate, hold = rate * 8, 0.3
            elif self.scenario == PGBOUNCER_SCENARIO:
                hold = hold * 4  # 60 req/s x 0.1 s = 6 busy > PgBouncer's 2 server connections: a queue in PgBouncer
            self.spawn(self.request(hold * random.uniform(0.5, 1.5)))
            await asyncio.sleep(random.expovariate(max(rate, 0.1)))
        for task in [*self.inflight, *self.leaks]:
            task.cancel()
        await asyncio.gather(*self.inflight, *self.leaks, return_exceptions=True)
        await self.engine.dispose()
        if self.bouncer_engine is not None:
            await self.bouncer_engine.dispose()


def _worker_main(config_json: str) -> int:
    config = WorkerConfig(**json.loads(config_json))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await _Worker(config).run(stop)

    asyncio.run(main())
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dashboard.demo_worker worker CONFIG``: what ``Demo.start`` runs in each worker process."""
    parser = argparse.ArgumentParser(description="A demo application worker (started by dashboard.demo.Demo).")
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("config", help="WorkerConfig as JSON, or - to read it from stdin")
    config = parser.parse_args(argv).config
    return _worker_main(sys.stdin.read() if config == "-" else config)


if __name__ == "__main__":
    sys.exit(main())
