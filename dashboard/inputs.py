"""The sidebar's values (``Inputs``) and the Plan they describe; the values a plan or a server proposes.

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from dashboard import services_editor
from dashboard.services_editor import ServiceEntry
from planner.model import Deployment, Engine, PgBouncer, Plan, Server, Workload
from planner.plan_io import is_single_service
from planner.snapshot import ServerSettings

PRIMARY = "primary"


REPLICA = "replica"


PGBOUNCER_VERSIONS = ("1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25")
"""The choices offered; what matters is below or from 1.21 (prepared statements tracked) and 1.24 (on by default)."""


PGBOUNCER_POOL_MODES = ("transaction", "session", "statement")


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
    surge_unit: str = "%"
    """``%``: surge_percent is a percent of the instances; ``instances``: a count of extra instances."""
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
    application_name: str = ""
    """The selected service's first engine's application_name ("" = none; several services only)."""
    engine_server: str = PRIMARY
    """The server the selected service's first engine connects to (several services only)."""
    has_workload: bool = True
    """The selected service takes requests (a cron job or a worker may have no workload; several services only)."""
    services: tuple[ServiceEntry, ...] = ()
    """The page's services (``dashboard.services_editor``); empty = the single-service page (``build_plan``)."""
    selected_service: str = ""
    """Id of the service the sidebar's service controls show."""
    base_plan: Plan | None = None
    """With several services: the plan the servers, PgBouncer and rollout setting come from (the server
    controls' changes applied to it)."""

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def inputs_from(values: Mapping[str, object], base: Inputs | None = None) -> Inputs:
    """Inputs from widget values (unknown keys ignored, missing keys from ``base``)."""
    base = base or Inputs()
    known = {f.name for f in fields(Inputs)}
    return replace(base, **{k: v for k, v in values.items() if k in known})


EDITOR_KEYS = ("services", "selected_service", "base_plan")
"""The Inputs fields that are the services editor's state, not a control."""


def inputs_from_plan(plan: Plan) -> Inputs:
    """The sidebar values that reproduce a plan: a single-engine one as the single-service page (the demo fleet's
    preset), a plan of named services as the services editor (``plan_from_inputs`` gives the plan back)."""
    if not is_single_service(plan):
        return _editor_inputs(plan)
    server, engine, dep = plan.servers[0], plan.engines[0], plan.deployment
    workload = plan.workload
    return Inputs(
        max_connections=server.max_connections, superuser_reserved_connections=server.superuser_reserved_connections,
        reserved_connections=server.reserved_connections, other_clients=server.other_clients,
        major_version=server.major_version, instances=dep.instances, workers=dep.workers,
        **_single_surge(dep),
        pool_size=engine.pool_size, max_overflow=engine.max_overflow, pool_timeout=engine.pool_timeout,
        pool_recycle=engine.pool_recycle, pool_pre_ping=engine.pool_pre_ping,
        rps=workload.rps if workload else 100.0, hold_ms=workload.hold_ms if workload else 20.0,
        request_timeout_s=(workload.request_timeout_s or 0.0) if workload else 0.0,
        hold_dist=(workload.hold_dist or "exp") if workload else "exp",
        target_p99_wait_ms=workload.target_p99_wait_ms if workload else 10.0,
        **_pgbouncer_inputs(plan),
    )


def _single_surge(deployment: Deployment) -> dict[str, object]:
    """A count surge as a count (no surge: 0%, the page as it always showed it)."""
    values = services_editor.surge_values(deployment)
    return {"surge_percent": 0, "surge_unit": "%"} if values["surge_percent"] == 0 else values


def _editor_inputs(plan: Plan) -> Inputs:
    entries = services_editor.entries_from_plan(plan)
    return Inputs(**_server_inputs(plan), **_bouncer_inputs(plan.pgbouncer), **entries[0].values,
                  services=entries, selected_service=entries[0].id, base_plan=plan)


def _replica_server(plan: Plan) -> Server | None:
    return next((s for s in plan.servers if s.replica_of is not None), None)


def _server_inputs(plan: Plan) -> dict[str, object]:
    """The server controls' values of a plan's first server (and its hot standby's max_connections)."""
    server, replica = plan.servers[0], _replica_server(plan)
    return {"max_connections": server.max_connections,
            "superuser_reserved_connections": server.superuser_reserved_connections,
            "reserved_connections": server.reserved_connections, "other_clients": server.other_clients,
            "major_version": server.major_version,
            "replica_max_connections": replica.max_connections if replica else Inputs.replica_max_connections}


def _pgbouncer_inputs(plan: Plan) -> dict[str, object]:
    if plan.pgbouncer is None or not plan.engines[0].via_pgbouncer:
        return {}
    return {"pgbouncer": True, **_bouncer_inputs(plan.pgbouncer)}


