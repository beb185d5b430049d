"""Live rules that hold the plan against the servers themselves.

``plan-differs-from-server``: the plan's max_connections, reserved slots or major version are not the live
server's, so every budget figure judged from the plan is about another server. ``replica-below-primary``
(live half): both servers sampled, the standby's settings are lower than its primary's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from planner import ids
from planner.budget import usable_slots
from planner.model import STANDBY_SETTING_DEFAULTS, Finding, Plan, Server
from planner.rules.replica import standby_finding, standby_shortfalls
from planner.snapshot import ServerSettings, Snapshot

COMPARED = ("max_connections", "superuser_reserved_connections", "reserved_connections", "major_version")


def _live_value(settings: ServerSettings, name: str) -> int:
    if name == "reserved_connections":
        return settings.reserved_connections or 0
    return getattr(settings, name)


def differences(server: Server, settings: ServerSettings) -> list[tuple[str, int, int]]:
    """(setting, the plan's value, the server's value) for every compared setting that differs."""
    return [(name, getattr(server, name), _live_value(settings, name)) for name in COMPARED
            if getattr(server, name) != _live_value(settings, name)]


def _live_usable(server: Server, settings: ServerSettings) -> int:
    return (settings.max_connections - settings.superuser_reserved_connections
            - (settings.reserved_connections or 0) - server.other_clients)


def plan_differs(server: Server | None, snap: Snapshot, settings: ServerSettings) -> list[Finding]:
    """The plan's server settings against the live ones; warning when the server has fewer usable slots than
    the plan counts on, info otherwise."""
    if server is None:
        return []
    diff = differences(server, settings)
    if not diff:
        return []
    planned, live = usable_slots(server), _live_usable(server, settings)
    listed = ", ".join(f"{name} {mine} in the plan, {theirs} on the server" for name, mine, theirs in diff)
    consequence = (f"the plan counts {planned} usable slots, the server gives {live}: every budget figure and "
                   "verdict from the plan is too optimistic" if live < planned else
                   f"the plan's budget ({planned} usable) is not the server's ({live} usable)")
    snippet_lines = ["[[servers]]", f'name = "{server.name}"',
                     *(f"{name} = {_live_value(settings, name)}" for name in COMPARED
                       if name != "reserved_connections" or settings.major_version >= 16)]
    return [Finding(
        ids.PLAN_DIFFERS_FROM_SERVER, "warning" if live < planned else "info",
        f"{snap.server}: {listed}: {consequence}",
        "Plan with the server's own settings (the dashboard's \"Use the live server's limits\" button, or the "
        "[[servers]] table below in the plan file), or change the server to match the plan (restart).",
        "\n".join(snippet_lines), snap.server,
    )]


def live_limits(server: Server, settings: ServerSettings) -> Server:
    """``server`` with the compared settings (``COMPARED``) as the live server reports them; the rest (other
    clients, timeouts, ``replica_of``) as planned. ``plan_differs`` finds nothing between the two."""
    major = min(max(settings.major_version, 12), 18)
    reserved = (settings.reserved_connections or 0) if major >= 16 else 0
    return replace(server, max_connections=settings.max_connections,
                   superuser_reserved_connections=settings.superuser_reserved_connections,
                   reserved_connections=reserved, major_version=major)


def with_live_limits(plan: Plan, settings: Mapping[str, ServerSettings | None]) -> Plan:
    """The plan with each server's limits replaced by its **own** live settings (``settings``: server name ->
    the latest sample's settings; a server without any keeps the plan's): the primary's, the replica's, ..."""
    servers = tuple(live_limits(s, settings[s.name]) if settings.get(s.name) is not None else s
                    for s in plan.servers)
    return plan if servers == plan.servers else replace(plan, servers=servers)


def _live_standby_values(settings: ServerSettings) -> dict[str, int | None]:
    values: dict[str, int | None] = {name: getattr(settings, name, None) for name in STANDBY_SETTING_DEFAULTS}
    values["max_connections"] = settings.max_connections
    return values


def standby_below_primary(plan: Plan | None, latest: Mapping[str, Snapshot]) -> list[Finding]:
    """For each plan server that is ``replica_of`` another, with both servers' latest samples ok: the standby's
    live settings that are lower than the primary's."""
    if plan is None:
        return []
    out = []
    for server in plan.servers:
        standby, primary = latest.get(server.name), latest.get(server.replica_of or "")
        if not (standby and primary and standby.settings and primary.settings):
            continue
        shortfalls = standby_shortfalls(_live_standby_values(primary.settings), _live_standby_values(standby.settings))
        if shortfalls:
            out.append(standby_finding(server.name, primary.server, shortfalls, "the live servers"))
    return out


def latest_ok(history_by_server: Mapping[str, Sequence[Snapshot]]) -> dict[str, Snapshot]:
    """Each server's latest sample, when it is a sample with settings."""
    return {name: history[-1] for name, history in history_by_server.items()
            if history and history[-1].ok and history[-1].settings is not None}


__all__ = ["differences", "latest_ok", "live_limits", "plan_differs", "standby_below_primary", "with_live_limits"]
