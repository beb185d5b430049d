"""The fleet view-model without Streamlit: plan files into the sidebar and back (``dashboard.planfile``), the
page's link (``dashboard.urlstate``) and the servers' overview (``dashboard.fleet``)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from dashboard import fleet, planfile, urlstate
from dashboard.inputs import Inputs, build_plan
from dashboard.launch import main as launch_main
from planner.budget import plan_budgets
from planner.config import load_plan
from planner.model import Engine, InputError, Server
from planner.plan_io import plan_to_data
from planner.snapshot import ActivityGroup, Snapshot
from planner.text import visible

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_unchanged_sidebar_gives_the_loaded_plan_back(path):
    plan = load_plan(path)
    assert plan_to_data(planfile.current_plan(planfile.inputs_for_plan(plan), plan)) == plan_to_data(plan)


def test_a_sidebar_change_replaces_only_that_field_and_keeps_the_rest():
    plan = load_plan(EXAMPLES[[p.name for p in EXAMPLES].index("plan.toml")])
    inputs = planfile.inputs_for_plan(plan)
    changed = planfile.current_plan(dataclasses.replace(inputs, pool_size=8, workers=2), plan)
    assert changed.engines[0].pool_size == 8 and changed.deployment.workers == 2
    assert changed.engines[0].url == plan.engines[0].url and changed.engines[1] == plan.engines[1]
    assert changed.lb_idle_timeout_s == 350.0 and changed.servers == plan.servers
    no_replica = planfile.current_plan(dataclasses.replace(inputs, replica=False), plan)
    assert [s.name for s in no_replica.servers] == ["primary"] and len(no_replica.engines) == 1


def test_a_third_server_and_other_names_survive_the_sidebar():
    base = build_plan(Inputs(replica=True, replica_max_connections=50))
    plan = dataclasses.replace(
        base,
        servers=(dataclasses.replace(base.servers[0], name="db-main"), dataclasses.replace(base.servers[1],
                 name="db-ro", replica_of="db-main"), Server(name="analytics", max_connections=30)),
        engines=(dataclasses.replace(base.engines[0], server="db-main"), dataclasses.replace(base.engines[1],
                 server="db-ro"), Engine(name="reports", server="analytics", pool_size=2, max_overflow=0)))
    inputs = planfile.inputs_for_plan(plan)
    assert inputs.replica_max_connections == 50 and not inputs.replica_same_server
    same = planfile.current_plan(inputs, plan)
    assert same == plan
    moved = planfile.current_plan(dataclasses.replace(inputs, replica_same_server=True, max_connections=300), plan)
    assert [s.name for s in moved.servers] == ["db-main", "analytics"]
    assert moved.servers[0].max_connections == 300
    assert [(e.name, e.server) for e in moved.engines] == [("primary", "db-main"), ("replica", "db-main"),
                                                            ("reports", "analytics")]
    assert "servers[analytics] (all of it)" in planfile.kept_from_file(plan)


def test_kept_fields_name_what_the_sidebar_cannot_show():
    kept = planfile.kept_from_file(load_plan(EXAMPLES[[p.name for p in EXAMPLES].index("plan.toml")]))
    assert {"lb_idle_timeout_s", "engines[primary].url", "servers[replica].other_clients"} <= set(kept)
    assert not any(k.startswith("deployment") for k in kept)


@pytest.mark.parametrize(("name", "data", "words"), [
    ("p.toml", b"[[servers]]\nname = 'a'\nmax_connections = 'x'\n", "servers[0].max_connections: must be int"),
    ("p.toml", b"not = [toml", "not valid TOML"),
    ("p.toml", b"\xff\xfe", "not UTF-8"),
    ("p.json", b"{\"servers\": 3}", "must be an array"),
    ("p.toml", b"x" * 1_000_001, "at most 1,000,000"),
])
def test_a_bad_upload_is_one_input_error_line(name, data, words):
    with pytest.raises(InputError) as caught:
        planfile.plan_from_upload(name, data)
    assert words in str(caught.value) and str(caught.value).startswith(f"upload {name}") and "\n" not in str(
        caught.value)


def test_the_link_round_trips_inputs_plan_and_view():
    plan = load_plan(EXAMPLES[0])
    start = planfile.inputs_for_plan(plan)
    now = dataclasses.replace(start, workers=7, pool_recycle=123.5, pool_pre_ping=not start.pool_pre_ping,
                              hold_dist="const")
    params = urlstate.link_params(now, start, plan=plan, view={"picked_server": "replica", "time_range": "1 h",
                                                               "split_by": "state"})
    assert "by" not in params and params["server"] == "replica" and "max_connections" not in params
    link = urlstate.read_link(params)
    assert link.ignored == () and link.view == {"picked_server": "replica", "time_range": "1 h"}
    assert dataclasses.replace(start, **link.inputs) == now
    assert plan_to_data(link.plan) == plan_to_data(plan, mask=True)


def test_a_bad_link_value_is_ignored_and_named():
    link = urlstate.read_link({"workers": "many", "range": "2 years", "nope": "1", "plan": "%%%",
                               "pool_pre_ping": "yes", "rps": "nan", "pool_size": ["1", "9"]})
    assert link.inputs == {"pool_size": 9} and link.plan is None and link.view == {}
    assert len(link.ignored) == 6
    assert any(line.startswith("link plan") for line in link.ignored)


def _snapshot(server: str, counts: dict[str, int], ok: bool = True) -> Snapshot:
    groups = tuple(ActivityGroup(application_name="app", state=state, count=n, datname="app", usename="app",
                                   client_addr=None, wait_event_type=None, ssl_count=0) for state, n in counts.items())
    return Snapshot(server=server, taken_at=datetime.now(UTC), status="ok" if ok else "unreachable",
                    groups=groups if ok else ())


def test_fleet_rows_join_the_plan_and_the_live_servers():
    plan = build_plan(Inputs(replica=True))
    wide = pd.DataFrame({"active": [1.0, 2.0, float("nan"), 4.0], "idle": [1.0, 1.0, float("nan"), 1.0]},
                        index=pd.date_range("2026-01-01", periods=4, freq="s"))
    gaps = pd.Series([False, False, True, False], index=wide.index)
    latest = {"primary": _snapshot("primary", {"active": 4, "idle": 1}), "extra\x1b[31m": _snapshot("x", {}, False)}
    rows = fleet.fleet_rows(plan_budgets(plan), latest, ["primary", "extra\x1b[31m"], lambda s: (wide, gaps))
    assert [r.server for r in rows] == ["primary", "replica", "extra\x1b[31m"]
    primary, replica, extra = rows
    assert primary.live_total == 5 and primary.trend == (2.0, 3.0, 5.0) and primary.verdict == "safe"
    assert replica.trend == () and replica.live_total is None and replica.usable == 97
    assert extra.verdict is None and extra.live_status == "unreachable" and extra.live_total is None
    frame = fleet.overview_frame(rows)
    assert list(frame["server"]) == ["primary", "replica", visible("extra\x1b[31m")]
    assert frame["live total"][0] == 5 and frame["live total"][1:].isna().all()
    assert list(frame["sample"]) == ["ok", "not sampled", "unreachable"]
    assert frame["live / usable"][0] == round(100 * 5 / primary.usable, 1)
    assert [r.server for r in fleet.matching(rows, "REPL")] == ["replica"]


def test_a_long_history_becomes_a_short_sparkline_that_keeps_its_peak():
    index = pd.date_range("2026-01-01", periods=900, freq="s")
    values = [3.0] * 900
    values[451] = 40.0
    points = fleet.trend(pd.DataFrame({"active": values}, index=index), pd.Series(False, index=index))
    assert len(points) == fleet.TREND_POINTS and max(points) == 40.0 and min(points) == 3.0


def test_the_picker_defaults_and_what_it_shows():
    assert fleet.default_pick(["a", "b"]) == fleet.ALL_SERVERS and fleet.default_pick(["a", "b", "c"]) == "a"
    assert fleet.shown_servers(fleet.ALL_SERVERS, ["a", "b"]) == ["a", "b"]
    assert fleet.shown_servers("b", ["a", "b"]) == ["b"] and fleet.shown_servers("planned", ["a"]) == []
    assert fleet.since(datetime(2026, 1, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 1, 1, tzinfo=UTC) - timedelta(
        minutes=15)


def test_dashboard_plan_flag_refuses_a_bad_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[deployment]\nworkers = 'four'\n")
    assert launch_main(["--plan", str(bad), "--port", "8999"]) == 2
    err = capsys.readouterr().err.strip()
    assert "deployment.workers" in err and len(err.splitlines()) == 1