def _bouncer_inputs(bouncer: PgBouncer | None) -> dict[str, object]:
    if bouncer is None:
        return {}
    offered = [v for v in PGBOUNCER_VERSIONS if tuple(map(int, v.split("."))) <= bouncer.version_tuple[:2]]
    version = offered[-1] if offered else PGBOUNCER_VERSIONS[0]  # the same behaviour: < 1.21, < 1.24 or later
    return {"pgbouncer_version": version,
            "pgbouncer_pool_mode": bouncer.pool_mode, "pgbouncer_default_pool_size": bouncer.default_pool_size,
            "pgbouncer_max_client_conn": bouncer.max_client_conn,
            "pgbouncer_max_prepared_statements": -1 if bouncer.max_prepared_statements is None
            else bouncer.max_prepared_statements}


def prefill_from_server(inputs: Inputs, settings: ServerSettings | None, *, other_clients: int | None = None,
                        replica: ServerSettings | None = None) -> Inputs:
    """Server limits as the live server reports them (max_connections, reserved slots, version); ``replica``:
    the replica server's own live settings, for its own max_connections (each server's limits to its own entry)."""
    if replica is not None and inputs.replica and not inputs.replica_same_server:
        inputs = replace(inputs, replica_max_connections=replica.max_connections)
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
        instances=inputs.instances, workers=inputs.workers,
        surge=services_editor.surge_setting(inputs.surge_percent, inputs.surge_unit),
        autoscale_max=inputs.autoscale_max or None,
    )
    workload = Workload(rps=inputs.rps, hold_ms=inputs.hold_ms, request_timeout_s=inputs.request_timeout_s or None,
                        hold_dist=inputs.hold_dist, target_p99_wait_ms=inputs.target_p99_wait_ms)
    return Plan(servers=tuple(servers), engines=tuple(engines), deployment=deployment, workload=workload,
                pgbouncer=_pgbouncer(inputs))


def plan_from_inputs(inputs: Inputs, urls: Mapping[str, str] | None = None, *,
                     application_name: str | None = None) -> Plan:
    """The Plan of the whole page: ``build_plan`` for the single-service page; with several services, every
    service (the selected one from the sidebar) on the base plan's servers with the server controls' changes.
    Raises ``InputError`` on a bad value or combination."""
    if not inputs.services:
        return build_plan(inputs, urls, application_name=application_name)
    base = inputs.base_plan or build_plan(inputs, urls, application_name=application_name)
    servers = _servers(base, inputs)
    replica = next((s.name for s in servers if s.replica_of is not None), REPLICA)
    sidebar = {key: getattr(inputs, key) for key in services_editor.SERVICE_KEYS}
    services = services_editor.build_services(inputs.services, inputs.selected_service, sidebar,
                                              replica_server=replica)
    if replica not in {s.name for s in servers} and any(e.server == replica for s in services for e in s.engines):
        servers = (*servers, replace(servers[0], name=replica, max_connections=inputs.replica_max_connections,
                                     other_clients=0, reserved_connections=0, replica_of=servers[0].name))
    first = _plan_pgbouncer(base, inputs, services, servers)  # the sidebar's; the others as the base plan has them
    bouncers = tuple(b for b in (first, *base.pgbouncers[1:]) if b is not None)
    return Plan(servers=servers, services=services, pgbouncers=bouncers, lb_idle_timeout_s=base.lb_idle_timeout_s,
                rollout=base.rollout)


def _changed(shown: Mapping[str, object], inputs: Inputs) -> dict[str, object]:
    return {key: getattr(inputs, key) for key in shown if getattr(inputs, key) != shown[key]}


def _servers(base: Plan, inputs: Inputs) -> tuple[Server, ...]:
    """The base plan's servers with what the server controls changed (its first server, its hot standby)."""
    changed = _changed(_server_inputs(base), inputs)
    replica_max = changed.pop("replica_max_connections", None)
    servers = list(base.servers)
    if changed:
        servers[0] = replace(servers[0], **changed)
    replica = _replica_server(base)
    if replica_max is not None and replica is not None:
        servers[servers.index(replica)] = replace(replica, max_connections=replica_max)
    return tuple(servers)


