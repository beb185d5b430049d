"""Generated SQL snippets run on a real PostgreSQL with hostile role names, inside a transaction rolled back.

A role name comes from the server (``pg_stat_activity.usename``, ``current_user``): ``Order-Svc``, a keyword, a
quote or a semicolon must come out as one valid identifier that names exactly that role. Roles are created
with psycopg's own ``sql.Identifier`` (an implementation independent of ``planner.text.quote_ident``).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sqlalchemy.engine import make_url

from planner.rules.live import live_findings
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot
from planner.text import SQL_KEYWORDS, quote_ident, quote_literal

db = pytest.mark.db
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOSTILE_ROLES = [
    "Order-Svc", "user", "select", "a\"b", "x'; DROP ROLE postgres; --", "with space", "Ünïcödé-名前", "$1",
    "back\\slash", "UPPER", "a" * 63, "1starts_with_digit", "semi;colon", "pct%s{}",
]
SQL_START = re.compile(r"^(ALTER|GRANT|CREATE|REVOKE|SET|SELECT)\b")


def connect(pg_url: str) -> psycopg.Connection:
    url = make_url(pg_url)
    return psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                           password=url.password)


@contextmanager
def rolled_back(pg_url: str):
    with connect(pg_url) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


def statements(snippet: str) -> str:
    """The SQL lines of a snippet (some also carry postgresql.conf lines or comments)."""
    return "\n".join(line for line in snippet.splitlines() if SQL_START.match(line))


def conf(role: str, version: int, **kw) -> ServerSettings:
    base = dict(max_connections=100, superuser_reserved_connections=3, reserved_connections=0 if version >= 16
                else None, idle_in_transaction_session_timeout_ms=0, idle_session_timeout_ms=0, ssl=True,
                server_version_num=version * 10_000, can_see_all=False, role=role)
    return ServerSettings(**{**base, **kw})


def findings_for(role: str, version: int) -> dict[str, str]:
    """Every live finding whose snippet names a role, for a server where ``role`` monitors and leaks sessions."""
    settings_ = conf(role, version)
    idle = ActivityGroup("app", role, "api", None, "idle in transaction", None, 2, 2,
                         oldest_idle_in_transaction_s=1.0)
    good = Snapshot("primary", T0, "ok", (idle,), settings=settings_, own_connections=1)
    refused = Snapshot("primary", T0.replace(second=1), "refused", error="remaining connection slots are reserved",
                       sqlstate="53300")
    found = live_findings(None, [good]) + live_findings(None, [good, refused])
    return {f.id: f.snippet for f in found if f.snippet and statements(f.snippet)}


@db
@pytest.mark.parametrize("role", HOSTILE_ROLES)
def test_every_role_snippet_runs_and_names_exactly_that_role(pg_url, role):
    with rolled_back(pg_url) as conn:
        version = conn.info.server_version // 10_000
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        snippets = findings_for(role, version)
        expected = {"no-idle-in-transaction-timeout", "missing-monitor-privilege"}
        if version >= 16:
            expected.add("monitor-refused")  # reserved_connections and pg_use_reserved_connections are 16+
        assert expected <= set(snippets), snippets
        for finding_id in sorted(expected):
            conn.execute(statements(snippets[finding_id]))  # raises on a syntax error or an unknown role
        oid = conn.execute("SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
        setconfig = conn.execute("SELECT setconfig FROM pg_catalog.pg_db_role_setting WHERE setrole = %s",
                                 (oid,)).fetchone()[0]
        assert setconfig == ["idle_in_transaction_session_timeout=60s"]
        member = conn.execute("SELECT pg_catalog.pg_has_role(%s::oid, 'pg_monitor', 'MEMBER')", (oid,)).fetchone()[0]
        assert member is True


def test_snippets_quote_only_what_needs_it():
    snippets = findings_for("Order-Svc", 16)
    assert 'ALTER ROLE "Order-Svc" SET idle_in_transaction_session_timeout = \'60s\';' in snippets[
        "no-idle-in-transaction-timeout"]
    assert snippets["missing-monitor-privilege"] == 'GRANT pg_monitor TO "Order-Svc";'
    assert findings_for("watcher", 16)["missing-monitor-privilege"] == "GRANT pg_monitor TO watcher;"
    assert quote_ident('a"b') == '"a""b"' and quote_ident("user") == '"user"' and quote_ident("app") == "app"
    for bad in ("", "a\x00b"):
        with pytest.raises(ValueError):
            quote_ident(bad)


@db
def test_every_keyword_of_the_server_is_a_valid_identifier(pg_url):
    """Each of the server's keywords through quote_ident, as a column name (quoted exactly when PostgreSQL's own
    quote_ident() quotes it)."""
    with rolled_back(pg_url) as conn:
        rows = conn.execute("SELECT word, pg_catalog.quote_ident(word) FROM pg_catalog.pg_get_keywords()").fetchall()
        assert {w for w, q in rows if q != w} <= SQL_KEYWORDS  # every word the server quotes, we quote
        columns = ", ".join(f"{quote_ident(word)} int" for word, _ in rows)
        conn.execute(f"CREATE TEMP TABLE kw ({columns})")
        names = [r[0] for r in conn.execute("SELECT attname FROM pg_catalog.pg_attribute "
                                            "WHERE attrelid = 'kw'::regclass AND attnum > 0 ORDER BY attnum")]
        assert names == [word for word, _ in rows]


@db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40),
       conforming=st.booleans())
def test_literals_and_identifiers_round_trip_through_the_server(pg_url, text, conforming):
    """Whatever the text (quotes, backslashes, any Unicode) and standard_conforming_strings, the server reads
    back the same string from quote_literal, and quote_ident names a column of exactly that name."""
    with rolled_back(pg_url) as conn:
        conn.execute(f"SET LOCAL standard_conforming_strings = {'on' if conforming else 'off'}")
        conn.execute("SET LOCAL escape_string_warning = off")
        assert conn.execute(f"SELECT {quote_literal(text)}").fetchone()[0] == text
        if text and len(text.encode()) <= 63:
            row = conn.execute(f"SELECT 1 AS {quote_ident(text)}")
            assert row.description[0].name == text
