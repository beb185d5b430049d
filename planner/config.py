"""A Plan from command-line flags, from a TOML file checked into the user's repo, or both (flags win).

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
to a default silently. With several servers or engines in the file, the per-server flags change the first
server and the per-engine flags the first engine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

from planner.dsn import mask_url
from planner.input_file import MAX_CONFIG_BYTES, check_toml_depth, read_text_file
from planner.model import Deployment, Engine, InputError, PgBouncer, Plan, Server, Workload

# flag dest -> (section, field). Section "server"/"engine" means the first one.
_SERVER_FLAGS = {
    "max_connections": "max_connections",
    "superuser_reserved": "superuser_reserved_connections",
    "reserved": "reserved_connections",
    "other_clients": "other_clients",
    "pg_version": "major_version",
    "idle_session_timeout": "idle_session_timeout_s",
}
_ENGINE_FLAGS = {
    "pool_size": "pool_size",
    "max_overflow": "max_overflow",
    "pool_timeout": "pool_timeout",
    "pool_recycle": "pool_recycle",
    "pool_pre_ping": "pool_pre_ping",
    "url": "url",
}
_DEPLOYMENT_FLAGS = {"instances": "instances", "workers": "workers", "surge": "surge", "autoscale_max": "autoscale_max"}
_WORKLOAD_FLAGS = {
    "rps": "rps",
    "hold_ms": "hold_ms",
    "request_timeout": "request_timeout_s",
    "hold_dist": "hold_dist",
    "hold_p50": "hold_p50_ms",
    "hold_p95": "hold_p95_ms",
    "hold_p99": "hold_p99_ms",
    "target_p99_wait": "target_p99_wait_ms",
}
_TOP_FLAGS = {"lb_idle_timeout": "lb_idle_timeout_s"}


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every command that judges a plan accepts (all optional: the defaults are PostgreSQL's and
    SQLAlchemy's, or the --config file's)."""
    src = parser.add_argument_group("plan source")
    src.add_argument("--config", metavar="FILE",
                     help="plan file: TOML (servers, engines, deployment, ...) or the JSON export --format json writes")
    srv = parser.add_argument_group("server (the first server of --config)")
    srv.add_argument("--max-connections", type=int, metavar="N", help="postgresql.conf max_connections (100)")
    srv.add_argument("--superuser-reserved", type=int, metavar="N", help="superuser_reserved_connections (3)")
    srv.add_argument("--reserved", type=int, metavar="N", help="reserved_connections, PostgreSQL 16+ (0)")
    srv.add_argument("--other-clients", type=int, metavar="N",
                     help="connections kept for migrations, cron, psql, monitoring (0)")
    srv.add_argument("--pg-version", type=int, metavar="MAJOR", help="PostgreSQL major version (16)")
    srv.add_argument("--idle-session-timeout", type=float, metavar="S",
                     help="server idle_session_timeout in seconds, 0 = off (0)")
    srv.add_argument("--lb-idle-timeout", type=float, metavar="S",
                     help="idle timeout of a load balancer/NAT between app and server")
    eng = parser.add_argument_group("engine (the first engine of --config)")
    eng.add_argument("--pool-size", type=int, metavar="N", help="pool_size per process (5)")
    eng.add_argument("--max-overflow", type=int, metavar="N", help="max_overflow per process, -1 = unbounded (10)")
    eng.add_argument("--pool-timeout", type=float, metavar="S", help="pool_timeout in seconds (30)")
    eng.add_argument("--pool-recycle", type=float, metavar="S", help="pool_recycle in seconds, -1 = never (-1)")
    eng.add_argument("--pool-pre-ping", action=argparse.BooleanOptionalAction, default=None,
                     help="pool_pre_ping (off)")
    eng.add_argument("--url", metavar="URL", help="connection URL (checked, always shown masked)")
    dep = parser.add_argument_group("deployment")
    dep.add_argument("--instances", type=int, metavar="N", help="instances (pods/hosts) in steady state (1)")
    dep.add_argument("--workers", type=int, metavar="N", help="worker processes per instance (1)")
    dep.add_argument("--surge", metavar="N|P%", help="extra instances during a rolling deploy (25%%)")
    dep.add_argument("--autoscale-max", type=int, metavar="N", help="most instances the autoscaler runs")
    wl = parser.add_argument_group("workload (optional, fleet-wide at peak)")
    wl.add_argument("--rps", type=float, metavar="R", help="requests per second at peak, all instances")
    wl.add_argument("--hold-ms", type=float, metavar="MS", help="ms a request holds a connection")
    wl.add_argument("--request-timeout", type=float, metavar="S", help="seconds before callers give up")
    wl.add_argument("--hold-dist", choices=("exp", "const"),
                    help="how the hold time varies: exp (default; as variable as an exponential) or const")
    wl.add_argument("--hold-p50", type=float, metavar="MS", help="measured hold p50 (with --hold-p95/--hold-p99)")
    wl.add_argument("--hold-p95", type=float, metavar="MS", help="measured hold p95")
    wl.add_argument("--hold-p99", type=float, metavar="MS", help="measured hold p99")
    wl.add_argument("--target-p99-wait", type=float, metavar="MS",
                    help="recommend: the smallest pool whose predicted p99 checkout wait is at most this (10)")


