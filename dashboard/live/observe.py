"""``live observe``: sample a server (and its probes, its PgBouncer) over a window, or read the recorded history,
and turn it into per-service observations (``planner.observe``) and recommendations (``planner.observe_sizing``).

Sampling cost: one ``sample_activity`` round trip per interval (a single scan of pg_stat_activity, a few ms at
hundreds of backends: docs/live.md) and one ``pg_stat_database`` read per interval, one probe round at each end,
and one PgBouncer round (six SHOW commands) per interval when a console is given. The default interval is 0.2 s
for windows up to two minutes (10 statements a second; the measured mean latency is in the output as
``sampling.mean_latency_ms``) and 1 s beyond.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from dashboard.live import db
from dashboard.live.pgbouncer import PgBouncerSampler
from dashboard.live.probes import ProbeCollector, ProbeTarget
from dashboard.live.sampler import ServerSampler
from planner.model import Plan
from planner.observe import (
    BouncerWindow,
    Observation,
    ProbeWindow,
    TransactionWindow,
    counter_rate,
    fold_service,
    observe_service,
)
from planner.observe_sizing import (
    ObservedAdvice,
    ServerFacts,
    planned_engine,
    recommend_observed,
    recommend_observed_services,
)
from planner.pgbouncer_snapshot import PgBouncerSnapshot
from planner.probe.reading import ProbeReading
from planner.rules.model_check import ModelCheck, model_check
from planner.snapshot import Snapshot

BUSY_STATES = ("active", "idle in transaction", "idle in transaction (aborted)")
SHORT_WINDOW_S = 120.0
"""Up to two minutes (the documented `--seconds 120`) samples every 0.2 s: at 1 s, 120 samples of a service
keeping one connection busy on average leave its mean ~9 % off by sampling alone (1/sqrt(120)); 600 leave 4 %."""
FAST_INTERVAL_S = 0.2
SLOW_INTERVAL_S = 1.0
STATEMENTS_ON_CONNECT = 2
"""The sampler reads the settings and the names once per connection: two more transactions of the monitor's."""


def default_interval(seconds: float) -> float:
    return FAST_INTERVAL_S if seconds <= SHORT_WINDOW_S else SLOW_INTERVAL_S


@dataclass
class Window:
    """Everything sampled over one observation window (live or from history)."""

    snapshots: list[Snapshot] = field(default_factory=list)
    bouncers: list[PgBouncerSnapshot] = field(default_factory=list)
    probes: list[ProbeReading] = field(default_factory=list)
    """Readings windowed over the observation (from the round at its end against the round at its start)."""
    probes_start: list[ProbeReading] = field(default_factory=list)
    """The round at the start (its ``waiting`` gauges: the queue's growth counts as demand)."""
    xacts: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    """(monotonic seconds, pg_stat_database transactions per database), one reading per interval."""
    own_database: str | None = None
    monitor_statements: int = 0
    interval_s: float = 0.0
    source: str = "live"

    @property
    def ok_snapshots(self) -> list[Snapshot]:
        return [s for s in self.snapshots if s.ok]

    @property
    def mean_latency_ms(self) -> float | None:
        values = [s.latency_ms for s in self.ok_snapshots if s.latency_ms is not None]
        return round(sum(values) / len(values), 3) if values else None


# ------------------------------------------------------------------------------------------------ sampling


async def _xacts(connection) -> tuple[dict[str, int], str | None]:
    rows = await db.fetch_all(connection, "observe_xacts")
    return {str(r["datname"]): int(r["xacts"]) for r in rows}, (str(rows[0]["own_database"]) if rows else None)


