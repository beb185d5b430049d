"""Judge the engines found in the code like ``plan`` does, when the user gives the server's limits.

The engines come from the code; the server, deployment, workload and PgBouncer come from the same flags
(and ``--config`` file) as ``python -m planner plan``. An engine is judged only when its ``pool_size`` and
``max_overflow`` are literals (or absent: SQLAlchemy's defaults); anything else is said in ``notes``,
never guessed.

Servers: an engine whose name matches an ``[[engines]]`` entry of ``--config`` takes that entry's server;
the others are counted on the first server (the worst case), and the notes say so. Two engines are called
``replica-same-server`` only when their URL literals show the same host, port and database.
"""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy.exc import NoSuchModuleError

from planner import ids
from planner.budget import ServerBudget, plan_budgets
from planner.dsn import backend_and_driver, parse_url
from planner.lint.engines import EngineInfo
from planner.lint.findings import CODE_RULES, CodeFinding
from planner.model import Engine, InputError, Plan
from planner.rules import static_findings

_POOLED = {"QueuePool", "AsyncAdaptedQueuePool"}


def _engine_name(info: EngineInfo, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", info.name)[:55] or "engine"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


POSTGRES_BACKENDS = frozenset({"postgresql", "postgres"})


def _backend(info: EngineInfo) -> str | None:
    """The URL literal's backend (``duckdb`` for ``duckdb:///:memory:``), read without loading any dialect."""
    if info.url.kind != "literal" or not isinstance(info.url.value, str) or "://" not in info.url.value:
        return None
    return info.url.value.split("://", 1)[0].split("+", 1)[0].strip().lower() or None


def _not_judged(info: EngineInfo) -> str | None:
    if info.in_test:
        return "created in test code (a tests/ directory, conftest.py or a fixture), not in production's budget"
    if info.script:
        return "created in a one-off entry point (a CLI command, an asyncio.run() target or a function called at " \
               "module level), not by the workers"
    backend = _backend(info)
    if backend is not None and backend not in POSTGRES_BACKENDS:
        return f"its URL is {backend}, not PostgreSQL (no server budget to count it in)"
    poolclass = info.settings.get("poolclass")
    if poolclass is not None:
        shown = poolclass.value if poolclass.kind == "literal" else poolclass.text
        if shown not in _POOLED:
            return f"poolclass={shown} (no QueuePool ceiling to judge)"
    for key in ("pool_size", "max_overflow"):
        if info.setting(key).kind == "reference":
            return f"{key} is {info.setting(key).text}, a reference lint cannot read"
    return None


def _readable_url(info: EngineInfo, notes: list[str]) -> str | None:
    """The URL literal when SQLAlchemy can read it and load its driver name; else None and a note (the pool is
    still judged: one unreadable URL must not leave the whole plan unjudged)."""
    if info.url.kind != "literal":
        return None
    try:
        backend_and_driver(parse_url(info.url.value))
    except (InputError, NoSuchModuleError) as err:
        reason = str(err) if isinstance(err, InputError) else f"SQLAlchemy has no dialect for it ({err})"
        notes.append(f"{info.path}:{info.line}: engine {info.name}: its URL is not checked: {reason}")
        return None
    return info.url.value


def _to_engine(info: EngineInfo, name: str, base: Plan, notes: list[str]) -> Engine:
    config = {e.name: e for e in base.engines}.get(info.name)
    server = config.server if config else base.servers[0].name
    values = {}
    for key in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle", "pool_pre_ping"):
        setting = info.setting(key)
        if setting.kind == "reference":
            notes.append(f"{info.path}:{info.line}: engine {info.name}: {key} is {setting.text}; judged with "
                         f"SQLAlchemy's default")
        else:
            values[key] = setting.value
    url = _readable_url(info, notes)
    return Engine(
        name=name, server=server, url=url, via_pgbouncer=bool(config and config.via_pgbouncer),
        **{k: v for k, v in values.items() if v is not None},
    )


def judge(engines: list[EngineInfo], base: Plan) -> tuple[list[CodeFinding], tuple[ServerBudget, ...], list[str]]:
    """Budget findings placed at each engine's line, the budgets, and what was not judged and why."""
    notes: list[str] = []
    judged: list[tuple[EngineInfo, Engine]] = []
    taken: set[str] = set()
    for info in engines:
        if info.per_request:
            notes.append(f"{info.path}:{info.line}: engine {info.name} not judged: created per request "
                         f"(engine-per-request)")
            continue
        reason = _not_judged(info)
        if reason:
            notes.append(f"{info.path}:{info.line}: engine {info.name} not judged: {reason}")
            continue
        if info.splat:
            notes.append(f"{info.path}:{info.line}: engine {info.name} also takes **kwargs: settings passed "
                         f"there are not seen")
        try:
            judged.append((info, _to_engine(info, _engine_name(info, taken), base, notes)))
        except InputError as err:
            notes.append(f"{info.path}:{info.line}: engine {info.name} not judged: {err}")
    if not judged:
        notes.append("no engine with literal pool settings was found: nothing to judge against the limits")
        return [], (), notes
    plan = dataclasses.replace(base, engines=tuple(e for _, e in judged))
    configured = {e.name for e in base.engines}
    assumed = [info.name for info, _ in judged if info.name not in configured]
    if len(judged) > 1 and assumed:
        notes.append(f"assumed: engines {', '.join(assumed)} connect to server {base.servers[0].name} (their "
                     f"URLs do not say otherwise); name them in --config [[engines]] to place them on other servers")
    try:
        plan_findings = static_findings(plan)
    except (InputError, NoSuchModuleError) as err:  # a URL whose driver SQLAlchemy cannot load
        notes.append(f"not judged: {err}")
        return [], (), notes
    by_name = {engine.name: info for info, engine in judged}
    literal_urls = {engine.name for info, engine in judged if engine.url}
    found = []
    for finding in plan_findings:
        if finding.id in CODE_RULES:
            continue  # found in the code itself, at the exact line
        if finding.id == ids.REPLICA_SAME_SERVER and len(literal_urls) < 2 and assumed:
            continue  # only our assumption put them together
        place = _place(finding.message, by_name, finding.server, plan)
        if finding.id == ids.SYNC_DRIVER and not place.is_async:
            continue  # create_engine with a sync driver is what it should be
        found.append(CodeFinding(
            place.path, place.line, place.col, finding.id, finding.severity, finding.message, finding.fix,
        ))
    return found, plan_budgets(plan), notes


def _place(message: str, by_name: dict[str, EngineInfo], server: str | None, plan: Plan) -> EngineInfo:
    """The engine a plan finding is about: named in its message, else the first on its server."""
    for name, info in by_name.items():
        if re.search(rf"\b{re.escape(name)}\b", message):
            return info
    for engine in plan.engines:
        if server is None or engine.server == server:
            return by_name[engine.name]
    return next(iter(by_name.values()))
