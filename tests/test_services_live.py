"""Several services against real PostgreSQL 16 servers (pgserver's): a primary and its real streaming standby.

A real workload (connections with several application_names, per-worker suffixes, a client no service names)
sampled by the dashboard's own sampler is attributed exactly; ``unplanned-clients`` fires and clears; the
per-service ``connection-leak`` fires for the right service; each server's live limits go to its own plan entry
(the standby's, not the primary's); the collector's /metrics labels connections by service. The plan and its
hand-computed numbers: tests/services_live_kit.py.
"""

from __future__ import annotations

import pytest
from collector_kit import CollectorProcess, connections, wait_until
from reproduce_kit import without_monitor_role
from services_live_kit import PRIMARY_MAX, REPLICA_MAX, primary_and_standby, workload, write_plan

from dashboard.live import sample_once
from planner.attribution import attribute
from planner.plan_io import load_plan
from planner.rules.live import live_findings
from planner.rules.server_match import with_live_limits

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def servers():
    with primary_and_standby() as both:
        yield both


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    return load_plan(str(write_plan(tmp_path_factory.mktemp("plan") / "services.toml")))


def judge(plan, url: str, server: str = "primary"):
    snap = sample_once(url, server)
    assert snap.ok, snap
    return snap, without_monitor_role(live_findings(plan, [snap]))


def by_id(found, id_):
    return [f for f in found if f.id == id_]


def sample_until(plan, url: str, check, server: str = "primary"):
    """Sample until ``check(snap, findings)`` holds (the connections are all open, or closed)."""
    return wait_until(lambda: (lambda s, f: (s, f) if check(s, f) else None)(*judge(plan, url, server)), 20, 0.2)


def test_a_real_workload_is_attributed_to_its_services_exactly(servers, plan):
    primary, standby = servers
    with workload(primary.url(), unplanned=3), connections(standby.url(), 2, "search-1"):
        snap, found = sample_until(plan, primary.url(), lambda s, f: s.total == 10)
        att = attribute(plan, snap)
        assert att.by_service == (("orders", 5), ("billing", 2), ("search", 0))
        assert att.unplanned == (("t-cron", 3),)
        # 3 unplanned > other_clients 2, but 32 + 3 + 1 = 36 <= 37 slots: they still fit, nothing fires
        assert by_id(found, "unplanned-clients") == [] and by_id(found, "connection-leak") == []
        replica, _ = sample_until(plan, standby.url(), lambda s, f: s.total == 2, server="replica")
        assert attribute(plan, replica).by_service == (("orders", 0), ("billing", 0), ("search", 2))


def test_unplanned_clients_fire_with_their_names_and_clear(servers, plan):
    primary, _ = servers
    with workload(primary.url(), unplanned=3):
        with connections(primary.url(), 3, "t-cron"):  # 6 unplanned: 32 + 6 + 1 = 39 > 37
            _, found = sample_until(plan, primary.url(), lambda s, f: s.total == 13)
            (finding,) = by_id(found, "unplanned-clients")
            assert finding.severity == "warning"  # the peak without a rollout, 26 + 7 = 33, still fits
            assert finding.server == "primary"
            assert finding.message == (
                "primary: 6 connections from clients no service of the plan names ('t-cron' 6) > the plan's "
                "other_clients 2: the services' planned rollout peak 32 (they hold 7 now) + 6 unplanned + 1 monitor "
                "= 39 > 37 slots for ordinary roles (max_connections 40 - superuser_reserved 3 - reserved 0)")
            assert "other_clients = 7" in finding.snippet and 'name = "t-cron"' in finding.snippet
        _, found = sample_until(plan, primary.url(), lambda s, f: s.total == 10)
        assert by_id(found, "unplanned-clients") == []


def test_over_plan_fires_for_the_service_over_its_own_ceiling_only(servers, plan):
    primary, _ = servers
    with workload(primary.url(), unplanned=0, billing=3):  # billing: 3 > its 1 x (2 + 0); orders 5 <= 24
        _, found = sample_until(plan, primary.url(), lambda s, f: s.total == 8)
        leaks = by_id(found, "connection-leak")
        assert [f.message for f in leaks] == [
            "service 'billing': 3 connections to primary > plan's 1 worker x (2 + 0) = 2: its pools do not bound it"]
    with workload(primary.url(), unplanned=0, billing=2):
        _, found = sample_until(plan, primary.url(), lambda s, f: s.total == 7)
        assert by_id(found, "connection-leak") == []


def test_each_servers_live_limits_go_to_its_own_entry_the_standbys_included(servers, tmp_path):
    primary, standby = servers
    stale = load_plan(str(write_plan(tmp_path / "stale.toml", primary_max=100, replica_max=100)))
    samples = {"primary": sample_once(primary.url(), "primary"), "replica": sample_once(standby.url(), "replica")}
    differs = {name: by_id(live_findings(stale, [snap]), "plan-differs-from-server") for name, snap in samples.items()}
    assert [f.server for f in differs["primary"] + differs["replica"]] == ["primary", "replica"]
    assert "max_connections 100 in the plan, 50 on the server" in differs["replica"][0].message
    applied = with_live_limits(stale, {name: snap.settings for name, snap in samples.items()})
    assert [(s.name, s.max_connections) for s in applied.servers] == [("primary", PRIMARY_MAX),
                                                                     ("replica", REPLICA_MAX)]
    assert applied.services == stale.services
    for name, snap in samples.items():
        assert by_id(live_findings(applied, [snap]), "plan-differs-from-server") == [], name


def test_the_collectors_metrics_label_connections_by_service(servers, tmp_path):
    primary, _ = servers
    plan_path = write_plan(tmp_path / "services.toml")
    args = ["--config", str(plan_path), "--url", f"primary={primary.url()}", "--data", str(tmp_path),
            "--interval", "0.5", "--max-services", "3"]
    with CollectorProcess(args) as collector, workload(primary.url(), unplanned=3), \
            connections(primary.url(), 1, "t-psql"), connections(primary.url(), 1, "t-etl"):
        wait_until(lambda: collector.value("pool_planner_unplanned_connections", server="primary") == 5)
        counts: dict[str, float] = {}
        for (name, labels), value in collector.scrape().items():
            if name == "pool_planner_connections":
                service = dict(labels)["service"]
                counts[service] = counts.get(service, 0) + value
        # orders-1, orders-2 and orders fold into the service; the planned services are kept, the biggest
        # unplanned client fills the one label left, the rest fold into "other"
        assert counts == {"orders": 5, "billing": 2, "t-cron": 3, "other": 2}
        assert collector.value("pool_planner_services_folded", server="primary") == 2
        assert collector.value("pool_planner_plan_service_peak", server="primary", service="orders") == 24
        assert collector.terminate() == 0
