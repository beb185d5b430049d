"""Live pitfall rules: pure functions over recent samples of one or more servers, judged with the plan.

The sampler (``dashboard.live``) turns ``pg_stat_activity`` into ``Snapshot`` objects; these rules only read
them, never a database, so every rule is tested with hand-built samples. Each finding carries its evidence
as numbers, the change that clears it and a snippet to paste. ``tracked_live_findings`` also says since
when a finding has been firing without a break, which is what an engineer asks first during an incident.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from planner import ids
from planner.attribution import IdentityCache, ServiceIndex, attribute, service_index
from planner.model import SEVERITY_ORDER, Deployment, Engine, Finding, Plan, Server, Severity
from planner.rules.monitor_role import monitor_superuser_finding
from planner.rules.server_match import latest_ok, plan_differs, standby_below_primary
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds
from planner.rules.unplanned import SUBJECT as UNPLANNED_SUBJECT
from planner.rules.unplanned import unplanned_clients
from planner.sessions import idle_blockers
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot
from planner.text import quote_ident, quote_literal

REFUSED_SQLSTATE = "53300"  # too_many_connections: every refusal text in docs/facts.md (F) carries it
NO_APP = "(no application_name)"

WARMUP_SNIPPET = '''\
import asyncio
from contextlib import asynccontextmanager

from sqlalchemy import text


async def prewarm(engine, n=None):
    """Open pool_size connections at once: sequential checkouts reuse one connection."""
    n = min(n or engine.pool.size(), engine.pool.size())
    conns = await asyncio.gather(*(engine.connect() for _ in range(n)))
    try:
        await asyncio.gather(*(c.execute(text("SELECT 1")) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))


@asynccontextmanager
async def lifespan(app):
    await prewarm(engine)  # in every worker process: each one has its own pool
    yield
    await engine.dispose()
'''

SESSION_SNIPPET = """\
async def get_db():
    async with SessionFactory() as session:  # closes, and rolls back, even when the request raises
        yield session


async def place_order(session, order):
    async with session.begin():  # commits on success, rolls back on exception
        session.add(order)
