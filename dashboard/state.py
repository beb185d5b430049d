"""The dashboard's view-model, without Streamlit: sidebar inputs -> Plan -> what every panel shows.

``app.py`` only draws what these functions return, so the whole page logic is tested without a browser
and the UI computes nothing itself: budgets, verdicts and arithmetic come from ``planner.budget``, findings
from ``planner.rules``, predicted waits from ``planner.queueing``, snippets from ``planner.export``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import pandas as pd

from dashboard.demo import SCENARIOS  # noqa: F401 - re-exported for the page
from dashboard.setting import setting
from planner.budget import VERDICT_ORDER, PgBouncerBudget, ServerBudget, overall_verdict, pgbouncer_budget, plan_budgets
from planner.dsn import mask_url
from planner.model import (
    SEVERITY_ORDER,
    Deployment,
    Engine,
    Finding,
    InputError,
    PgBouncer,
    Plan,
    Server,
    Workload,
)
from planner.snapshot import ServerSettings, Snapshot
from planner.text import md

PRIMARY = "primary"
REPLICA = "replica"
PGBOUNCER_VERSIONS = ("1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25")
"""The choices offered; what matters is below or from 1.21 (prepared statements tracked) and 1.24 (on by default)."""
PGBOUNCER_POOL_MODES = ("transaction", "session", "statement")
URL_KEYS = {PRIMARY: "DATABASE_URL", REPLICA: "REPLICA_DATABASE_URL"}
TIME_RANGES: dict[str, timedelta | None] = {
    "15 min": timedelta(minutes=15),
    "1 h": timedelta(hours=1),
    "6 h": timedelta(hours=6),
    "24 h": timedelta(hours=24),
    "whole history": None,
}


@dataclass(frozen=True)
class Inputs:
    """Every sidebar control, by widget key. Values are what the user typed, checked by ``planner.model``."""

    max_connections: int = 100
    superuser_reserved_connections: int = 3
    reserved_connections: int = 0
    other_clients: int = 0
    major_version: int = 16
    instances: int = 1
    workers: int = 1
    surge_percent: int = 25
    autoscale_max: int = 0
    """0 = no autoscaling."""
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pool_recycle: float = -1.0
    pool_pre_ping: bool = False
    replica: bool = False
    replica_same_server: bool = False
    """The replica engine points at the primary server (the pitfall ``replica-same-server``)."""
    replica_max_connections: int = 100
    replica_pool_size: int = 5
    replica_max_overflow: int = 10
    replica_share_percent: float = 100.0
    """Percent of requests that use the replica engine (planner.model.Engine.traffic_share x 100)."""
    pgbouncer: bool = False
    """The primary engine connects through PgBouncer (planner.model.PgBouncer in front of the primary server)."""
    pgbouncer_version: str = "1.24"
    pgbouncer_pool_mode: str = "transaction"
    pgbouncer_default_pool_size: int = 20
    pgbouncer_max_client_conn: int = 100
    pgbouncer_max_prepared_statements: int = -1
    """-1 = the version's default (0 before 1.24, 200 from 1.24)."""
    rps: float = 100.0
    hold_ms: float = 20.0
    request_timeout_s: float = 0.0
    """0 = the caller never gives up."""
    hold_dist: str = "exp"
    """How the hold time varies: ``exp`` or ``const`` (planner.model.Workload.hold_dist)."""
    target_p99_wait_ms: float = 10.0
    """The recommendation's p99 checkout-wait target."""

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def inputs_from(values: Mapping[str, object], base: Inputs | None = None) -> Inputs:
    """Inputs from widget values (unknown keys ignored, missing keys from ``base``)."""
    base = base or Inputs()
    known = {f.name for f in fields(Inputs)}
    return replace(base, **{k: v for k, v in values.items() if k in known})


