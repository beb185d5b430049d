"""The services editor's state, without Streamlit: the services of a page, which one the sidebar shows, and the
Service each one describes; the first guess of services from what runs on a server; each server's shares.

A page with several services keeps one ``ServiceEntry`` per service, under a stable id (``s1``, ``s2``...), so a
rename never loses a value. The sidebar's service controls (deployment, pools, workload: ``SERVICE_KEYS``) always
show the *selected* entry: switching selection stores their values in the entry it leaves and loads the next.

An entry keeps the ``Service`` it was loaded or created as (its template) and the sidebar values last set for it;
the Service it describes is the template with only the values that differ from the template's own applied. So
whatever the sidebar cannot express (a third engine, a surge given as a count, hold-time percentiles, an engine's
URL or probes) stays exactly as loaded, and an untouched service is its template: a loaded plan comes back equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from planner.budget import pgbouncer_budget, server_budget, service_share, usable_slots
from planner.model import Deployment, Engine, Plan, Service, Workload, fold_application_name
from planner.text import visible

SERVICE_DEFAULTS: dict[str, object] = {
    "instances": 1, "workers": 1, "surge_percent": 25, "surge_unit": "%", "autoscale_max": 0,
    "pool_size": 5, "max_overflow": 10, "pool_timeout": 30.0, "pool_recycle": -1.0, "pool_pre_ping": False,
    "pgbouncer": False, "application_name": "", "engine_server": "primary",
    "replica": False, "replica_same_server": False, "replica_pool_size": 5, "replica_max_overflow": 10,
    "replica_share_percent": 100.0,
    "has_workload": True, "rps": 100.0, "hold_ms": 20.0, "request_timeout_s": 0.0, "hold_dist": "exp",
    "target_p99_wait_ms": 10.0,
}
"""The sidebar keys that belong to one service, with the values a service without them shows (the same defaults
as ``dashboard.inputs.Inputs``, which tests/test_services_editor.py checks)."""

SERVICE_KEYS: tuple[str, ...] = tuple(SERVICE_DEFAULTS)

SURGE_UNITS = ("%", "instances")
"""How the rollout surge is given: a percent of the instances, or a count of extra instances."""

_FIRST_ENGINE = {"pool_size": "pool_size", "max_overflow": "max_overflow", "pgbouncer": "via_pgbouncer",
                 "application_name": "application_name", "engine_server": "server"}
_EVERY_ENGINE = {"pool_timeout": "pool_timeout", "pool_recycle": "pool_recycle", "pool_pre_ping": "pool_pre_ping"}
"""Like the single-service page, one pool_timeout / pool_recycle / pool_pre_ping for all of a process's engines."""
_SECOND_ENGINE = {"replica_pool_size": "pool_size", "replica_max_overflow": "max_overflow"}
_WORKLOAD_KEYS = ("rps", "hold_ms", "request_timeout_s", "hold_dist", "target_p99_wait_ms")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class ServiceEntry:
    """One service of the page: a stable id, its name, what it was loaded or created as, its sidebar values."""

    id: str
    name: str
    template: Service
    values: Mapping[str, object]
    """``SERVICE_KEYS`` as last set for this service (the selected service's live in the sidebar's keys)."""


# -- a service <-> its sidebar values -------------------------------------------------------------------------

def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _surge_values(deployment: Deployment) -> dict[str, object]:
    surge = deployment.surge
    if isinstance(surge, str) and surge.strip().endswith("%"):
        return {"surge_percent": _number(float(surge.strip()[:-1])), "surge_unit": "%"}
    return {"surge_percent": int(str(surge).strip()), "surge_unit": "instances"}


