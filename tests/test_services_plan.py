"""Plans with several services per server: loading (new and old format), budgets summed per server against
hand-computed numbers (examples/services.toml), both rollout settings, TOML round trip, attribution by
application_name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from planner.budget import pgbouncer_budget, plan_budgets
from planner.model import Deployment, Engine, InputError, Plan, Server, Service
from planner.plan_io import load_plan, plan_from_toml, plan_to_data, plan_to_toml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SERVICES = EXAMPLES / "services.toml"


def budgets(plan: Plan) -> dict[str, tuple]:
    return {b.name: (b.usable, b.steady, b.peak, b.rollout_peak, b.headroom, b.verdict) for b in plan_budgets(plan)}


def test_example_budgets_match_the_hand_computed_numbers():
    plan = load_plan(SERVICES)
    assert [s.name for s in plan.services] == ["orders-api", "billing-worker", "reconcile-cron", "search-api",
                                               "reports-api"]
    # primary: usable 200 - 3 - 0 - 10 = 187. Direct shares (processes x per-process):
    #   orders-api 3x2=6 processes: steady 6x4=24, peak 6x6=36, rollout (3+1)x2x6=48
    #   billing-worker 2 processes: steady 2x3=6, peak 2x4=8, rollout (2+1)x1x4=12
    #   reconcile-cron 1 process: 2, 2, 2
    #   PgBouncer (reports-api routed through it): default_pool_size 15 x 1 pool = 15
    #   steady 24+6+2+15 = 47; peak 36+8+2+15 = 61; rollout 48+12+2+15 = 77; headroom 187-77 = 110
    # replica: usable 200 - 3 - 5 = 192; search-api 2x4=8 processes x (3+2):
    #   steady 8x3=24, peak 8x5=40, rollout (autoscale 3 + ceil(50% of 3)=2) x 4 x 5 = 100; headroom 92
    assert budgets(plan) == {"primary": (187, 47, 61, 77, 110, "safe"), "replica": (192, 24, 40, 100, 92, "safe")}
    bouncer = pgbouncer_budget(plan)
    # reports-api 2x2=4 processes x (5+5): clients steady 20, peak 40, rollout (2+1)x2x10 = 60; limit 200
    assert (bouncer.clients_steady, bouncer.clients_peak, bouncer.clients_rollout_peak, bouncer.headroom) == (
        20, 40, 60, 140)


def test_one_at_a_time_rollouts_count_only_the_largest_surge():
    plan = dataclasses.replace(load_plan(SERVICES), rollout="one-at-a-time")
    # primary: autoscale peaks 36 + 8 + 2 = 46, largest surge orders-api 48 - 36 = 12, + 15 PgBouncer = 73
    assert budgets(plan)["primary"] == (187, 47, 61, 73, 114, "safe")
    assert budgets(plan)["replica"] == (192, 24, 40, 100, 92, "safe")  # one service: its own surge


def test_a_release_train_that_does_not_fit_is_unsafe_where_one_at_a_time_fits():
    server = Server(max_connections=38, superuser_reserved_connections=3)  # usable 35
    engine = Engine(pool_size=2, max_overflow=1)  # 3 per process
    dep = Deployment(instances=2, workers=2, surge=1)  # 4 processes, rollout 6: peak 12, rollout 18
    services = (Service("a", (engine,), dep), Service("b", (engine,), dep))
    together = Plan(servers=(server,), services=services)
    assert budgets(together)["primary"] == (35, 16, 24, 36, -1, "unsafe")
    one = dataclasses.replace(together, rollout="one-at-a-time")
    assert budgets(one)["primary"] == (35, 16, 24, 30, 5, "safe")  # 12 + 12 + one surge of 6


def test_every_example_loads_and_round_trips_through_toml():
    for path in sorted(EXAMPLES.glob("*.toml")):
        plan = load_plan(path)
        again = plan_from_toml(plan_to_toml(plan))
        assert plan_to_data(again) == plan_to_data(plan), path.name
        assert again == plan, path.name


def test_the_old_single_deployment_format_is_one_service_named_app():
    plan = load_plan(EXAMPLES / "lesson.toml")
    assert [s.name for s in plan.services] == ["app"]
    assert plan.services[0].engines == plan.engines and plan.services[0].deployment == plan.deployment
    assert "services" not in plan_to_data(plan) and "deployment" in plan_to_data(plan)


def test_replacing_the_engines_changes_the_first_service_and_keeps_the_others():
    plan = load_plan(SERVICES)
    smaller = dataclasses.replace(plan, engines=(dataclasses.replace(plan.engines[0], pool_size=1),))
    assert smaller.services[0].engines[0].pool_size == 1
    assert smaller.services[1:] == plan.services[1:]
    only = plan.service_plan("search-api")
    assert [s.name for s in only.services] == ["search-api"] and only.engines == plan.service("search-api").engines


@pytest.mark.parametrize(("name", "service"), [
    ("orders-api", "orders-api"), ("orders-api-3", "orders-api"), ("search-api-12", "search-api"),
    ("psql", None), ("", None), (None, None), ("orders-apiX", None),
])
def test_connections_are_attributed_to_services_by_application_name(name, service):
    assert load_plan(SERVICES).service_of(name) == service


@pytest.mark.parametrize(("text", "message"), [
    ('[[services]]\nname = "a"\n[[services.engines]]\nname = "e"\n[deployment]\nworkers = 2\n',
     "deployment: a plan with [[services]] gives each service its own engines"),
    ('[[services]]\nname = "a"\n', "services[0].engines: is required"),
    ('[[services]]\nname = "a"\n[[services.engines]]\nname = "e"\n[[services]]\nname = "a"\n'
     '[[services.engines]]\nname = "e"\n', "services: service names must be unique"),
    ('[[services]]\nname = "a"\n[[services.engines]]\nname = "e"\nserver = "nowhere"\n',
     "names no server"),
    ('[[services]]\nname = "a"\npriorty = 2\n', "services[0].priorty: unknown key"),
    ('rollout = "sometimes"\n', "rollout: must be together or one-at-a-time"),
    ('[[services]]\nname = "a b"\n[[services.engines]]\nname = "e"\n', "services[0].name: must be 1-63 letters"),
])
def test_bad_services_name_the_key(text, message):
    with pytest.raises(InputError) as err:
        plan_from_toml(text)
    assert message in str(err.value)


def test_declared_names_with_digit_suffixes_stay_apart():
    engine = Engine(application_name="svc-01")
    services = tuple(Service(f"svc{i}", (dataclasses.replace(engine, application_name=f"svc-0{i}"),))
                     for i in (1, 2))
    plan = Plan(services=services)
    assert [plan.service_of(n) for n in ("svc-01", "svc-02", "svc-02-7", "svc", "svc-03")] == [
        "svc1", "svc2", "svc2", None, None]