"""


@dataclass(frozen=True, slots=True)
class LiveFinding:
    """A live finding with what it concerns on its server and since when it has fired without a break."""

    finding: Finding
    subject: str
    """What on the server it is about: an application name, an engine name, or "" for the server itself."""
    since: datetime
    """``taken_at`` of the first sample of the unbroken run of samples in which it fired."""
    last_seen: datetime
    """``taken_at`` of the latest sample in which it fired."""

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.finding.id, self.finding.server, self.subject)

    def as_dict(self) -> dict[str, object]:
        return {
            **self.finding.as_dict(),
            "subject": self.subject,
            "since": self.since.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


def live_findings(
    plan: Plan | None,
    snapshots: Sequence[Snapshot],
    thresholds: Thresholds | None = None,
    *,
    now: datetime | None = None,
) -> list[Finding]:
    """The pitfalls visible in recent samples, one per (id, server, subject), worst first."""
    return [tracked.finding for tracked in tracked_live_findings(plan, snapshots, thresholds, now=now)]


def tracked_live_findings(
    plan: Plan | None,
    snapshots: Sequence[Snapshot],
    thresholds: Thresholds | None = None,
    *,
    now: datetime | None = None,
    point_keys: dict[tuple[str, datetime], frozenset[tuple[str, str]]] | None = None,
) -> list[LiveFinding]:
    """Like ``live_findings``, with the subject and since when each finding has fired.

    ``point_keys``: a cache the caller keeps between calls with the same plan and thresholds (the collector
    does), so each sample's one-sample findings are computed once rather than at every call.

    Only each server's latest sample decides what fires now; the earlier ones (the caller chooses how far
    back, e.g. ``HistoryStore.snapshots(server, since)``) give the start of the unbroken run and the history
    the cold-pool rule needs. Samples after ``now`` are ignored; ``now`` defaults to the newest sample's
    time, so the result depends on the samples alone.
    """
    th = thresholds or DEFAULT_THRESHOLDS
    if not snapshots:
        return []
    now = now or max(s.taken_at for s in snapshots)
    by_server: dict[str, list[Snapshot]] = {}
    for snap in sorted(snapshots, key=lambda s: s.taken_at):
        if snap.taken_at <= now:
            by_server.setdefault(snap.server, []).append(snap)

    found: list[LiveFinding] = []
    for name, history in by_server.items():
        latest = history[-1]
        server = _plan_server(plan, name)
        runs: dict[tuple[str, str], datetime] = {}
        for snap in history:
            keys = _point_keys(plan, server, snap, history, th, point_keys)
            runs = {key: runs.get(key, snap.taken_at) for key in keys}
        hits = _point_findings(plan, server, latest, history, th) + _cold_pool(plan, server, history, th, now)
        for hit in hits:
            since = hit.since or runs.get((hit.finding.id, hit.subject), latest.taken_at)
            found.append(LiveFinding(hit.finding, hit.subject, since, latest.taken_at))
    latest_by_server = latest_ok(by_server)
    for finding in standby_below_primary(plan, latest_by_server):  # judged across servers: both latest samples
        taken = latest_by_server[finding.server or ""].taken_at
        found.append(LiveFinding(finding, "", taken, taken))
    return _dedupe(found)


def _point_keys(plan, server: Server | None, snap: Snapshot, history: Sequence[Snapshot], th: Thresholds,
                cache: dict | None) -> frozenset[tuple[str, str]]:
    """(id, subject) of the one-sample findings of ``snap``, from ``cache`` when it has them."""
    key = (snap.server, snap.taken_at)
    if cache is not None and key in cache:
        return cache[key]
    keys = frozenset((hit.finding.id, hit.subject) for hit in _point_findings(plan, server, snap, history, th))
    if cache is not None:
        cache[key] = keys
    return keys


def _dedupe(found: Iterable[LiveFinding]) -> list[LiveFinding]:
    """One finding per (id, server, subject): the most severe, then the first one produced."""
    best: dict[tuple[str, str | None, str], LiveFinding] = {}
    for tracked in found:
        kept = best.get(tracked.key)
        if kept is None or _rank(tracked) < _rank(kept):
            best[tracked.key] = tracked
    return sorted(best.values(), key=lambda t: (_rank(t), t.finding.server or "", t.finding.id, t.subject))


def _rank(tracked: LiveFinding) -> int:
    return SEVERITY_ORDER[tracked.finding.severity]


def _plan_server(plan: Plan | None, name: str) -> Server | None:
    if plan is None:
        return None
    return next((s for s in plan.servers if s.name == name), None)


class Hit(NamedTuple):
    subject: str
    finding: Finding
    since: datetime | None = None
    """When the rule itself knows the start (a burst); otherwise the run of samples decides."""


def _point_findings(
    plan: Plan | None, server: Server | None, snap: Snapshot, history: Sequence[Snapshot], th: Thresholds
) -> list[Hit]:
    """Rules that judge one sample alone (with the plan)."""
    if _refused(snap):
        return _refused_findings(snap, _last_settings(history, snap), server, th, plan)
    if not snap.ok or snap.settings is None:
        return []
    hits: list[Hit] = []
    for rule in (
        _too_many_connections,
        _idle_in_transaction_blocking,
        _idle_in_transaction,
        _no_idle_in_transaction_timeout,
        _missing_monitor_privilege,
        _monitor_superuser,
        _ssl_required,
        _recycle_after_idle_timeout,
        _over_plan,
        _unplanned_clients,
        _older_than_recycle,
        _plan_differs_from_server,
    ):
        hits += rule(plan, server, snap, snap.settings, th)
    return hits


# --- helpers -----------------------------------------------------------------------------------------------


def _refused(snap: Snapshot) -> bool:
    return snap.status == "refused" or snap.sqlstate == REFUSED_SQLSTATE


def _last_settings(history: Sequence[Snapshot], before: Snapshot) -> ServerSettings | None:
    """Settings of the newest sample up to ``before`` that had them (a refused sample has none)."""
    for snap in reversed(history):
        if snap.taken_at <= before.taken_at and snap.settings is not None:
            return snap.settings
    return None


def _app(group: ActivityGroup) -> str:
    return group.application_name or NO_APP


def _direct_engines(plan: Plan | None, server: Server | None) -> tuple[Engine, ...]:
    """Engines of the plan connecting straight to ``server`` (PgBouncer's server connections are its own)."""
    if plan is None or server is None:
        return ()
    return tuple(e for e in plan.engines_on(server.name) if not e.via_pgbouncer)


def _engines_by_app(plan: Plan | None, server: Server | None) -> dict[str, tuple[Engine, ...]]:
    """Direct engines on ``server`` grouped by the application_name they set (unnamed ones cannot be matched)."""
    apps: dict[str, tuple[Engine, ...]] = {}
    for engine in _direct_engines(plan, server):
        if engine.application_name:
            apps[engine.application_name] = (*apps.get(engine.application_name, ()), engine)
    return apps


def _belongs(application_name: str | None, app: str) -> bool:
    """A backend belongs to the engine named ``app`` when named exactly so or with a per-worker suffix ``app-3``."""
    if not application_name:
        return False
    if application_name == app:
        return True
    prefix, _, suffix = application_name.rpartition("-")
    return prefix == app and suffix.isdigit()


@dataclass(frozen=True, slots=True)
class Unit:
    """What the per-application rules (over plan, recycling, cold pool, SSL) judge on one server.

    One service's plan: one unit per application_name its engines set (``kind`` ``app``; an engine without one
    cannot be matched), as always. Several services: one unit per service with engines straight on the server
    (``kind`` ``service``), whose connections are those ``Plan.service_of`` gives it (its engines' names or its
    own, per-worker suffixes folded), judged with the service's own deployment."""

    subject: str
    kind: str
    engines: tuple[Engine, ...]
    deployment: Deployment
    plan: Plan
    _owned: dict[str | None, bool] = field(default_factory=dict, compare=False, repr=False)
    """Remembered answers of ``owns`` (the rules ask it for every group of every sample of a window)."""

    def owns(self, application_name: str | None) -> bool:
        try:
            return self._owned[application_name]
        except KeyError:
            pass
        if self.kind == "app":
            owned = _belongs(application_name, self.subject)
        else:
            owned = service_index(self.plan).service_of(application_name) == self.subject
        if len(self._owned) >= ServiceIndex.MEMO_LIMIT:
            self._owned.clear()
        self._owned[application_name] = owned
        return owned

    def count(self, snap: Snapshot) -> int:
        if self.kind == "service":
            return attribute(self.plan, snap).count(self.subject)
        return sum(g.count for g in snap.groups if self.owns(g.application_name))

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.subject}'"


