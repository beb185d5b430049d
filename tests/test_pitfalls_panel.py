"""The pitfalls panel groups one finding id per server, names the applications in its header, and escapes
everything a server sent (issue #13: four identical "idle-in-transaction · warning" headers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import presets, state
from dashboard.pitfalls import group_rows, md_escape
from planner.model import Deployment, Engine, Plan, Server
from planner.rules.live import tracked_live_findings
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot
from planner.text import md

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SETTINGS = ServerSettings(40, 3, 0, 0, 0, False, 160004, True, "postgres")


def idle_group(app: str, age: float) -> ActivityGroup:
    return ActivityGroup("postgres", "demo_app", app, None, "idle in transaction", "Client", 1, 0,
                         oldest_idle_in_transaction_s=age)


def demo_leak(names: list[str]) -> list:
    """What the live rules say about the demo's leaking session: one finding per worker."""
    snaps = [Snapshot("primary", T0 + timedelta(seconds=s), "ok", tuple(idle_group(n, 30 + s) for n in names),
                      settings=SETTINGS, own_connections=1) for s in (0, 1)]
    plan = Plan(servers=(Server(max_connections=40),),
                engines=(Engine(pool_size=4, max_overflow=6, application_name="demo-api"),),
                deployment=Deployment(workers=4, surge=0))
    return tracked_live_findings(plan, snaps)


def test_one_entry_per_id_and_server_with_the_applications_in_the_header():
    names = ["demo-api-1", "demo-api-2", "demo-api-3", "demo-api-4"]
    live = demo_leak(names)
    assert sum(item.finding.id == "idle-in-transaction" for item in live) == 4  # the rules: one per application
    groups = group_rows(state.finding_rows((), live))
    [idle] = [g for g in groups if g.id == "idle-in-transaction"]
    assert idle.subjects == tuple(names) and len(idle.findings) == 4
    assert idle.label == (r"**idle-in-transaction** · warning · 4 applications: demo\-api\-1, demo\-api\-2, "
                          r"demo\-api\-3, demo\-api\-4 · since 09:00:00 UTC · primary")
    assert len(idle.fixes) == 1 and len(idle.snippets) == 1  # the same fix once, not four times
    assert len({g.label for g in groups}) == len(groups)  # no two identical headers
    many = group_rows(state.finding_rows((), demo_leak([f"w{i}" for i in range(7)])))
    [idle] = [g for g in many if g.id == "idle-in-transaction"]
    assert "7 applications: w0, w1, w2, w3 and 3 more" in idle.label


def test_the_plans_own_findings_stay_one_entry_each():
    plan = Plan(engines=(Engine(pool_size=20, max_overflow=10),), deployment=Deployment(workers=4, surge=0))
    groups = group_rows(state.finding_rows(state.evaluate(plan).findings, []))
    assert [g.source for g in groups] == ["plan"] * len(groups)
    assert {g.id for g in groups} == {"overflow-exceeds-budget", "too-many-connections"}
    assert all(g.label.endswith("in the plan · primary") for g in groups)


def test_a_hostile_application_name_is_shown_as_typed():
    hostile = "*x*](javascript:alert(1)) :red[y] $z$ <b>"
    [idle] = [g for g in group_rows(state.finding_rows((), demo_leak([hostile]))) if g.id == "idle-in-transaction"]
    assert md_escape(hostile) in idle.label
    assert "<b>" not in idle.label and "](javascript" not in idle.label and ":red[" not in idle.label


def test_md_escape_is_the_pages_one_escaper_on_one_line():
    assert md_escape("a\n[x](http://h/) *b*") == md("a [x](http://h/) *b*")  # planner/text.py is tested there


def test_the_pages_replica_is_a_hot_standby_of_the_primary():
    inputs = state.Inputs(replica=True, max_connections=300, replica_max_connections=100)
    by_id = {f.id: f for f in state.evaluate(state.build_plan(inputs)).findings}
    assert by_id["replica-below-primary"].message.startswith(
        "replica is a hot standby of primary, but in the plan max_connections 100 < 300")
    same = state.evaluate(state.build_plan(state.Inputs(replica=True, replica_same_server=True))).findings
    assert "replica-same-server" in {f.id for f in same}


def test_the_live_chart_shows_the_servers_max_connections_when_the_plan_says_another():
    """Issue #13: after a preset the chart showed max_connections 100 over a server with 40."""
    plan = state.build_plan(presets.presets()["PostgreSQL defaults"])
    lines = state.plan_lines(state.evaluate(plan).tightest)
    assert state.with_server_limit(lines, SETTINGS) == {**lines, "server max_connections": 40}
    same = ServerSettings(100, 3, 0, 0, 0, False, 160004, True, "postgres")
    assert state.with_server_limit(lines, same) == lines and state.with_server_limit(lines, None) == lines
