"""Sampling several servers in the background: one thread, one event loop, one connection per server.

Streamlit reruns have no lasting event loop, and an ``AsyncEngine`` must not cross loops (FACTS F3), so the
monitor owns both: a daemon thread runs one asyncio loop, each server gets a task with its own
``ServerSampler`` (engine, one held connection), and the UI reads plain dataclasses under a lock.

Faults are samples too: a failed sample is a gap (status not ``ok``) in the latest view and in the history.
Retries follow the interval for the first ``FAST_RETRIES`` failures, so a restart or a terminated backend
is bridged within two intervals, then back off (doubling) to ``MAX_BACKOFF_S`` (or the interval if longer).
A URL that cannot be used (``bad-url`` without a SQLSTATE) is not retried; a database that does not exist
(yet: 3D000) is, like any server fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from dashboard.live import db
from dashboard.live.history import HistoryStore
from dashboard.live.pgbouncer import PgBouncerSampler
from dashboard.live.sampler import ServerSampler, now_utc
from planner.pgbouncer_snapshot import PgBouncerSnapshot
from planner.snapshot import Snapshot

FAST_RETRIES = 5
MAX_BACKOFF_S = 10.0
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.1, 3600.0


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """How sampling one server is going, for a status line in the UI or the CLI."""

    server: str
    url: str
    """The URL with the password masked."""
    state: str
    """``starting`` before the first sample, then the last sample's status: ``ok``, ``unreachable``,
    ``refused``, ``auth``, ``bad-url``, ``ssl``, ``error``."""
    reason: str | None
    """The server's or driver's words when state is not ok."""
    since: datetime
    """When the current state began (UTC)."""
    next_retry_at: datetime | None
    """When the next attempt is due, while failing; None when ok or not retried (bad-url)."""
    last_ok_at: datetime | None
    failures: int
    """Consecutive failed samples."""
    samples: int
    """Samples taken (ok or not) since start."""
    own_pid: int | None = None
    """Backend pid of the monitor's connection on this server, while connected."""

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server, "url": self.url, "state": self.state, "reason": self.reason,
            "since": self.since.isoformat(),
            "next_retry_at": self.next_retry_at.isoformat() if self.next_retry_at else None,
            "last_ok_at": self.last_ok_at.isoformat() if self.last_ok_at else None,
            "failures": self.failures, "samples": self.samples, "own_pid": self.own_pid,
        }


def retry_delay(failures: int, interval_s: float) -> float:
    """Seconds to wait after ``failures`` consecutive failed samples (1 = the first failure).

    >>> [retry_delay(n, 1.0) for n in range(1, 10)]
    [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 8.0, 10.0]
    >>> retry_delay(9, 30.0)
    30.0
    """
    if failures <= FAST_RETRIES:
        return interval_s
    return max(interval_s, min(MAX_BACKOFF_S, interval_s * 2 ** (failures - FAST_RETRIES)))


