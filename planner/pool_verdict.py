"""Where are requests waiting: in the application's pool, in PgBouncer, at the server, or nowhere?

The joined view's verdict, one per service, from three sides measured at the same second: the in-app
probes (``AppSide``: summed over the service's processes), PgBouncer's ``SHOW POOLS`` (``PgBouncerSide``,
optional: ``cl_waiting`` and ``maxwait``) and the server (``ServerSide``: that service's connections by state
and the server's slots). Pure and typed: ``judge`` returns a ``PoolVerdict`` whose fields are the evidence;
``verdict_line`` renders it as one sentence at the edge.

The order of the questions is the causal one. Requests blocked in the application pool are a symptom when
the pool's connections are themselves stuck behind something: PgBouncer queueing its clients
(``cl_waiting > 0``), or a server with no slot left (at its usable connections, or refusing the pool's new
connections). Only when neither is true is the application pool itself the bottleneck.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from planner.pgbouncer_snapshot import ConnectionGroup
from planner.probe.reading import ProbeReading
from planner.rules.live import REFUSED_SQLSTATE
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds
from planner.snapshot import Snapshot


class WaitPlace(Enum):
    APP_POOL = "waiting in the application pool"
    PGBOUNCER = "waiting in PgBouncer"
    SERVER = "at the server (slots full)"
    FINE = "fine"
    UNKNOWN = "no probe data"


@dataclass(frozen=True, slots=True)
class AppSide:
    """A service's in-app pools at one second, summed over its processes (from the probes)."""

    service: str
    processes: int
    checked_out: int
    overflow: int
    waiting: int
    timeouts: int
    """Pool timeouts in the window."""
    connect_errors: int
    """Failed new connections in the window (a server refusing shows here first)."""
    wait_p99_ms: float | None
    """Worst p99 checkout wait over the processes (queue wait plus opening a connection and the pre-ping)."""
    ceiling: int | None
    """Sum over the processes of pool_size + max_overflow (None if a pool is unbounded or unknown)."""
    pool_size: int | None = None
    """Sum of pool_size over the processes."""
    queue_wait_p99_ms: float | None = None
    """Worst p99 over the processes of the time blocked because no connection was free."""


@dataclass(frozen=True, slots=True)
class PgBouncerSide:
    """PgBouncer's ``SHOW POOLS`` for the service's database/user (another module samples it)."""

    cl_waiting: int
    maxwait_s: float


@dataclass(frozen=True, slots=True)
class ServerSide:
    """The server at the same second: the service's backends by state, and the server's slots."""

    by_state: dict[str, int] = field(default_factory=dict)
    total: int | None = None
    """All client backends on the server (every application)."""
    usable: int | None = None
    """max_connections - superuser_reserved_connections - reserved_connections."""
    refusing: bool = False
    """The server refused a connection (SQLSTATE 53300) in this sample."""

    @property
    def full(self) -> bool:
        return self.refusing or (self.total is not None and self.usable is not None and self.total >= self.usable)


@dataclass(frozen=True, slots=True)
class PoolVerdict:
    service: str
    place: WaitPlace
    app: AppSide | None
    server: ServerSide | None
    pgbouncer: PgBouncerSide | None
    app_waiting: bool
    """Requests wait for a connection in the application: waiters now, timeouts, or a p99 queue wait (blocked
    because no connection was free) over the threshold. The checkout wait as a whole is not used: it
    includes opening connections and the pre-ping, which are not contention."""


def belongs(application_name: str | None, service: str) -> bool:
    """A server connection is the service's when its ``application_name`` is the service's name, or that name
    with a per-worker suffix (``orders-3``): the one join key between the probe and ``pg_stat_activity``."""
    return bool(application_name) and (application_name == service or (
        application_name.startswith(service + "-") and application_name[len(service) + 1:].isdigit()))


def pgbouncer_sides(clients: Iterable[ConnectionGroup], services: Iterable[str]) -> dict[str, PgBouncerSide]:
    """Each service's clients waiting in PgBouncer (``SHOW CLIENTS`` grouped, of every PgBouncer sampled), joined
    by ``application_name`` like the server side; a service with no client in PgBouncer is left out."""
    clients = tuple(clients)
    waiting = [group for group in clients if group.state == "waiting"]
    sides = {}
    for service in services:
        mine = [group for group in waiting if belongs(group.application_name, service)]
        seen = any(belongs(group.application_name, service) for group in clients)
        if seen:
            sides[service] = PgBouncerSide(sum(group.count for group in mine),
                                           max((group.max_wait_s for group in mine), default=0.0))
    return sides