def _engine_values(service: Service) -> dict[str, object]:
    first = service.engines[0]
    values: dict[str, object] = {
        "pool_size": first.pool_size, "max_overflow": first.max_overflow, "pool_timeout": float(first.pool_timeout),
        "pool_recycle": float(first.pool_recycle), "pool_pre_ping": first.pool_pre_ping,
        "pgbouncer": first.via_pgbouncer, "application_name": first.application_name or "",
        "engine_server": first.server, "replica": len(service.engines) > 1,
    }
    if len(service.engines) > 1:
        second = service.engines[1]
        values.update(replica_same_server=second.server == first.server, replica_pool_size=second.pool_size,
                      replica_max_overflow=second.max_overflow,
                      replica_share_percent=_number(second.traffic_share * 100))
    return values


def _workload_values(workload: Workload | None) -> dict[str, object]:
    if workload is None:
        return {"has_workload": False}
    return {"has_workload": True, "rps": workload.rps, "hold_ms": workload.hold_ms,
            "request_timeout_s": workload.request_timeout_s or 0.0, "hold_dist": workload.hold_dist or "exp",
            "target_p99_wait_ms": workload.target_p99_wait_ms}


def service_values(service: Service) -> dict[str, object]:
    """The sidebar values that show ``service`` (``SERVICE_KEYS``; what it does not set, at the defaults)."""
    dep = service.deployment
    return {**SERVICE_DEFAULTS, "instances": dep.instances, "workers": dep.workers,
            "autoscale_max": dep.autoscale_max or 0, **_surge_values(dep), **_engine_values(service),
            **_workload_values(service.workload)}


def surge_setting(amount: object, unit: str) -> int | str:
    """``Deployment.surge`` from the sidebar's amount and unit (``SURGE_UNITS``): ``"25%"`` or a count ``2``."""
    if unit == "instances":
        return amount  # type: ignore[return-value]  # a bad value is Deployment's to report
    return f"{_number(amount)}%" if isinstance(amount, int | float) and not isinstance(amount, bool) else str(amount)


def surge_values(deployment: Deployment) -> dict[str, object]:
    """The sidebar's surge amount and unit for a deployment's surge."""
    return _surge_values(deployment)


def _surge(values: Mapping[str, object]) -> int | str:
    return surge_setting(values["surge_percent"], str(values["surge_unit"]))


def _deployment(deployment: Deployment, changed: Mapping[str, object], values: Mapping[str, object]) -> Deployment:
    changes = {key: changed[key] for key in ("instances", "workers") if key in changed}
    if "autoscale_max" in changed:
        changes["autoscale_max"] = changed["autoscale_max"] or None
    if "surge_percent" in changed or "surge_unit" in changed:
        changes["surge"] = _surge(values)
    return replace(deployment, **changes) if changes else deployment


def _workload(workload: Workload | None, changed: Mapping[str, object],
              values: Mapping[str, object]) -> Workload | None:
    if not values["has_workload"]:
        return None
    if workload is None:
        return Workload(rps=values["rps"], hold_ms=values["hold_ms"],  # type: ignore[arg-type]
                        request_timeout_s=values["request_timeout_s"] or None,  # type: ignore[arg-type]
                        hold_dist=values["hold_dist"],  # type: ignore[arg-type]
                        target_p99_wait_ms=values["target_p99_wait_ms"])  # type: ignore[arg-type]
    changes = {key: changed[key] for key in _WORKLOAD_KEYS if key in changed}
    if "request_timeout_s" in changes:
        changes["request_timeout_s"] = changes["request_timeout_s"] or None
    if "hold_dist" in changes or "hold_ms" in changes:  # measured percentiles no longer describe the new hold
        changes.update(hold_p50_ms=None, hold_p95_ms=None, hold_p99_ms=None, hold_dist=values["hold_dist"])
    return replace(workload, **changes) if changes else workload