_UNITS = IdentityCache(64)


def plan_units(plan: Plan | None, server: Server | None) -> list[Unit]:
    """The units the per-application rules judge on ``server`` (``Unit``), in the plan's order; kept per plan
    object and server (every sample of a window asks for them, several rules each)."""
    if plan is None or server is None:
        return []
    return _UNITS.get((plan, server), lambda: _plan_units(plan, server))


def _plan_units(plan: Plan, server: Server) -> list[Unit]:
    if not plan.multi_service:
        apps = _engines_by_app(plan, server)
        return [Unit(app, "app", engines, plan.deployment, plan) for app, engines in apps.items()]
    units = []
    for service in plan.services:
        engines = tuple(e for e in service.engines_on(server.name) if not e.via_pgbouncer)
        if engines:
            units.append(Unit(service.name, "service", engines, service.deployment, plan))
    return units


def _who(plan: Plan | None, application_name: str | None) -> tuple[str, str]:
    """(subject, words) of a live connection for a finding: its application, or with several services its
    service (an application no service names is said to be unplanned)."""
    app = application_name or NO_APP
    if plan is None or not plan.multi_service:
        return app, f"app '{app}'"
    service = service_index(plan).service_of(application_name)
    return (service, f"service '{service}'") if service else (app, f"app '{app}' (unplanned)")


def _engine_subjects(plan: Plan | None, server: Server | None) -> list[tuple[str, Engine]]:
    """(subject, engine) for every engine straight on ``server``: the engine's name, ``service/engine`` when
    the plan has several services."""
    if plan is None or server is None:
        return []
    if not plan.multi_service:
        return [(e.name, e) for e in _direct_engines(plan, server)]
    return [(f"{service.name}/{e.name}", e) for service in plan.services for e in service.engines_on(server.name)
            if not e.via_pgbouncer]


def _processes(dep: Deployment) -> tuple[int, str]:
    """Processes outside a rollout, at the autoscaling maximum, and the same in words."""
    n = dep.max_instances * dep.workers
    if dep.max_instances == 1:
        return n, f"{dep.workers} worker{'s' if dep.workers != 1 else ''}"
    return n, f"{dep.max_instances} instances x {dep.workers} workers"


def _s(value: float) -> str:
    """Seconds for a message: whole seconds above 10, one decimal below."""
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _role_sql(role: str | None, kind: str = "application") -> str:
    """A role name from the server as an SQL identifier (``"Order-Svc"``), or a placeholder to fill in."""
    return quote_ident(role) if role else f"<{kind} role>"