def server_side(service: str, snapshot: Snapshot | None) -> ServerSide | None:
    """The service's backends by state in one server sample, and the server's fill; None for a gap."""
    if snapshot is None:
        return None
    refusing = snapshot.status == "refused" or snapshot.sqlstate == REFUSED_SQLSTATE
    if not snapshot.ok:
        return ServerSide(refusing=True) if refusing else None
    by_state: dict[str, int] = {}
    for group in snapshot.groups:
        if belongs(group.application_name, service):
            key = group.state or "(hidden)"
            by_state[key] = by_state.get(key, 0) + group.count
    s = snapshot.settings
    usable = None if s is None else s.max_connections - s.superuser_reserved_connections - (s.reserved_connections or 0)
    total = (snapshot.total or 0) + snapshot.own_connections
    return ServerSide(by_state=by_state, total=total, usable=usable, refusing=refusing)


def app_side(service: str, readings: Sequence[ProbeReading]) -> AppSide | None:
    """Sum the ok readings of one service (one per process and engine); None when there are none."""
    ok = [r for r in readings if r.ok and r.service == service]
    if not ok:
        return None
    ceilings = [r.pool_size + r.max_overflow for r in ok if r.pool_size is not None and r.max_overflow is not None
                and r.max_overflow >= 0]
    waits = [r.wait_ms.p99 for r in ok if r.wait_ms is not None and r.wait_ms.p99 is not None]
    queued = [r.queue_wait_ms.p99 for r in ok if r.queue_wait_ms is not None and r.queue_wait_ms.p99 is not None]
    return AppSide(
        service=service, processes=len({(r.endpoint, r.pid) for r in ok}),
        checked_out=sum(r.checked_out or 0 for r in ok), overflow=sum(r.overflow or 0 for r in ok),
        waiting=sum(r.waiting or 0 for r in ok), timeouts=sum(r.recent_timeouts or 0 for r in ok),
        connect_errors=sum(r.recent_connect_errors or 0 for r in ok), wait_p99_ms=max(waits) if waits else None,
        ceiling=sum(ceilings) if len(ceilings) == len(ok) else None,
        pool_size=sum(r.pool_size for r in ok) if all(r.pool_size is not None for r in ok) else None,
        queue_wait_p99_ms=max(queued) if queued else None,
    )


def judge(app: AppSide | None, server: ServerSide | None = None, pgbouncer: PgBouncerSide | None = None,
          thresholds: Thresholds = DEFAULT_THRESHOLDS, service: str | None = None) -> PoolVerdict:
    """Where this service's requests wait now (see the module docstring for the order of the questions)."""
    name = app.service if app else (service or "")
    waiting = app is not None and (app.waiting > 0 or app.timeouts > 0 or (
        app.queue_wait_p99_ms is not None and app.queue_wait_p99_ms > thresholds.probe_wait_p99_ms))
    refused = app is not None and app.connect_errors > 0
    if pgbouncer is not None and pgbouncer.cl_waiting > 0:
        place = WaitPlace.PGBOUNCER
    elif refused or (server is not None and server.full and (waiting or app is None)):
        place = WaitPlace.SERVER
    elif waiting:
        place = WaitPlace.APP_POOL
    elif app is None:
        place = WaitPlace.UNKNOWN
    else:
        place = WaitPlace.FINE
    return PoolVerdict(name, place, app, server, pgbouncer, waiting)


def verdict_line(verdict: PoolVerdict) -> str:
    """One sentence: the place and its evidence (numbers only, rendered here and nowhere else)."""
    parts = [f"{verdict.service}: {verdict.place.value}"]
    app = verdict.app
    if app is not None:
        wait = "-" if app.wait_p99_ms is None else f"{app.wait_p99_ms:.1f} ms"
        queued = "-" if app.queue_wait_p99_ms is None else f"{app.queue_wait_p99_ms:.1f} ms"
        ceiling = "unbounded" if app.ceiling is None else str(app.ceiling)
        parts.append(f"app: {app.checked_out} checked out of {ceiling} over {app.processes} process(es), "
                     f"{app.waiting} waiting, {app.timeouts} timeouts, {app.connect_errors} failed connects, "
                     f"p99 wait {wait} (blocked {queued})")
    if verdict.pgbouncer is not None:
        parts.append(f"PgBouncer: {verdict.pgbouncer.cl_waiting} clients waiting, maxwait "
                     f"{verdict.pgbouncer.maxwait_s:g} s")
    server = verdict.server
    if server is not None:
        states = ", ".join(f"{count} {state}" for state, count in sorted(server.by_state.items())) or "none"
        slots = "" if server.total is None or server.usable is None else \
            f"; server {server.total} of {server.usable} usable slots"
        parts.append(f"server: {states}{slots}{', refusing' if server.refusing else ''}")
    return "; ".join(parts)
