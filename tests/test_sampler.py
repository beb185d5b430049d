"""The sampler against a real PostgreSQL (TEST_DATABASE_URL or the embedded 16): create sessions in known
states, sample, and assert the exact counts and ages; settings, our own connection, the opt-in query text,
a role without pg_monitor, and the faults that need no special server."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from test_sampler_support import Sessions, connect_kwargs, eventually, unique_name, with_user

from dashboard.live import QUERY_CHARS, ServerSampler, permission_note, sample_once
from dashboard.live.sampler import groups_from_rows, missing_names
from planner.snapshot import STANDBY_SETTINGS

pytestmark = pytest.mark.db
TOLERANCE_S = 0.25  # server and test share a clock; this covers scheduling, not skew


def mine(snapshot, application_name):
    return {g.state: g for g in snapshot.groups if g.application_name == application_name}


async def sample(url, **kwargs):
    return await asyncio.to_thread(sample_once, url, **kwargs)


async def test_exact_counts_and_ages_of_sessions_in_known_states(pg_url):
    app = unique_name("t-states")
    monitor_app = unique_name("t-mon")
    async with Sessions(pg_url, app) as sessions:
        await sessions.idle(3)
        await sessions.active(2)
        iit_from, iit_to = await sessions.idle_in_transaction(2)
        (failed,) = await sessions.idle(1)
        await failed.execute("BEGIN")
        aborted_from = time.time()
        with pytest.raises(asyncpg.DivisionByZeroError):
            await failed.execute("SELECT 1 / 0")
        aborted_to = time.time()
        await asyncio.sleep(1.0)  # ages grow well past the tolerance

        async def settled():
            snap = await sample(pg_url, application_name=monitor_app)
            groups = mine(snap, app)
            active = groups.get("active")
            return (snap, groups) if active and active.wait_event_type == "Timeout" and active.count == 2 else None

        before = time.time()
        snap, groups = await eventually(settled)
        after = time.time()

    assert snap.status == "ok" and snap.error is None
    assert {state: (g.count, g.ssl_count) for state, g in groups.items()} == {
        "idle": (3, 0), "active": (2, 0), "idle in transaction": (2, 0), "idle in transaction (aborted)": (1, 0)
    }
    assert {state: g.wait_event_type for state, g in groups.items()} == {
        "idle": "Client", "active": "Timeout", "idle in transaction": "Client",
        "idle in transaction (aborted)": "Client",
    }
    user, database = connect_kwargs(pg_url)["user"], connect_kwargs(pg_url)["database"]
    for group in groups.values():
        assert (group.usename, group.datname, group.client_addr) == (user, database, "127.0.0.1")
        assert group.last_query is None  # not collected by default
        assert before - sessions.opened_last - TOLERANCE_S <= group.youngest_backend_s
        assert group.youngest_backend_s <= group.oldest_backend_s <= after - sessions.opened_first + TOLERANCE_S

    iit = groups["idle in transaction"]
    assert before - iit_to - TOLERANCE_S <= iit.oldest_idle_in_transaction_s <= after - iit_from + TOLERANCE_S
    assert iit.oldest_xact_s >= iit.oldest_idle_in_transaction_s >= 1.0 - TOLERANCE_S
    aborted = groups["idle in transaction (aborted)"]
    assert before - aborted_to - TOLERANCE_S <= aborted.oldest_idle_in_transaction_s
    assert aborted.oldest_idle_in_transaction_s <= after - aborted_from + TOLERANCE_S
    assert groups["idle"].oldest_xact_s is None and groups["idle"].oldest_idle_in_transaction_s is None
    assert groups["active"].oldest_idle_in_transaction_s is None and groups["active"].oldest_xact_s >= 0.9
    assert snap.own_connections == 1
    assert all(g.application_name != monitor_app for g in snap.groups)
    assert snap.latency_ms is not None and snap.latency_ms > 0


async def test_settings_match_the_server(pg_url):
    conn = await asyncpg.connect(**connect_kwargs(pg_url))
    try:
        shown = {
            name: await conn.fetchval("SELECT current_setting($1, true)", name)
            for name in ("max_connections", "superuser_reserved_connections", "reserved_connections",
                         "server_version_num", "ssl", *STANDBY_SETTINGS)
        }
        timeouts = {
            name: int(await conn.fetchval("SELECT setting FROM pg_settings WHERE name = $1", name))
            for name in ("idle_in_transaction_session_timeout", "idle_session_timeout")
        }
        started = await conn.fetchval("SELECT pg_catalog.pg_postmaster_start_time()")
    finally:
        await conn.close()
    snap = await sample(pg_url, server="primary")
    version = int(shown["server_version_num"])
    assert snap.settings is not None
    assert snap.settings.as_dict() == {
        "max_connections": int(shown["max_connections"]),
        "superuser_reserved_connections": int(shown["superuser_reserved_connections"]),
        "reserved_connections": int(shown["reserved_connections"]) if version >= 160000 else None,
        "idle_in_transaction_session_timeout_ms": timeouts["idle_in_transaction_session_timeout"],
        "idle_session_timeout_ms": timeouts["idle_session_timeout"],
        **{name: int(shown[name]) for name in STANDBY_SETTINGS},
        "ssl": shown["ssl"] == "on",
        "server_version_num": version,
        "can_see_all": True,
        "role": connect_kwargs(pg_url)["user"],
        "superuser": True,  # the test role (postgres)
        "postmaster_start": started.isoformat(),
    }
    assert snap.server == "primary" and snap.taken_at.tzinfo is not None


async def test_each_sample_on_the_held_connection_sees_a_fresh_pg_stat_activity(pg_url):
    app = unique_name("t-fresh")
    sampler = ServerSampler("primary", pg_url, application_name=unique_name("t-mon"))
    try:
        async with Sessions(pg_url, app) as sessions:
            (conn,) = await sessions.idle(1)
            first = await sampler.sample()
            pid = sampler.own_pid
            await conn.execute("BEGIN")
            await conn.execute("SELECT 1")
            second = await sampler.sample()
            await conn.execute("COMMIT")
            third = await sampler.sample()
        assert sampler.own_pid == pid  # one connection, kept between samples
        assert [{s: g.count for s, g in mine(snap, app).items()} for snap in (first, second, third)] == [
            {"idle": 1}, {"idle in transaction": 1}, {"idle": 1}
        ]
    finally:
        await sampler.close()


async def test_the_server_is_sent_the_sample_statement_without_its_comments(pg_url):
    """pg_stat_activity shows (and the server clips, every sample) the statement text we send."""
    sampler = ServerSampler("primary", pg_url, application_name=unique_name("t-text"))
    try:
        await sampler.sample()
        conn = await asyncpg.connect(**connect_kwargs(pg_url))
        try:
            shown = await conn.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", sampler.own_pid)
        finally:
            await conn.close()
    finally:
        await sampler.close()
    assert shown.startswith("SELECT") and "--" not in shown
    assert "GROUP BY s.datid, s.usesysid" in shown


async def test_opt_in_collects_the_truncated_last_statement_of_idle_in_transaction_sessions(pg_url):
    app = unique_name("t-query")
    statement = "SELECT 1 AS leaked_here /* " + "x" * 400 + " */"
    async with Sessions(pg_url, app) as sessions:
        await sessions.idle(1)
        await sessions.idle_in_transaction(1, statement)
        without = mine(await sample(pg_url), app)
        with_text = mine(await sample(pg_url, collect_queries=True), app)
    assert without["idle in transaction"].last_query is None
    assert with_text["idle in transaction"].last_query == statement[:QUERY_CHARS]
    assert with_text["idle"].last_query is None  # only idle-in-transaction sessions, never others


async def test_a_role_without_pg_monitor_is_told_the_grant_and_still_counts_what_it_sees(pg_url):
    app = unique_name("t-vis")
    role = unique_name("t_nopriv").replace("-", "_")
    admin = await asyncpg.connect(**connect_kwargs(pg_url))
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        async with Sessions(pg_url, app) as sessions:
            await sessions.idle(2)
            await sessions.idle_in_transaction(1)
            own_session = await asyncpg.connect(
                **{**connect_kwargs(pg_url), "user": role}, server_settings={"application_name": app}
            )
            try:
                url = with_user(pg_url, role)
                hidden = await sample(url)
                await admin.execute(f'GRANT pg_monitor TO "{role}"')
                granted = await sample(url)
            finally:
                await own_session.close()
    finally:
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()

    assert hidden.status == "ok" and hidden.settings.can_see_all is False and hidden.settings.role == role
    superuser = connect_kwargs(pg_url)["user"]
    visible = {(g.usename, g.state): g.count for g in hidden.groups if g.application_name == app}
    assert visible == {(superuser, None): 3, (role, "idle"): 1}  # the others' sessions counted, state hidden
    assert all(g.client_addr is None and g.ssl_count == 0 for g in hidden.groups if g.usename == superuser)
    assert permission_note(hidden.settings) == (
        f"role {role} has no pg_monitor (pg_read_all_stats): other roles' sessions are counted but their state, "
        f"ages, wait events and SSL are hidden, so counts by state are partial. Fix: GRANT pg_monitor TO {role};"
    )
    assert granted.settings.can_see_all is True and permission_note(granted.settings) is None
    assert {(g.usename, g.state): g.count for g in granted.groups if g.application_name == app} == {
        (superuser, "idle"): 2, (superuser, "idle in transaction"): 1, (role, "idle"): 1
    }


async def test_unknown_database_and_unknown_role_are_one_clear_line(pg_url):
    no_db = await sample(with_user(pg_url, connect_kwargs(pg_url)["user"], "s3cret-pw", database="no_such_db_x"))
    assert (no_db.status, no_db.sqlstate, no_db.error) == ("bad-url", "3D000", 'database "no_such_db_x" does not exist')
    assert no_db.groups == () and no_db.total is None  # a gap, never zero
    no_role = await sample(with_user(pg_url, "no_such_role_x", "s3cret-pw"))
    assert no_role.status == "auth"
    assert 'no_such_role_x' in no_role.error and "s3cret-pw" not in no_role.error


def test_rows_become_named_groups_with_ages_and_our_own_connection_apart():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    def row(app, count, state="idle", datid=5, usesysid=10, **moments):
        values = {"oldest_state_change": now - timedelta(seconds=5), "oldest_xact_start": None,
                  "oldest_backend_start": now, "youngest_backend_start": now, **moments}
        return {"datid": datid, "usesysid": usesysid, "application_name": app, "client_addr": None, "state": state,
                "wait_event_type": "Client", "count": count, "ssl_count": 0, "sampled_at": now, **values}

    rows = [
        row("api", 1, "idle in transaction", oldest_state_change=now - timedelta(seconds=7.5),
            oldest_xact_start=now - timedelta(seconds=9), oldest_backend_start=now - timedelta(hours=1)),
        row("pool-planner-monitor", 1),
        row(None, 2, datid=99, youngest_backend_start=now + timedelta(milliseconds=3)),  # clock step: age 0, not < 0
        row("api", 4, usesysid=None, state=None, oldest_state_change=None),
        row("batch", 3, "idle in transaction (aborted)", oldest_state_change=now - timedelta(seconds=2)),
        row("batch", 1, "active", oldest_xact_start=now - timedelta(seconds=1)),
    ]
    names = {("database", 5): "shop", ("role", 10): "app"}
    assert missing_names(rows, names) and not missing_names(rows, {**names, ("database", 99): "x"})
    groups, own = groups_from_rows(rows, names, "pool-planner-monitor")
    assert own == 1
    assert [(g.datname, g.usename, g.application_name, g.state, g.count) for g in groups] == [
        ("shop", None, "api", None, 4),
        ("shop", "app", "batch", "idle in transaction (aborted)", 3),
        ("(oid 99)", "app", "", "idle", 2),
        ("shop", "app", "api", "idle in transaction", 1),
        ("shop", "app", "batch", "active", 1),
    ]
    assert (groups[2].oldest_backend_s, groups[2].youngest_backend_s) == (0.0, 0.0)
    assert (groups[3].oldest_idle_in_transaction_s, groups[3].oldest_xact_s, groups[3].oldest_backend_s) == (
        7.5, 9.0, 3600.0
    )
    assert groups[3].last_query is None
    # The query returns every group's oldest state change; only idle-in-transaction groups (aborted too) keep it.
    assert [g.oldest_idle_in_transaction_s for g in groups] == [None, 2.0, None, 7.5, None]
