"""Acting on a server during an incident: cancel a backend's statement or terminate its session, guarded.

Off unless enabled: ``POOL_PLANNER_ALLOW_ACTIONS=1`` in the environment (or, for the dashboard, the same key
set to true in ``.streamlit/secrets.toml``). Even then an action is refused, with the reason, for

- the monitor's own backends (``application_name`` = ``pool-planner-monitor``, or the acting connection),
- a superuser's backend (whoever the monitor is),
- a backend that is not a client backend (autovacuum, replication, ...), or a pid that does not exist,
- a backend the monitor role may not signal: it needs ``pg_signal_backend`` or the target's own role,
- a cancel of an idle session (idle, or idle in a transaction): it runs no statement, so the server
  accepts the signal and nothing happens; terminate is what ends such a transaction.

Every attempt that reaches a server (done, refused, failed) is written to the history file's
``action_log`` table (``ActionLog``): when, which server, what, the target pid, its application, state and
query age, who (the OS user and the monitor role), the outcome and the reason.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sqlite3
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from dashboard.live import db, queries
from dashboard.live.history import from_us, to_us

ALLOW_ENV = "POOL_PLANNER_ALLOW_ACTIONS"
IDLE_STATES = frozenset({"idle", "idle in transaction", "idle in transaction (aborted)"})
"""States in which a backend runs no statement: a cancel would be sent and do nothing."""
_TRUE = frozenset({"1", "true", "yes", "on"})


class Action(StrEnum):
    CANCEL = "cancel"
    """pg_cancel_backend: stop the current statement (its transaction rolls back on the error)."""
    TERMINATE = "terminate"
    """pg_terminate_backend: close the session (its open transaction rolls back)."""


class Outcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"
    """Not sent: disabled, or the target may not be signalled (see the reason)."""
    FAILED = "failed"
    """Sent or attempted, and the server did not do it (unreachable, permission denied, backend gone)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What the server says about the target and about the monitor, read just before acting."""

    pid: int
    exists: bool
    application_name: str | None = None
    usename: str | None = None
    state: str | None = None
    backend_type: str | None = None
    client_backend: bool = False
    target_superuser: bool = False
    query_age_s: float | None = None
    xact_age_s: float | None = None
    own_pid: int | None = None
    monitor_role: str | None = None
    monitor_superuser: bool = False
    monitor_has_target_role: bool = False
    monitor_signal_backend: bool = False


@dataclass(frozen=True, slots=True)
class ActionResult:
    """One cancel/terminate attempt and what came of it."""

    server: str
    action: Action
    pid: int
    outcome: Outcome
    reason: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    application_name: str | None = None
    usename: str | None = None
    state: str | None = None
    query_age_s: float | None = None
    xact_age_s: float | None = None
    os_user: str | None = None
    monitor_role: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.update(action=str(self.action), outcome=str(self.outcome), at=self.at.isoformat())
        return data


def actions_enabled(environ: Mapping[str, str] | None = None, secrets: Mapping[str, object] | None = None) -> bool:
    """True when ``POOL_PLANNER_ALLOW_ACTIONS`` is 1/true/yes/on in the secrets (dashboard) or the environment."""
    environ = os.environ if environ is None else environ
    value: object = None
    if secrets is not None:
        try:
            value = secrets.get(ALLOW_ENV)
        except Exception:  # st.secrets raises when no secrets.toml exists at all
            value = None
    if value is None:
        value = environ.get(ALLOW_ENV, "")
    return str(value).strip().lower() in _TRUE


DISABLED_REASON = (f"acting on servers is off: set {ALLOW_ENV}=1 (environment, or the dashboard's secrets.toml) "
                   "to allow cancel and terminate")


def refusal(target: Target, action: Action, monitor_application_name: str = db.MONITOR_APPLICATION_NAME) -> str | None:
    """Why ``action`` must not be sent to ``target``, or None when it may (the one place that decides)."""
    pid = target.pid
    if not target.exists:
        return f"no backend with pid {pid} on this server (it has ended, or the pid is wrong)"
    if pid == target.own_pid or target.application_name == monitor_application_name:
        return f"pid {pid} is the monitor's own backend ({monitor_application_name}): refusing to {action} it"
    if not target.client_backend:
        kind = target.backend_type or "hidden from the monitor role"
        return f"pid {pid} is not a client backend ({kind}): refusing to {action} it"
    if action is Action.CANCEL and target.state in IDLE_STATES:
        return (f"pid {pid} is {target.state}: it runs no statement, and a cancel does nothing to an idle "
                "session (checked on PostgreSQL 15); terminate it to end its transaction")
    if target.target_superuser:
        return f"pid {pid} belongs to superuser {target.usename}: refusing to {action} a superuser's backend"
    if not (target.monitor_superuser or target.monitor_has_target_role or target.monitor_signal_backend):
        role = target.monitor_role or "the monitor role"
        return (f"role {role} may not signal pid {pid} (role {target.usename}): it needs pg_signal_backend "
                f"(GRANT pg_signal_backend TO {role};) or to be that role")
    return None


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else round(max(value.total_seconds(), 0.0), 3)


def target_from_row(pid: int, row: Mapping[str, Any] | None) -> Target:
    if row is None:
        return Target(pid, exists=False)
    return Target(
        pid=pid, exists=True, application_name=row["application_name"], usename=row["usename"], state=row["state"],
        backend_type=row["backend_type"], client_backend=bool(row["client_backend"]),
        target_superuser=bool(row["target_superuser"]),
        query_age_s=_seconds(row["query_age"]), xact_age_s=_seconds(row["xact_age"]), own_pid=int(row["own_pid"]),
        monitor_role=row["monitor_role"], monitor_superuser=bool(row["monitor_superuser"]),
        monitor_has_target_role=bool(row["monitor_has_target_role"]),
        monitor_signal_backend=bool(row["monitor_signal_backend"]),
    )


def _result(server: str, action: Action, target: Target, outcome: Outcome, reason: str) -> ActionResult:
    return ActionResult(
        server, action, target.pid, outcome, reason, application_name=target.application_name,
        usename=target.usename, state=target.state, query_age_s=target.query_age_s, xact_age_s=target.xact_age_s,
        os_user=_os_user(), monitor_role=target.monitor_role,
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry): say so rather than guess
        return f"uid {os.getuid()}"


async def _act(url: str, server: str, action: Action, pid: int, timeout_s: float) -> ActionResult:
    """Read the target, decide, signal: one short-lived monitor connection."""
    target = Target(pid, exists=False)
    try:
        parsed = db.monitor_url(url)
    except db.ServerFault as fault:
        return _result(server, action, target, Outcome.FAILED, fault.message)
    engine = db.create_monitor_engine(parsed, timeout_s=timeout_s)
    try:
        connection = await db.connect(engine)
        try:
            rows = await db.fetch_all(connection, "action_target", pid=pid)
            target = target_from_row(pid, rows[0] if rows else None)
            reason = refusal(target, action)
            if reason is not None:
                return _result(server, action, target, Outcome.REFUSED, reason)
            row = await db.fetch_one(connection, f"action_{action}", pid=pid)
        finally:
            await db.discard(connection)
    except Exception as error:
        fault = db.classify(error, url=parsed, timeout_s=timeout_s)
        return _result(server, action, target, Outcome.FAILED, f"{action} of pid {pid} failed: {fault.message}")
    finally:
        await engine.dispose()
    if not row["signalled"]:
        return _result(server, action, target, Outcome.FAILED,
                       f"the server did not signal pid {pid} (it ended meanwhile?)")
    what = "its statement was cancelled" if action is Action.CANCEL else "its session was terminated"
    return _result(server, action, target, Outcome.DONE, f"pid {pid}: {what}")


def act(
    url: str,
    action: Action | str,
    pid: int,
    *,
    server: str = "primary",
    enabled: bool | None = None,
    log: ActionLog | None = None,
    timeout_s: float = 5.0,
) -> ActionResult:
    """Cancel or terminate backend ``pid`` of the server at ``url`` if allowed; never raises for a refusal.

    ``enabled`` defaults to ``actions_enabled()``. Disabled attempts are not sent and not logged; every other
    outcome is appended to ``log``. Safe to call from any thread (runs on its own event loop).
    """
    action = Action(action)
    enabled = actions_enabled() if enabled is None else enabled
    if not enabled:
        return ActionResult(server, action, pid, Outcome.REFUSED, DISABLED_REASON, os_user=_os_user())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="act") as pool:
        result = pool.submit(asyncio.run, _act(url, server, action, pid, timeout_s)).result()
    if log is not None:
        log.append(result)
    return result


class ActionLog:
    """The ``action_log`` table of a history file (the same SQLite file as ``HistoryStore``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.executescript(queries.load("history_actions_schema"))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    def append(self, result: ActionResult) -> None:
        row = {
            "taken_us": to_us(result.at), "server": result.server, "action": str(result.action), "pid": result.pid,
            "application_name": result.application_name, "usename": result.usename, "state": result.state,
            "query_age_s": result.query_age_s, "xact_age_s": result.xact_age_s, "os_user": result.os_user,
            "monitor_role": result.monitor_role, "outcome": str(result.outcome), "reason": result.reason,
        }
        with closing(self._connect()) as conn, conn:
            conn.execute(queries.load("history_insert_action"), row)

    def results(self, server: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> list[ActionResult]:
        """Attempts in the range (every server when ``server`` is None), oldest first."""
        params = {"server": server, "since_us": to_us(since) if since else 0,
                  "until_us": to_us(until) if until else 2**62}
        with closing(self._connect()) as conn:
            rows = conn.execute(queries.load("history_actions"), params).fetchall()
        return [
            ActionResult(server=r[1], action=Action(r[2]), pid=r[3], outcome=Outcome(r[11]), reason=r[12] or "",
                         at=from_us(r[0]), application_name=r[4], usename=r[5], state=r[6], query_age_s=r[7],
                         xact_age_s=r[8], os_user=r[9], monitor_role=r[10])
            for r in rows
        ]
