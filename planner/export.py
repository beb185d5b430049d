"""Ready-to-paste snippets of a plan: Python engines + warm-up, .env, Uvicorn/Gunicorn, pgbouncer.ini,
postgresql.conf, JSON.

Snippets read URLs and passwords from the environment (``os.environ["DATABASE_URL"]``); no snippet ever
contains a password, and URLs shown are masked.
"""

from __future__ import annotations

import json
import math
import re

from planner import export_prometheus
from planner.budget import overall_verdict, pgbouncer_budget, plan_budgets, plan_verdict, service_view
from planner.dsn import mask_url, parse_url, pgbouncer_drops_prepared_statements, url_facts
from planner.model import Engine, InputError, Plan
from planner.plan_io import plan_to_data, plan_to_toml
from planner.rules.static import static_findings
from planner.rules.thresholds import DEFAULT_THRESHOLDS
from planner.services_report import services_data

FORMATS = ("python", "env", "uvicorn", "gunicorn", "pgbouncer", "postgresql", "json", "prometheus-rules", "grafana")
CLI_FORMATS = (*FORMATS, "toml")
"""The command line's ``export --format`` choices: the snippets, and ``toml`` (the plan file itself, which
``export --recommended --format toml`` writes with the recommended pools)."""
PER_SERVICE_FORMATS = ("python", "env", "uvicorn", "gunicorn")
"""Snippets a multi-service plan gives once per service (each service's own code and process settings)."""
DEFAULT_APP = "app.main:app"


def env_prefix(engine: Engine, plan: Plan) -> str:
    """``DATABASE`` for the first engine, ``<NAME>_DATABASE`` for the others (REPLICA_DATABASE_URL)."""
    if engine is plan.engines[0]:
        return "DATABASE"
    return re.sub(r"[^A-Z0-9]", "_", engine.name.upper()) + "_DATABASE"


def _var(engine: Engine) -> str:
    return re.sub(r"\W", "_", engine.name) + "_engine"


def _driver(engine: Engine) -> str:
    return url_facts(engine.url).driver if engine.url else "asyncpg"


def _caches_off(engine: Engine, plan: Plan) -> bool:
    return bool(engine.via_pgbouncer and plan.pgbouncer and pgbouncer_drops_prepared_statements(plan.pgbouncer))


def _connect_args(engine: Engine, plan: Plan) -> list[str]:
    driver = _driver(engine)
    items: list[str] = []
    if driver == "asyncpg":
        if _caches_off(engine, plan) or engine.statement_cache_size is not None:
            size = 0 if _caches_off(engine, plan) else engine.statement_cache_size
            items.append(f'"statement_cache_size": {size}')
        if _caches_off(engine, plan):
            items.append('"prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__"')
        if engine.application_name:
            items.append(f'"server_settings": {{"application_name": {json.dumps(engine.application_name)}}}')
    elif driver == "psycopg":
        if _caches_off(engine, plan):
            items.append('"prepare_threshold": None')
        if engine.application_name:
            items.append(f'"application_name": {json.dumps(engine.application_name)}')
    return items


