"""The in-process pool probe: one ``PoolProbe`` per engine, fed by SQLAlchemy's pool events and thin
wrappers on the pool instance.

What is hooked, and why each hook is the least intrusive one that gives the figure:

* public pool events (listened on the engine, so they move to the new pool on ``engine.dispose()``):
  ``detach`` ends the hold, ``connect`` / ``close`` count new and closed DBAPI connections,
  ``invalidate`` / ``soft_invalidate`` count invalidations; an invalidation whose exception is
  ``InvalidatePoolError`` is SQLAlchemy's pre-ping failure (``_ConnectionFairy._checkout`` raises it when
  the ping finds the connection dead). These fire only when it happens, never on the checkout path. No
  engine-level event: one would put every ``Connection`` on SQLAlchemy's slower with-events path;
* ``pool.connect`` (the public method ``Engine.raw_connection`` calls) is wrapped on this one pool
  instance: the time from asking to having a connection (the checkout wait: queue wait, plus opening a new
  connection and the pre-ping when they happen), the checkout itself and the hold's start (kept by
  connection record while it is checked out), and ``sqlalchemy.exc.TimeoutError`` (``QueuePool limit ...
  timed out``) as a timeout. Waits that end in a timeout or another error are recorded too;
* ``pool._return_conn`` is wrapped on the instance to end the hold: ``_ConnectionRecord.checkin`` calls it
  right after dispatching the ``checkin`` event, on every check-in and nowhere else, so it sees exactly
  what a ``checkin`` listener sees without paying SQLAlchemy's event dispatch on every check-in;
* the pool's queue ``get`` is wrapped on the instance to count the requests blocked on it right now
  (``waiting``) and time the blocked part (``queue_wait``): SQLAlchemy only blocks there when no connection
  is idle and the overflow is used up;
* ``pool.recreate`` is wrapped so that the pool ``engine.dispose()`` makes is wrapped too.

The pool's own ``checkedout()``, ``checkedin()`` and ``overflow()`` give the gauges. No extra database
connection, no thread. No lock on the checkout and check-in paths either: they only append what they saw
to lists (``list.append`` is atomic), and every ``FOLD_AT`` checkouts, and before every reading, the
appended values are folded into the histograms under the probe's lock. The cost per checkout is measured
by ``benchmarks/probe_overhead.py`` (docs/probe.md, Cost).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from time import perf_counter
from typing import Any

from sqlalchemy import event, exc

from planner.probe.histogram import BOUNDS_S, Histogram, summary

_REGISTRY_LOCK = threading.Lock()
_PROBES: list[PoolProbe] = []
FOLD_AT = 512
"""Observations the hot paths append before one of them folds them into the histograms (``_fold``)."""
COUNTERS = ("checkouts", "timeouts", "connect_errors", "connects", "closes", "invalidations",
            "soft_invalidations", "pre_ping_failures")


class PoolProbe:
    """Counters, gauges and histograms of one engine's pool in this process."""

    def __init__(self, engine: Any, service: str, engine_name: str | None = None):
        self.engine = getattr(engine, "sync_engine", engine)  # AsyncEngine -> its Engine
        self.service = str(service)
        self.engine_name = engine_name or "default"
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._holds: dict[Any, float] = {}  # connection record -> perf_counter() at checkout, while checked out
        self._waiting = 0
        self._counts = dict.fromkeys(COUNTERS, 0)  # all but checkouts, which is the successful waits
        self._wait = Histogram()
        self._hold = Histogram()
        self._queue = Histogram()  # time blocked on the pool's queue (only when the pool is at its ceiling)
        self._at_checkout: list[int] = []  # checkouts seen with n connections checked out, index n
        # what the hot paths saw and _fold has not counted yet (list.append is atomic: no lock on the hot path)
        self._new_waits: list[float] = []
        self._new_holds: list[float] = []
        self._new_seen: list[int] = []  # connections checked out as each new checkout saw them
        self._pool: Any = None
        self._listen()
        self._wrap_pool(self.engine.pool)

    # ---------------------------------------------------------------------------------------- hooks

    def _listen(self) -> None:
        engine = self.engine
        event.listen(engine, "detach", self._on_detach)
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "close", self._on_close)
        event.listen(engine, "invalidate", self._on_invalidate)
        event.listen(engine, "soft_invalidate", self._on_soft_invalidate)

    def _wrap_pool(self, pool: Any) -> None:
        """Wrap ``connect``, ``_return_conn``, ``recreate`` and the queue's ``get`` on this pool instance only."""
        self._pool = pool
        self._wrap_connect(pool)
        self._wrap_return(pool)
        self._wrap_recreate(pool)
        queue = getattr(pool, "_pool", None)
        if queue is not None and callable(getattr(queue, "get", None)):
            self._wrap_queue(queue)

    def _wrap_connect(self, pool: Any) -> None:
        """The checkout's hot path, in one closure: it only appends what it saw (the wait, the number checked
        out) and keeps the hold's start; ``_fold`` counts them into the histograms, every ``FOLD_AT``
        checkouts and before every reading."""
        original_connect = pool.connect
        failed, fold, holds = self._failed, self._fold, self._holds
        new_waits = self._new_waits
        add_wait, add_seen, start_hold = new_waits.append, self._new_seen.append, holds.setdefault

        def connect() -> Any:
            started = perf_counter()
            try:
                fairy = original_connect()
            except exc.TimeoutError:
                failed(started, "timeouts")
                raise
            except BaseException:
                failed(started, "connect_errors")
                raise
            now = perf_counter()
            start_hold(fairy._connection_record, now)  # a record already held (StaticPool) keeps its start
            add_seen(len(holds))
            add_wait(now - started)
            if len(new_waits) >= FOLD_AT:
                fold()
            return fairy

        pool.connect = connect

    def _wrap_return(self, pool: Any) -> None:
        """The check-in's hot path: ``_return_conn`` is what ``_ConnectionRecord.checkin`` calls right after
        the ``checkin`` event, for every check-in and only then (a detach returns the record otherwise), so
        wrapping it gives the hold without SQLAlchemy's event dispatch."""
        original_return = pool._return_conn
        end_hold, add_hold = self._holds.pop, self._new_holds.append

        def return_conn(record: Any) -> None:
            started = end_hold(record, None)
            if started is not None:
                add_hold(perf_counter() - started)
            original_return(record)

        pool._return_conn = return_conn

    def _fold(self) -> None:
        with self._lock:
            self._count_new()

    def _count_new(self) -> None:
        """Count what the hot paths appended into the histograms; the caller holds the lock (one fold at a
        time). The hot paths append meanwhile, to the end, and only the part taken here is removed."""
        self._wait.observe_many(_take(self._new_waits))
        self._hold.observe_many(_take(self._new_holds))
        at = self._at_checkout
        for n, count in Counter(_take(self._new_seen)).items():
            if n >= len(at):  # a new peak
                at.extend([0] * (n + 1 - len(at)))
            at[n] += count

    def _wrap_recreate(self, pool: Any) -> None:
        original_recreate = pool.recreate

        def recreate() -> Any:  # engine.dispose(): the events move to the new pool, the wrappers come along here
            new_pool = original_recreate()
            self._wrap_pool(new_pool)
            return new_pool

        pool.recreate = recreate

    def _wrap_queue(self, queue: Any) -> None:
        original_get = queue.get
        queued, dequeued = self._queued, self._dequeued

        def get(block: bool = True, timeout: float | None = None) -> Any:
            if not block:  # SQLAlchemy's fast path: an idle connection or room to overflow
                return original_get(False, timeout)
            started = queued()
            try:
                return original_get(block, timeout)
            finally:
                dequeued(started)

        queue.get = get

    def _queued(self) -> float:
        with self._lock:
            self._waiting += 1
        return perf_counter()

    def _dequeued(self, started: float) -> None:
        """Blocked on the queue (no idle connection, overflow used up) until now: the pure queue wait."""
        elapsed = perf_counter() - started
        with self._lock:
            self._waiting -= 1
            self._queue.observe(elapsed)

    def _failed(self, started: float, counter: str) -> None:
        elapsed = perf_counter() - started
        with self._lock:  # with its counter, so that checkouts (waits less failures) is never off
            self._new_waits.append(elapsed)
            self._counts[counter] += 1
            if len(self._new_waits) >= FOLD_AT:  # a server down for hours, and nobody reading
                self._count_new()

    def _on_detach(self, dbapi_connection: Any, record: Any) -> None:
        self._holds.pop(record, None)

    def _bump(self, counter: str) -> None:
        with self._lock:
            self._counts[counter] += 1

    def _on_connect(self, dbapi_connection: Any, record: Any) -> None:
        self._bump("connects")

    def _on_close(self, dbapi_connection: Any, record: Any) -> None:
        self._bump("closes")

    def _on_invalidate(self, dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
        self._bump("pre_ping_failures" if isinstance(exception, exc.InvalidatePoolError) else "invalidations")

    def _on_soft_invalidate(self, dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
        self._bump("soft_invalidations")

    # ---------------------------------------------------------------------------------------- reading

    def _gauges(self) -> dict[str, Any]:
        pool = self._pool
        size = _call(pool, "size")
        if size is None:  # not a QueuePool: count what the events saw
            return {"pool_size": None, "max_overflow": None, "checked_out": len(self._holds), "idle": None,
                    "overflow": 0}
        max_overflow = getattr(pool, "_max_overflow", None)
        return {"pool_size": size, "max_overflow": max_overflow, "checked_out": _call(pool, "checkedout"),
                "idle": _call(pool, "checkedin"), "overflow": max(0, _call(pool, "overflow") or 0)}

    def snapshot(self) -> dict[str, Any]:
        """Everything the probe knows, as plain data (the JSON endpoint's document for this engine).

        ``wait_ms`` / ``hold_ms`` are over the process lifetime (``window``); the raw bucket counts let a
        collector compute any window by differencing two scrapes (``planner.probe.histogram.difference``)."""
        gauges = self._gauges()
        with self._lock:
            self._count_new()  # with the reading: a failure's counter and its wait are counted together
            wait = self._wait.as_dict()
            failures = self._counts["timeouts"] + self._counts["connect_errors"]
            counts = {**self._counts, "checkouts": wait["count"] - failures}
            hold = self._hold.as_dict()
            queue = self._queue.as_dict()
            waiting, at_checkout = self._waiting, list(self._at_checkout)
        pool = self._pool
        return {
            "service": self.service, "engine": self.engine_name, "pid": os.getpid(),
            "pool_class": type(pool).__name__, **gauges,
            "pool_timeout_s": _call(pool, "timeout"), "pre_ping": bool(getattr(pool, "_pre_ping", False)),
            "waiting": waiting, "peak_checked_out": max(0, len(at_checkout) - 1), **counts,
            "wait_ms": summary(wait["counts"], wait["sum_s"], wait["count"]).as_dict(),
            "hold_ms": summary(hold["counts"], hold["sum_s"], hold["count"]).as_dict(),
            "queue_wait_ms": summary(queue["counts"], queue["sum_s"], queue["count"]).as_dict(),
            "window": "lifetime", "started_at": self.started_at, "taken_at": time.time(),
            "histograms": {"bounds_s": list(BOUNDS_S), "wait": wait, "hold": hold, "queue": queue},
            "checked_out_at_checkout": at_checkout,
        }


def _take(items: list) -> list:
    """The items now in ``items``, removed from it; appends made meanwhile stay (list operations are atomic)."""
    taken = items[:]
    del items[:len(taken)]
    return taken


def _call(obj: Any, name: str) -> Any:
    method = getattr(obj, name, None)
    return method() if callable(method) else None


def instrument(engine: Any, service: str, *, engine_name: str | None = None) -> PoolProbe:
    """Probe ``engine`` (``create_async_engine`` or ``create_engine``) in this process; idempotent per engine.

    ``service`` names the application (use its ``application_name``, so the dashboard joins the probe with
    the server's view); ``engine_name`` the engine within it (``primary``, ``replica``)."""
    sync = getattr(engine, "sync_engine", engine)
    with _REGISTRY_LOCK:
        for probe in _PROBES:
            if probe.engine is sync:
                return probe
        probe = PoolProbe(sync, service, engine_name)
        _PROBES.append(probe)
        return probe


def probes() -> list[PoolProbe]:
    """Every probe instrumented in this process, in order."""
    with _REGISTRY_LOCK:
        return list(_PROBES)


def uninstrument(probe: PoolProbe) -> None:
    """Forget a probe (its counters stop being exposed; the hooks stay until the engine is disposed of)."""
    with _REGISTRY_LOCK:
        if probe in _PROBES:
            _PROBES.remove(probe)
