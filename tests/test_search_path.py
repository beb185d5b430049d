"""search_path hijack: a database owner plants ``public.now()`` and friends and puts ``public`` first in the
database's search_path. The monitor pins ``search_path = pg_catalog, pg_temp`` as a startup parameter and
schema-qualifies its SQL, so none of the planted functions or operators ever runs as the monitor's role.

Each trap calls ``pg_notify('trap', <name>)`` (NOTIFY works in the monitor's read-only transactions) and a
listener collects what ran. A control session without the pin runs the same SQL and does trip the traps,
so the test can fail. Runs on the default server (PostgreSQL 16, embedded) and, with TEST_DATABASE_URL, on 15.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from test_sampler_support import connect_kwargs, unique_name, with_user

from dashboard.live import ServerSampler, db, queries
from dashboard.live.actions import act

pytestmark = pytest.mark.db

_TRAPS = [
    ("now()", "timestamptz", "pg_catalog.now()"),
    ("current_schema()", "name", "pg_catalog.current_schema()"),
    ("version()", "text", "pg_catalog.version()"),
    ("pg_backend_pid()", "int4", "pg_catalog.pg_backend_pid()"),
    ("current_setting(a text)", "text", "pg_catalog.current_setting(a)"),
    ("current_setting(a text, b bool)", "text", "pg_catalog.current_setting(a, b)"),
    ("set_config(a text, b text, c bool)", "text", "pg_catalog.set_config(a, b, c)"),
    ("pg_has_role(a name, b text, c text)", "bool", "pg_catalog.pg_has_role(a, b, c)"),
    ("to_char(a timestamptz, b text)", "text", "pg_catalog.to_char(a, b)"),
    ('"left"(a text, b int4)', "text", 'pg_catalog."left"(a, b)'),
    ("text_eq_trap(a text, b text)", "bool", "a OPERATOR(pg_catalog.=) b"),
    ("text_like_trap(a text, b text)", "bool", "a OPERATOR(pg_catalog.~~) b"),
]


def _plant_sql(database: str) -> str:
    body = []
    for signature, returns, real in _TRAPS:
        name = signature.split("(")[0].strip('"')
        body.append(
            f"CREATE FUNCTION public.{signature} RETURNS {returns} LANGUAGE plpgsql AS $f$ BEGIN "
            f"PERFORM pg_catalog.pg_notify('trap', '{name}'); RETURN {real}; END $f$;"
        )
    body.append("CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq_trap);")
    body.append("CREATE OPERATOR public.~~ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_like_trap);")
    body.append(f'ALTER DATABASE "{database}" SET search_path = public, pg_catalog;')
    return "\n".join(body)


@pytest.fixture
async def trapped_database(pg_url):
    """A fresh database with the traps planted, and a list that fills with the names of traps that ran."""
    name = unique_name("pp_trap").replace("-", "_")
    admin = await asyncpg.connect(**connect_kwargs(pg_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_user(pg_url, admin_user(pg_url), database=name)
    owner = await asyncpg.connect(**connect_kwargs(url))
    ran: list[str] = []
    try:
        await owner.execute(_plant_sql(name))
        await owner.add_listener("trap", lambda *args: ran.append(args[3]))
        yield url, ran
    finally:
        await owner.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def admin_user(url: str) -> str:
    return connect_kwargs(url)["user"] or "postgres"


async def _settle(ran: list[str]) -> list[str]:
    await asyncio.sleep(0.5)  # notifications arrive asynchronously on the listener
    return sorted(set(ran))


async def test_an_unpinned_session_does_run_the_planted_functions(trapped_database):
    """The control: the traps work, so the monitor's clean record below means something."""
    url, ran = trapped_database
    conn = await asyncpg.connect(**connect_kwargs(url))
    try:
        assert await conn.fetchval("SHOW search_path") == "public, pg_catalog"
        await conn.fetchval("SELECT now()")
        await conn.fetch(queries.sent_text("sample_activity"))  # qualified functions, but the = operator
    finally:
        await conn.close()
    tripped = await _settle(ran)
    assert "now" in tripped and "text_eq_trap" in tripped, tripped


async def test_the_monitor_never_runs_a_planted_function_or_operator(trapped_database):
    url, ran = trapped_database
    for collect_queries, collect_sessions in ((False, False), (True, False), (False, True), (True, True)):
        sampler = ServerSampler("db", url, collect_queries=collect_queries, application_name=unique_name("t-sp"),
                                collect_sessions=collect_sessions, known_margin_s=0.0)  # samples 2-3 leave out
        try:
            for _ in range(3):
                snapshot = await sampler.sample()
                assert snapshot.ok, snapshot.error
            await sampler._read_names()
        finally:
            await sampler.close()
    for action in ("cancel", "terminate"):  # the incident view's action check, on a pid that does not exist
        result = await asyncio.to_thread(act, url, action, 999_999, enabled=True)
        assert result.reason.startswith("no backend with pid 999999"), result.reason
    assert await _settle(ran) == []


async def test_the_pin_holds_from_the_first_statement_and_the_session_is_read_only(trapped_database):
    url, ran = trapped_database
    engine = db.create_monitor_engine(db.monitor_url(url), application_name=unique_name("t-sp"))
    try:
        async with engine.connect() as conn:
            shown = (await conn.execute(text("SHOW search_path"))).scalar_one()
            unqualified = (await conn.execute(text("SELECT now() IS NOT NULL"))).scalar_one()
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await conn.execute(text("CREATE TABLE public.monitor_wrote_this (x int)"))
    finally:
        await engine.dispose()
    assert shown == db.MONITOR_SEARCH_PATH
    assert unqualified is True
    assert await _settle(ran) == []  # SQLAlchemy's own current_schema() and our unqualified now() included