def _quote(text: str | None, limit: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- too-many-connections and monitor-refused ----------------------------------------------------------------


def _usable(settings: ServerSettings, server: Server | None) -> tuple[int, str]:
    """Slots an ordinary role may use on the live server, minus the plan's other clients, with the sum."""
    reserved = settings.reserved_connections or 0
    other = server.other_clients if server else 0
    usable = settings.max_connections - settings.superuser_reserved_connections - reserved - other
    words = (
        f"max_connections {settings.max_connections} - superuser_reserved {settings.superuser_reserved_connections}"
        f" - reserved {reserved} - other clients {other}"
    )
    return usable, words


def _budget_fix(server: Server | None, settings: ServerSettings | None, plan: Plan | None = None) -> tuple[str, str]:
    fix = (
        "Make the fleet's peak fit the usable slots: lower pool_size / max_overflow or the worker count "
        "(python -m planner recommend), put PgBouncer in front, or raise max_connections (needs a restart)."
    )
    source = settings or server
    max_c = source.max_connections if source else 100
    su = source.superuser_reserved_connections if source else 3
    other = server.other_clients if server else 0
    dep = plan.deployment if plan is not None else None
    instances, workers = (dep.instances, dep.workers) if dep else ("<instances>", "<workers>")
    reserved = (settings.reserved_connections if settings else None) or (server.reserved_connections if server else 0)
    snippet = (
        f"python -m planner recommend --max-connections {max_c} --superuser-reserved {su} "
        + (f"--reserved {reserved} " if reserved else "")
        + f"--other-clients {other} --instances {instances} --workers {workers}"
    )
    if dep is not None and dep.autoscale_max:
        snippet += f" --autoscale-max {dep.autoscale_max}"
    return fix, snippet


def _too_many_connections(plan, server, snap: Snapshot, settings: ServerSettings, th: Thresholds) -> list[Hit]:
    usable, words = _usable(settings, server)
    total = snap.total or 0
    in_use = total + snap.own_connections
    fix, snippet = _budget_fix(server, settings, plan)
    if usable <= 0:
        message = f"{snap.server}: no slot is usable by ordinary roles: {words} = {usable}"
        return [Hit("", Finding(ids.TOO_MANY_CONNECTIONS, "critical", message, fix, snippet, snap.server))]
    share = in_use / usable
    if share >= th.live_critical_fraction:
        severity, limit = "critical", th.live_critical_fraction
    elif share >= th.live_warning_fraction:
        severity, limit = "warning", th.live_warning_fraction
    else:
        return []
    by_app = sorted(snap.count_by("application_name").items(), key=lambda kv: (-kv[1], kv[0] or ""))
    largest = ", ".join(f"'{app or NO_APP}' {n}" for app, n in by_app[:3])
    message = (
        f"{snap.server}: {in_use} connections ({total} clients + {snap.own_connections} monitor) = "
        f"{share:.0%} of {usable} usable ({words}), at or above {limit:.0%}"
        + (f"; largest: {largest}" if largest else "")
    )
    return [Hit("", Finding(ids.TOO_MANY_CONNECTIONS, severity, message, fix, snippet, snap.server))]


def _refused_findings(
    snap: Snapshot, settings: ServerSettings | None, server: Server | None, th: Thresholds, plan: Plan | None = None
) -> list[Hit]:
    words = _quote(snap.error) or "no message"
    code = snap.sqlstate or REFUSED_SQLSTATE
    fix, snippet = _budget_fix(server, settings, plan)
    full = Finding(
        ids.TOO_MANY_CONNECTIONS,
        "critical",
        f'{snap.server} is out of connection slots: "{words}" (SQLSTATE {code}): every slot an ordinary role '
        "may use is taken",
        fix,
        snippet,
        snap.server,
    )
    version = settings.major_version if settings else (server.major_version if server else 16)
    if version >= 16:
        monitor_fix = (
            "Keep a slot for monitoring: count the dashboard in the plan's other_clients, and on PostgreSQL 16+ "
            "reserve slots for monitoring roles (reserved_connections, restart) and grant them to the role."
        )
        monitor_snippet = (
            "# postgresql.conf (restart)\nreserved_connections = 2\n\n"
            "-- then, as a superuser\n"
            f"GRANT pg_use_reserved_connections TO {_role_sql(settings.role if settings else None, 'monitoring')};"
        )
    else:
        monitor_fix = (
            "Keep a slot for monitoring: count the dashboard in the plan's other_clients and lower the pools so "
            "that slot stays free (reserved_connections for non-superusers exists only from PostgreSQL 16)."
        )
        monitor_snippet = ""
    monitor = Finding(
        ids.MONITOR_REFUSED,
        "warning",
        f'the dashboard could not connect to {snap.server}: "{words}" (SQLSTATE {code}): '
        "no live counts until a slot frees up",
        monitor_fix,
        monitor_snippet,
        snap.server,
    )
    return [Hit("", full), Hit("", monitor)]


def _plan_differs_from_server(plan, server, snap: Snapshot, settings: ServerSettings, th: Thresholds) -> list[Hit]:
    return [Hit("", finding) for finding in plan_differs(server, snap, settings)]


# --- sessions left in a transaction ---------------------------------------------------------------------------


def _idle_groups(snap: Snapshot) -> list[ActivityGroup]:
    return [g for g in snap.groups if (g.state or "").startswith("idle in transaction")]


def _idle_in_transaction(plan, server, snap: Snapshot, settings: ServerSettings, th: Thresholds) -> list[Hit]:
    per_app: dict[str, list[ActivityGroup]] = {}
    words: dict[str, str] = {}
    for group in _idle_groups(snap):
        if group.oldest_idle_in_transaction_s is not None:
            subject, words[subject] = _who(plan, group.application_name)
            per_app.setdefault(subject, []).append(group)
    hits: list[Hit] = []
    for app, groups in per_app.items():
        oldest = max(groups, key=lambda g: g.oldest_idle_in_transaction_s or 0)
        age = oldest.oldest_idle_in_transaction_s or 0.0
        if age < th.idle_in_transaction_warning_s:
            continue
        severity: Severity = "critical" if age >= th.idle_in_transaction_critical_s else "warning"
        count = sum(g.count for g in groups)
        roles = ", ".join(sorted({g.usename or "?" for g in groups}))
        states = " / ".join(sorted({g.state or "" for g in groups}))
        message = (
            f"{words[app]} (role {roles}): {_plural(count, 'session')} {states}, the oldest for {_s(age)} "
            f">= {_s(th.idle_in_transaction_warning_s)}: each holds a connection, its locks and its snapshot"
        )
        if oldest.last_query:
            message += f'; last statement: "{_quote(oldest.last_query)}"'
        fix = (
            "Open every session with `async with` (and `async with session.begin()` for writes) so an exception "
            "rolls back and returns the connection; set idle_in_transaction_session_timeout as a backstop."
        )
        hits.append(Hit(app, Finding(ids.IDLE_IN_TRANSACTION, severity, message, fix, SESSION_SNIPPET, snap.server)))
    return hits


def _idle_in_transaction_blocking(plan, server, snap: Snapshot, settings, th: Thresholds) -> list[Hit]:
    """A session idle in a transaction that others wait for (needs ``snap.sessions``): critical at once.

    Listed before ``_idle_in_transaction``, so for the same application this finding, with the blocking as
    evidence, is the one kept.
    """
    hits: list[Hit] = []
    for blocker in idle_blockers(snap.sessions or ()):
        s = blocker.session
        app, who = _who(plan, s.application_name)
        waiting = ", ".join(f"'{name or NO_APP}' x{n}" for name, n in blocker.blocked_apps)
        message = (
            f"{who} (role {s.usename or '?'}): pid {s.pid} {s.state} for {_s(s.state_age_s or 0.0)} "
            f"(transaction open {_s(s.xact_age_s or 0.0)}) is blocking {_plural(blocker.blocked_count, 'session')} "
            f"for {_s(blocker.longest_wait_s or 0.0)} ({waiting})"
        )
        if s.query:
            message += f'; last statement: "{_quote(s.query)}"'
        fix = (
            f"Now: end the transaction: terminate pid {s.pid} (a cancel does nothing to an idle session; "
            f"POOL_PLANNER_ALLOW_ACTIONS=1 python -m dashboard.live terminate --pid {s.pid}). Then open every "
            "session with `async with` (and `async with session.begin()` for writes) and set "
            "idle_in_transaction_session_timeout as a backstop."
        )
        hits.append(Hit(app, Finding(ids.IDLE_IN_TRANSACTION, "critical", message, fix, SESSION_SNIPPET, snap.server)))
    return hits


def _no_idle_in_transaction_timeout(
    plan, server, snap: Snapshot, settings: ServerSettings, th: Thresholds
) -> list[Hit]:
    if settings.idle_in_transaction_session_timeout_ms != 0:
        return []
    idle = _idle_groups(snap)
    # A session caught between its statement and its commit is idle in transaction for a millisecond: only
    # the ones stuck as long as idle-in-transaction's own threshold make the missing timeout urgent.
    waiting = sum(g.count for g in idle if (g.oldest_idle_in_transaction_s or 0) >= th.idle_in_transaction_warning_s)
    severity: Severity = "warning" if waiting else "info"
    message = (
        f"{snap.server}: idle_in_transaction_session_timeout = 0 (off): a session left in a transaction keeps its "
        "connection, locks and snapshot until the application closes it"
    )
    if waiting:
        message += (f"; {_plural(waiting, 'session')} idle in transaction for "
                    f"{_s(th.idle_in_transaction_warning_s)} or more now")
    roles = sorted({g.usename for g in idle if g.usename}) or _app_roles(plan, server, snap)
    value = quote_literal(f"{th.recommended_idle_in_transaction_timeout_s:g}s")
    lines = [f"ALTER ROLE {_role_sql(role)} SET idle_in_transaction_session_timeout = {value};" for role in roles]
    lines = lines or [f"ALTER ROLE <application role> SET idle_in_transaction_session_timeout = {value};"]
    snippet = "\n".join(
        [*lines, "-- or for every role, in postgresql.conf (reload):", f"idle_in_transaction_session_timeout = {value}"]
    )
    fix = (
        f"Set idle_in_transaction_session_timeout (e.g. {value}) for the application's role or database: the server "
        "then ends a forgotten transaction; the next use of that connection fails with 'connection is closed', "
        "which pool_pre_ping=True absorbs."
    )
    return [Hit("", Finding(ids.NO_IDLE_IN_TRANSACTION_TIMEOUT, severity, message, fix, snippet, snap.server))]


# --- visibility -----------------------------------------------------------------------------------------------


def _app_roles(plan: Plan | None, server: Server | None, snap: Snapshot) -> list[str]:
    """The roles the plan's applications connect as on this server (seen in the sample), for a snippet."""
    units = plan_units(plan, server)
    if plan is not None and plan.multi_service:  # a service's connection is one the index attributes to it
        index, judged = service_index(plan), {unit.subject for unit in units}
        return sorted({g.usename for g in snap.groups if g.usename and index.service_of(g.application_name) in judged})
    return sorted({g.usename for g in snap.groups
                   if g.usename and any(unit.owns(g.application_name) for unit in units)})


def _missing_monitor_privilege(
    plan, server, snap: Snapshot, settings: ServerSettings, th: Thresholds
) -> list[Hit]:
    if settings.can_see_all:
        return []
    hidden = sum(g.count for g in snap.groups if g.state is None)
    who = f"role {settings.role}" if settings.role else "role"
    message = (
        f"{snap.server}: the monitoring {who} has neither pg_monitor nor pg_read_all_stats: "
        f"other roles' sessions show no state, ages, addresses or SSL ({hidden} of {snap.total or 0} client "
        "backends without a visible state): counts by state, ages and SSL are partial"
    )
    fix = "Grant pg_monitor to the role the dashboard connects as (no restart; takes effect on its next connection)."
    snippet = f"GRANT pg_monitor TO {_role_sql(settings.role, 'monitoring')};"
    return [Hit("", Finding(ids.MISSING_MONITOR_PRIVILEGE, "warning", message, fix, snippet, snap.server))]


def _monitor_superuser(plan, server, snap: Snapshot, settings: ServerSettings, th: Thresholds) -> list[Hit]:
    finding = monitor_superuser_finding(snap.server, settings)
    return [Hit("", finding)] if finding else []


def _ssl_required(plan, server: Server | None, snap: Snapshot, settings: ServerSettings, th: Thresholds) -> list[Hit]:
    if server is None or not server.ssl_required:
        return []
    units = plan_units(plan, server)
    per_app: dict[str, list[int]] = {}
    words: dict[str, str] = {}
    for group in snap.groups:
        if group.state is None:  # invisible to our role: its SSL column is NULL too
            continue
        if units and not any(unit.owns(group.application_name) for unit in units):
            continue
        if not units and group.client_addr is None:  # unix socket: TLS does not apply
            continue
        subject, words[subject] = _who(plan, group.application_name)
        counts = per_app.setdefault(subject, [0, 0])
        counts[0] += group.count
        counts[1] += group.count - group.ssl_count
    hits: list[Hit] = []
    for app, (count, plain) in per_app.items():
        if plain <= 0:
            continue
        message = (
            f"{words[app]}: {plain} of {_plural(count, 'connection')} to {snap.server} without SSL, and the plan "
            "requires SSL" + ("" if settings.ssl else f" ({snap.server} runs with ssl = off)")
        )
        fix = (
            "Connect with ssl=require in the asyncpg URL (asyncpg rejects libpq's sslmode=, with a TypeError at the "
            "first connect), or pass an ssl.SSLContext that verifies the certificate; make the server refuse "
            "plain connections with hostssl / hostnossl ... reject in pg_hba.conf."
        )
        snippet = (
            "import os, ssl\n"
            "engine = create_async_engine(\n"
            '    os.environ["DATABASE_URL"],  # postgresql+asyncpg://user@host/db?ssl=require, no sslmode=\n'
            '    connect_args={"ssl": ssl.create_default_context(cafile="/etc/ssl/certs/db-ca.pem")},\n'
            ")\n\n"
            "# pg_hba.conf\nhostnossl all all 0.0.0.0/0 reject\nhostssl   all all 0.0.0.0/0 scram-sha-256"
        )
        hits.append(Hit(app, Finding(ids.ASYNCPG_SSL, "critical", message, fix, snippet, snap.server)))
    return hits


# --- pool settings against the live server --------------------------------------------------------------------


def _recycle_after_idle_timeout(
    plan, server: Server | None, snap: Snapshot, settings: ServerSettings, th: Thresholds
) -> list[Hit]:
    timeout_s = settings.idle_session_timeout_ms / 1000
    if timeout_s <= 0:
        return []
    hits: list[Hit] = []
    for subject, engine in _engine_subjects(plan, server):
        if engine.pool_recycle != -1 and engine.pool_recycle < timeout_s:
            continue
        recycle = "unset (-1)" if engine.pool_recycle == -1 else f"{engine.pool_recycle:g} s"
        message = (
            f"engine '{subject}': pool_recycle {recycle} is not below {snap.server}'s live idle_session_timeout "
            f"{timeout_s:g} s: the server closes pooled connections that sit idle, and the next checkout fails with "
            "'connection is closed'"
        )
        if server is not None and server.idle_session_timeout_s != timeout_s:
            planned = server.idle_session_timeout_s
            message += f" (the plan says {f'{planned:g} s' if planned else 'off'})"
        severity: Severity = "info" if engine.pool_pre_ping else "warning"
        if engine.pool_pre_ping:
            message += "; pool_pre_ping=True hides it at the cost of a reconnect"
        suggested = math.floor(timeout_s * th.recycle_fraction_of_idle_timeout)
        if suggested >= 1:
            fix = (
                f"Set pool_recycle={suggested} (below the {timeout_s:g} s timeout; it is checked at checkout) "
                "and pool_pre_ping=True."
            )
            snippet = f"create_async_engine(url, pool_recycle={suggested}, pool_pre_ping=True)"
        else:
            fix = "The timeout is shorter than pool_recycle's 1 s minimum: turn it off for the pool's role."
            snippet = "ALTER ROLE <application role> SET idle_session_timeout = 0;"
        finding = Finding(ids.RECYCLE_AFTER_IDLE_TIMEOUT, severity, message, fix, snippet, snap.server)
        hits.append(Hit(subject, finding))
    return hits


def _over_plan(plan, server: Server | None, snap: Snapshot, settings: ServerSettings, th: Thresholds) -> list[Hit]:
    """An application holding more connections than its engines' ceilings allow: its pool is not bounding."""
    hits: list[Hit] = []
    for unit in plan_units(plan, server):
        engines = unit.engines
        if any(e.unbounded for e in engines):
            continue  # no ceiling to compare with: the static unbounded-overflow rule says so
        processes, in_words = _processes(unit.deployment)
        per_process = sum(e.ceiling or 0 for e in engines)
        allowed = processes * per_process
        count = unit.count(snap)
        if count <= allowed * (1 + th.leak_over_plan_fraction):
            continue
        terms = " + ".join(f"({e.pool_size} + {e.max_overflow})" for e in engines)
        message = (
            f"{unit.label}: {count} connections to {snap.server} > plan's {in_words} x {terms} = {allowed}: "
            "its pools do not bound it"
        )
        fix = (
            "Create one engine per process at import time (never per request), keep max_overflow >= 0, and run "
            "the worker count the plan assumes; during a rolling deploy old and new instances overlap, so check "
            "again once it ends."
        )
        snippet = (
            "# app/db.py, imported once per process\n"
            f"engine = create_async_engine(url, pool_size={engines[0].pool_size}, "
            f"max_overflow={engines[0].max_overflow})\n"
            "SessionFactory = async_sessionmaker(engine, expire_on_commit=False)"
        )
        hits.append(Hit(unit.subject, Finding(ids.CONNECTION_LEAK, "warning", message, fix, snippet, snap.server)))
    return hits


def _unplanned_clients(plan, server: Server | None, snap: Snapshot, settings: ServerSettings,
                       th: Thresholds) -> list[Hit]:
    """Clients no service names over the plan's allowance, leaving the services no room (``rules.unplanned``)."""
    finding = unplanned_clients(plan, server, snap, settings, th)
    return [Hit(UNPLANNED_SUBJECT, finding)] if finding else []


def _older_than_recycle(
    plan, server: Server | None, snap: Snapshot, settings: ServerSettings, th: Thresholds
) -> list[Hit]:
    """Connections older than pool_recycle (plus a grace): recycling, applied only at checkout, is not happening."""
    hits: list[Hit] = []
    for unit in plan_units(plan, server):
        engines = unit.engines
        recycles = [e.pool_recycle for e in engines if e.pool_recycle != -1]
        if len(recycles) != len(engines):
            continue  # an engine of this app never recycles: age proves nothing
        recycle = max(recycles)
        ages = [g.oldest_backend_s for g in snap.groups if unit.owns(g.application_name) and g.oldest_backend_s]
        if not ages or max(ages) <= recycle + th.recycle_age_slack_s:
            continue
        age = max(ages)
        message = (
            f"{unit.label}: oldest connection {_s(age)} old > plan's pool_recycle {recycle:g} s "
            f"+ {th.recycle_age_slack_s:g} s grace: recycling is not happening"
        )
        fix = (
            f"Pass pool_recycle={recycle:g} to create_async_engine as the plan says (it is applied when a connection "
            "is checked out, so a connection held checked out, or never checked out under pool_use_lifo=True, "
            "is not recycled); close sessions promptly."
        )
        snippet = f"create_async_engine(url, pool_recycle={recycle:g}, pool_pre_ping=True)"
        finding = Finding(ids.CONNECTION_LEAK, "warning", message, fix, snippet, snap.server)
        hits.append(Hit(f"{unit.subject} (age)", finding))
    return hits


# --- cold pools: judged over the history ----------------------------------------------------------------------


def _cold_pool(
    plan: Plan | None, server: Server | None, history: Sequence[Snapshot], th: Thresholds, now: datetime
) -> list[Hit]:
    """A pool far below pool_size x processes some time after start, or a burst of new backends while cold."""
    if plan is None:
        return []
    ok = [s for s in history if s.ok]
    if not ok:
        return []
    latest = ok[-1]
    if latest is not history[-1]:
        return []
    hits: list[Hit] = []
    for unit in plan_units(plan, server):
        app, engines = unit.subject, unit.engines
        processes, in_words = _processes(unit.deployment)
        pool = sum(e.pool_size for e in engines)
        expected = processes * pool
        cold_below = th.cold_pool_fraction * expected
        pool_words = f"{in_words} x pool_size {pool} = {expected}"
        burst = _latest_burst(ok, unit, cold_below, th, now)
        if burst is not None:
            before, after, seconds, at = burst
            message = (
                f"{unit.label}: {before} -> {after} connections within {_s(seconds)} (+{after - before} new backends) "
                f"while its pool was cold (< {th.cold_pool_fraction:.0%} of {pool_words}): the requests that "
                "opened them each waited for a new connection"
            )
            hits.append(Hit(app, _cold_finding("warning", message, pool, latest.server), at))
            continue
        count = unit.count(latest)
        if count == 0 or count >= cold_below:
            continue
        first = next(s.taken_at for s in ok if unit.count(s) > 0)
        ages = [g.oldest_backend_s or 0.0 for g in latest.groups if unit.owns(g.application_name)]
        up = max([(now - first).total_seconds(), *ages])
        if up < th.cold_pool_grace_s:
            continue
        cold_since = latest.taken_at
        for snap in reversed(ok):
            if not 0 < unit.count(snap) < cold_below:
                break
            cold_since = snap.taken_at
        message = (
            f"{unit.label}: {_plural(count, 'connection')} {_s(up)} after its first, far below the plan's {pool_words} "
            f"(< {th.cold_pool_fraction:.0%}): pools open connections lazily, so each request beyond "
            f"{count} at once pays for a new connection; the lesson's warm-up opens only one per process"
        )
        hits.append(Hit(app, _cold_finding("info", message, pool, latest.server), cold_since))
    return hits


def _latest_burst(
    ok: Sequence[Snapshot], unit: Unit, cold_below: float, th: Thresholds, now: datetime
) -> tuple[int, int, float, datetime] | None:
    """The latest jump of an already running app, from a cold count, by ``burst_new_backends`` or more between
    two samples at most ``burst_window_s`` apart; reported for ``burst_reported_s``. An app seen for the first
    time is not judged: a correct warm-up opens all its connections at once too."""
    for prev, cur in reversed(list(itertools.pairwise(ok))):
        if (now - cur.taken_at).total_seconds() > th.burst_reported_s:
            return None
        seconds = (cur.taken_at - prev.taken_at).total_seconds()
        before, after = unit.count(prev), unit.count(cur)
        if seconds <= th.burst_window_s and 0 < before < cold_below and after - before >= th.burst_new_backends:
            return before, after, seconds, cur.taken_at
    return None


def _cold_finding(severity: Severity, message: str, pool: int, server: str) -> Finding:
    fix = (
        f"Warm each worker's pool at startup by checking out pool_size ({pool}) connections at once; "
        "sequential checkouts, like the lesson's `SELECT 1` in one session, reuse a single connection."
    )
    return Finding(ids.COLD_POOL, severity, message, fix, WARMUP_SNIPPET, server)
