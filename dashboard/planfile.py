"""A plan file on the page: the sidebar values it sets, and the page's current plan with every field the sidebar
cannot show kept as the file had it.

The sidebar shows one primary server and engine, optionally a replica engine (on its own server or on the
primary's), the deployment, the workload and PgBouncer in front of the primary. A plan file can say more: URLs,
application names, ``lb_idle_timeout_s``, a replica server's own reserved slots, measured hold percentiles, a third
server or engine. ``current_plan`` starts from the loaded plan and replaces only what the user changed in the
sidebar since it was loaded (a field whose sidebar value differs from the one the loaded plan gave), so an
unchanged page gives the loaded plan back exactly and nothing the sidebar cannot show is lost.

Part of the page's view-model; no Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from dashboard.inputs import PRIMARY, REPLICA, Inputs, _pgbouncer_inputs, build_plan
from planner.input_file import MAX_CONFIG_BYTES
from planner.model import InputError, Plan
from planner.plan_io import plan_from_json, plan_from_toml

MAJOR_VERSIONS = (12, 18)
"""The sidebar's PostgreSQL versions (its selectbox offers these and the ones between)."""

SERVER_REFS = {"server", "replica_of"}
"""Fields that name a server: translated from the sidebar's names (primary, replica) to the plan's."""


@dataclass(frozen=True)
class Roles:
    """Which servers and engines of a plan the sidebar's primary and replica stand for."""

    primary_server: str
    replica_server: str | None
    """None: no replica engine, or it points at the primary's server."""
    replica_engine: bool

    def names(self) -> dict[str, str]:
        """Sidebar name -> the plan's name."""
        return {PRIMARY: self.primary_server, REPLICA: self.replica_server or REPLICA}


def roles(plan: Plan) -> Roles:
    primary = plan.engines[0].server
    replica = plan.engines[1].server if len(plan.engines) > 1 else None
    return Roles(primary, replica if replica not in (None, primary) else None, len(plan.engines) > 1)


def _percent(surge: int | str, instances: int) -> int:
    if isinstance(surge, str):
        return int(float(surge.rstrip("%")))
    return min(100, round(100 * surge / instances)) if instances else 0


def inputs_for_plan(plan: Plan) -> Inputs:
    """The sidebar values closest to ``plan`` (``current_plan`` keeps what they cannot say)."""
    role = roles(plan)
    server, engine, dep, workload = plan.server(role.primary_server), plan.engines[0], plan.deployment, plan.workload
    values: dict[str, Any] = dict(
        max_connections=server.max_connections, superuser_reserved_connections=server.superuser_reserved_connections,
        reserved_connections=server.reserved_connections, other_clients=server.other_clients,
        major_version=min(max(server.major_version, MAJOR_VERSIONS[0]), MAJOR_VERSIONS[1]),
        instances=dep.instances, workers=dep.workers, surge_percent=_percent(dep.surge, dep.instances),
        autoscale_max=dep.autoscale_max or 0, pool_size=engine.pool_size, max_overflow=engine.max_overflow,
        pool_timeout=float(engine.pool_timeout), pool_recycle=float(engine.pool_recycle),
        pool_pre_ping=engine.pool_pre_ping, **_pgbouncer_inputs(plan),
    )
    if workload is not None:
        values.update(rps=float(workload.rps), hold_ms=float(workload.hold_ms),
                      request_timeout_s=float(workload.request_timeout_s or 0.0), hold_dist=workload.hold_dist or "exp",
                      target_p99_wait_ms=float(workload.target_p99_wait_ms))
    if role.replica_engine:
        replica = plan.engines[1]
        values.update(replica=True, replica_same_server=role.replica_server is None,
                      replica_pool_size=replica.pool_size, replica_max_overflow=replica.max_overflow,
                      replica_share_percent=float(min(max(replica.traffic_share * 100, 1.0), 100.0)))
        if role.replica_server is not None:
            values["replica_max_connections"] = plan.server(role.replica_server).max_connections
    return Inputs(**values)


# -- the page's current plan ------------------------------------------------------------------------------------

def _translate(value: Any, name: str, names: dict[str, str]) -> Any:
    return names.get(value, value) if name in SERVER_REFS and isinstance(value, str) else value


def _overlay(base: Any, reference: Any, edited: Any, names: dict[str, str]) -> Any:
    """``base`` with each field where ``edited`` differs from ``reference`` (the user changed it) from ``edited``."""
    changes = {f.name: _translate(getattr(edited, f.name), f.name, names) for f in fields(edited)
               if getattr(edited, f.name) != getattr(reference, f.name)}
    return replace(base, **changes) if changes else base