class _XactReader:
    """pg_stat_database's counters over a second monitor connection (a fault leaves only this source out)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.connection = None
        self.statements = 0

    async def read(self, window: Window) -> None:
        if self.engine is None:
            return
        try:
            if self.connection is None:
                self.connection = await db.connect(self.engine)
            counts, own = await _xacts(self.connection)
        except Exception:  # the busy series is still measured; this source is then absent or shorter
            connection, self.connection = self.connection, None
            await db.discard(connection)
            return
        self.statements += 1
        window.own_database = own
        window.xacts.append((time.monotonic(), counts))

    async def close(self) -> None:
        await db.discard(self.connection)
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.dispose()


async def _loop(sampler: ServerSampler, bouncer: PgBouncerSampler | None, xacts: _XactReader, window: Window,
                seconds: float) -> int:
    """Sample every interval until ``seconds`` have passed; returns the monitor's statements on the server."""
    statements = 0
    deadline = time.monotonic() + seconds
    while True:
        started = time.monotonic()
        was_connected = sampler.connected
        snapshot = await sampler.sample()
        window.snapshots.append(snapshot)
        statements += (1 if snapshot.ok else 0) + (STATEMENTS_ON_CONNECT if snapshot.ok and not was_connected else 0)
        await xacts.read(window)
        if bouncer is not None:
            window.bouncers.append(await bouncer.sample())
        left = deadline - time.monotonic()
        if left <= 0:
            return statements
        await asyncio.sleep(min(left, max(0.0, window.interval_s - (time.monotonic() - started))))


MAINTENANCE_DATABASE = "postgres"


async def _sampler(server: str, url: str, timeout_s: float) -> ServerSampler:
    """The monitor's sampler, connected to the ``postgres`` database when it may: pg_stat_activity and
    pg_stat_database are cluster-wide, and the monitor's own transactions (which reach pg_stat_database late,
    like any busy backend's) then stay out of the application's database. Else the URL's database."""
    try:
        parsed = db.monitor_url(url)
    except db.ServerFault:
        return ServerSampler(server, url, timeout_s=timeout_s)  # its first sample reports the bad URL
    if parsed.database and parsed.database != MAINTENANCE_DATABASE:
        other = ServerSampler(server, parsed.set(database=MAINTENANCE_DATABASE).render_as_string(hide_password=False),
                              timeout_s=timeout_s)
        if (await other.sample()).ok:
            return other
        await other.close()
    return ServerSampler(server, url, timeout_s=timeout_s)


async def _observe_live(url: str, server: str, seconds: float, interval_s: float, probes: Sequence[ProbeTarget],
                        console: str | None, timeout_s: float) -> Window:
    window = Window(interval_s=interval_s)
    sampler = await _sampler(server, url, timeout_s)
    bouncer = PgBouncerSampler("pgbouncer", console, timeout_s=timeout_s) if console else None
    collector = ProbeCollector(probes, timeout_s=min(timeout_s, 2.0)) if probes else None
    xacts = _XactReader(db.create_monitor_engine(sampler.url, timeout_s=timeout_s) if sampler.url else None)
    try:
        if collector:
            window.probes_start = [r for r in await asyncio.to_thread(collector.collect) if r.ok]
        statements = await _loop(sampler, bouncer, xacts, window, seconds)
        if collector:
            window.probes = [r for r in await asyncio.to_thread(collector.collect) if r.ok]
        window.monitor_statements = statements + xacts.statements
    finally:
        if collector:
            collector.close()
        await sampler.close()
        if bouncer:
            await bouncer.close()
        await xacts.close()
    return window


def observe_live(url: str, server: str = "primary", *, seconds: float, interval_s: float | None = None,
                 probes: Sequence[ProbeTarget] = (), console: str | None = None, timeout_s: float = 5.0) -> Window:
    """Sample for ``seconds`` (on a fresh event loop in a worker thread: safe from any caller)."""
    interval = interval_s or default_interval(seconds)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="observe") as pool:
        return pool.submit(asyncio.run, _observe_live(url, server, seconds, interval, probes, console,
                                                      timeout_s)).result()


