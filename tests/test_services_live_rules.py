"""The live side of several services, on hand-built samples: attribution by application_name, the
unplanned-clients thresholds (hand-computed), per-service rules, per-service plan lines, each server's live limits.

The same behaviour against a real PostgreSQL and in a real browser: tests/test_services_live.py and
tests/test_browser_services.py."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from test_rules_live import conf, group, snap

from dashboard import charts
from dashboard.inputs import Inputs, prefill_from_server
from dashboard.liveview import latest_table, service_lines, service_split, sidebar_servers, with_own_live_limits
from planner.attribution import attribute
from planner.budget import server_budget
from planner.model import Deployment, Engine, Plan, Server, Service
from planner.policy import DEFAULT_POLICY
from planner.rules.live import live_findings, tracked_live_findings
from planner.rules.server_match import plan_differs, with_live_limits


def two_services(other_clients: int = 2, bulk_pool: int = 10) -> Plan:
    """orders: 2 instances x 2 workers x (2 + 1), surge 1 -> steady 8, peak 12, rollout 18.
    bulk (no application_name: matched by its name): 1 x 1 x (bulk_pool + 0), surge 1 -> rollout 2 x bulk_pool."""
    orders = Service("orders", (Engine(application_name="orders", pool_size=2, max_overflow=1),),
                     Deployment(instances=2, workers=2, surge=1))
    bulk = Service("bulk", (Engine(pool_size=bulk_pool, max_overflow=0),), Deployment(instances=1, workers=1, surge=1))
    return Plan(servers=(Server(max_connections=100, other_clients=other_clients),), services=(orders, bulk))


def test_attribution_folds_suffixes_and_keeps_unplanned_names():
    plan = two_services()
    sample = snap(group("orders-1", count=3), group("orders-2", count=2), group("orders", count=1),
                  group("bulk", count=4), group("cron", count=5), group("", count=1), group("orders-x", count=2))
    att = attribute(plan, sample)
    assert att.by_service == (("orders", 6), ("bulk", 4))
    assert att.unplanned == (("cron", 5), ("orders-x", 2), ("(no application_name)", 1))
    assert (att.planned_total, att.unplanned_total, att.total) == (10, 8, 18)


def test_unplanned_clients_fires_only_when_over_the_allowance_and_out_of_room():
    # rollout peak: orders 18 + bulk 2 x 10 = 38, peak 12 + 10 = 22; live slots 100 - 3 - 0 = 97, monitor 1
    plan = two_services(other_clients=2, bulk_pool=10)
    assert server_budget(plan, plan.servers[0]).rollout_peak == 38
    # 40 unplanned: 38 + 40 + 1 = 79 <= 97: over the allowance but it fits: nothing
    assert not [f for f in live_findings(plan, [snap(group("cron", count=40))]) if f.id == "unplanned-clients"]
    # 59 unplanned: 38 + 59 + 1 = 98 > 97 (peak 22 + 60 = 82 fits): warning, names and counts as evidence
    found = [f for f in live_findings(plan, [snap(group("cron", count=50), group("psql", count=9))])
             if f.id == "unplanned-clients"]
    assert [(f.severity, f.server) for f in found] == [("warning", "primary")]
    assert found[0].message == (
        "primary: 59 connections from clients no service of the plan names ('cron' 50, 'psql' 9) > the plan's "
        "other_clients 2: the services' planned rollout peak 38 (they hold 0 now) + 59 unplanned + 1 monitor = 98 > "
        "97 slots for ordinary roles (max_connections 100 - superuser_reserved 3 - reserved 0)")
    assert "other_clients = 60" in found[0].snippet and 'name = "cron"' in found[0].snippet
    # 80 unplanned: even the peak 22 + 81 = 103 > 97: critical
    (crit,) = [f for f in live_findings(plan, [snap(group("cron", count=80))]) if f.id == "unplanned-clients"]
    assert crit.severity == "critical"


def test_unplanned_clients_within_other_clients_never_fire_and_the_knobs_move_it():
    plan = two_services(other_clients=70)
    assert not [f for f in live_findings(plan, [snap(group("cron", count=70))]) if f.id == "unplanned-clients"]
    plan = two_services(other_clients=2)
    sample = [snap(group("cron", count=40))]  # 79 of 97: fits; with a 20 % margin 79 > 77.6 fires
    policy = replace(DEFAULT_POLICY, unplanned_clients_margin_fraction=0.2)
    assert [f.id for f in live_findings(plan, sample, policy) if f.id == "unplanned-clients"] == ["unplanned-clients"]
    policy = replace(DEFAULT_POLICY, unplanned_clients_slack=40, unplanned_clients_margin_fraction=0.2)
    assert not [f for f in live_findings(plan, sample, policy) if f.id == "unplanned-clients"]


def test_single_service_plans_never_judge_unplanned_clients():
    plan = Plan(engines=(Engine(application_name="orders"),), servers=(Server(max_connections=100),))
    assert not [f for f in live_findings(plan, [snap(group("cron", count=90))]) if f.id == "unplanned-clients"]


def test_over_plan_fires_for_the_service_over_its_own_ceiling():
    plan = two_services()  # orders: 2 instances x 2 workers x (2 + 1) = 12; bulk: 1 x 10 = 10
    sample = snap(group("orders-1", count=7), group("orders-2", count=6), group("bulk", count=10))
    leaks = [f for f in live_findings(plan, [sample]) if f.id == "connection-leak"]
    assert [f.message for f in leaks] == [
        "service 'orders': 13 connections to primary > plan's 2 instances x 2 workers x (2 + 1) = 12: its pools do "
        "not bound it"]
    sample = snap(group("orders-1", count=6), group("bulk", count=11))
    assert [f.message.split(":")[0] for f in live_findings(plan, [sample]) if f.id == "connection-leak"] == [
        "service 'bulk'"]


def test_idle_in_transaction_is_per_service_and_says_unplanned():
    plan = two_services()
    sample = snap(group("orders-1", state="idle in transaction", oldest_idle_in_transaction_s=40.0),
                  group("orders-2", state="idle in transaction", oldest_idle_in_transaction_s=35.0),
                  group("cron", state="idle in transaction", oldest_idle_in_transaction_s=45.0))
    tracked = {t.subject: t.finding for t in tracked_live_findings(plan, [sample])
               if t.finding.id == "idle-in-transaction"}
    assert set(tracked) == {"orders", "cron"}
    assert tracked["orders"].message.startswith("service 'orders' (role app): 2 sessions idle in transaction")
    assert tracked["cron"].message.startswith("app 'cron' (unplanned) (role app): 1 session")


def test_by_application_chart_becomes_services_and_unplanned_series_with_service_lines():
    plan = two_services()
    index = pd.DatetimeIndex(["2026-11-25 12:00:00", "2026-11-25 12:00:01"], name="taken_at")
    wide = pd.DataFrame({"orders-1": [2.0, 3.0], "orders-2": [1.0, float("nan")], "bulk": [4.0, 4.0],
                         "<b>cron</b>": [1.0, 5.0]}, index=index)
    wide.iloc[1, :] = [3.0, 0.0, 4.0, 5.0]
    split = service_split(wide, plan)
    assert list(split.columns) == ["orders", "bulk", "unplanned: <b>cron</b>"]
    assert split["orders"].tolist() == [3.0, 3.0]
    lines = service_lines(server_budget(plan, plan.servers[0]))
    assert lines == {"orders": {"steady": 8, "peak": 12, "rollout peak": 18},
                     "bulk": {"steady": 10, "peak": 10, "rollout peak": 20}}
    fig = charts.wide_figure(split, "application_name", {"usable": 95}, service_lines=lines)
    names = [t.name for t in fig.data]
    assert "unplanned: &lt;b&gt;cron&lt;/b&gt;" in names  # an untrusted name, escaped for plotly
    assert {"orders · steady 8", "orders · peak 12", "orders · rollout peak 18", "bulk · rollout peak 20"} <= set(names)
    by_name = {t.name: t for t in fig.data}
    assert by_name["orders · peak 12"].line.color == by_name["orders"].line.color
    assert by_name["orders · peak 12"].legendgroup == "orders"
    assert list(by_name["bulk · rollout peak 20"].y) == [20, 20]


def test_latest_table_says_each_applications_service():
    plan = two_services()
    table = latest_table(snap(group("orders-3", count=2), group("cron", count=1)), plan)
    assert table[["service", "application_name", "count"]].values.tolist() == [
        ["orders", "orders-3", 2], ["unplanned", "cron", 1]]


def test_each_servers_live_limits_go_to_its_own_entry():
    plan = Plan(servers=(Server("primary", max_connections=100), Server("replica", max_connections=100,
                                                                         replica_of="primary")),
                services=two_services().services)
    live = {"primary": conf(max_connections=120),
            "replica": conf(max_connections=150, superuser_reserved_connections=5)}
    replica_sample = snap(server="replica", settings=live["replica"])
    differs = plan_differs(plan.servers[1], replica_sample, live["replica"])
    assert [f.id for f in differs] == ["plan-differs-from-server"]
    updated = with_live_limits(plan, live)
    assert [(s.name, s.max_connections, s.superuser_reserved_connections) for s in updated.servers] == [
        ("primary", 120, 3), ("replica", 150, 5)]
    assert updated.services == plan.services
    assert plan_differs(updated.servers[1], replica_sample, live["replica"]) == []
    # the sidebar: the replica's max_connections from the replica's own sample, the primary's from the primary's
    inputs = prefill_from_server(Inputs(replica=True), live["primary"], replica=live["replica"])
    assert (inputs.max_connections, inputs.replica_max_connections) == (120, 150)


def test_the_servers_the_sidebar_does_not_show_get_their_own_live_limits():
    services = (*two_services().services, Service("search", (Engine(server="replica", application_name="search"),)))
    loaded = Plan(servers=(Server("primary", max_connections=500), Server("replica", max_connections=100,
                                                                           replica_of="primary")), services=services)
    shown = sidebar_servers(loaded, inputs_replica=False)
    assert shown == {"primary"}  # the file's first engine is on the primary; nothing drives its replica
    limits = {"primary": conf(max_connections=40), "replica": conf(max_connections=50)}
    plan = with_own_live_limits(loaded, limits, shown)
    assert [(s.name, s.max_connections) for s in plan.servers] == [("primary", 500), ("replica", 50)]
    assert plan.services == loaded.services
    assert sidebar_servers(None, inputs_replica=True) == {"primary", "replica"}
    assert with_own_live_limits(loaded, {}, shown) is loaded