def _plan_pgbouncer(base: Plan, inputs: Inputs, services, servers: tuple[Server, ...]) -> PgBouncer | None:
    """The base plan's PgBouncer with what its controls changed; a new one when a service first goes through it."""
    if base.pgbouncer is None:
        if not any(e.via_pgbouncer for s in services for e in s.engines):
            return None
        return replace(_pgbouncer(replace(inputs, pgbouncer=True)), server=servers[0].name)
    changed = _changed(_bouncer_inputs(base.pgbouncer), inputs)
    fields_ = {"pgbouncer_version": "version", "pgbouncer_pool_mode": "pool_mode",
               "pgbouncer_default_pool_size": "default_pool_size", "pgbouncer_max_client_conn": "max_client_conn",
               "pgbouncer_max_prepared_statements": "max_prepared_statements"}
    changes = {fields_[key]: value for key, value in changed.items()}
    if changes.get("max_prepared_statements") == -1:
        changes["max_prepared_statements"] = None
    return replace(base.pgbouncer, **changes) if changes else base.pgbouncer


def _pgbouncer(inputs: Inputs) -> PgBouncer | None:
    """PgBouncer in front of the primary, when the primary engine goes through one."""
    if not inputs.pgbouncer:
        return None
    prepared = inputs.pgbouncer_max_prepared_statements
    return PgBouncer(server=PRIMARY, version=inputs.pgbouncer_version, pool_mode=inputs.pgbouncer_pool_mode,
                     default_pool_size=inputs.pgbouncer_default_pool_size,
                     max_client_conn=inputs.pgbouncer_max_client_conn,
                     max_prepared_statements=None if prepared == -1 else prepared)


def initial_inputs(demo_plan: Plan | None = None) -> Inputs:
    """The sidebar's first values: the demo fleet's plan in demo mode, PostgreSQL's defaults otherwise."""
    return inputs_from_plan(demo_plan) if demo_plan is not None else Inputs()


def apply_recommendation(inputs: Inputs, rec) -> Inputs:
    """The sidebar values with the recommended engine settings (and worker count) filled in."""
    return apply_plan(inputs, rec.plan) if rec.fits else inputs


def apply_alternative(inputs: Inputs, alternative) -> Inputs:
    """The sidebar values of one of the smallest changes that fit (``planner.sizing.Alternative``)."""
    return apply_plan(inputs, alternative.plan)


def apply_plan(inputs: Inputs, plan: Plan) -> Inputs:
    """The sidebar values of a plan the planner proposes: its worker count, server limits, PgBouncer and
    pools; everything else (URLs, the workload, the replica's placement) as the user set it. With several services,
    the selected service's part of the plan (nothing when the plan does not name it)."""
    if inputs.services:
        return _apply_service_plan(inputs, plan)
    changes: dict[str, object] = {"workers": plan.deployment.workers}
    for server in plan.servers:
        changes["max_connections" if server.name == PRIMARY else f"{REPLICA}_max_connections"] = server.max_connections
    for engine in plan.engines:
        changes.update(_engine_changes(engine, "" if engine.name == PRIMARY else f"{REPLICA}_"))
    changes.update(_pgbouncer_inputs(plan) or {"pgbouncer": False})
    return replace(inputs, **changes)


def _engine_changes(engine: Engine, prefix: str) -> dict[str, object]:
    changes: dict[str, object] = {f"{prefix}pool_size": engine.pool_size, f"{prefix}max_overflow": engine.max_overflow}
    if not prefix:
        changes.update(pool_timeout=float(engine.pool_timeout), pool_recycle=float(engine.pool_recycle),
                       pool_pre_ping=engine.pool_pre_ping)
    return changes


def _apply_service_plan(inputs: Inputs, plan: Plan) -> Inputs:
    """``apply_plan`` with several services. A plan of the same services (``recommend`` sizes a shared server for
    all of them together) replaces every one, the selection kept; any other plan changes the selected service
    alone (``_apply_selected_service``)."""
    names = [e.name for e in inputs.services]
    if sorted(names) != sorted(s.name for s in plan.services):
        return _apply_selected_service(inputs, plan)
    fresh = inputs_from_plan(plan)
    selected = services_editor.entry(inputs.services, inputs.selected_service).name
    keep = next(e for e in fresh.services if e.name == selected)
    return replace(fresh, selected_service=keep.id, **keep.values)


def _apply_selected_service(inputs: Inputs, plan: Plan) -> Inputs:
    """The selected service's worker count and pools (its first engine in the main controls, its second in the
    replica's, whatever their names) and the server limits; nothing when the plan does not name it."""
    name = services_editor.entry(inputs.services, inputs.selected_service).name
    if name not in {s.name for s in plan.services}:
        return inputs
    service = plan.service(name)
    changes: dict[str, object] = {"workers": service.deployment.workers, **_server_inputs(plan)}
    changes.update(_bouncer_inputs(plan.pgbouncer))
    for engine, prefix in zip(service.engines, ("", f"{REPLICA}_"), strict=False):
        changes.update(_engine_changes(engine, prefix))
    return replace(inputs, **changes)