def window_from_history(store, server: str, since: datetime, bouncer: str | None = None) -> Window:
    """The recorded samples since ``since`` (no probe or pg_stat_database in the history: those sources are
    absent; PgBouncer's per-interval transactions are, when it was recorded)."""
    snapshots = store.snapshots(server, since=since)
    bouncers = store.pgbouncer_snapshots(bouncer, since=since) if bouncer else []
    times = [s.taken_at.timestamp() for s in snapshots]
    interval = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
    return Window(snapshots=snapshots, bouncers=bouncers, interval_s=round(interval, 3), source="history")


def window_from_monitor(monitor, server: str, since: datetime, probe_rounds=()) -> Window:
    """The dashboard's window: the monitor's recorded samples since ``since`` (and its PgBouncer's), with the
    probe collector's rounds of the same span (each reading windowed over its round)."""
    snapshots = monitor.history.snapshots(server, since=since)
    bouncers = []
    for name in getattr(monitor, "pgbouncers", {}) or {}:
        bouncers += monitor.history.pgbouncer_snapshots(name, since=since)
    times = [s.taken_at.timestamp() for s in snapshots]
    interval = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
    probes = [r for _, readings in probe_rounds for r in readings if r.ok and r.window_s]
    return Window(snapshots=snapshots, bouncers=bouncers, probes=probes, interval_s=round(interval, 3),
                  source="dashboard")


# ------------------------------------------------------------------------------------------------ assembly


@dataclass(frozen=True, slots=True)
class ServiceSeries:
    """One service's per-sample counts, where it connects, and the per-worker suffixes seen."""

    busy: tuple[int, ...]
    open: tuple[int, ...]
    databases: frozenset[str]
    workers: int


def series(snapshots: Sequence[Snapshot]) -> dict[str, ServiceSeries]:
    """Busy (active + idle in transaction) and open connections per service per sample (gaps left out)."""
    names = sorted({fold_service(g.application_name) for s in snapshots for g in s.groups} - {None})
    busy: dict[str, list[int]] = {n: [] for n in names}
    opened: dict[str, list[int]] = {n: [] for n in names}
    databases: dict[str, set[str]] = {n: set() for n in names}
    suffixes: dict[str, set[str]] = {n: set() for n in names}
    for snap in snapshots:
        counts = {n: [0, 0] for n in names}
        for g in snap.groups:
            name = fold_service(g.application_name)
            if name is None:
                continue
            counts[name][1] += g.count
            counts[name][0] += g.count if g.state in BUSY_STATES else 0
            databases[name].add(g.datname or "")
            if g.application_name != name:
                suffixes[name].add(g.application_name)
        for n in names:
            busy[n].append(counts[n][0])
            opened[n].append(counts[n][1])
    return {n: ServiceSeries(tuple(busy[n]), tuple(opened[n]), frozenset(databases[n]), len(suffixes[n]))
            for n in names}


def _shared_databases(snapshots: Sequence[Snapshot]) -> set[str]:
    """Databases in which more than one application (or an unnamed one) had a backend during the window."""
    users: dict[str, set[str]] = {}
    for snap in snapshots:
        for g in snap.groups:
            users.setdefault(g.datname or "", set()).add(fold_service(g.application_name) or "(unnamed)")
    return {database for database, apps in users.items() if len(apps) > 1}


def _arrivals(mine: Sequence[ProbeReading], start: Sequence[ProbeReading], checkouts: int) -> int | None:
    """Completed + timed out checkouts + the growth of the waiters, for processes seen at both ends."""
    before = {(r.endpoint, r.pid, r.engine): r.waiting for r in start if r.waiting is not None}
    if not before:
        return None
    growth = sum((r.waiting or 0) - before[(r.endpoint, r.pid, r.engine)] for r in mine
                 if (r.endpoint, r.pid, r.engine) in before)
    timeouts = sum(r.timeouts_window or 0 for r in mine)
    return max(checkouts, checkouts + timeouts + growth)


