"""monitor-superuser, reproduced: sampled as a superuser, the finding fires with the snippet; the snippet run
as is creates a pg_monitor login role that sees every session, and sampled as that role nothing fires about
the monitor's role (neither monitor-superuser nor missing-monitor-privilege)."""

from __future__ import annotations

import asyncpg
import pytest
from test_sampler_support import Sessions, connect_kwargs, unique_name, with_user

from dashboard.live import sample_once
from planner.rules.live import live_findings
from planner.rules.monitor_role import monitor_role_snippet, monitor_superuser_finding
from planner.snapshot import ServerSettings

pytestmark = pytest.mark.db
ROLE_IDS = {"monitor-superuser", "missing-monitor-privilege"}


def settings(**changes) -> ServerSettings:
    base = dict(max_connections=100, superuser_reserved_connections=3, reserved_connections=None,
                idle_in_transaction_session_timeout_ms=0, idle_session_timeout_ms=0, ssl=False,
                server_version_num=160000, can_see_all=True, role="postgres", superuser=True)
    return ServerSettings(**{**base, **changes})


def test_the_finding_names_the_role_quoted_and_only_for_a_superuser():
    finding = monitor_superuser_finding("primary", settings(role='Ops "Admin"'))
    assert finding is not None and finding.severity == "warning" and finding.server == "primary"
    assert '"Ops ""Admin"""' in finding.message and "COPY ... TO PROGRAM" in finding.message
    assert monitor_superuser_finding("primary", settings(superuser=False)) is None


def test_the_snippet_quotes_the_role():
    assert monitor_role_snippet("Order-Svc").splitlines()[:2] == [
        'CREATE ROLE "Order-Svc" LOGIN CONNECTION LIMIT 5;', 'GRANT pg_monitor TO "Order-Svc";']


async def test_superuser_fires_and_the_snippet_role_clears_it(pg_url):
    as_superuser = sample_once(pg_url)
    assert as_superuser.ok and as_superuser.settings.superuser
    assert {f.id for f in live_findings(None, [as_superuser])} & ROLE_IDS == {"monitor-superuser"}

    role = unique_name("pp mon")  # a name that needs quoting
    admin = await asyncpg.connect(**connect_kwargs(pg_url))
    try:
        sql = "\n".join(line for line in monitor_role_snippet(role).splitlines() if not line.startswith("--"))
        await admin.execute(sql)
        app = unique_name("t-other")
        async with Sessions(pg_url, app) as sessions:
            await sessions.idle(2)
            as_monitor = sample_once(with_user(pg_url, role))
        assert as_monitor.ok, as_monitor.error
        assert not as_monitor.settings.superuser and as_monitor.settings.can_see_all
        assert {f.id for f in live_findings(None, [as_monitor])} & ROLE_IDS == set()
        mine = [g for g in as_monitor.groups if g.application_name == app]
        assert sum(g.count for g in mine) == 2 and {g.state for g in mine} == {"idle"}  # sees other roles' state
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
