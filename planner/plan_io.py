"""A Plan in and out: TOML (the file checked into the user's repo) and JSON (what ``export --format json``
writes), with no argparse (the flags live in ``planner.commands.plan_args``).

The TOML keys are the model's field names (the names users paste into ``create_async_engine`` and
``postgresql.conf``)::

    lb_idle_timeout_s = 350          # optional, top level
    [[servers]]                      # one table per PostgreSQL server
    name = "primary"
    max_connections = 100
    [[engines]]                      # one table per create_async_engine(...) in each process
    name = "primary"
    server = "primary"
    pool_size = 10
    probes = ["http://10.0.0.5:8000/probe"]   # optional: in-app probe endpoints (planner.probe)
    [deployment]
    instances = 3
    workers = 4
    [workload]                       # optional
    rps = 400
    hold_ms = 15                     # checkout to check-in, mean
    hold_dist = "exp"                # or "const"; or hold_p50_ms/hold_p95_ms/hold_p99_ms as measured
    target_p99_wait_ms = 10          # recommend: smallest pool with p99 checkout wait <= this
    [pgbouncer]                      # optional
    version = "1.18.0"
    admin_url = "postgresql://stats@pgbouncer:6432/pgbouncer"   # optional: sampled live

Several PgBouncers (at most one in front of each server; an engine with ``via_pgbouncer = true`` goes through
the one in front of its server) are an array instead of the single ``[pgbouncer]``::

    [[pgbouncers]]
    server = "primary"
    name = "pgbouncer-primary"       # optional; default pgbouncer-<server>
    [[pgbouncers]]
    server = "replica"
    host = "pgbouncer-replica"

A server shared by several services lists them instead of the single ``[[engines]]``/``[deployment]``/
``[workload]`` (which are one service named ``app``)::

    rollout = "one-at-a-time"        # optional; default "together" (every service may roll at once)
    [[services]]
    name = "orders-api"
    priority = 2                     # optional: weight when recommend splits a shared server
    [services.deployment]
    instances = 3
    [services.workload]              # optional
    rps = 300
    hold_ms = 12
    [[services.engines]]
    name = "primary"
    server = "primary"
    application_name = "orders-api"  # live connections are matched to the service by it (orders-api-3 too)

Unknown keys, wrong types and broken TOML raise ``InputError`` naming the key, so a typo never falls back
to a default silently.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

from planner.dsn import mask_url
from planner.input_file import MAX_CONFIG_BYTES, check_toml_depth, read_text_file
from planner.model import ROLLOUTS, Deployment, Engine, InputError, PgBouncer, Plan, Server, Service, Workload


def plan_from_toml(text: str) -> Plan:
    """Parse and validate a plan TOML document."""
    check_toml_depth(text, "config")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError("config", f"not valid TOML: {err}") from None
    except RecursionError:  # the depth check above should make this unreachable
        raise InputError("config", "nested too deep to parse") from None
    return plan_from_data(data)


def plan_from_json(text: str) -> Plan:
    """A plan from JSON: the same keys as the TOML file, or the document ``export --format json`` writes (its
    ``plan`` key), so an exported plan reads back with ``--config``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError("config", f"not valid JSON: {err}") from None
    except RecursionError:
        raise InputError("config", "JSON nested too deep to be a plan") from None
    if isinstance(data, dict) and isinstance(data.get("plan"), dict):
        data = data["plan"]
    return plan_from_data(data)


def load_plan(path: str | Path) -> Plan:
    """Read a plan file: TOML, or JSON when it ends in .json or starts with ``{``. The file must be a regular
    file of at most 1 MB (a FIFO, a device or a directory is refused before it is opened); every problem is an
    InputError naming the file."""
    text = read_text_file(path, "config", MAX_CONFIG_BYTES)
    if str(path).lower().endswith(".json") or text.lstrip().startswith("{"):
        return plan_from_json(text)
    return plan_from_toml(text)


# ---------------------------------------------------------------------------------------------------- data


_TABLES: dict[str, type] = {"servers": Server, "engines": Engine, "pgbouncers": PgBouncer}
_SECTIONS: dict[str, type] = {"deployment": Deployment, "workload": Workload, "pgbouncer": PgBouncer}
_SERVICE_KEYS = {"name", "priority", "engines", "deployment", "workload"}
_ONE_SERVICE_KEYS = ("engines", "deployment", "workload")
_TOP_LEVEL = {"lb_idle_timeout_s", "services", "rollout"} | set(_TABLES) | set(_SECTIONS)
_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "tuple[str, ...]": (list,)}


