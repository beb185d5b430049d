"""The services editor: a loaded multi-service plan fills the editor and comes back equal; each service keeps its
own values under a stable id (select, rename, add, remove); "Start from what is running" makes one service per
application seen on a real server; each server's shares are the budget's. Pure parts directly, the page through
Streamlit's AppTest against a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest
from test_page_trust import assert_no_markup_from

from dashboard import services_editor, state
from dashboard.inputs import EDITOR_KEYS
from dashboard.services_editor import SERVICE_DEFAULTS, SERVICE_KEYS
from planner.budget import server_budget
from planner.config import load_plan
from planner.model import Deployment, Engine, InputError, Plan, Server, Service, Workload
from planner.plan_io import plan_to_data

db = pytest.mark.db
ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
SERVICES = ROOT / "examples" / "services.toml"
HOSTILE = "[x](http://127.0.0.1:1/a) **b** $x$"


def test_the_service_defaults_are_the_sidebars():
    defaults = state.Inputs().as_dict()
    assert {key: defaults[key] for key in SERVICE_KEYS} == SERVICE_DEFAULTS


def test_a_loaded_services_plan_fills_the_editor_and_comes_back_equal():
    plan = load_plan(SERVICES)
    inputs = state.inputs_from_plan(plan)
    assert [e.name for e in inputs.services] == ["orders-api", "billing-worker", "reconcile-cron", "search-api",
                                                 "reports-api"]
    assert (inputs.selected_service, inputs.pool_size, inputs.max_overflow, inputs.surge_unit) == ("s1", 4, 2,
                                                                                                  "instances")
    assert inputs.max_connections == 200 and inputs.other_clients == 10 and inputs.pgbouncer_default_pool_size == 15
    assert plan_to_data(state.plan_from_inputs(inputs)) == plan_to_data(plan)


def test_every_service_shown_in_the_sidebar_comes_back_equal():
    """Selecting each service puts its values in the sidebar; unchanged, the plan is the loaded one."""
    plan = load_plan(SERVICES)
    inputs = state.inputs_from_plan(plan)
    for entry in inputs.services:
        shown = dataclasses.replace(inputs, selected_service=entry.id, **entry.values)
        assert plan_to_data(state.plan_from_inputs(shown)) == plan_to_data(plan), entry.name
    search = services_editor.entry(inputs.services, "s4").values
    assert (search["engine_server"], search["surge_percent"], search["surge_unit"], search["autoscale_max"]) == (
        "replica", 50, "%", 3)
    assert services_editor.entry(inputs.services, "s3").values["has_workload"] is False


def test_a_change_moves_only_the_selected_service_and_its_budget():
    plan = load_plan(SERVICES)
    inputs = state.inputs_from_plan(plan)
    search = services_editor.entry(inputs.services, "s4")
    edited = dataclasses.replace(inputs, selected_service="s4", **{**search.values, "pool_size": 5, "workers": 2})
    changed = state.plan_from_inputs(edited)
    assert changed.services[:3] == plan.services[:3] and changed.services[4] == plan.services[4]
    engine = changed.service("search-api").engines[0]
    assert (engine.pool_size, engine.server, engine.replica, changed.service("search-api").deployment.workers) == (
        5, "replica", True, 2)
    replica = changed.server("replica")
    assert server_budget(changed, replica).rollout_peak == (3 + 2) * 2 * (5 + 2)  # (autoscale 3 + 50%) x 2 x 7
    assert server_budget(changed, changed.server("primary")) == server_budget(plan, plan.server("primary"))


def test_the_server_controls_change_the_loaded_servers_only_where_moved():
    plan = load_plan(SERVICES)
    inputs = dataclasses.replace(state.inputs_from_plan(plan), other_clients=20, replica_max_connections=300,
                                 pgbouncer_default_pool_size=10)
    changed = state.plan_from_inputs(inputs)
    assert changed.server("primary") == dataclasses.replace(plan.server("primary"), other_clients=20)
    assert changed.server("replica") == dataclasses.replace(plan.server("replica"), max_connections=300)
    assert changed.pgbouncer == dataclasses.replace(plan.pgbouncer, default_pool_size=10)


def test_a_single_service_plan_keeps_a_surge_given_as_a_count():
    plan = load_plan(ROOT / "examples" / "lesson.toml")
    assert (state.inputs_from_plan(plan).surge_percent, state.inputs_from_plan(plan).surge_unit) == (0, "%")
    two = dataclasses.replace(plan, deployment=dataclasses.replace(plan.deployment, surge=2))
    inputs = state.inputs_from_plan(two)
    assert (inputs.surge_percent, inputs.surge_unit, state.build_plan(inputs).deployment.surge) == (2, "instances", 2)


def test_entries_keep_values_by_id_through_select_rename_add_remove():
    entries = services_editor.entries_from_plan(load_plan(SERVICES))
    entries = services_editor.commit(entries, "s2", {**entries[1].values, "pool_size": 9, "not a key": 1})
    entries = services_editor.rename(entries, "s2", "billing")
    billing = services_editor.entry(entries, "s2")
    assert (billing.name, billing.values["pool_size"], "not a key" in billing.values) == ("billing", 9, False)
    added = services_editor.new_service(entries, "primary")
    assert (added.id, added.name, added.values["application_name"]) == ("s6", "service-6", "service-6")
    entries, next_id = services_editor.remove((*entries, added), "s2")
    assert [e.id for e in entries] == ["s1", "s3", "s4", "s5", "s6"] and next_id == "s3"
    assert services_editor.remove(entries[:1], "s1") == (entries[:1], "s1")  # never the last one
    services = services_editor.build_services(entries, "s1", entries[0].values)
    assert [s.name for s in services] == ["orders-api", "reconcile-cron", "search-api", "reports-api", "service-6"]


def test_a_bad_name_or_value_is_an_input_error():
    plan = load_plan(SERVICES)
    inputs = state.inputs_from_plan(plan)
    renamed = dataclasses.replace(inputs, services=services_editor.rename(inputs.services, "s2", "orders-api"))
    with pytest.raises(InputError, match="service names must be unique"):
        state.plan_from_inputs(renamed)
    with pytest.raises(InputError, match=r"service\.name"):
        state.plan_from_inputs(dataclasses.replace(
            inputs, services=services_editor.rename(inputs.services, "s2", "<b>x</b>")))
    with pytest.raises(InputError, match="autoscale_max"):
        state.plan_from_inputs(dataclasses.replace(inputs, autoscale_max=2))  # below orders-api's 3 instances


def test_a_replica_engine_added_to_a_service_reads_from_the_hot_standby():
    plan = load_plan(SERVICES)
    inputs = dataclasses.replace(state.inputs_from_plan(plan), replica=True, replica_pool_size=2,
                                 replica_max_overflow=1, replica_share_percent=40.0)
    engines = state.plan_from_inputs(inputs).service("orders-api").engines
    assert [(e.name, e.server, e.pool_size, e.traffic_share, e.application_name) for e in engines] == [
        ("primary", "primary", 4, 1.0, "orders-api"), ("replica", "replica", 2, 0.4, "orders-api")]


def test_observed_apps_fold_worker_suffixes_and_skip_the_monitor_and_empty_names():
    index = pd.date_range("2026-01-01", periods=3, freq="s")
    wide = pd.DataFrame({"orders-1": [1.0, 3.0, 2.0], "orders-2": [2.0, 2.0, float("nan")], "billing": [0.0, 1.0, 1.0],
                         "": [5.0, 5.0, 5.0], "(hidden)": [4.0, 4.0, 4.0], "pool-planner-monitor": [1.0, 1.0, 1.0]},
                        index=index)
    apps = services_editor.observed_apps(wide, {"cron": 2, None: 7}, own="pool-planner-monitor")
    assert apps == (services_editor.ObservedApp("orders", 5, 2, 3), services_editor.ObservedApp("cron", 2, 1, 2),
                    services_editor.ObservedApp("billing", 1, 1, 1))
    found = services_editor.entries_from_observed(apps, "primary")
    orders = found[0].template
    assert (orders.name, orders.deployment.workers, orders.engines[0].pool_size, orders.engines[0].max_overflow,
            orders.engines[0].application_name) == ("orders", 2, 3, 0, "orders")


def test_untrusted_application_names_become_valid_service_names_kept_as_application_names():
    apps = (services_editor.ObservedApp("**bold** [x](http://e)", 2, 1, 2), services_editor.ObservedApp("a b", 1, 1, 1),
            services_editor.ObservedApp("a-b", 1, 1, 1))
    found = services_editor.entries_from_observed(apps, "primary")
    assert [e.name for e in found] == ["bold-x-http-e", "a-b", "a-b-2"]
    assert found[0].template.engines[0].application_name == "**bold** [x](http://e)"


def test_share_groups_are_the_budgets_shares_per_server_and_pgbouncer():
    plan = load_plan(SERVICES)
    groups = services_editor.share_groups(plan, "search-api")
    titles = [g.title for g in groups]
    assert titles == ["primary: usable 187, rollout peak 77 (all its services, PgBouncer's 15 included)",
                      "primary through PgBouncer: limit 200 client connections, client rollout peak 60 (all its "
                      "services)",
                      "replica: usable 192, rollout peak 100 (all its services)"]
    primary = groups[0].rows.set_index("service")
    budget = server_budget(plan, plan.server("primary"))
    assert {name: primary.loc[name, "rollout peak"] for name in primary.index} == {
        share.service: share.rollout_peak for share in budget.shares}
    assert list(groups[2].rows[""]) == ["▶"]  # the selected one, marked
    few = services_editor.share_groups(plan, None, {"orders-api"})
    assert [list(g.rows["service"]) for g in few] == [["orders-api"]]


# -- the page ---------------------------------------------------------------------------------------------------

def load_into(at: AppTest, inputs: state.Inputs) -> None:
    """What loading a plan does (the fleet-view's upload): every Inputs value into the session."""
    for key, value in inputs.as_dict().items():
        at.session_state[key] = value
    at.session_state["prefilled"] = True


def page_plan(at: AppTest):
    values = {k: at.session_state[k] for k in state.Inputs().as_dict() if k in at.session_state}
    return state.plan_from_inputs(state.inputs_from(values))


@pytest.fixture
def page(pg_url, tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = pg_url
    return at


@db
def test_the_page_edits_each_service_of_a_loaded_plan(page):
    plan = load_plan(SERVICES)
    load_into(page, state.inputs_from_plan(plan))
    page.run()
    assert not page.exception and not page.error
    assert plan_to_data(page_plan(page)) == plan_to_data(plan)
    select = page.selectbox(key="svc_select")
    assert select.options == ["orders-api", "billing-worker", "reconcile-cron", "search-api", "reports-api"]
    assert any("Services · 5" in e.label for e in page.expander)

    select.set_value("s3").run()  # reconcile-cron: no workload, so no workload sliders
    assert page.toggle(key="has_workload").value is False and "rps" not in {n.key for n in page.number_input}
    assert page_plan(page).service("reconcile-cron").workload is None and not page.exception
    page.selectbox(key="svc_select").set_value("s4").run()  # search-api: its own values in the sidebar
    assert (page.number_input(key="pool_size").value, page.selectbox(key="engine_server").value) == (3, "replica")
    assert any("search\\-api, engine replica" in c.value for c in page.caption)  # the wait chart's service
    page.number_input(key="pool_size").set_value(6).run()
    assert page_plan(page).service("search-api").engines[0].pool_size == 6
    page.text_input(key="svc:s4:name").set_value("search").run()
    page.selectbox(key="svc_select").set_value("s1").run()
    assert page.number_input(key="pool_size").value == 4  # orders-api's own
    page.selectbox(key="svc_select").set_value("s4").run()
    assert page.number_input(key="pool_size").value == 6  # kept through the rename and the switch
    edited = page_plan(page)
    assert [s.name for s in edited.services][3] == "search"
    assert edited.services[:3] == plan.services[:3] and edited.services[4] == plan.services[4]
    assert not page.exception

    load_into(page, state.inputs_from_plan(plan))  # the plan loaded again: the picker and name follow
    page.run()
    assert (page.selectbox(key="svc_select").value, page.text_input(key="svc:s1:name").value) == ("s1", "orders-api")
    assert plan_to_data(page_plan(page)) == plan_to_data(plan) and not page.exception


@db
def test_the_page_adds_and_removes_services_from_the_single_service_page(page):
    page.run()
    page.session_state["prefilled"] = True
    page.run()
    assert not any(e.label.startswith("Services ·") for e in page.expander)  # one service: the page as before
    page.button(key="svc_add").click().run()
    assert page.selectbox(key="svc_select").options == ["app", "service-2"]
    assert page.selectbox(key="svc_select").value == "s2"
    plan = page_plan(page)
    assert [s.name for s in plan.services] == ["app", "service-2"]
    assert server_budget(plan, plan.servers[0]).rollout_peak == 2 * 2 * (5 + 10)  # two services' rollout peaks
    page.button(key="svc_remove").click().run()
    assert [s.name for s in page_plan(page).services] == ["app"] and not page.exception


def test_a_plan_of_the_same_services_replaces_every_one_and_keeps_the_selection():
    plan = load_plan(SERVICES)
    inputs = state.inputs_from_plan(plan)
    search = services_editor.entry(inputs.services, "s4")
    on_search = dataclasses.replace(inputs, selected_service="s4", **search.values)
    proposed = plan.with_services(tuple(dataclasses.replace(s, engines=tuple(
        dataclasses.replace(e, pool_size=e.pool_size + 1) for e in s.engines)) for s in plan.services))
    applied = state.apply_plan(on_search, proposed)
    assert services_editor.entry(applied.services, applied.selected_service).name == "search-api"
    assert applied.pool_size == plan.service("search-api").engines[0].pool_size + 1
    assert plan_to_data(state.plan_from_inputs(applied)) == plan_to_data(proposed)


def test_a_recommendation_applies_to_the_selected_service_by_engine_position():
    plan = load_plan(SERVICES)
    inputs = state.inputs_from_plan(plan)
    search = services_editor.entry(inputs.services, "s4")
    on_search = dataclasses.replace(inputs, selected_service="s4", **search.values)
    engine = dataclasses.replace(plan.service("search-api").engines[0], pool_size=2, max_overflow=1)
    proposed = plan.with_services(tuple(dataclasses.replace(s, engines=(engine,)) if s.name == "search-api" else s
                                        for s in plan.services))
    applied = state.apply_plan(on_search, proposed)
    assert (applied.pool_size, applied.max_overflow, applied.replica_pool_size) == (2, 1, on_search.replica_pool_size)
    assert state.plan_from_inputs(applied).service("search-api").engines == (engine,)
    assert state.apply_plan(on_search, proposed.service_plan("orders-api")) == on_search  # not about search-api


@db
def test_pgbouncer_settings_survive_switching_to_a_service_that_does_not_use_it(page):
    page.run()
    page.session_state["prefilled"] = True
    page.run()
    page.button(key="svc_add").click().run()  # service-2 selected
    page.toggle(key="pgbouncer").set_value(True).run()
    page.number_input(key="pgbouncer_default_pool_size").set_value(7).run()
    assert page_plan(page).pgbouncer.default_pool_size == 7
    page.selectbox(key="svc_select").set_value("s1").run()  # app: not through PgBouncer, its settings not drawn
    page.run()
    plan = page_plan(page)
    assert plan.pgbouncer is not None and plan.pgbouncer.default_pool_size == 7
    assert [e.via_pgbouncer for s in plan.services for e in s.engines] == [False, True] and not page.exception


def fifty_services():
    servers = (Server(name="primary", max_connections=2000), Server(name="replica", max_connections=2000,
                                                                   replica_of="primary"))
    services = tuple(Service(f"api{i:02d}", (Engine(server="replica" if i % 5 == 4 else "primary", pool_size=2,
                                                    max_overflow=1, application_name=f"api{i:02d}"),),
                             Deployment(instances=2, workers=2, surge=1), Workload(rps=10.0, hold_ms=5.0))
                     for i in range(50))
    return Plan(servers=servers, services=services)


@db
def test_fifty_services_are_grouped_by_server_and_filtered(page):
    plan = fifty_services()
    load_into(page, state.inputs_from_plan(plan))
    page.run()
    assert not page.exception and plan_to_data(page_plan(page)) == plan_to_data(plan)
    tables = {len(t.value): t.value for t in page.dataframe if "rollout peak" in t.value.columns}
    assert sorted(tables) == [10, 40]  # primary's 40, replica's 10
    primary = tables[40]
    assert list(primary["rollout peak"]) == [(2 + 1) * 2 * 3] * 40 and list(primary[""][:2]) == ["▶", ""]
    page.text_input(key="svc_filter").set_value("API4").run()  # any case, name or application_name
    shown = [list(t.value["service"]) for t in page.dataframe if "rollout peak" in t.value.columns]
    assert shown == [["api40", "api41", "api42", "api43", "api45", "api46", "api47", "api48"], ["api44", "api49"]]
    assert any("40 services hidden by the filter" in c.value for c in page.caption)


def _connect(url: str, application_name: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                           application_name=application_name, autocommit=True)


@db
def test_start_from_what_is_running_makes_one_service_per_application(page, pg_url):
    names = ["shop-1", "shop-1", "shop-2", "ledger", "ledger", "ledger", "", HOSTILE]
    connections = [_connect(pg_url, name) for name in names]
    try:
        page.run()
        deadline = time.monotonic() + 20
        while True:
            page.run()
            latest = "prefilled" in page.session_state and page.session_state["prefilled"]
            page.button(key="svc_from_running").click().run()
            services = {e.name: e for e in page.session_state["services"]} if "services" in page.session_state \
                else {}
            if latest and {"shop", "ledger"} <= set(services):
                break
            assert time.monotonic() < deadline, "the sample with the test's connections never came"
            time.sleep(0.5)
    finally:
        for conn in connections:
            conn.close()
    shop, ledger = services["shop"].template, services["ledger"].template
    assert (shop.deployment.workers, shop.engines[0].pool_size, shop.engines[0].application_name) == (2, 2, "shop")
    assert (ledger.deployment.workers, ledger.engines[0].pool_size, ledger.engines[0].max_overflow) == (1, 3, 0)
    assert "pool-planner-monitor" not in services and "" not in services
    plan = page_plan(page)
    assert {"shop", "ledger"} <= {s.name for s in plan.services} and not page.exception
    (hostile,) = [e for e in page.session_state["services"] if e.template.engines[0].application_name == HOSTILE]
    assert hostile.name == "x-http-127.0.0.1-1-a-b-x"  # a valid service name; the application_name kept as it is
    page.selectbox(key="svc_select").set_value(hostile.id).run()
    assert page.text_input(key="application_name").value == HOSTILE
    assert_no_markup_from(page, [HOSTILE])  # shown as text wherever the page writes Markdown
    shares = next(t.value for t in page.dataframe if "rollout peak" in t.value.columns)
    assert HOSTILE in set(shares["application_name"])  # a table cell: plain text


def test_editor_keys_are_inputs_fields():
    assert set(EDITOR_KEYS) <= set(state.Inputs().as_dict())