def inputs_from_plan(plan: Plan) -> Inputs:
    """The sidebar values that reproduce a single-engine plan (used for the demo fleet's preset)."""
    server, engine, dep = plan.servers[0], plan.engines[0], plan.deployment
    workload = plan.workload
    return Inputs(
        max_connections=server.max_connections, superuser_reserved_connections=server.superuser_reserved_connections,
        reserved_connections=server.reserved_connections, other_clients=server.other_clients,
        major_version=server.major_version, instances=dep.instances, workers=dep.workers,
        surge_percent=int(str(dep.surge).rstrip("%")) if isinstance(dep.surge, str) else 0,
        pool_size=engine.pool_size, max_overflow=engine.max_overflow, pool_timeout=engine.pool_timeout,
        pool_recycle=engine.pool_recycle, pool_pre_ping=engine.pool_pre_ping,
        rps=workload.rps if workload else 100.0, hold_ms=workload.hold_ms if workload else 20.0,
        request_timeout_s=(workload.request_timeout_s or 0.0) if workload else 0.0,
        hold_dist=(workload.hold_dist or "exp") if workload else "exp",
        target_p99_wait_ms=workload.target_p99_wait_ms if workload else 10.0,
        **_pgbouncer_inputs(plan),
    )


def _pgbouncer_inputs(plan: Plan) -> dict[str, object]:
    bouncer = plan.pgbouncer
    if bouncer is None or not plan.engines[0].via_pgbouncer:
        return {}
    offered = [v for v in PGBOUNCER_VERSIONS if tuple(map(int, v.split("."))) <= bouncer.version_tuple[:2]]
    version = offered[-1] if offered else PGBOUNCER_VERSIONS[0]  # the same behaviour: < 1.21, < 1.24 or later
    return {"pgbouncer": True, "pgbouncer_version": version,
            "pgbouncer_pool_mode": bouncer.pool_mode, "pgbouncer_default_pool_size": bouncer.default_pool_size,
            "pgbouncer_max_client_conn": bouncer.max_client_conn,
            "pgbouncer_max_prepared_statements": -1 if bouncer.max_prepared_statements is None
            else bouncer.max_prepared_statements}


def prefill_from_server(inputs: Inputs, settings: ServerSettings | None, *, other_clients: int | None = None) -> Inputs:
    """Server limits as the live server reports them (max_connections, reserved slots, version)."""
    if settings is None:
        return inputs
    return replace(
        inputs,
        max_connections=settings.max_connections,
        superuser_reserved_connections=settings.superuser_reserved_connections,
        reserved_connections=settings.reserved_connections or 0,
        major_version=min(max(settings.major_version, 12), 18),
        other_clients=inputs.other_clients if other_clients is None else other_clients,
    )


def build_plan(inputs: Inputs, urls: Mapping[str, str] | None = None, *, application_name: str | None = None) -> Plan:
    """The Plan the inputs describe. Raises ``InputError`` (from ``planner.model``) on a bad combination."""
    urls = urls or {}
    primary = Server(
        name=PRIMARY, max_connections=inputs.max_connections,
        superuser_reserved_connections=inputs.superuser_reserved_connections,
        reserved_connections=inputs.reserved_connections, other_clients=inputs.other_clients,
        major_version=inputs.major_version,
    )
    servers = [primary]
    engines = [Engine(name=PRIMARY, server=PRIMARY, pool_size=inputs.pool_size, max_overflow=inputs.max_overflow,
                      pool_timeout=inputs.pool_timeout, pool_recycle=inputs.pool_recycle,
                      pool_pre_ping=inputs.pool_pre_ping, url=urls.get(PRIMARY), application_name=application_name,
                      via_pgbouncer=inputs.pgbouncer)]
    if inputs.replica:
        target = PRIMARY if inputs.replica_same_server else REPLICA
        if target == REPLICA:
            servers.append(replace(primary, name=REPLICA, max_connections=inputs.replica_max_connections,
                                   other_clients=0, replica_of=PRIMARY))  # a hot standby: replica-below-primary
        engines.append(Engine(name=REPLICA, server=target, pool_size=inputs.replica_pool_size,
                              max_overflow=inputs.replica_max_overflow, pool_timeout=inputs.pool_timeout,
                              pool_recycle=inputs.pool_recycle, pool_pre_ping=inputs.pool_pre_ping,
                              url=urls.get(REPLICA), application_name=application_name, replica=True,
                              traffic_share=inputs.replica_share_percent / 100))
    deployment = Deployment(
        instances=inputs.instances, workers=inputs.workers, surge=f"{inputs.surge_percent}%",
        autoscale_max=inputs.autoscale_max or None,
    )
    workload = Workload(rps=inputs.rps, hold_ms=inputs.hold_ms, request_timeout_s=inputs.request_timeout_s or None,
                        hold_dist=inputs.hold_dist, target_p99_wait_ms=inputs.target_p99_wait_ms)
    return Plan(servers=tuple(servers), engines=tuple(engines), deployment=deployment, workload=workload,
                pgbouncer=_pgbouncer(inputs))