def probe_window(readings: Sequence[ProbeReading], service: str,
                 start: Sequence[ProbeReading] = ()) -> ProbeWindow | None:
    """The service's probe readings summed over its processes (percentiles: checkout-weighted means)."""
    mine = [r for r in readings if r.service == service and r.checkouts_window is not None and r.window_s]
    if not mine:
        return None
    checkouts = sum(r.checkouts_window for r in mine)  # type: ignore[misc]
    hold_sum = sum((r.hold_ms.mean or 0.0) * r.hold_ms.count for r in mine if r.hold_ms)

    def weighted(get) -> float | None:
        pairs = [(get(r), r.checkouts_window) for r in mine if get(r) is not None and r.checkouts_window]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if total else None

    caps = [r.pool_size + r.max_overflow for r in mine if r.pool_size is not None and r.max_overflow is not None]
    covered: dict[tuple[str, int | None, str], float] = {}
    for r in mine:  # one reading per process, or one per round and process (the dashboard's rounds): add up
        key = (r.endpoint, r.pid, r.engine)
        covered[key] = covered.get(key, 0.0) + (r.window_s or 0.0)
    return ProbeWindow(
        checkouts=checkouts, window_s=max(covered.values()), hold_sum_ms=hold_sum,
        hold_p50_ms=weighted(lambda r: r.hold_ms.p50 if r.hold_ms else None),
        hold_p95_ms=weighted(lambda r: r.hold_ms.p95 if r.hold_ms else None),
        hold_p99_ms=weighted(lambda r: r.hold_ms.p99 if r.hold_ms else None),
        waited=sum(r.queue_wait_ms.count for r in mine if r.queue_wait_ms),
        wait_p99_ms=weighted(lambda r: r.wait_ms.p99 if r.wait_ms else None),
        processes=len(covered), pool_cap=max(caps) if caps else None,
        pool_size=mine[0].pool_size, max_overflow=mine[0].max_overflow,
        arrivals=_arrivals(mine, start, checkouts))


def bouncer_window(bouncers: Sequence[PgBouncerSnapshot], databases: frozenset[str],
                   service: str) -> BouncerWindow | None:
    """PgBouncer's transactions of the service's database(s), from the samples' per-interval totals."""
    xacts, xact_ms, window = 0, 0.0, 0.0
    ok = [b for b in bouncers if b.ok]
    for previous, current in itertools.pairwise(ok):
        window += (current.taken_at - previous.taken_at).total_seconds()
        mine = _bouncer_databases(current, databases, service)
        for pool in {p.database: p for p in current.pools if p.database in mine}.values():
            if pool.avg_source == "interval" and pool.xacts and pool.avg_xact_ms is not None:
                xacts += pool.xacts
                xact_ms += pool.xacts * pool.avg_xact_ms
    return BouncerWindow(xacts, window, xact_ms) if xacts else None


def _bouncer_databases(snapshot: PgBouncerSnapshot, databases: frozenset[str], service: str) -> set[str]:
    """PgBouncer databases the service uses: its clients' (by application_name) alone, else its server ones."""
    by_client = {g.database for g in snapshot.clients if fold_service(g.application_name) == service}
    if not by_client:
        return set(databases)
    others = {g.database for g in snapshot.clients if fold_service(g.application_name) not in (service, None, "")}
    return by_client - others


def transaction_window(window: Window, databases: frozenset[str], shared: set[str]) -> TransactionWindow | None:
    """The database's transactions over the window, as the counter's slope (see ``counter_rate``) x window."""
    if len(databases) != 1:
        return None
    database = next(iter(databases))
    points = [(t, counts[database]) for t, counts in window.xacts if database in counts]
    rate = counter_rate([t for t, _ in points], [c for _, c in points])
    if rate is None:
        return None
    span = points[-1][0] - points[0][0]
    own = window.monitor_statements if database == window.own_database else 0
    return TransactionWindow(round(rate * span), span, own, alone=database not in shared)