def python_snippet(plan: Plan) -> str:
    """``create_async_engine`` per engine, session factories, and a warm-up of pool_size concurrent connections
    in a FastAPI lifespan (the lesson's warm-up opens one connection; sequential ones reuse it)."""
    needs_uuid = any(_caches_off(e, plan) and _driver(e) == "asyncpg" for e in plan.engines)
    needs_make_url = any(_caches_off(e, plan) and _driver(e) == "asyncpg" for e in plan.engines)
    lines = [
        f'"""Database engines sized by python -m planner ({_summary(plan)}).',
        "",
        "URLs (with their passwords) come from the environment; never write them here.",
        '"""',
        "",
        "import asyncio",
        "import os",
        "from contextlib import asynccontextmanager",
    ]
    if needs_uuid:
        lines.append("from uuid import uuid4")
    lines += [
        "",
        "from fastapi import FastAPI",
        "from sqlalchemy import " + ("make_url, text" if needs_make_url else "text"),
        "from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine",
        "",
    ]
    for engine in plan.engines:
        url = f'os.environ["{env_prefix(engine, plan)}_URL"]'
        if _caches_off(engine, plan) and _driver(engine) == "asyncpg":
            url = f'make_url({url}).update_query_dict({{"prepared_statement_cache_size": "0"}})'
            bouncer = plan.pgbouncer
            assert bouncer is not None
            lines.append(f"# {engine.name} goes through PgBouncer {bouncer.version} in {bouncer.pool_mode} mode: "
                         f"both prepared-statement caches off")
        lines += [
            f"{_var(engine)} = create_async_engine(",
            f"    {url},",
            f"    pool_size={engine.pool_size},",
            f"    max_overflow={engine.max_overflow},",
            f"    pool_timeout={engine.pool_timeout:g},",
            f"    pool_recycle={engine.pool_recycle:g},",
            f"    pool_pre_ping={engine.pool_pre_ping},",
        ]
        args = _connect_args(engine, plan)
        if args:
            lines.append("    connect_args={")
            lines += [f"        {a}," for a in args]
            lines.append("    },")
        lines += [")", ""]
    for engine in plan.engines:
        session = re.sub(r"\W", "", engine.name.title()) + "Session"
        lines.append(f"{session} = async_sessionmaker({_var(engine)}, expire_on_commit=False)")
    lines += [
        "",
        "",
        "async def prewarm(engine: AsyncEngine, n: int | None = None) -> None:",
        '    """Open n connections (default: pool_size) at once, so the first requests find them ready.',
        "",
        "    Connections opened one after another reuse the same one: only concurrent checkouts fill the pool.",
        '    More than pool_size is pointless: overflow connections are closed when returned."""',
        "    n = min(n or engine.pool.size(), engine.pool.size())",
        "    results = await asyncio.gather(*(engine.connect() for _ in range(n)), return_exceptions=True)",
        "    conns = [c for c in results if not isinstance(c, BaseException)]",
        "    try:",
        '        await asyncio.gather(*(c.execute(text("SELECT 1")) for c in conns))',
        "    finally:",
        "        await asyncio.gather(*(c.close() for c in conns))",
        "    errors = [e for e in results if isinstance(e, BaseException)]",
        "    if errors:",
        "        raise errors[0]",
        "",
        "",
        "@asynccontextmanager",
        "async def lifespan(app: FastAPI):",
        "    # every worker process runs this: each has its own pools",
        f"    await asyncio.gather({', '.join(f'prewarm({_var(e)})' for e in plan.engines)})",
        "    yield",
        f"    await asyncio.gather({', '.join(f'{_var(e)}.dispose()' for e in plan.engines)})",
        "",
        "",
        "app = FastAPI(lifespan=lifespan)",
        "",
    ]
    return "\n".join(lines)


def _summary(plan: Plan) -> str:
    dep = plan.deployment
    return f"{dep.instances} instance(s) x {dep.workers} worker(s); verdict {plan_verdict(plan)}"


def env_snippet(plan: Plan) -> str:
    """``.env`` lines for what the other snippets read: each engine's URL (masked, to complete) as the python
    snippet reads it (``os.environ["DATABASE_URL"]``), and WEB_CONCURRENCY, Uvicorn's and Gunicorn's worker count
    when ``--workers`` is not given. The pool numbers are written in the python snippet itself."""
    lines = ["# Generated by python -m planner. Replace *** with the password, or inject the URL from a secret store."]
    for engine in plan.engines:
        prefix = env_prefix(engine, plan)
        if engine.url:
            url = parse_url(engine.url)
            if url.get_driver_name() == "asyncpg" and "sslmode" in url.query:
                query = dict(url.query)
                query["ssl"] = query.pop("sslmode")
                url = url.set(query=query)
                lines.append("# sslmode= replaced by ssl=: asyncpg raises TypeError on sslmode")
            lines.append(f"{prefix}_URL={mask_url(url)}")
        else:
            where = f"PgBouncer ({plan.pgbouncer.host}:{plan.pgbouncer.port})" if (
                engine.via_pgbouncer and plan.pgbouncer) else f"server {engine.server}"
            lines.append(f"# engine {engine.name}: the application's URL of {where}")
            lines.append(f"{prefix}_URL=postgresql+asyncpg://USER:***@HOST:5432/DB")
    lines.append(f"WEB_CONCURRENCY={plan.deployment.workers}")
    return "\n".join(lines) + "\n"


def _per_process(plan: Plan) -> str:
    parts = [f"{e.name} {e.ceiling if e.ceiling is not None else 'unbounded'}" for e in plan.engines]
    return ", ".join(parts)


def uvicorn_command(plan: Plan, app: str = DEFAULT_APP) -> str:
    dep = plan.deployment
    return (
        f"# {dep.workers} worker processes per instance, each with its own pools ({_per_process(plan)} "
        f"connections per process)\n"
        f"uvicorn {app} --host 0.0.0.0 --port 8000 --workers {dep.workers}\n"
    )


