"""``monitor-superuser``: the dashboard connects as a superuser, which can do anything on the server.

The monitor only reads ``pg_stat_activity`` and a few settings; ``pg_monitor`` lets a plain login role see every
session. A superuser session turns any mistake in the monitor's path (a hijacked function, docs/security.md)
into full control of the server, including running programs with ``COPY ... TO PROGRAM``.
"""

from __future__ import annotations

from planner import ids
from planner.model import Finding
from planner.snapshot import ServerSettings
from planner.sql_ident import quote_ident

MONITOR_ROLE = "pool_planner_monitor"
"""The role the docs and the snippet create for the dashboard."""


def monitor_role_snippet(role: str = MONITOR_ROLE) -> str:
    """SQL that creates a non-superuser login role able to see every session (run once, as a superuser)."""
    name = quote_ident(role)
    return (
        f"CREATE ROLE {name} LOGIN CONNECTION LIMIT 5;\n"
        f"GRANT pg_monitor TO {name};\n"
        f"-- set its password without it reaching the server log: psql's \\password {name}\n"
        f"-- then connect the dashboard as {role}: postgresql+asyncpg://{role}:PASSWORD@host/db"
    )


def monitor_superuser_finding(server: str, settings: ServerSettings) -> Finding | None:
    """A warning when the monitoring role is a superuser; None otherwise."""
    if not settings.superuser:
        return None
    who = f"role {quote_ident(settings.role)}" if settings.role else "its role"
    message = (
        f"{server}: the monitor connects as superuser ({who}): it only needs to read pg_stat_activity, and a "
        "superuser session can read every table and run programs on the server (COPY ... TO PROGRAM)"
    )
    fix = ("Create a login role with pg_monitor (it sees every session, no superuser) and connect the dashboard "
           "as that role.")
    return Finding(ids.MONITOR_SUPERUSER, "warning", message, fix, monitor_role_snippet(), server)