def _second_engine(first: Engine, template: Engine | None, changed: Mapping[str, object],
                   values: Mapping[str, object], replica_server: str, taken: set[str]) -> Engine:
    server = first.server if values["replica_same_server"] else replica_server
    if template is None:
        name = next(n for n in ("replica", *(f"replica-{i}" for i in range(2, 100))) if n not in taken)
        return Engine(name=name, server=server, pool_size=values["replica_pool_size"],  # type: ignore[arg-type]
                      max_overflow=values["replica_max_overflow"],  # type: ignore[arg-type]
                      pool_timeout=first.pool_timeout, pool_recycle=first.pool_recycle,
                      pool_pre_ping=first.pool_pre_ping, application_name=first.application_name, replica=True,
                      traffic_share=values["replica_share_percent"] / 100)  # type: ignore[operator]
    changes = {field: changed[key] for key, field in _SECOND_ENGINE.items() if key in changed}
    if "replica_share_percent" in changed:
        changes["traffic_share"] = changed["replica_share_percent"] / 100  # type: ignore[operator]
    if "replica_same_server" in changed or ("engine_server" in changed and values["replica_same_server"]):
        changes["server"] = server
    return replace(template, **changes) if changes else template


def _engines(service: Service, changed: Mapping[str, object], values: Mapping[str, object],
             replica_server: str) -> tuple[Engine, ...]:
    every = {field: changed[key] for key, field in _EVERY_ENGINE.items() if key in changed}
    first_changes = {field: changed[key] for key, field in _FIRST_ENGINE.items() if key in changed}
    if "application_name" in first_changes:
        first_changes["application_name"] = first_changes["application_name"] or None
    first = replace(service.engines[0], **every, **first_changes) if every or first_changes else service.engines[0]
    if not values["replica"]:
        return (first,)
    rest = [replace(e, **every) if every else e for e in service.engines[1:]]
    taken = {e.name for e in service.engines}
    second = _second_engine(first, rest[0] if rest else None, changed, values, replica_server, taken)
    return (first, second, *rest[1:])


def build_service(name: str, template: Service, values: Mapping[str, object], *,
                  replica_server: str = "replica") -> Service:
    """The Service ``values`` describe: ``template`` with the values that differ from its own applied. Raises
    ``InputError`` on a bad value. ``replica_server``: the server a newly added replica engine reads from."""
    values = {**SERVICE_DEFAULTS, **values}
    shown = service_values(template)
    changed = {key: value for key, value in values.items() if key in shown and value != shown[key]}
    if not changed and name == template.name:
        return template
    return Service(name=name, engines=_engines(template, changed, values, replica_server),
                   deployment=_deployment(template.deployment, changed, values),
                   workload=_workload(template.workload, changed, values), priority=template.priority)


# -- the page's entries ---------------------------------------------------------------------------------------

def entry_for(service: Service, entry_id: str) -> ServiceEntry:
    return ServiceEntry(entry_id, service.name, service, service_values(service))


def entries_from_plan(plan: Plan) -> tuple[ServiceEntry, ...]:
    return tuple(entry_for(service, f"s{i}") for i, service in enumerate(plan.services, start=1))


def new_id(entries: tuple[ServiceEntry, ...]) -> str:
    numbers = [int(e.id[1:]) for e in entries if e.id[1:].isdigit()]
    return f"s{max(numbers, default=0) + 1}"


def entry(entries: tuple[ServiceEntry, ...], entry_id: str) -> ServiceEntry:
    return next((e for e in entries if e.id == entry_id), entries[0])


def commit(entries: tuple[ServiceEntry, ...], entry_id: str, values: Mapping[str, object]) -> tuple[ServiceEntry, ...]:
    """The entries with ``entry_id``'s sidebar values replaced by ``values`` (its ``SERVICE_KEYS`` only)."""
    kept = {key: values[key] for key in SERVICE_KEYS if key in values}
    return tuple(replace(e, values={**e.values, **kept}) if e.id == entry_id else e for e in entries)