def _pgbouncer(inputs: Inputs) -> PgBouncer | None:
    """PgBouncer in front of the primary, when the primary engine goes through one."""
    if not inputs.pgbouncer:
        return None
    prepared = inputs.pgbouncer_max_prepared_statements
    return PgBouncer(server=PRIMARY, version=inputs.pgbouncer_version, pool_mode=inputs.pgbouncer_pool_mode,
                     default_pool_size=inputs.pgbouncer_default_pool_size,
                     max_client_conn=inputs.pgbouncer_max_client_conn,
                     max_prepared_statements=None if prepared == -1 else prepared)


@dataclass(frozen=True)
class PlanView:
    """What the verdict, budget, findings and export panels show for one set of inputs."""

    plan: Plan
    budgets: tuple[ServerBudget, ...]
    verdict: str
    headroom: int | None
    """The smallest headroom over all servers (None: a pool is unbounded)."""
    arithmetic: str
    """The planner's own sentences for the tightest server, in one line."""
    findings: tuple[Finding, ...]
    tightest: ServerBudget
    """The server with the least headroom: the one the headline numbers describe."""
    bouncer: PgBouncerBudget | None = None
    """PgBouncer's client budget, when an engine goes through it."""

    @property
    def verdict_line(self) -> str:
        """The verdict box's text: the headroom of whatever decides the verdict, a server or PgBouncer."""
        b = self.bouncer
        if b is not None and VERDICT_ORDER[b.verdict] > VERDICT_ORDER[self.tightest.verdict]:
            limit = "server connections, session mode" if b.limited_by_server_connections else "max_client_conn"
            return (f"**{self.verdict.upper()}** · PgBouncer headroom {fmt(b.headroom)} at rollout peak "
                    f"({fmt(b.clients_rollout_peak)} clients, limit {b.limit}: {limit})")
        return f"**{self.verdict.upper()}** · headroom {fmt(self.headroom)} at rollout peak"


def evaluate(plan: Plan) -> PlanView:
    """Budgets, verdict and static findings of a plan (all from ``planner``)."""
    from planner.rules import static_findings

    budgets = plan_budgets(plan)
    worst = min(budgets, key=lambda b: float("-inf") if b.headroom is None else b.headroom)
    arithmetic = " · ".join(
        line for line in worst.explanation if line.startswith(("rollout peak", "headroom", "peak = unbounded"))
    )
    arithmetic = f"{worst.name}: {arithmetic}" if len(budgets) > 1 else arithmetic
    bouncer = pgbouncer_budget(plan)
    if bouncer is not None:
        arithmetic += " · PgBouncer: " + " · ".join(line for line in bouncer.explanation
                                                   if line.startswith(("client rollout peak", "headroom")))
    return PlanView(
        plan=plan, budgets=budgets, verdict=overall_verdict(budgets, bouncer), headroom=worst.headroom,
        arithmetic=arithmetic, findings=tuple(static_findings(plan)), tightest=worst, bouncer=bouncer,
    )


def fmt(value: int | None) -> str:
    """A budget figure for display: None is an unbounded pool."""
    return "unbounded" if value is None else f"{value:,}"


