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
from planner.model import Deployment, Engine, InputError, PgBouncer, Plan, Server, Workload


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


_TABLES: dict[str, type] = {"servers": Server, "engines": Engine}
_SECTIONS: dict[str, type] = {"deployment": Deployment, "workload": Workload, "pgbouncer": PgBouncer}
_TOP_LEVEL = {"lb_idle_timeout_s"} | set(_TABLES) | set(_SECTIONS)
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
    for key, cls in _TABLES.items():
        if key in data:
            rows = data[key]
            if not isinstance(rows, list):
                raise InputError(key, f"must be an array of tables ([[{key}]]), got {type(rows).__name__}")
            kwargs[key] = tuple(_build(cls, f"{key}[{i}]", row) for i, row in enumerate(rows))
    for key, cls in _SECTIONS.items():
        if key in data:
            kwargs[key] = _build(cls, key, data[key])
    if "lb_idle_timeout_s" in data:
        value = data["lb_idle_timeout_s"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError("lb_idle_timeout_s", f"must be float, got {type(value).__name__} {value!r}")
        kwargs["lb_idle_timeout_s"] = float(value)
    plan = Plan(**kwargs)
    _check_pools_fit_servers(plan)
    return plan


def _check_pools_fit_servers(plan: Plan) -> None:
    """A pool_size above the server's max_connections is a typo, not a plan: one process could never open it.

    Checked here, at the input edge (flags, TOML), not in ``Plan``, so that rules and the dashboard can still
    judge such a plan when it comes from code (``lint``) or from a live server."""
    for i, engine in enumerate(plan.engines):
        limit = plan.server(engine.server).max_connections
        if not engine.via_pgbouncer and engine.pool_size > limit:
            raise InputError(
                f"engines[{i}].pool_size",
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


def plan_to_data(plan: Plan, *, mask: bool = False) -> dict[str, Any]:
    """Plain data for a Plan (the inverse of ``plan_from_data``). ``mask=True`` hides URL passwords."""
    data: dict[str, Any] = {
        "servers": [_fields(s, mask=mask) for s in plan.servers],
        "engines": [_fields(e, mask=mask) for e in plan.engines],
        "deployment": _fields(plan.deployment, mask=mask),
    }
    if plan.workload is not None:
        data["workload"] = _fields(plan.workload, mask=mask)
    if plan.pgbouncer is not None:
        data["pgbouncer"] = _fields(plan.pgbouncer, mask=mask)
    if plan.lb_idle_timeout_s is not None:
        data["lb_idle_timeout_s"] = plan.lb_idle_timeout_s
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


def plan_to_toml(plan: Plan) -> str:
    """The plan as a TOML file ``load_plan`` reads back (URL passwords masked)."""
    data = plan_to_data(plan, mask=True)
    lines: list[str] = []
    if "lb_idle_timeout_s" in data:
        lines += [f"lb_idle_timeout_s = {_toml_value(data['lb_idle_timeout_s'])}", ""]
    for key in ("servers", "engines"):
        for row in data[key]:
            lines.append(f"[[{key}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in row.items()]
            lines.append("")
    for key in ("deployment", "workload", "pgbouncer"):
        if key in data:
            lines.append(f"[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in data[key].items()]
            lines.append("")
    return "\n".join(lines)
