"""A real workload for ``live observe``'s tests and benchmark: Poisson arrivals handed to worker threads, each
checking a connection out of a real SQLAlchemy ``QueuePool`` and holding it in a transaction for a drawn time
(``SELECT pg_sleep(hold) FROM bench_rows WHERE id = 1``: like an application's, the transaction reads a table),
with the exact figures kept in the process: the busy integral (time inside the transaction, summed, over the
elapsed time = the exact busy mean), the checkouts, the holds, the waits and the connects the pool opened.

Reading a table matters for pg_stat_database: a backend flushes its transaction counts only when it has some
other statistics pending (a table's, WAL), so transactions that touch no table (a bare ``SELECT pg_sleep``)
are never counted while the connection lives (measured: docs/observe.md). ``reads_table=False`` keeps them.

Used as a library (``Workload(...).start() ... .stop()``); each process of a service is one ``Workload`` with
its own engine and ``application_name`` (``orders-1``, ``orders-2`` fold into ``orders``).
"""

from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout


def sync_url(url: str) -> str:
    """The same server through psycopg (sync), whatever driver the URL names."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@dataclass
class Figures:
    checkouts: int = 0
    timeouts: int = 0
    busy_s: float = 0.0
    holds_ms: list[float] = field(default_factory=list)
    waits_ms: list[float] = field(default_factory=list)
    opened_waits_ms: list[float] = field(default_factory=list)
    """The waits of the checkouts that opened a new connection (an overflow or a replaced one)."""
    connects_ms: list[float] = field(default_factory=list)
    """How long each new DBAPI connection took to open."""
    started: float = 0.0
    stopped: float = 0.0

    def busy_mean(self, since: float | None = None, until: float | None = None) -> float:
        return self.busy_s / max(1e-9, self.stopped - self.started)

    def hold_mean_ms(self) -> float:
        return sum(self.holds_ms) / len(self.holds_ms) if self.holds_ms else 0.0

    def wait_p99_ms(self) -> float:
        return quantile(self.waits_ms, 0.99)

    def connect_p50_ms(self) -> float | None:
        return quantile(self.connects_ms, 0.5) if self.connects_ms else None


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank q-quantile (0.0 when empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


TABLE_DDL = ("CREATE TABLE IF NOT EXISTS public.bench_rows (id integer PRIMARY KEY, v text)",
             "INSERT INTO public.bench_rows VALUES (1, 'row') ON CONFLICT DO NOTHING")


class Workload:
    """One process's traffic: ``rate`` arrivals/s (Poisson), holds of ``hold_ms`` mean (``const``, ``exp`` or
    ``lognormal`` with log-sd ``sigma``), through a pool of ``pool_size`` + ``max_overflow``."""

    def __init__(self, url: str, application_name: str, *, rate: float, hold_ms: float, dist: str = "exp",
                 sigma: float = 0.8, pool_size: int = 5, max_overflow: int = 0, pool_timeout: float = 30.0,
                 threads: int = 64, seed: int = 1, probe: str | None = None, via_pgbouncer: bool = False,
                 reads_table: bool = True):
        extra = {"prepare_threshold": None} if via_pgbouncer else {}  # transaction pooling: no prepared statements
        self.engine = create_engine(sync_url(url), pool_size=pool_size, max_overflow=max_overflow,
                                    pool_timeout=pool_timeout,
                                    connect_args={"application_name": application_name, **extra})
        self.statement = text("SELECT pg_catalog.pg_sleep(:s) FROM public.bench_rows WHERE id = 1" if reads_table
                              else "SELECT pg_catalog.pg_sleep(:s)")
        if reads_table:
            with self.engine.begin() as conn:
                for ddl in TABLE_DDL:
                    conn.execute(text(ddl))
        self.local = threading.local()
        event.listen(self.engine, "do_connect", self._connect_started)
        event.listen(self.engine, "connect", self._connected)
        self.probe = None
        if probe:
            from planner.probe import instrument

            self.probe = instrument(self.engine, service=probe)
        self.rate, self.hold_ms, self.dist, self.sigma = rate, hold_ms, dist, sigma
        self.random = random.Random(seed)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=application_name)
        self.figures = Figures()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._arrivals, daemon=True)
        self.counting = False

    def _hold_s(self) -> float:
        mean = self.hold_ms / 1000
        if self.dist == "const":
            return mean
        if self.dist == "exp":
            return self.random.expovariate(1 / mean)
        mu = math.log(mean) - self.sigma ** 2 / 2  # lognormal with this mean
        return self.random.lognormvariate(mu, self.sigma)

    def _connect_started(self, *_args) -> None:
        self.local.connect_started = time.perf_counter()

    def _connected(self, *_args) -> None:
        started = getattr(self.local, "connect_started", None)
        if started is None:
            return
        self.local.opened = True
        if self.counting:
            with self.lock:
                self.figures.connects_ms.append((time.perf_counter() - started) * 1000)

    def warm(self, connections: int) -> None:
        """Open the pool's connections first (a cold pool's connects are not the workload)."""
        held = []
        try:
            held.extend(self.engine.connect() for _ in range(connections))
        finally:
            for conn in held:
                conn.close()

    def _request(self, hold_s: float, arrived: float) -> None:
        arrived = time.perf_counter()  # the checkout wait starts when the request asks the pool, not when queued
        self.local.opened = False      # for a thread (the executor's dispatch is this harness's, not the pool's)
        try:
            with self.engine.connect() as conn:
                got = time.perf_counter()
                began = time.perf_counter()
                conn.execute(self.statement, {"s": hold_s})
                conn.commit()
                ended = time.perf_counter()
        except PoolTimeout:
            with self.lock:
                self.figures.timeouts += self.counting
            return
        if self.counting:
            with self.lock:
                self.figures.checkouts += 1
                self.figures.busy_s += ended - began
                self.figures.holds_ms.append((ended - got) * 1000)
                self.figures.waits_ms.append((got - arrived) * 1000)
                if self.local.opened:
                    self.figures.opened_waits_ms.append((got - arrived) * 1000)

    def _arrivals(self) -> None:
        next_at = time.perf_counter()
        while not self.stop_event.is_set():
            next_at += self.random.expovariate(self.rate)
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.pool.submit(self._request, self._hold_s(), time.perf_counter())

    def start(self) -> Workload:
        self.thread.start()
        return self

    def count_from_now(self) -> None:
        """Start the exact figures now (after a warm-up)."""
        with self.lock:
            self.figures = Figures(started=time.perf_counter())
            self.counting = True

    def end_count(self) -> Figures:
        with self.lock:
            self.counting = False
            self.figures.stopped = time.perf_counter()
            return self.figures

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()