def headline_metrics(view: PlanView) -> list[tuple[str, str]]:
    """The six numbers under the verdict, for the tightest server (all from ``planner.budget``)."""
    b = view.tightest
    return [
        ("Usable slots", fmt(b.usable)),
        ("Steady", fmt(b.steady)),
        ("Peak", fmt(b.peak)),
        ("Rollout peak", fmt(b.rollout_peak)),
        ("Headroom", fmt(b.headroom)),
        ("Lesson's rule", fmt(b.lesson_rule_total)),
    ]


METRIC_HELP: dict[str, str] = {
    "Lesson's rule": "pool_size × processes: what the lesson compares with max_connections (it leaves out "
                     "max_overflow, the reserved slots, other clients and rollouts)",
}
"""Tooltips of the headline figures whose label alone would be too long for its column."""


def plan_lines(budget: ServerBudget) -> dict[str, float | None]:
    """The horizontal lines the live chart draws for one server (the planner's figures)."""
    return {
        "steady": budget.steady,
        "peak": budget.peak,
        "rollout peak": budget.rollout_peak if budget.rollout_peak != budget.peak else None,
        "usable": budget.usable,
        "max_connections": budget.max_connections,
    }


def inline_error(error: InputError) -> str:
    """The one-line message the page shows for a bad combination of inputs."""
    return f"Cannot build this plan: {error}"


# -- where to connect ---------------------------------------------------------------------------------------