class Monitor:
    """Samples every server in ``targets`` (name -> URL) every ``interval_s`` seconds, in the background.

    ``history`` receives every sample; without one, a temporary store (removed by ``stop()``) is used so
    ``.history`` always works. ``collect_queries`` turns on the truncated last statement of sessions idle in
    a transaction (off by default: query text can hold customer data).
    """

    def __init__(
        self,
        targets: dict[str, str],
        *,
        interval_s: float = 1.0,
        history: HistoryStore | None = None,
        collect_queries: bool = False,
        application_name: str = db.MONITOR_APPLICATION_NAME,
        timeout_s: float | None = None,
        pgbouncers: dict[str, str] | None = None,
        collect_sessions: bool = False,
        on_sample: Callable[[Snapshot, HistoryStore], None] | None = None,
    ):
        if not targets and not pgbouncers:
            raise ValueError("Monitor needs at least one server: targets={'primary': 'postgresql+asyncpg://...'}")
        if not (MIN_INTERVAL_S <= float(interval_s) <= MAX_INTERVAL_S):
            raise ValueError(f"interval_s must be between {MIN_INTERVAL_S} and {MAX_INTERVAL_S}, got {interval_s}")
        self.targets = dict(targets)
        self.interval_s = float(interval_s)
        self.collect_queries = collect_queries
        self.collect_sessions = collect_sessions
        """Each sample carries one row per backend (``Snapshot.sessions``, not stored in the history)."""
        self.on_sample = on_sample
        """Called with every server sample and the history, on the sampling thread (``events.DeployWatcher``)."""
        self.application_name = application_name
        self.timeout_s = timeout_s if timeout_s is not None else min(5.0, max(1.0, self.interval_s * 2))
        self._own_history = history is None
        self.history = history if history is not None else HistoryStore.temporary()
        self._lock = threading.Lock()
        self._latest: dict[str, Snapshot] = {}
        started = now_utc()
        self._status: dict[str, ServerStatus] = {
            name: ServerStatus(name, db.mask_url(url), "starting", None, started, None, None, 0, 0)
            for name, url in self.targets.items()
        }
        self.pgbouncers = dict(pgbouncers or {})
        """PgBouncer admin consoles (name -> URL), sampled like the servers (``dashboard.live.pgbouncer``)."""
        self._pgbouncer_latest: dict[str, PgBouncerSnapshot] = {}
        self._pgbouncer_status: dict[str, ServerStatus] = {
            name: ServerStatus(name, db.mask_url(url), "starting", None, started, None, None, 0, 0)
            for name, url in self.pgbouncers.items()
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.history_error: str | None = None
        """The last failure to hand a sample to the history (sampling goes on), or None."""

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> Monitor:
        """Start the background thread (idempotent); returns self."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._stopping = asyncio.Event()
            self._tasks = [loop.create_task(self._sample_forever(name, url)) for name, url in self.targets.items()]
            self._tasks += [loop.create_task(self._sample_forever(name, url, pgbouncer=True))
                            for name, url in self.pgbouncers.items()]
            ready.set()
            loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="pool-planner-monitor", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop sampling, close every connection and engine, and commit the history (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if self._stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have closed meanwhile
                loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout_s)
        self._thread = None
        self.history.flush()
        if self._own_history:
            self.history.close()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------------------------------ reading

    def latest(self) -> dict[str, Snapshot]:
        """The most recent sample (or gap) of each server that has one."""
        with self._lock:
            return dict(self._latest)

    def status(self) -> dict[str, ServerStatus]:
        """How sampling goes for every server, including those not sampled yet (state ``starting``)."""
        with self._lock:
            return dict(self._status)

    def pgbouncer_latest(self) -> dict[str, PgBouncerSnapshot]:
        """The most recent sample (or gap) of each PgBouncer that has one."""
        with self._lock:
            return dict(self._pgbouncer_latest)

    def pgbouncer_status(self) -> dict[str, ServerStatus]:
        """How sampling goes for every PgBouncer (state ``starting`` before its first sample)."""
        with self._lock:
            return dict(self._pgbouncer_status)

    # ------------------------------------------------------------------------------------------ the loop

    async def _sample_forever(self, name: str, url: str, *, pgbouncer: bool = False) -> None:
        assert self._stopping is not None
        sampler: ServerSampler | PgBouncerSampler
        if pgbouncer:
            sampler = PgBouncerSampler(name, url, timeout_s=self.timeout_s, application_name=self.application_name)
        else:
            sampler = ServerSampler(
                name, url, application_name=self.application_name, collect_queries=self.collect_queries,
                timeout_s=self.timeout_s, collect_sessions=self.collect_sessions,
            )
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while not self._stopping.is_set():
                snapshot = await sampler.sample()
                if self._stopping.is_set():
                    break
                status = self._record(snapshot, sampler)
                if snapshot.status == "bad-url" and snapshot.sqlstate is None:
                    break  # the URL will not get better by itself (a missing database may: 3D000 is retried)
                if snapshot.ok:
                    next_at = max(next_at + self.interval_s, loop.time())
                else:
                    next_at = loop.time() + retry_delay(status.failures, self.interval_s)
                    self._set_next_retry(name, next_at - loop.time(), pgbouncer=pgbouncer)
                await self._sleep_until(next_at)
        finally:
            await sampler.close()

    async def _sleep_until(self, deadline: float) -> None:
        assert self._stopping is not None
        delay = deadline - asyncio.get_running_loop().time()
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    def _books(self, pgbouncer: bool) -> tuple[dict[str, ServerStatus], dict]:
        """(statuses, latest samples) of the servers, or of the PgBouncers."""
        return (self._pgbouncer_status, self._pgbouncer_latest) if pgbouncer else (self._status, self._latest)

    def _record(
        self, snapshot: Snapshot | PgBouncerSnapshot, sampler: ServerSampler | PgBouncerSampler
    ) -> ServerStatus:
        name = snapshot.name if isinstance(snapshot, PgBouncerSnapshot) else snapshot.server
        statuses, latest = self._books(isinstance(snapshot, PgBouncerSnapshot))
        try:
            self.history.append(snapshot)
        except Exception as err:  # a closed or broken store must not stop sampling: the latest view goes on
            self.history_error = f"sample of {name} not saved: {err}"
        if self.on_sample is not None and isinstance(snapshot, Snapshot):
            try:
                self.on_sample(snapshot, self.history)
            except Exception as err:  # a failing hook must not stop sampling either
                self.history_error = f"sample hook failed for {name}: {err}"
        with self._lock:
            old = statuses[name]
            state_changed = old.state != snapshot.status
            status = ServerStatus(
                server=name,
                url=old.url,
                state=snapshot.status,
                reason=snapshot.error,
                since=snapshot.taken_at if state_changed else old.since,
                next_retry_at=None,
                last_ok_at=snapshot.taken_at if snapshot.ok else old.last_ok_at,
                failures=0 if snapshot.ok else old.failures + 1,
                samples=old.samples + 1,
                own_pid=sampler.own_pid,
            )
            statuses[name] = status
            latest[name] = snapshot
        return status

    def _set_next_retry(self, name: str, delay_s: float, *, pgbouncer: bool = False) -> None:
        statuses, _ = self._books(pgbouncer)
        with self._lock:
            status = statuses[name]
            statuses[name] = replace(status, next_retry_at=datetime.now(UTC) + timedelta(seconds=delay_s))