@dataclass(frozen=True, slots=True)
class ServiceResult:
    observation: Observation
    advice: ObservedAdvice | None
    processes_from: str
    model: ModelCheck | None = None
    """Predicted against measured waits of the current pool (probe source only)."""

    def as_dict(self) -> dict[str, object]:
        out = self.observation.as_dict()
        out["processes_from"] = self.processes_from
        advice = self.advice.as_dict() if self.advice else {"pool_size": None, "max_overflow": None,
                                                               "p99_wait_ms": None}
        advice["floor"] = self.observation.censored  # sized for the censored (lower) demand: at least this
        out["recommendation"] = advice
        out["model_check"] = None if self.model is None else {
            **asdict(self.model), "mismatch": self.model.disagrees()}
        return out


def _processes(name: str, s: ServiceSeries, plan: Plan | None, given: Mapping[str, int],
               probe: ProbeWindow | None) -> tuple[int, str]:
    if name in given:
        return given[name], "--processes"
    planned = planned_engine(plan, name)
    if planned is not None:
        return planned[1].processes, "plan"
    if s.workers > 1:
        return s.workers, "per-worker suffixes"
    if probe is not None and probe.processes > 0:
        return probe.processes, "probe"
    return 1, "assumed (give --processes NAME=N)"


def _plan_engine(plan: Plan | None, name: str):
    planned = planned_engine(plan, name)
    return planned[0] if planned else None


def _server_facts(window: Window, other_open: int) -> ServerFacts | None:
    settings = next((s.settings for s in reversed(window.ok_snapshots) if s.settings), None)
    if settings is None:
        return None
    return ServerFacts(settings.max_connections, settings.superuser_reserved_connections,
                       settings.reserved_connections or 0, settings.major_version, other_open + 1)


def _usable(window: Window) -> int | None:
    facts = _server_facts(window, 0)
    if facts is None:
        return None
    return facts.max_connections - facts.superuser_reserved_connections - facts.reserved_connections


def observe(window: Window, *, plan: Plan | None = None, processes: Mapping[str, int] | None = None,
            target_p99_ms: float | None = None) -> list[ServiceResult]:
    """Per service: the observation and its recommendation through the one sizing function."""
    snaps = window.ok_snapshots
    all_series, shared = series(snaps), _shared_databases(snaps)
    totals = [s.total or 0 for s in snaps]
    target = target_p99_ms or (plan.workload.target_p99_wait_ms if plan and plan.workload else 10.0)
    results = []
    for name, s in all_series.items():
        probe = probe_window(window.probes, name, window.probes_start)
        count, where = _processes(name, s, plan, processes or {}, probe)
        engine = _plan_engine(plan, name)
        cap = engine.pool_size + engine.max_overflow if engine and engine.max_overflow >= 0 else None
        obs = observe_service(
            name, s.busy, s.open, processes=count, cap_per_process=cap, server_busy=totals,
            server_slots=_usable(window), probe=probe,
            bouncer=bouncer_window(window.bouncers, s.databases, name),
            transactions=transaction_window(window, s.databases, shared))
        other_open = max((sum(o.open[i] for n, o in all_series.items() if n != name) for i in range(len(snaps))),
                         default=0)
        facts = _server_facts(window, other_open)
        alone = (plan is not None and not plan.multi_service) or (plan is None and facts is not None)
        advice = recommend_observed(obs, plan=plan, server=facts, target_p99_ms=target) if alone else None
        check = model_check(obs, probe, engine.pool_timeout if engine else 30.0)
        results.append(ServiceResult(obs, advice, where, check))
    if plan is not None and plan.multi_service and results:  # every service sized together on the shared servers
        together = recommend_observed_services([r.observation for r in results], plan, target_p99_ms=target)
        results = [replace(r, advice=together[r.observation.name]) for r in results]
    return results