def monitor_targets(secrets: Mapping[str, object] | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Servers to monitor: DATABASE_URL (+ REPLICA_DATABASE_URL) from st.secrets, else the environment.

    Empty means: nothing configured, so the dashboard runs its embedded demo.
    """
    targets: dict[str, str] = {}
    for server, key in URL_KEYS.items():
        value = setting(key, secrets, environ)
        if value:
            targets[server] = value
    return targets


def masked_targets(targets: Mapping[str, str]) -> dict[str, str]:
    """The URLs as the page may show them: passwords replaced by ***, and readable (a socket folder as /tmp/x,
    not URL-encoded as %2Ftmp%2Fx over four lines of the sidebar)."""
    return {name: unquote(mask_url(url)) for name, url in targets.items()}


LIVE_FINDINGS_WINDOW = timedelta(minutes=10)
"""How far back the live rules look: a finding's "since" is at most this old (the rules re-run every refresh)."""


# -- findings -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FindingRow:
    """One entry of the pitfalls panel."""

    finding: Finding
    since: datetime | None
    """When it started (live findings); None for a finding of the plan itself."""
    source: str
    """``live`` or ``plan``."""
    subject: str = ""
    """What on the server a live finding concerns (an application, an engine), "" for the server itself."""


def finding_rows(static: Sequence[Finding], live: Sequence[object]) -> list[FindingRow]:
    """Live findings newest first (by when they started), then the plan's own findings by severity.

    ``live`` holds ``planner.rules.live.LiveFinding`` objects (finding + since).
    """
    rows = [FindingRow(item.finding, item.since, "live", item.subject) for item in live]  # type: ignore[attr-defined]
    rows.sort(key=lambda r: (r.since, -SEVERITY_ORDER[r.finding.severity]), reverse=True)
    live_ids = {(r.finding.id, r.finding.server) for r in rows}
    plan_rows = [FindingRow(f, None, "plan") for f in static if (f.id, f.server) not in live_ids]
    plan_rows.sort(key=lambda r: SEVERITY_ORDER[r.finding.severity])
    return rows + plan_rows


def live_findings_for(plan: Plan | None, monitor, servers: Sequence[str], *, now: datetime) -> list[object]:
    """The live rules (``planner.rules.live``) over each server's recent samples, with since-when."""
    from planner.rules.live import tracked_live_findings

    since = now - LIVE_FINDINGS_WINDOW
    snapshots = [snap for server in servers for snap in monitor.history.snapshots(server, since=since)]
    return tracked_live_findings(plan, snapshots, now=now)


# -- predicted wait -----------------------------------------------------------------------------------------

WAIT_CURVE_SIM_ARRIVALS = 5_000
"""Simulated checkouts per point of the wait chart (the CLI's ``wait`` uses more; this keeps a rerun fast)."""


def wait_curve(plan: Plan, engine_name: str = PRIMARY, *, points: int = 30) -> pd.DataFrame:
    """Predicted p99 checkout wait of one worker process against pool_size (max_overflow as planned).

    Every value comes from ``planner.queueing.predict_wait``; an unbounded pool or no workload gives an
    empty frame.
    """
    from planner.queueing.requirement import workload_hold

    columns = ["pool_size", "p99_wait_s", "timeout_rate", "utilisation", "method"]
    engine = next(e for e in plan.engines if e.name == engine_name)
    if plan.workload is None or engine.unbounded or plan.workload.hold_ms <= 0:
        return pd.DataFrame(columns=columns)
    rate = plan.workload.engine_rps(plan.deployment, engine)
    hold = workload_hold(plan.workload)  # hold_ms is checkout to check-in: the pool's own cost is in it
    last = max(engine.pool_size + 2, math.ceil(rate * hold.mean / 1000 * 1.5) + 3, 8)
    sizes = {max(1, round(1 + i * (last - 1) / (points - 1))) for i in range(points)}
    sizes = sorted(sizes | {max(engine.pool_size, 1)})
    rows = []
    for size in sizes:
        p = _wait_point(rate, hold, size, engine.max_overflow, engine.pool_timeout or 0.001)
        rows.append((size, p.wait_p99_ms / 1000, p.timeout_rate, p.utilisation, p.method))
    return pd.DataFrame(rows, columns=columns)


@lru_cache(maxsize=2048)
def _wait_point(rate: float, hold, pool_size: int, max_overflow: int, pool_timeout: float):
    """One point of the wait chart, memoised: a slider that does not change the per-worker load or the pool
    (max_connections, surge, the replica) reuses every point, and moving pool_size computes only new ones;
    a simulated point costs tens of milliseconds."""
    from planner.queueing import predict_wait

    return predict_wait(rate, hold, pool_size, max_overflow, pool_timeout, sim_arrivals=WAIT_CURVE_SIM_ARRIVALS)


def wait_caption(plan: Plan, curve: pd.DataFrame, engine_name: str = PRIMARY) -> str:
    """One line under the wait chart: the current pool's predicted p99 and the per-worker load behind it."""
    engine = next(e for e in plan.engines if e.name == engine_name)
    row = curve[curve["pool_size"] == engine.pool_size].iloc[0]
    rate = plan.workload.engine_rps(plan.deployment, engine) if plan.workload else 0.0
    return (
        f"pool_size {engine.pool_size} (max_overflow {engine.max_overflow}): predicted p99 wait "
        f"{row.p99_wait_s * 1000:.1f} ms, {row.timeout_rate:.1%} of checkouts time out, utilisation "
        f"{row.utilisation:.2f} ({row.method}); per worker {rate:.3g} req/s"
    )


# -- live panel ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveView:
    """What the live panel shows for one server: a headline, the counts to chart, the latest groups."""

    headline: str
    error: str | None
    wide: pd.DataFrame
    """Counts over time, one column per state or application (``dashboard.timeline``)."""
    lines: dict[str, float | None]
    table: pd.DataFrame | None
    gaps: pd.Series | None = None
    """Per row of ``wide``: True where the sample failed (``charts.wide_figure``'s ``gaps``)."""


def history_since(range_label: str, now: datetime) -> datetime | None:
    if range_label not in TIME_RANGES:
        raise InputError("time range", f"must be one of {', '.join(TIME_RANGES)}, got {range_label!r}")
    span = TIME_RANGES[range_label]
    return None if span is None else now - span


def latest_table(snapshot: Snapshot | None) -> pd.DataFrame | None:
    """The latest sample's connections per application and state, biggest first."""
    if snapshot is None or not snapshot.ok:
        return None
    rows = {}
    for g in snapshot.groups:
        key = (g.application_name or "(none)", g.state or "(hidden)")
        rows[key] = rows.get(key, 0) + g.count
    table = pd.DataFrame([(a, s, n) for (a, s), n in rows.items()], columns=["application_name", "state", "count"])
    return table.sort_values(["count", "application_name", "state"], ascending=[False, True, True], ignore_index=True)


def live_headline(server: str, snapshot: Snapshot | None, status=None) -> tuple[str, str | None]:
    """``(headline, error)`` for the latest sample of one server (``status``: the monitor's ServerStatus).

    The headline is Markdown with every server string escaped; ``error`` is plain text (escape it to show it)."""
    if snapshot is None:
        reason = f" ({md(status.state)}: {md(mask_url(status.reason))})" if status is not None and status.reason else ""
        return f"**{md(server)}**: waiting for the first sample…{reason}", None
    when = f"{snapshot.taken_at:%H:%M:%S} UTC"
    if not snapshot.ok:
        retry = ""
        if status is not None and status.next_retry_at is not None:
            retry = f"; next attempt {status.next_retry_at:%H:%M:%S} UTC"
        return (f"**{md(server)}**: no sample at {when} ({md(snapshot.status)}){retry}",
                f"{snapshot.status}: {mask_url(snapshot.error or '')}")
    states = snapshot.count_by("state")
    parts = ", ".join(f"{n} {md(s or 'hidden')}" for s, n in sorted(states.items(), key=lambda kv: -kv[1]))
    parts = f" ({parts})" if parts else ""  # no client yet: no empty "()"
    latency = f" · query {snapshot.latency_ms:.1f} ms" if snapshot.latency_ms is not None else ""
    return f"**{md(server)}**: **{snapshot.total}** client connections at {when}{parts}{latency}", None


def live_view(monitor, timeline, server: str, plan: Plan | None, range_label: str, by: str, *,
              now: datetime) -> LiveView:
    """Everything the live panel needs for one server: the monitor's latest sample and the timeline's counts."""
    snapshot = monitor.latest().get(server)
    headline, error = live_headline(server, snapshot, monitor.status().get(server))
    wide, gaps = timeline.window_with_gaps(by, history_since(range_label, now))
    lines: dict[str, float | None] = {}
    if plan is not None and server in {s.name for s in plan.servers}:
        lines = plan_lines(next(b for b in plan_budgets(plan) if b.name == server))
    lines = with_server_limit(lines, getattr(snapshot, "settings", None))
    return LiveView(headline, error, wide, lines, latest_table(snapshot), gaps)


def with_server_limit(lines: dict[str, float | None], settings: ServerSettings | None) -> dict[str, float | None]:
    """The plan's lines, plus the server's own max_connections when the plan says another number (the
    ``plan-differs-from-server`` finding explains it): the chart never shows only the plan's limit."""
    if settings is None or lines.get("max_connections") in (None, settings.max_connections):
        return lines
    return {**lines, "server max_connections": settings.max_connections}


# -- start-up -----------------------------------------------------------------------------------------------

def initial_inputs(demo_plan: Plan | None = None) -> Inputs:
    """The sidebar's first values: the demo fleet's plan in demo mode, PostgreSQL's defaults otherwise."""
    return inputs_from_plan(demo_plan) if demo_plan is not None else Inputs()


def history_path(targets: Sequence[tuple[str, str]] | Mapping[str, str]) -> Path:
    """Where the live history of these servers is kept: ``$POOL_PLANNER_DATA`` (default ``./data``).

    One file per set of servers, named by a hash of the masked URLs (no secret reaches the file system).
    """
    from dashboard.live.history import default_data_dir

    items = sorted(dict(targets).items())
    digest = hashlib.sha1(repr([(k, mask_url(v)) for k, v in items]).encode()).hexdigest()[:12]
    return default_data_dir() / f"history-{digest}.sqlite"


def snippet_language(snippet: str) -> str:
    """Syntax highlighting for a finding's snippet (presentation only)."""
    text = snippet.lstrip()
    if text.startswith(("ALTER ", "SELECT ", "GRANT ", "SET ", "CREATE ROLE")):
        return "sql"
    first = text.splitlines()[0] if text else ""
    if text.startswith("[") or ("= " in first and "(" not in first):
        return "ini"
    return "python"


# -- export -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportFile:
    """One export tab: the planner's snippet and how the download button names it."""

    format: str
    title: str
    file_name: str
    language: str
    mime: str
    text: str


EXPORT_FILES: dict[str, tuple[str, str, str, str]] = {
    "python": ("Python engines", "db.py", "python", "text/x-python"),
    "env": (".env", "pool.env", "bash", "text/plain"),
    "uvicorn": ("Uvicorn", "uvicorn.sh", "bash", "text/x-sh"),
    "gunicorn": ("Gunicorn", "gunicorn.sh", "bash", "text/x-sh"),
    "pgbouncer": ("pgbouncer.ini", "pgbouncer.ini", "ini", "text/plain"),
    "postgresql": ("postgresql.conf", "postgresql.conf", "ini", "text/plain"),
    "json": ("JSON", "plan.json", "json", "application/json"),
}


def export_files(plan: Plan) -> list[ExportFile]:
    """Every format ``planner.export`` knows, with the exact text ``python -m planner export`` prints.

    A format that does not apply to the plan (pgbouncer.ini without PgBouncer) is left out.
    """
    from planner.export import FORMATS, export

    files = []
    for fmt in FORMATS:
        title, file_name, language, mime = EXPORT_FILES.get(fmt, (fmt, f"{fmt}.txt", "text", "text/plain"))
        try:
            text = export(plan, fmt)
        except InputError:
            continue
        files.append(ExportFile(fmt, title, file_name, language, mime, text))
    return files


# -- recommendation -----------------------------------------------------------------------------------------

def recommendation(plan: Plan):
    """``planner.sizing.recommend_for_plan``: pool settings that fit, each number with its reason."""
    from planner.sizing import recommend_for_plan

    return recommend_for_plan(plan)


def apply_recommendation(inputs: Inputs, rec) -> Inputs:
    """The sidebar values with the recommended engine settings (and worker count) filled in."""
    return apply_plan(inputs, rec.plan) if rec.fits else inputs


def apply_alternative(inputs: Inputs, alternative) -> Inputs:
    """The sidebar values of one of the smallest changes that fit (``planner.sizing.Alternative``)."""
    return apply_plan(inputs, alternative.plan)


def apply_plan(inputs: Inputs, plan: Plan) -> Inputs:
    """The sidebar values of a plan the planner proposes: its worker count, server limits, PgBouncer and
    pools; everything else (URLs, the workload, the replica's placement) as the user set it."""
    changes: dict[str, object] = {"workers": plan.deployment.workers}
    for server in plan.servers:
        changes["max_connections" if server.name == PRIMARY else f"{REPLICA}_max_connections"] = server.max_connections
    for engine in plan.engines:
        prefix = "" if engine.name == PRIMARY else f"{REPLICA}_"
        changes.update({f"{prefix}pool_size": engine.pool_size, f"{prefix}max_overflow": engine.max_overflow})
        if not prefix:
            changes.update(pool_timeout=float(engine.pool_timeout), pool_recycle=float(engine.pool_recycle),
                           pool_pre_ping=engine.pool_pre_ping)
    changes.update(_pgbouncer_inputs(plan) or {"pgbouncer": False})
    return replace(inputs, **changes)


def recommendation_summary(rec) -> str:
    """One line: the recommended numbers, or that nothing fits."""
    if not rec.fits:
        return "Nothing fits as deployed: " + "; ".join(a.summary for a in rec.alternatives)
    parts = [f"{a.name}: pool_size={a.pool_size}, max_overflow={a.max_overflow}, pool_timeout={a.pool_timeout:g}, "
             f"pool_recycle={a.pool_recycle:g}, pool_pre_ping={a.pool_pre_ping}" for a in rec.engines]
    return f"{rec.workers} workers · " + " · ".join(parts)