def _allowed_types(cls: type, name: str) -> tuple[type, ...]:
    annotation = {f.name: f.type for f in dataclasses.fields(cls)}[name]
    if str(annotation).startswith("Literal"):
        return (str,)
    types: tuple[type, ...] = ()
    for part in str(annotation).split("|"):
        types += _TYPES.get(part.strip(), ())
    return types


def _build(cls: type, where: str, values: object) -> Any:
    if not isinstance(values, dict):
        raise InputError(where, f"must be a table, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in known:
            raise InputError(f"{where}.{key}", f"unknown key; known: {', '.join(sorted(known))}")
        types = _allowed_types(cls, key)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            names = " or ".join(sorted({t.__name__ for t in types}))
            raise InputError(f"{where}.{key}", f"must be {names}, got {type(value).__name__} {value!r}")
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in values:
            raise InputError(f"{where}.{f.name}", "is required")
    try:
        return cls(**values)
    except InputError as err:
        key = err.field.rsplit(".", 1)[-1]
        raise InputError(f"{where}.{key}", str(err).split(": ", 1)[-1]) from None


def plan_from_data(data: dict[str, Any]) -> Plan:
    """A Plan from plain data (parsed TOML or JSON): the same keys as the TOML file."""
    if not isinstance(data, dict):
        raise InputError("config", "must be a table of servers, engines, deployment, ...")
    for key in data:
        if key not in _TOP_LEVEL:
            raise InputError(key, f"unknown key; known: {', '.join(sorted(_TOP_LEVEL))}")
    kwargs: dict[str, Any] = {}
    if "services" in data:
        mixed = [key for key in _ONE_SERVICE_KEYS if key in data]
        if mixed:
            raise InputError(mixed[0], "a plan with [[services]] gives each service its own engines, deployment "
                                       "and workload; move this into a service")
        kwargs["services"] = _services(data["services"])
    if "pgbouncer" in data and "pgbouncers" in data:
        raise InputError("pgbouncers", "give either one [pgbouncer] or an array of [[pgbouncers]], not both")
    kwargs.update(_tables(data, "", _TABLES))
    for key, cls in _SECTIONS.items():
        if key in data:
            kwargs[key] = _build(cls, key, data[key])
    if "lb_idle_timeout_s" in data:
        value = data["lb_idle_timeout_s"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError("lb_idle_timeout_s", f"must be float, got {type(value).__name__} {value!r}")
        kwargs["lb_idle_timeout_s"] = float(value)
    if "rollout" in data:
        if data["rollout"] not in ROLLOUTS:
            raise InputError("rollout", f"must be together or one-at-a-time, got {data['rollout']!r}")
        kwargs["rollout"] = data["rollout"]
    plan = Plan(**kwargs)
    _check_pools_fit_servers(plan)
    return plan


def _tables(data: dict[str, Any], where: str, tables: dict[str, type]) -> dict[str, tuple]:
    out = {}
    for key, cls in tables.items():
        if key in data:
            rows = data[key]
            if not isinstance(rows, list):
                raise InputError(f"{where}{key}", f"must be an array of tables ([[{where}{key}]]), "
                                                  f"got {type(rows).__name__}")
            out[key] = tuple(_build(cls, f"{where}{key}[{i}]", row) for i, row in enumerate(rows))
    return out


def _services(rows: object) -> tuple[Service, ...]:
    if not isinstance(rows, list) or not rows:
        raise InputError("services", "must be a non-empty array of tables ([[services]])")
    return tuple(_service(f"services[{i}]", row) for i, row in enumerate(rows))


def _service(where: str, row: object) -> Service:
    if not isinstance(row, dict):
        raise InputError(where, f"must be a table, got {type(row).__name__}")
    for key in row:
        if key not in _SERVICE_KEYS:
            raise InputError(f"{where}.{key}", f"unknown key; known: {', '.join(sorted(_SERVICE_KEYS))}")
    if "name" not in row:
        raise InputError(f"{where}.name", "is required")
    kwargs: dict[str, Any] = {"name": row["name"]}
    if "engines" not in row:
        raise InputError(f"{where}.engines", "is required: at least one [[services.engines]]")
    kwargs.update(_tables(row, f"{where}.", {"engines": Engine}))
    for key, cls in (("deployment", Deployment), ("workload", Workload)):
        if key in row:
            kwargs[key] = _build(cls, f"{where}.{key}", row[key])
    if "priority" in row:
        value = row["priority"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}.priority", f"must be float, got {type(value).__name__} {value!r}")
        kwargs["priority"] = float(value)
    try:
        return Service(**kwargs)
    except InputError as err:
        raise InputError(f"{where}.{err.field.rsplit('.', 1)[-1]}", str(err).split(": ", 1)[-1]) from None


def _check_pools_fit_servers(plan: Plan) -> None:
    """A pool_size above the server's max_connections is a typo, not a plan: one process could never open it.

    Checked here, at the input edge (flags, TOML), not in ``Plan``, so that rules and the dashboard can still
    judge such a plan when it comes from code (``lint``) or from a live server."""
    for service in plan.services:
        where = "engines" if not plan.multi_service else f"services[{plan.services.index(service)}].engines"
        for i, engine in enumerate(service.engines):
            limit = plan.server(engine.server).max_connections
            if not engine.via_pgbouncer and engine.pool_size > limit:
                raise InputError(
                    f"{where}[{i}].pool_size",
                    f"engine {engine.name}: pool_size {engine.pool_size} is larger than max_connections {limit} of "
                    f"server {engine.server}: one process alone could never open it",
                )


def _fields(obj: object, *, mask: bool) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if value is None or value == ():
            continue  # TOML has no null: absent means the default
        if f.name in ("url", "admin_url", "probes") and mask:
            value = tuple(mask_url(item) for item in value) if f.name == "probes" else mask_url(value)
        out[f.name] = value
    return out


def is_single_service(plan: Plan) -> bool:
    """The plan is the one implicit service of the old format (a single ``[deployment]``, service ``app``)."""
    only = plan.services[0]
    return not plan.multi_service and only.name == "app" and only.priority is None


def _service_data(service: Service, *, mask: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"name": service.name}
    if service.priority is not None:
        data["priority"] = service.priority
    data["deployment"] = _fields(service.deployment, mask=mask)
    if service.workload is not None:
        data["workload"] = _fields(service.workload, mask=mask)
    data["engines"] = [_fields(e, mask=mask) for e in service.engines]
    return data


def plan_to_data(plan: Plan, *, mask: bool = False) -> dict[str, Any]:
    """Plain data for a Plan (the inverse of ``plan_from_data``). ``mask=True`` hides URL passwords. A plan of
    one implicit service keeps the old single-``[deployment]`` shape."""
    data: dict[str, Any] = {"servers": [_fields(s, mask=mask) for s in plan.servers]}
    if is_single_service(plan):
        data["engines"] = [_fields(e, mask=mask) for e in plan.engines]
        data["deployment"] = _fields(plan.deployment, mask=mask)
        if plan.workload is not None:
            data["workload"] = _fields(plan.workload, mask=mask)
    else:
        data["services"] = [_service_data(s, mask=mask) for s in plan.services]
    if len(plan.pgbouncers) == 1:
        data["pgbouncer"] = _fields(plan.pgbouncer, mask=mask)
    elif plan.pgbouncers:
        data["pgbouncers"] = [_fields(b, mask=mask) for b in plan.pgbouncers]
    if plan.lb_idle_timeout_s is not None:
        data["lb_idle_timeout_s"] = plan.lb_idle_timeout_s
    if plan.rollout != "together":
        data["rollout"] = plan.rollout
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _toml_table(header: str, row: dict[str, Any]) -> list[str]:
    return [header, *(f"{k} = {_toml_value(v)}" for k, v in row.items()), ""]


def plan_to_toml(plan: Plan) -> str:
    """The plan as a TOML file ``load_plan`` reads back (URL passwords masked)."""
    data = plan_to_data(plan, mask=True)
    lines: list[str] = []
    for key in ("lb_idle_timeout_s", "rollout"):
        if key in data:
            lines.append(f"{key} = {_toml_value(data[key])}")
    if lines:
        lines.append("")
    for key in ("servers", "engines", "pgbouncers"):
        for row in data.get(key, ()):
            lines += _toml_table(f"[[{key}]]", row)
    for key in ("deployment", "workload", "pgbouncer"):
        if key in data:
            lines += _toml_table(f"[{key}]", data[key])
    for service in data.get("services", ()):
        lines += _toml_table("[[services]]", {k: v for k, v in service.items() if not isinstance(v, dict | list)})
        for key in ("deployment", "workload"):
            if key in service:
                lines += _toml_table(f"[services.{key}]", service[key])
        for engine in service["engines"]:
            lines += _toml_table("[[services.engines]]", engine)
    return "\n".join(lines)
