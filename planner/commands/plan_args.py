"""The plan flags of every command that judges a plan: ``add_plan_arguments`` and ``plan_from_args`` (the plan
of ``--config``, or the defaults, with every flag given applied on top; flags win).

With several servers or engines in the file, the per-server flags change the first server and the per-engine
flags the first engine. Reading and writing plan files is ``planner.plan_io`` (no argparse there).
"""

from __future__ import annotations

import argparse

from planner.model import InputError, Plan
from planner.plan_io import load_plan, plan_from_data, plan_to_data

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
    # engine, deployment and workload flags change the first service (the only one of a single-service plan)
    service = data["services"][0] if "services" in data else data
    service.setdefault("engines", [{}])

    def given(dest: str) -> bool:
        return getattr(args, dest, None) is not None

    for dest, key in _SERVER_FLAGS.items():
        if given(dest):
            data["servers"][0][key] = getattr(args, dest)
    for dest, key in _ENGINE_FLAGS.items():
        if given(dest):
            service["engines"][0][key] = getattr(args, dest)
    for dest, key in _DEPLOYMENT_FLAGS.items():
        if given(dest):
            value = getattr(args, dest)
            service.setdefault("deployment", {})[key] = _surge(value) if dest == "surge" else value
    workload_flags = {key: getattr(args, dest) for dest, key in _WORKLOAD_FLAGS.items() if given(dest)}
    if workload_flags:
        service["workload"] = _workload_with(service.get("workload", {}), workload_flags)
    if given("lb_idle_timeout"):
        data["lb_idle_timeout_s"] = args.lb_idle_timeout
    try:
        return plan_from_data(data)
    except InputError as err:
        flag = _flag_for(err.field, args)
        if flag is None:
            raise
        raise InputError(flag, str(err).split(": ", 1)[-1]) from None


def _workload_with(file_workload: dict, workload_flags: dict) -> dict:
    """The file's workload with the flags' values on top; a flag's hold shape replaces the file's."""
    workload = dict(file_workload)
    percentiles = ("hold_p50_ms", "hold_p95_ms", "hold_p99_ms")
    if "hold_dist" in workload_flags:  # a flag's hold shape replaces the file's, whichever form it had
        for key in percentiles:
            workload.pop(key, None)
    if any(key in workload_flags for key in percentiles):
        workload.pop("hold_dist", None)
    workload.update(workload_flags)
    missing = [f"--{k.replace('_', '-')}" for k in ("rps", "hold_ms") if k not in workload]
    if missing:
        raise InputError(missing[0], "the workload needs both --rps and --hold-ms")
    return workload


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