def rename(entries: tuple[ServiceEntry, ...], entry_id: str, name: str) -> tuple[ServiceEntry, ...]:
    """A new name (checked when the plan is built: ``InputError`` names the service field)."""
    return tuple(replace(e, name=name.strip()) if e.id == entry_id else e for e in entries)


def unique_name(wanted: str, taken: set[str]) -> str:
    """A valid service name (``planner.model``: 1-63 letters, digits, ``_.-``) close to ``wanted`` and not taken."""
    base = _NAME_CHARS.sub("-", wanted).strip("-")[:56] or "service"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def new_service(entries: tuple[ServiceEntry, ...], server: str) -> ServiceEntry:
    """A new service with SQLAlchemy's default pool on ``server``, named ``service-N`` (its application_name too)."""
    name = unique_name(f"service-{len(entries) + 1}", {e.name for e in entries})
    template = Service(name=name, engines=(Engine(name="primary", server=server, application_name=name),),
                       workload=Workload(rps=100.0, hold_ms=20.0))
    return entry_for(template, new_id(entries))


def remove(entries: tuple[ServiceEntry, ...], entry_id: str) -> tuple[tuple[ServiceEntry, ...], str]:
    """The entries without ``entry_id`` (never the last one) and the entry to select next."""
    if len(entries) < 2:
        return entries, entries[0].id
    index = next(i for i, e in enumerate(entries) if e.id == entry_id)
    left = entries[:index] + entries[index + 1:]
    return left, left[min(index, len(left) - 1)].id


def build_services(entries: tuple[ServiceEntry, ...], selected: str, sidebar: Mapping[str, object], *,
                   replica_server: str = "replica") -> tuple[Service, ...]:
    """Every entry's Service, the selected one's from the sidebar's current values."""
    return tuple(build_service(e.name, e.template, {**e.values, **sidebar} if e.id == selected else e.values,
                               replica_server=replica_server) for e in entries)


def matches(entry_: ServiceEntry, text: str) -> bool:
    """The filter box: a service matches when its name or application_name contains the text (any case)."""
    needle = text.strip().lower()
    application_name = str(entry_.values.get("application_name", ""))
    return not needle or needle in entry_.name.lower() or needle in application_name.lower()


# -- the first guess from what runs on a server ---------------------------------------------------------------

@dataclass(frozen=True)
class ObservedApp:
    """One application seen on a server (its application_name folded), and its observed peak."""

    application_name: str
    peak: int
    """Most connections its processes held together in one sample."""
    processes: int
    """Per-worker names seen (``orders-1``, ``orders-2``: 2); 1 when the name has no such suffix."""
    per_process_peak: int
    """Most connections one of those names held in one sample."""


def observed_apps(wide: pd.DataFrame, latest: Mapping[str | None, int] | None = None, *,
                  own: str = "") -> tuple[ObservedApp, ...]:
    """The applications in a timeline's counts by application_name (``dashboard.timeline``: one column per name,
    one row per sample) and the latest sample's, folded by per-worker suffix; the monitor's own name (``own``),
    empty and hidden names skipped. Biggest peak first."""
    columns: dict[str, pd.Series] = {}
    for name in wide.columns:
        columns[str(name)] = wide[name]
    frame = pd.DataFrame(columns, index=wide.index)
    if latest:
        row = pd.DataFrame([{str(k): float(v) for k, v in latest.items() if k}], index=[pd.Timestamp.max])
        frame = pd.concat([frame, row]).fillna(0.0)
    groups: dict[str, list[str]] = {}
    for name in frame.columns:
        if name and name not in (own, "(hidden)", "(none)"):
            groups.setdefault(fold_application_name(name), []).append(name)
    apps = []
    for folded, names in groups.items():
        counts = frame[names].fillna(0.0)
        peak = int(counts.sum(axis=1).max()) if len(counts) else 0
        per_process = int(counts.max().max()) if len(counts) else 0
        if peak > 0:
            suffixed = [n for n in names if n != folded]
            apps.append(ObservedApp(folded, peak, max(len(suffixed), 1), per_process if suffixed else peak))
    return tuple(sorted(apps, key=lambda a: (-a.peak, a.application_name)))


