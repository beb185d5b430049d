"""Plan files and links on the page, through Streamlit's AppTest against a real PostgreSQL: a plan file goes
TOML -> page -> TOML unchanged, an upload replaces the plan (a bad one is one line, never a traceback), and the
link (query string) reproduces the inputs and the picked server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import plan_panel
from planner.config import load_plan
from planner.plan_io import plan_from_toml, plan_to_data

db = pytest.mark.db
ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def page(pg_url, tmp_path, monkeypatch, plan: Path | None = None, params: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    if plan is not None:
        monkeypatch.setenv("POOL_PLANNER_PLAN", str(plan))
    else:
        monkeypatch.delenv("POOL_PLANNER_PLAN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = pg_url
    at.query_params.update(params or {})
    at.run()
    assert not at.exception, at.exception
    return at


def page_plan(at: AppTest) -> dict:
    return plan_to_data(plan_from_toml(at.session_state[plan_panel.CURRENT_TOML]))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@db
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_a_plan_file_comes_back_from_the_page_unchanged(example, pg_url, tmp_path, monkeypatch):
    at = page(pg_url, tmp_path, monkeypatch, plan=example)
    expected = plan_to_data(load_plan(example), mask=True)
    assert page_plan(at) == expected
    assert at.get("download_button")
    assert at.number_input(key="pool_size").value == load_plan(example).engines[0].pool_size
    at.run()  # a second run (the widgets now hold the values) changes nothing either
    assert page_plan(at) == expected
    workers = load_plan(example).deployment.workers + 1
    at.number_input(key="workers").set_value(workers).run()  # a sidebar change replaces that field alone
    changed = page_plan(at)
    if "services" in expected:  # the sidebar's sliders are the first service's
        changed, expected = changed["services"][0], expected["services"][0]
    assert changed["deployment"]["workers"] == workers
    assert {k: v for k, v in changed.items() if k != "deployment"} == {k: v for k, v in expected.items()
                                                                         if k != "deployment"}
    assert at.query_params.get("workers") == str(workers)


@db
def test_an_upload_replaces_the_plan_and_a_bad_one_is_one_line(pg_url, tmp_path, monkeypatch):
    at = page(pg_url, tmp_path, monkeypatch)
    lesson = ROOT / "examples" / "lesson.toml"
    at.file_uploader(key=plan_panel.UPLOAD).set_value(("lesson.toml", lesson.read_bytes(), "application/toml")).run()
    assert not at.exception
    assert page_plan(at) == plan_to_data(load_plan(lesson))
    assert metrics(at)["Usable slots"] == "97" and metrics(at)["Peak"] == "120"
    assert "plan" in at.query_params  # an uploaded plan travels in the link

    bad = b"[[servers]]\nname = \"primary\"\nmax_connections = \"many\"\n"
    at.file_uploader(key=plan_panel.UPLOAD).set_value(("broken.toml", bad, "application/toml")).run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert "broken" in errors[0] and "max" in errors[0] and "must be int" in errors[0]
    assert page_plan(at) == plan_to_data(load_plan(lesson))  # the page keeps the plan it had

    opened = page(pg_url, tmp_path, monkeypatch, params=dict(at.query_params))  # the link carries the upload
    assert page_plan(opened) == plan_to_data(load_plan(lesson)) and metrics(opened) == metrics(at)


@db
def test_a_link_reproduces_the_inputs_and_the_picked_server(pg_url, tmp_path, monkeypatch):
    example = ROOT / "examples" / "plan.toml"
    first = page(pg_url, tmp_path, monkeypatch, plan=example)
    first.number_input(key="workers").set_value(3).run()
    first.number_input(key="replica_pool_size").set_value(2).run()
    first.selectbox(key="picked_server").set_value("replica").run()
    first.segmented_control(key="time_range").set_value("1 h").run()
    link = dict(first.query_params)
    assert link == {"workers": "3", "replica_pool_size": "2", "server": "replica", "range": "1 h"}

    opened = page(pg_url, tmp_path, monkeypatch, plan=example, params=link)
    assert opened.number_input(key="workers").value == 3 and opened.number_input(key="replica_pool_size").value == 2
    assert opened.selectbox(key="picked_server").value == "replica"
    assert opened.segmented_control(key="time_range").value == "1 h"
    assert page_plan(opened) == page_plan(first) and metrics(opened) == metrics(first)
    assert dict(opened.query_params) == link


@db
def test_a_bad_link_value_is_named_and_the_rest_applies(pg_url, tmp_path, monkeypatch):
    at = page(pg_url, tmp_path, monkeypatch, params={"workers": "lots", "pool_size": "7", "plan": "AAAA"})
    assert at.number_input(key="pool_size").value == 7
    notes = [e.value for e in at.sidebar.error]
    assert any("workers" in n and "lots" in n for n in notes) and any("link plan" in n for n in notes), notes
    assert not at.exception


@db
def test_the_overview_lists_plan_and_live_servers(pg_url, tmp_path, monkeypatch):
    at = page(pg_url, tmp_path, monkeypatch, plan=ROOT / "examples" / "plan.toml")
    table = next(d.value for d in at.dataframe if "trend" in d.value.columns)
    assert list(table["server"]) == ["primary", "replica"]
    assert list(table["verdict"]) == ["TIGHT", "UNSAFE"] and list(table["usable"]) == [185, 92]
    assert list(table["sample"]) == ["ok", "not sampled"] and table["live total"][0] >= 0  # a count, not empty
    assert pd.isna(table["live total"][1])
    at.text_input(key="server_filter").set_value("repl").run()
    table = next(d.value for d in at.dataframe if "trend" in d.value.columns)
    assert list(table["server"]) == ["replica"]
    at.selectbox(key="picked_server").set_value("replica").run()
    assert any("replica" in c.value and "not sampled" in c.value for c in at.caption)
