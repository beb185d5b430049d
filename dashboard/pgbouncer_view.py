"""The PgBouncer section's data, without Streamlit: which consoles to sample, the per-pool table against the
live config and the plan, the findings over the recent history, and the per-pool summary a joined
per-service view takes (``latest_pool_waits``). ``dashboard.pgbouncer_page`` draws it.

Consoles come from ``PGBOUNCER_ADMIN_URL`` (``.streamlit/secrets.toml`` or the environment): one URL, or
``NAME=URL`` pairs separated by spaces or commas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard.live.db import ServerFault, mask_url
from dashboard.live.pgbouncer_cli import named
from dashboard.setting import setting
from planner.model import Finding, Plan
from planner.pgbouncer_snapshot import PgBouncerSnapshot, PoolWait, pool_waits
from planner.rules.pgbouncer_live import pgbouncer_live_findings
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds

URL_KEY = "PGBOUNCER_ADMIN_URL"
TABLE_COLUMNS = ["database", "user", "mode", "clients active", "clients waiting", "maxwait s",
                 "servers active / idle / used", "pool size live / plan", "clients / max_client_conn live / plan",
                 "avg transaction ms", "avg query ms", "averaged over"]
"""Narrow enough for the page: the PgBouncer's name is the section's heading, live and planned settings share a
column, and a setting the plan does not give reads "not planned" (never "None")."""


def pgbouncer_targets(secrets: Mapping[str, object] | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{name: console URL} from ``PGBOUNCER_ADMIN_URL`` in st.secrets, else the environment; {} when unset.

    A URL that cannot be used raises ``ServerFault('bad-url')`` with the password masked."""
    text = setting(URL_KEY, secrets, environ)
    return dict(named(part) for part in text.replace(",", " ").split())


def configured_targets(secrets: Mapping[str, object] | None) -> tuple[dict[str, str], str | None]:
    """``pgbouncer_targets``, with an unusable URL as a one-line message instead of an exception."""
    try:
        return pgbouncer_targets(secrets), None
    except ServerFault as fault:
        return {}, f"{URL_KEY}: {fault.message}"


@dataclass(frozen=True)
class PgBouncerView:
    """What the page shows for one PgBouncer."""

    name: str
    headline: str
    """One line of text (never Markdown): version, mode, clients against max_client_conn, or why no sample."""
    error: str | None
    table: pd.DataFrame
    findings: list[Finding]


def _headline(snap: PgBouncerSnapshot | None, name: str, url: str) -> tuple[str, str | None]:
    if snap is None:
        return f"{name} ({url}): waiting for the first sample", None
    if not snap.ok:
        return f"{name} ({url}): {snap.status}", snap.error
    c = snap.config
    mode = f", pool_mode {c.pool_mode}, default_pool_size {c.default_pool_size}" if c else ""
    limit = f" of max_client_conn {c.max_client_conn}" if c else ""
    return (f"{name} ({url}): PgBouncer {snap.version}{mode}; {snap.total_clients} client connections{limit}, "
            f"sample took {snap.latency_ms:.1f} ms"), None


def _live_plan(live: object, planned: object) -> str:
    return f"{'?' if live is None else live} / {'not planned' if planned is None else planned}"


def pool_table(snap: PgBouncerSnapshot | None, plan: Plan | None) -> pd.DataFrame:
    """One row per pool: clients, waits and server connections against the live config and the plan's."""
    if snap is None or not snap.ok:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    c, planned = snap.config, plan.pgbouncer if plan is not None else None
    pool_size = _live_plan(c.default_pool_size if c else None, planned.default_pool_size if planned else None)
    clients = _live_plan(f"{snap.total_clients} of {c.max_client_conn}" if c else None,
                         planned.max_client_conn if planned else None)
    rows = [[p.database, p.user, p.pool_mode or (c.pool_mode if c else "?"), p.cl_active, p.cl_waiting, p.maxwait_s,
             f"{p.sv_active} / {p.sv_idle} / {p.sv_used}", pool_size, clients, p.avg_xact_ms, p.avg_query_ms,
             p.avg_source or "not yet"]
            for p in snap.pools]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    numeric = ["maxwait s", "avg transaction ms", "avg query ms"]
    table[numeric] = table[numeric].apply(pd.to_numeric)  # an average not known yet is a blank cell, not "None"
    return table


def pgbouncer_view(name: str, url: str, latest: PgBouncerSnapshot | None, history: list[PgBouncerSnapshot],
                   plan: Plan | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> PgBouncerView:
    """The section for one PgBouncer: ``history`` is its recent samples (the window of the waiting rule)."""
    headline, error = _headline(latest, name, mask_url(url))
    samples = history if history else ([latest] if latest is not None else [])
    return PgBouncerView(name, headline, error, pool_table(latest, plan),
                         pgbouncer_live_findings(plan, samples, thresholds))


def history_window(thresholds: Thresholds = DEFAULT_THRESHOLDS) -> timedelta:
    """How far back the section reads samples: twice the waiting rule's window."""
    return timedelta(seconds=2 * thresholds.pgbouncer_waiting_window_s)


def since(now: datetime, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> datetime:
    return now - history_window(thresholds)


def latest_pool_waits(latest: Mapping[str, PgBouncerSnapshot]) -> tuple[PoolWait, ...]:
    """Every pool of every PgBouncer's latest sample as a ``PoolWait`` (cl_waiting, maxwait, ...): the
    PgBouncer side a per-service verdict takes to say "waiting in PgBouncer". Pass ``monitor.pgbouncer_latest()``."""
    return tuple(wait for snap in latest.values() for wait in pool_waits(snap))