def gunicorn_command(plan: Plan, app: str = DEFAULT_APP) -> str:
    dep = plan.deployment
    return (
        f"# {dep.workers} worker processes per instance, each with its own pools ({_per_process(plan)} "
        f"connections per process)\n"
        "# pip install uvicorn-worker (uvicorn.workers.UvicornWorker is deprecated in favour of it)\n"
        f"gunicorn {app} --workers {dep.workers} --worker-class uvicorn_worker.UvicornWorker --bind 0.0.0.0:8000\n"
    )


ADMIN_USER, STATS_USER = "pgbouncer_admin", "pgbouncer_stats"
QUERY_WAIT_TIMEOUT_S = 120
"""PgBouncer's default query_wait_timeout: a client waiting longer for a server connection gets an error."""


def pgbouncer_ini(plan: Plan) -> str:
    """pgbouncer.ini for the plan's PgBouncer, complete enough to start: fill in the server's address and the
    users of auth_file. InputError when the plan has none."""
    bouncer = plan.pgbouncer
    if bouncer is None:
        raise InputError("format", "pgbouncer needs a [pgbouncer] section in the plan (--config FILE)")
    routed = [e for s in plan.services for e in s.engines if e.via_pgbouncer]
    if plan.multi_service:  # every routed service's clients, summed as the plan's rollout setting says
        budget = pgbouncer_budget(plan)
        clients = (budget.clients_rollout_peak or 0) if budget is not None else 0
    else:
        clients = plan.deployment.rollout_processes * sum(e.ceiling or 0 for e in routed)
    database = next((url_facts(e.url).database for e in routed if e.url and url_facts(e.url).database), "app")
    lines = [
        f"; Generated by python -m planner: PgBouncer {bouncer.version} in front of {bouncer.server}.",
        f"; The server sees default_pool_size x pools = {bouncer.server_connections} connections, whatever the fleet.",
        f'; Fill in: the address of {bouncer.server} below, and auth_file\'s users ("name" "password or SCRAM '
        f'secret" per line): the application\'s, {ADMIN_USER} and {STATS_USER}.',
        "[databases]",
        f"{database} = host={bouncer.server} port=5432 dbname={database}",
        "",
        "[pgbouncer]",
        "listen_addr = 0.0.0.0",
        f"listen_port = {bouncer.port}",
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/userlist.txt",
        f"; the admin console: psql -p {bouncer.port} -U {ADMIN_USER} pgbouncer (SHOW POOLS; RELOAD; PAUSE), and "
        f"a read-only user for SHOW commands and exporters",
        f"admin_users = {ADMIN_USER}",
        f"stats_users = {STATS_USER}",
        f"pool_mode = {bouncer.pool_mode}",
        f"default_pool_size = {bouncer.default_pool_size}",
        *([f"; the fleet opens up to {clients} client connections at rollout peak"] if clients else []),
        f"max_client_conn = {bouncer.max_client_conn}",
        *_query_wait_timeout(plan),
        "; drivers such as psycopg and JDBC send it at connect; PgBouncer refuses unknown startup parameters",
        "ignore_startup_parameters = extra_float_digits",
        *_prepared_statements(bouncer),
    ]
    if bouncer.pool_mode == "session":
        lines.append("server_reset_query = DISCARD ALL")
    return "\n".join(lines) + "\n"


def _query_wait_timeout(plan: Plan) -> list[str]:
    workload = plan.workload
    if workload is not None and workload.request_timeout_s is not None:
        seconds = max(1, math.ceil(workload.request_timeout_s))
        return [f"; a client still queued for a server connection when its caller gave up "
                f"({workload.request_timeout_s:g} s) is wasted work: fail it then (PgBouncer's default "
                f"{QUERY_WAIT_TIMEOUT_S} s)", f"query_wait_timeout = {seconds}"]
    return ["; a client queued this long for a server connection gets an error (PgBouncer's default; lower it "
            "to your request timeout)", f"query_wait_timeout = {QUERY_WAIT_TIMEOUT_S}"]


def _prepared_statements(bouncer) -> list[str]:
    if bouncer.version_tuple < (1, 21):
        return []
    mps = bouncer.effective_max_prepared_statements
    note = ["; 0 breaks asyncpg's default prepared statements in transaction mode"] if mps == 0 else []
    return [*note, f"max_prepared_statements = {mps}"]


