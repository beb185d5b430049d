"""Replica rules over the plan: ``replica-same-server`` and ``replica-below-primary`` (static halves).

``replica-same-server`` fires only for an engine meant as a replica (``Engine.meant_as_replica``): several
engines per process on one server are a normal design (an application engine and a workflow engine's two
pools), and the budget already counts them all. ``replica-below-primary``: a hot standby must have
max_connections, max_worker_processes, max_prepared_transactions, max_locks_per_transaction and
max_wal_senders at least as high as its primary, or it does not run as a hot standby (PostgreSQL docs,
"Hot Standby", 27.4.3 Administrator's Overview).
"""

from __future__ import annotations

from planner import ids
from planner.dsn import parse_url
from planner.model import STANDBY_SETTING_DEFAULTS, Engine, Finding, Plan, Server

STANDBY_REFUSAL = (
    "a hot standby with a lower setting than its primary stops replaying (\"hot standby is not possible because "
    "of insufficient parameter settings\", then \"recovery has paused\"): it still answers, with stale data"
)
"""Seen on a real PostgreSQL 16 standby whose primary raised max_connections (tests/test_reproduce_standby.py)."""


def replica_same_server(plan: Plan) -> list[Finding]:
    """An engine meant as a replica on a server the other engines use (not a replica), or two server entries
    with the same host:port/database."""
    return replica_on_primary(plan) + same_host(plan)


def replica_on_primary(plan: Plan) -> list[Finding]:
    """An engine meant as a replica on a server the other engines of the (first) service use, not a replica."""
    out: list[Finding] = []
    used = {e.server for e in plan.engines}
    for server in plan.servers:
        if server.name not in used:
            continue
        engines = [e for e in plan.engines_on(server.name) if not e.via_pgbouncer]
        replicas = [e for e in engines if e.meant_as_replica]
        others = [e for e in engines if not e.meant_as_replica]
        if server.replica_of is None and replicas and others:
            names = " and ".join(e.name for e in replicas)
            total = " + ".join(f"({e.pool_size} + {e.max_overflow})" for e in engines)
            out.append(Finding(
                ids.REPLICA_SAME_SERVER, "warning",
                f"engine {names}, meant for a replica, connects to {server.name} like "
                f"{' and '.join(e.name for e in others)}: the primary carries every pool, {total} per process, "
                f"and the reads are not offloaded",
                f"point {names}'s URL at the replica server (and declare it as a [[servers]] entry with "
                f"replica_of = \"{server.name}\"), or size all the pools together against {server.name}",
                "", server.name,
            ))
    return out


def same_host(plan: Plan) -> list[Finding]:
    """Two engines (of any services) declared on two servers whose URLs name the same host:port/database."""
    out: list[Finding] = []
    seen: dict[tuple, tuple[str, Engine]] = {}
    for service in plan.services:
        for engine in service.engines:
            if not engine.url:
                continue
            url = parse_url(engine.url)
            key = (url.host, url.port or 5432, url.database)
            owner, other = seen.setdefault(key, (service.name, engine))
            if other is not engine and other.server != engine.server:
                out.append(_same_host_finding(plan, (owner, other), (service.name, engine), url))
    return out


def _same_host_finding(plan: Plan, first: tuple[str, Engine], second: tuple[str, Engine], url) -> Finding:
    (owner, other), (service, engine) = first, second
    name = (lambda svc, e: f"{svc}/{e.name}") if plan.multi_service else (lambda svc, e: e.name)
    return Finding(
        ids.REPLICA_SAME_SERVER, "warning",
        f"engines {name(owner, other)} (server {other.server}) and {name(service, engine)} (server "
        f"{engine.server}) have the "
        f"same host {url.host}:{url.port or 5432}/{url.database}: one server carries both pools, but the "
        f"plan counts them on two",
        f"use the replica's own host in {name(service, engine)}'s URL, or declare both engines on "
        f"{other.server}",
        "", other.server, service if plan.multi_service else None,
    )


def standby_shortfalls(primary: dict[str, int | None], standby: dict[str, int | None]) -> list[tuple[str, int, int]]:
    """(setting, standby's value, primary's value) for every setting the standby has lower; unknown values
    (None) are not judged."""
    out = []
    for name in STANDBY_SETTING_DEFAULTS:
        mine, theirs = standby.get(name), primary.get(name)
        if mine is not None and theirs is not None and mine < theirs:
            out.append((name, mine, theirs))
    return out


def standby_finding(replica: str, primary: str, shortfalls: list[tuple[str, int, int]], where: str) -> Finding:
    """The ``replica-below-primary`` finding for one standby (``where``: "the plan" or "the live servers")."""
    listed = ", ".join(f"{name} {mine} < {theirs}" for name, mine, theirs in shortfalls)
    snippet = "\n".join([f"# postgresql.conf on {replica} (restart)",
                         *(f"{name} = {theirs}" for name, _, theirs in shortfalls)])
    return Finding(
        ids.REPLICA_BELOW_PRIMARY, "critical",
        f"{replica} is a hot standby of {primary}, but in {where} {listed} (standby < primary): {STANDBY_REFUSAL}; "
        f"the standby must have each at least as high as its primary",
        f"raise them on {replica} to at least {primary}'s values (restart), before raising them on {primary}; "
        f"lower them on {primary} only after the standby",
        snippet, replica,
    )


def _planned(server: Server) -> dict[str, int | None]:
    return {name: server.standby_setting(name) for name in STANDBY_SETTING_DEFAULTS}


def replica_below_primary(plan: Plan) -> list[Finding]:
    """A server declared ``replica_of`` a primary with a lower max_connections (or another standby setting)."""
    out = []
    for server in plan.servers:
        if server.replica_of is None:
            continue
        primary = plan.server(server.replica_of)
        shortfalls = standby_shortfalls(_planned(primary), _planned(server))
        if shortfalls:
            out.append(standby_finding(server.name, primary.name, shortfalls, "the plan"))
    return out


def replica_findings(plan: Plan) -> list[Finding]:
    return replica_same_server(plan) + replica_below_primary(plan)


__all__ = ["replica_below_primary", "replica_findings", "replica_on_primary", "replica_same_server", "same_host",
           "standby_finding", "standby_shortfalls"]
