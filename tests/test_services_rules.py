"""Static rules and the CLI on plans with several services: server-level findings once per server with each
service's part, per-service findings naming their service, per-service output of plan/check/recommend/export."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from planner_strategies import shared_plans

from planner import cli
from planner.budget import plan_verdict, service_views
from planner.plan_io import load_plan, plan_from_toml
from planner.rules import static_findings

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "examples" / "services.toml")
SERVICES = load_plan(CONFIG)


def with_primary(plan, **changes):
    return dataclasses.replace(plan, servers=(dataclasses.replace(plan.servers[0], **changes), *plan.servers[1:]))


def with_service(plan, name, **changes):
    return plan.with_services(tuple(dataclasses.replace(s, **changes) if s.name == name else s
                                    for s in plan.services))


def test_the_example_has_no_findings():
    assert static_findings(SERVICES) == []


def test_over_budget_names_each_services_part_once():
    """primary max_connections 75: usable 75 - 3 - 10 = 62. Rollout peak: orders-api (3 + 1) x 2 x (4 + 2) = 48,
    billing-worker (2 + 1) x 1 x (3 + 1) = 12, reconcile-cron 1 x 2 = 2, PgBouncer 15: 77 > 62. Peak (no surge)
    36 + 8 + 2 + 15 = 61 <= 62: the surges are what does not fit."""
    findings = static_findings(with_primary(SERVICES, max_connections=75))
    assert [(f.id, f.server, f.service) for f in findings] == [
        ("rollout-surge", "primary", None), ("too-many-connections", "primary", None)]
    surge, over = findings
    assert over.message.startswith(
        "primary: at rollout peak, orders-api 48 + billing-worker 12 + reconcile-cron 2 + 15 via PgBouncer = 77 > 62 "
        "usable (max_connections 75 - 13 reserved/other)")
    assert "orders-api: primary pool_size=" in over.fix and "# billing-worker engine primary" in over.snippet
    assert surge.message == (
        "primary: fits in steady state and at the autoscaling maxima (orders-api 36 + billing-worker 8 + "
        "reconcile-cron 2 + 15 via PgBouncer = 61 <= 62 usable) but not while rolling deploys overlap old and new "
        "instances (together): orders-api 48 + billing-worker 12 + reconcile-cron 2 + 15 via PgBouncer = 77 > 62")
    assert "one at a time" not in surge.fix  # 61 + orders-api's surge 12 = 73 > 62 as well


def test_rolling_one_at_a_time_is_offered_when_it_fits():
    """max_connections 88: usable 75 < 77 together; one at a time 61 + the largest surge (orders-api 12) = 73."""
    plan = with_primary(SERVICES, max_connections=88)
    surge = next(f for f in static_findings(plan) if f.id == "rollout-surge")
    assert 'rollout = "one-at-a-time": 61 + the largest surge, orders-api 12, = 73 <= 75' in surge.fix
    one = dataclasses.replace(plan, rollout="one-at-a-time")
    assert [f.id for f in static_findings(one)] == ["too-many-connections"]  # 73 of 75: tight
    [tight] = static_findings(one)
    assert tight.severity == "warning" and tight.message.startswith(
        "primary: rollout peak orders-api 36 + billing-worker 8 + reconcile-cron 2 + the largest surge (orders-api "
        "12) + 15 via PgBouncer = 73 leaves 2 of 75 usable slots")


def test_nothing_fits_says_which_service_to_cut():
    findings = static_findings(with_primary(SERVICES, max_connections=50))
    over = next(f for f in findings if f.id == "too-many-connections" and f.server == "primary")
    assert "nothing fits primary" in over.fix and "cut billing-worker by" in over.fix


def test_per_service_findings_name_their_service():
    plan = with_service(SERVICES, "billing-worker", engines=(dataclasses.replace(
        SERVICES.service("billing-worker").engines[0], max_overflow=-1),))
    plan = with_service(plan, "orders-api", workload=dataclasses.replace(
        SERVICES.service("orders-api").workload, request_timeout_s=5))
    found = {(f.id, f.service) for f in static_findings(plan)}
    assert ("unbounded-overflow", "billing-worker") in found
    assert ("pool-timeout-exceeds-request-timeout", "orders-api") in found
    assert all(f.as_dict()["service"] == f.service for f in static_findings(plan))


def test_pgbouncer_clients_are_summed_over_the_services_through_it():
    """reports-api: (2 + 1) x 2 x (5 + 5) = 60 clients at rollout peak > max_client_conn 50."""
    plan = dataclasses.replace(SERVICES, pgbouncer=dataclasses.replace(SERVICES.pgbouncer, max_client_conn=50))
    [finding] = static_findings(plan)
    assert finding.message == "PgBouncer: client connections at rollout peak reports-api 60 = 60 > max_client_conn 50"


def test_a_services_view_counts_the_others_as_other_clients():
    """orders-api's view of primary: 10 other clients + billing-worker 12 + reconcile-cron 2 + PgBouncer 15 (the
    others go through it, orders-api does not) = 39; reports-api's (through PgBouncer): 10 + 48 + 12 + 2 = 72."""
    views = service_views(SERVICES)
    assert views["orders-api"].server("primary").other_clients == 39
    assert views["reports-api"].server("primary").other_clients == 72
    assert views["search-api"].server("replica").other_clients == 5
    assert views["search-api"].server("primary").other_clients == 10  # a server it does not use: untouched