def postgresql_conf(plan: Plan) -> str:
    """postgresql.conf lines per server: the capacity settings and the timeouts the rules recommend."""
    out = []
    idle_tx = int(DEFAULT_THRESHOLDS.recommended_idle_in_transaction_timeout_s)
    for server, budget in zip(plan.servers, plan_budgets(plan), strict=True):
        out += [
            f"# {server.name} (PostgreSQL {server.major_version}): usable {budget.usable}, rollout peak "
            f"{budget.rollout_peak if budget.rollout_peak is not None else 'unbounded'}, verdict {budget.verdict}",
            f"max_connections = {server.max_connections}  # restart needed",
            f"superuser_reserved_connections = {server.superuser_reserved_connections}  # restart needed",
        ]
        if server.major_version >= 16:
            out.append(f"reserved_connections = {server.reserved_connections}  # restart needed; PostgreSQL 16+")
        out.append(f"idle_in_transaction_session_timeout = '{idle_tx}s'  # ends sessions left open in a transaction")
        if server.major_version >= 14:
            timeout = f"{server.idle_session_timeout_s:g}s"
            out.append(f"idle_session_timeout = '{timeout}'  # 0 = off; pools must recycle below it")
        out.append("")
    return "\n".join(out)


def plan_json(plan: Plan, findings=None) -> str:
    """The whole plan (URLs masked), its budgets, verdict and findings."""
    budgets = plan_budgets(plan)
    bouncer = pgbouncer_budget(plan)
    found = static_findings(plan) if findings is None else findings
    data = {
        "plan": plan_to_data(plan, mask=True),
        "servers": [b.as_dict() for b in budgets],
        "pgbouncer": bouncer.as_dict() if bouncer else None,
        "verdict": overall_verdict(budgets, bouncer),
        "findings": [f.as_dict() for f in found],
    }
    if plan.multi_service:
        data["services"] = services_data(plan, budgets, found)
    return json.dumps(data, indent=2) + "\n"


def per_service(plan: Plan, fmt: str, app: str) -> str:
    """A multi-service plan's snippet of ``fmt``, once per service (each for that service's own repository or
    process settings), under a header line naming it."""
    sections = []  # each service's view: the others count as its servers' other clients (the verdict is shared)
    for service in plan.services:
        dep = service.deployment
        sections.append(f"# ===== service {service.name}: {dep.instances} instance(s) x {dep.workers} worker(s) "
                        f"=====\n" + _snippet(service_view(plan, service.name), fmt, app))
    return "\n".join(sections)


def export(plan: Plan, fmt: str, *, app: str = DEFAULT_APP, provenance: str | None = None, findings=None,
           alert_for_s: float = 60.0) -> str:
    """The snippet of ``fmt`` (one of FORMATS) for the plan; ``provenance`` (where the workload's numbers came
    from, e.g. ``live observe``'s measurement) goes first as a comment line (a ``provenance`` key in JSON).
    ``findings``: the plan's static findings when the caller has them already (the dashboard judges a plan once
    per rerun); None computes them for ``json``. ``alert_for_s``: the ``for:`` of the Prometheus alert rules."""
    snippet = _snippet(plan, fmt, app, findings, alert_for_s)
    if not provenance:
        return snippet
    note = " ".join(provenance.split())  # one line, whatever it was given
    if fmt == "json":
        return json.dumps({"provenance": note, **json.loads(snippet)}, indent=2) + "\n"
    if fmt == "grafana":
        return json.dumps({"description": note, **json.loads(snippet)}, indent=2) + "\n"
    return f"# {note}\n{snippet}"


def _snippet(plan: Plan, fmt: str, app: str, findings=None, alert_for_s: float = 60.0) -> str:
    if plan.multi_service and fmt in PER_SERVICE_FORMATS:
        return per_service(plan, fmt, app)
    if fmt == "toml":
        return plan_to_toml(plan)
    if fmt == "python":
        return python_snippet(plan)
    if fmt == "env":
        return env_snippet(plan)
    if fmt == "uvicorn":
        return uvicorn_command(plan, app)
    if fmt == "gunicorn":
        return gunicorn_command(plan, app)
    if fmt == "pgbouncer":
        return pgbouncer_ini(plan)
    if fmt == "postgresql":
        return postgresql_conf(plan)
    if fmt == "json":
        return plan_json(plan, findings)
    if fmt in ("prometheus-rules", "grafana"):  # alerts and panels reading the collector's /metrics
        return export_prometheus.prometheus_rules(plan, for_s=alert_for_s) if fmt == "prometheus-rules" else \
            export_prometheus.grafana_dashboard(plan)
    raise InputError("format", f"must be one of {', '.join(CLI_FORMATS)}, got {fmt!r}")
