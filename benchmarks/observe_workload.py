"""A real workload for ``live observe``'s tests and benchmark: Poisson arrivals handed to worker threads, each
checking a connection out of a real SQLAlchemy ``QueuePool`` and holding it in a transaction for a drawn time
(``SELECT pg_sleep(hold)``), with the exact figures kept in the process: the busy integral (time inside the
transaction, summed, over the elapsed time = the exact busy mean), the checkouts, the holds and the waits.

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

from sqlalchemy import create_engine, text
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
    started: float = 0.0
    stopped: float = 0.0

    def busy_mean(self, since: float | None = None, until: float | None = None) -> float:
        return self.busy_s / max(1e-9, self.stopped - self.started)

    def hold_mean_ms(self) -> float:
        return sum(self.holds_ms) / len(self.holds_ms) if self.holds_ms else 0.0

    def wait_p99_ms(self) -> float:
        ordered = sorted(self.waits_ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0.0


class Workload:
    """One process's traffic: ``rate`` arrivals/s (Poisson), holds of ``hold_ms`` mean (``const``, ``exp`` or
    ``lognormal`` with log-sd ``sigma``), through a pool of ``pool_size`` + ``max_overflow``."""

    def __init__(self, url: str, application_name: str, *, rate: float, hold_ms: float, dist: str = "exp",
                 sigma: float = 0.8, pool_size: int = 5, max_overflow: int = 0, pool_timeout: float = 30.0,
                 threads: int = 64, seed: int = 1, probe: str | None = None, via_pgbouncer: bool = False):
        extra = {"prepare_threshold": None} if via_pgbouncer else {}  # transaction pooling: no prepared statements
        self.engine = create_engine(sync_url(url), pool_size=pool_size, max_overflow=max_overflow,
                                    pool_timeout=pool_timeout,
                                    connect_args={"application_name": application_name, **extra})
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
        try:                           # for a thread (the executor's dispatch is this harness's, not the pool's)
            with self.engine.connect() as conn:
                got = time.perf_counter()
                began = time.perf_counter()
                conn.execute(text("SELECT pg_catalog.pg_sleep(:s)"), {"s": hold_s})
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