def entries_from_observed(apps: tuple[ObservedApp, ...], server: str) -> tuple[ServiceEntry, ...]:
    """One service per observed application: one process (or one per per-worker name seen) whose pool_size is the
    observed peak per process, no overflow; for the user to edit."""
    entries: list[ServiceEntry] = []
    for app in apps:
        name = unique_name(app.application_name, {e.name for e in entries})
        engine = Engine(name="primary", server=server, pool_size=max(app.per_process_peak, 1), max_overflow=0,
                        application_name=app.application_name)
        template = Service(name=name, engines=(engine,), deployment=Deployment(workers=app.processes, surge=0))
        entries.append(entry_for(template, f"s{len(entries) + 1}"))
    return tuple(entries)


# -- each server's shares -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShareGroup:
    """The services using one server directly (or through its PgBouncer), for the editor's table."""

    title: str
    """Plain text: the server (and PgBouncer), its usable slots and its rollout peak."""
    rows: pd.DataFrame
    """One row per service: names as visible text (never Markdown), the selected one marked."""


SHARE_COLUMNS = ("", "service", "application_name", "processes", "pool per process", "steady", "peak",
                 "rollout peak", "% of limit")


def _share_row(service: Service, engines: tuple[Engine, ...], usable: int, selected: bool) -> dict[str, object]:
    share = service_share(service, engines)
    names = ", ".join(sorted({e.application_name or service.name for e in engines}))  # as set, not folded
    peak = share.rollout_peak
    percent = "" if peak is None or usable <= 0 else f"{100 * peak / usable:.0f}%"
    per_process = "unbounded" if share.per_process_peak is None else \
        f"{share.per_process_steady} + {share.per_process_peak - share.per_process_steady}"
    return dict(zip(SHARE_COLUMNS, ("▶" if selected else "", visible(service.name), visible(names),
                                    share.processes, per_process, share.steady,
                                    "unbounded" if share.peak is None else share.peak,
                                    "unbounded" if peak is None else peak, percent), strict=True))


def _group(plan: Plan, server, via: bool, selected: str | None, shown: set[str] | None) -> ShareGroup | None:
    """One server's services connecting directly (``via`` False) or through its PgBouncer (``via`` True)."""
    if via:
        bouncer = pgbouncer_budget(plan)
        if bouncer is None or bouncer.server != server.name:
            return None
        limit, total = bouncer.limit, bouncer.clients_rollout_peak
        title = f"{visible(server.name)} through PgBouncer: limit {limit} client connections, client rollout peak "
        extra = ""
    else:
        budget = server_budget(plan, server)
        limit, total = usable_slots(server), budget.rollout_peak
        title = f"{visible(server.name)}: usable {limit}, rollout peak "
        extra = f", PgBouncer's {budget.pgbouncer_connections} included" if budget.pgbouncer_connections else ""
    rows = [_share_row(s, engines, limit, s.name == selected) for s in plan.services
            if (shown is None or s.name in shown)
            and (engines := tuple(e for e in s.engines_on(server.name) if e.via_pgbouncer == via))]
    if not rows:
        return None
    title += f"{'unbounded' if total is None else total} (all its services{extra})"
    return ShareGroup(title, pd.DataFrame(rows, columns=list(SHARE_COLUMNS)))


def share_groups(plan: Plan, selected: str | None, shown: set[str] | None = None) -> tuple[ShareGroup, ...]:
    """Per server (and per PgBouncer), the services using it and their share, the ``shown`` ones only. The share is
    of the server's usable slots, or of PgBouncer's client limit."""
    groups = (_group(plan, server, via, selected, shown) for server in plan.servers for via in (False, True))
    return tuple(g for g in groups if g is not None)