def _fresh(edited: Any, names: dict[str, str]) -> Any:
    """A part the loaded plan did not have (the user turned the replica or PgBouncer on): the sidebar's own."""
    return replace(edited, **{f.name: _translate(getattr(edited, f.name), f.name, names) for f in fields(edited)
                              if f.name in SERVER_REFS})


def _section(base: Any, reference: Any, edited: Any, names: dict[str, str]) -> Any:
    """An optional section (workload, PgBouncer): kept, turned off, new, or overlaid."""
    if edited == reference:
        return base
    if edited is None:
        return None
    if reference is None:
        return _fresh(edited, names)
    return _overlay(base if base is not None else reference, reference, edited, names)


def _by_name(items: tuple, name: str | None) -> Any:
    return next((item for item in items if item.name == name), None)


def current_plan(inputs: Inputs, base: Plan | None, *, application_name: str | None = None) -> Plan:
    """The plan the page judges: the sidebar's (``build_plan``), or the loaded ``base`` with the sidebar's changes.

    Raises ``InputError`` on a bad combination, as ``build_plan`` does."""
    edited = build_plan(inputs, application_name=application_name)
    if base is None:
        return edited
    role = roles(base)
    reference = build_plan(inputs_for_plan(base), application_name=application_name)
    names = role.names()
    servers = []
    for server in base.servers:
        if server.name == role.primary_server:
            servers.append(_overlay(server, reference.servers[0], edited.servers[0], names))
        elif server.name == role.replica_server:
            if _by_name(edited.servers, REPLICA) is not None:
                servers.append(_overlay(server, _by_name(reference.servers, REPLICA), _by_name(edited.servers,
                                                                                              REPLICA), names))
            elif any(e.server == server.name for e in base.engines[2:]):
                servers.append(server)  # another engine still uses it
        else:
            servers.append(server)
    new_replica = _by_name(edited.servers, REPLICA)
    if new_replica is not None and role.replica_server is None:
        servers.append(_fresh(replace(new_replica, name=names[REPLICA]), names))
    engines = [_overlay(base.engines[0], reference.engines[0], edited.engines[0], names)]
    if len(edited.engines) > 1:
        engines.append(_overlay(base.engines[1], reference.engines[1], edited.engines[1], names)
                       if role.replica_engine else _fresh(edited.engines[1], names))
    engines += base.engines[2:]
    return replace(
        base, servers=tuple(servers), engines=tuple(engines),
        deployment=_overlay(base.deployment, reference.deployment, edited.deployment, names),
        workload=_section(base.workload, reference.workload, edited.workload, names),
        pgbouncer=_section(base.pgbouncer, reference.pgbouncer, edited.pgbouncer, names),
    )


def kept_from_file(base: Plan, *, application_name: str | None = None) -> list[str]:
    """The loaded plan's fields the sidebar does not show (kept as the file had them), e.g.
    ``servers[replica].other_clients``: every field where the file differs from the sidebar's own plan."""
    reference = build_plan(inputs_for_plan(base), application_name=application_name)
    role = roles(base)
    kept = [name for name in ("lb_idle_timeout_s",) if getattr(base, name) != getattr(reference, name)]
    pairs = [(f"servers[{s.name}]", s, reference.servers[0] if s.name == role.primary_server
              else _by_name(reference.servers, REPLICA) if s.name == role.replica_server else None)
             for s in base.servers]
    pairs += [(f"engines[{e.name}]", e, reference.engines[i] if i < len(reference.engines) else None)
              for i, e in enumerate(base.engines)]
    pairs += [(key, getattr(base, key), getattr(reference, key)) for key in ("deployment", "workload", "pgbouncer")]
    names = role.names()
    for where, ours, theirs in pairs:
        if ours is None:
            continue
        if theirs is None:
            kept.append(f"{where} (all of it)")
            continue
        kept += [f"{where}.{f.name}" for f in fields(ours) if f.name != "name"
                 and getattr(ours, f.name) != _translate(getattr(theirs, f.name), f.name, names)]
    return kept


# -- reading an upload -----------------------------------------------------------------------------------------

def plan_from_upload(name: str, data: bytes) -> Plan:
    """A plan from an uploaded file's bytes (TOML, or JSON as ``export --format json`` writes it): every problem
    is an ``InputError`` naming the file, never another exception."""
    label = f"upload {name}"
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(label, f"is {len(data):,} bytes; a plan file is at most {MAX_CONFIG_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(label, f"is not UTF-8 text (byte {err.start})") from None
    try:
        if name.lower().endswith(".json") or text.lstrip().startswith("{"):
            return plan_from_json(text)
        return plan_from_toml(text)
    except InputError as err:
        raise InputError(label, str(err)) from None
    except (TypeError, ValueError, RecursionError) as err:  # a value the model refuses in a way of its own
        raise InputError(label, f"{type(err).__name__}: {err}") from None