@settings(max_examples=40, deadline=None)
@given(shared_plans())
def test_server_level_facts_are_reported_once(plan):
    """Each server's budget findings come once (service null), whatever the number of services; every other
    finding names one of the plan's services; the overall verdict is the budgets'."""
    findings = static_findings(plan)
    names = {s.name for s in plan.services}
    server_level = [(f.id, f.server, f.message.split(":", 1)[0]) for f in findings if f.service is None]
    assert len(server_level) == len(set(server_level))
    for f in findings:
        assert f.service is None or f.service in names
        assert f.id != "unbounded-overflow" or f.service is not None
    unbounded = {s.name for s in plan.services for e in s.engines if e.unbounded}
    assert {f.service for f in findings if f.id == "unbounded-overflow"} == unbounded


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "code"), [
    (["plan", "--config", CONFIG], 0),
    (["plan", "--config", CONFIG, "--max-connections", "75"], 1),
    (["check", "--config", CONFIG], 0),
    (["check", "--config", CONFIG, "--max-connections", "75"], 1),
    (["recommend", "--config", CONFIG], 0),
    (["recommend", "--config", CONFIG, "--max-connections", "75"], 0),
    (["recommend", "--config", CONFIG, "--max-connections", "50"], 1),
    (["export", "--config", CONFIG, "--format", "python"], 0),
    (["export", "--config", CONFIG, "--format", "env", "--max-connections", "75"], 1),
    (["export", "--config", CONFIG, "--format", "toml", "--recommended", "--max-connections", "75"], 0),
    (["export", "--config", CONFIG, "--format", "toml", "--recommended", "--max-connections", "50"], 1),
    (["plan", "--config", CONFIG, "--workers", "0"], 2),
])
def test_exit_codes_with_several_services(capsys, argv, code):
    assert run(capsys, *argv)[0] == code


def test_plan_and_check_show_each_service(capsys):
    _, out, _ = run(capsys, "plan", "--config", CONFIG)
    assert "services (5, rollout together):" in out
    assert "  orders-api (3 instances x 2 workers, priority 3): primary steady 24, peak 36, rollout peak 48" in out
    _, out, _ = run(capsys, "check", "--config", CONFIG, "--max-connections", "75", "--json")
    data = json.loads(out)
    assert {"servers", "pgbouncer", "verdict", "findings", "services", "rollout"} <= data.keys()
    orders = next(s for s in data["services"] if s["name"] == "orders-api")
    assert orders["servers"]["primary"]["rollout_peak"] == 48 and orders["priority"] == 3
    assert all("service" in f for f in data["findings"])


def test_recommend_shows_each_service_and_the_split(capsys):
    _, out, _ = run(capsys, "recommend", "--config", CONFIG)
    assert ("primary (wanted): orders-api 40 (5 per process), billing-worker 24 (8 per process), reconcile-cron 15 "
            "(15 per process) + 15 PgBouncer = rollout peak 94 of 168 allowed") in out
    assert "orders-api (2 workers, weight 3 by priority):\n  primary: pool_size=3, max_overflow=2" in out
    _, out, _ = run(capsys, "recommend", "--config", CONFIG, "--max-connections", "50", "--json")
    data = json.loads(out)
    assert data["fits"] is False and data["cuts"] and {"services", "splits"} <= data.keys()
    _, out, _ = run(capsys, "recommend", "--config", CONFIG, "--max-connections", "50")
    assert "services to cut:\n  cut billing-worker by" in out


def test_export_recommended_writes_the_multi_service_plan(capsys):
    code, out, _ = run(capsys, "export", "--config", CONFIG, "--format", "toml", "--recommended",
                       "--max-connections", "90")
    plan = plan_from_toml(out)
    assert code == 0 and [s.name for s in plan.services] == [s.name for s in SERVICES.services]
    assert plan.servers[0].max_connections == 90
    assert plan_verdict(plan) != "unsafe"
    assert all(e.pool_pre_ping for s in plan.services for e in s.engines)  # the recommended engines, not the given
    _, out, _ = run(capsys, "export", "--config", CONFIG, "--format", "python")
    assert out.count("# ===== service ") == 5 and out.count("create_async_engine(") >= 5
    _, out, _ = run(capsys, "export", "--config", CONFIG, "--format", "pgbouncer")
    assert "; the fleet opens up to 60 client connections at rollout peak" in out
    _, out, _ = run(capsys, "export", "--config", CONFIG, "--format", "json")
    assert len(json.loads(out)["services"]) == 5