def plan_from_args(args: argparse.Namespace) -> Plan:
    """The plan of ``--config`` (or the defaults), with every flag that was given applied on top."""
    base = load_plan(args.config) if getattr(args, "config", None) else None
    data = plan_to_data(base) if base else {"servers": [{}], "engines": [{}]}
    data.setdefault("servers", [{}])
    data.setdefault("engines", [{}])

    def given(dest: str) -> bool:
        return getattr(args, dest, None) is not None

    for dest, key in _SERVER_FLAGS.items():
        if given(dest):
            data["servers"][0][key] = getattr(args, dest)
    for dest, key in _ENGINE_FLAGS.items():
        if given(dest):
            data["engines"][0][key] = getattr(args, dest)
    for dest, key in _DEPLOYMENT_FLAGS.items():
        if given(dest):
            value = getattr(args, dest)
            data.setdefault("deployment", {})[key] = _surge(value) if dest == "surge" else value
    workload_flags = {key: getattr(args, dest) for dest, key in _WORKLOAD_FLAGS.items() if given(dest)}
    if workload_flags:
        workload = dict(data.get("workload", {}))
        if "hold_dist" in workload_flags:  # a flag's hold shape replaces the file's, whichever form it had
            for key in ("hold_p50_ms", "hold_p95_ms", "hold_p99_ms"):
                workload.pop(key, None)
        if any(key in workload_flags for key in ("hold_p50_ms", "hold_p95_ms", "hold_p99_ms")):
            workload.pop("hold_dist", None)
        workload.update(workload_flags)
        missing = [f"--{k.replace('_', '-')}" for k in ("rps", "hold_ms") if k not in workload]
        if missing:
            raise InputError(missing[0], "the workload needs both --rps and --hold-ms")
        data["workload"] = workload
    if given("lb_idle_timeout"):
        data["lb_idle_timeout_s"] = args.lb_idle_timeout
    try:
        return plan_from_data(data)
    except InputError as err:
        flag = _flag_for(err.field, args)
        if flag is None:
            raise
        raise InputError(flag, str(err).split(": ", 1)[-1]) from None


def _flag_for(field: str, args: argparse.Namespace) -> str | None:
    """The flag the user typed for a field named in an InputError (``servers[0].max_connections``)."""
    key = field.rsplit(".", 1)[-1]
    tables = (_SERVER_FLAGS, _ENGINE_FLAGS, _DEPLOYMENT_FLAGS, _WORKLOAD_FLAGS, _TOP_FLAGS)
    for table in tables:
        for dest, name in table.items():
            if name == key and getattr(args, dest, None) is not None:
                return "--" + dest.replace("_", "-")
    return None


def _surge(value: str) -> int | str:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


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
