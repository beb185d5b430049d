"""The dashboard page through Streamlit's AppTest, against a real PostgreSQL given in ``secrets``.

Every control is moved; the verdict and the numbers follow the planner; a bad combination is an inline
error; the downloads carry exactly ``planner.export``'s text; the live panel shows real counts.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import psycopg
import pytest
from mdtext import plain
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from dashboard import demo_pgbouncer, state
from dashboard.pitfalls import md_escape
from planner.export import FORMATS, export
from planner.model import InputError

db = pytest.mark.db
APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
LESSON = "Lesson's production example"


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def session_inputs(at: AppTest) -> state.Inputs:
    return state.inputs_from({k: at.session_state[k] for k in state.Inputs().as_dict() if k in at.session_state})


def verdict(at: AppTest) -> str:
    boxes = [*at.success, *at.warning, *at.error]
    return next(b.value for b in boxes if b.value.startswith("**") and "headroom" in b.value)


@pytest.fixture
def app(pg_url, tmp_path, monkeypatch) -> AppTest:
    """The page against the test server, with the PostgreSQL defaults preset applied after the live prefill."""
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = pg_url
    at.run()
    deadline = time.monotonic() + 15
    while not at.session_state["prefilled"] if "prefilled" in at.session_state else True:
        assert time.monotonic() < deadline, "no live sample within 15 s"
        time.sleep(0.3)
        at.run()
    at.selectbox(key="preset").set_value("PostgreSQL defaults").run()
    assert not at.exception
    return at


@db
def test_defaults_then_workers_slider_changes_verdict_and_numbers(app):
    assert metrics(app) == {
        "Usable slots": "97", "Steady": "5", "Peak": "15", "Rollout peak": "30", "Headroom": "67",
        "Lesson's rule": "5",
    }
    assert verdict(app) == "**SAFE** · headroom 67 at rollout peak"
    assert any("headroom = usable 97 - rollout peak 30 = 67 (30 <= 97)" in c.value for c in app.caption)

    app.slider(key="workers__s").set_value(3).run()
    assert app.number_input(key="workers").value == 3
    assert metrics(app)["Rollout peak"] == "90" and metrics(app)["Headroom"] == "7"
    assert verdict(app) == "**TIGHT** · headroom 7 at rollout peak"

    app.number_input(key="workers").set_value(4).run()
    assert app.slider(key="workers__s").value == 4
    assert metrics(app)["Peak"] == "60" and metrics(app)["Headroom"] == "-23"
    assert verdict(app) == "**UNSAFE** · headroom -23 at rollout peak"


@db
def test_lesson_preset_shows_the_overflow_pitfall(app):
    app.selectbox(key="preset").set_value(LESSON).run()
    assert metrics(app)["Peak"] == "120" and metrics(app)["Lesson's rule"] == "80"
    assert verdict(app).startswith("**UNSAFE**")
    titles = [e.label for e in app.expander]
    assert any("overflow-exceeds-budget" in t and "critical" in t for t in titles)


SLIDER_MOVES = {
    "max_connections": 200, "superuser_reserved_connections": 5, "reserved_connections": 2, "other_clients": 10,
    "instances": 3, "workers": 2, "surge_percent": 50, "autoscale_max": 6, "pool_size": 7, "max_overflow": 3,
    "pool_timeout": 10.0, "pool_recycle": 1800.0, "rps": 500.0, "hold_ms": 40.0, "request_timeout_s": 15.0,
    "target_p99_wait_ms": 25.0,
}


@db
def test_every_slider_and_number_input_feeds_the_plan(app):
    assert {s.key for s in app.slider} == {f"{k}__s" for k in SLIDER_MOVES}
    for key, value in SLIDER_MOVES.items():
        app.slider(key=f"{key}__s").set_value(value).run()
        assert not app.exception, key
        assert app.number_input(key=key).value == value, key
    inputs = session_inputs(app)
    plan = state.build_plan(inputs)
    budget = state.evaluate(plan).tightest
    assert metrics(app)["Usable slots"] == state.fmt(budget.usable) == "183"  # 200 - 5 - 2 - 10
    assert metrics(app)["Steady"] == state.fmt(budget.steady) == "42"  # 3 instances x 2 workers x 7
    assert metrics(app)["Rollout peak"] == state.fmt(budget.rollout_peak) == "180"  # (6 + 50% of 6) x 2 x (7 + 3)
    for toggle, expected in (("pool_pre_ping", True), ("replica", True)):
        app.toggle(key=toggle).set_value(expected).run()
        assert app.session_state[toggle] is expected and not app.exception
    app.button_group(key="hold_dist").set_value("const").run()
    workload = state.build_plan(session_inputs(app)).workload
    assert (workload.hold_dist, workload.target_p99_wait_ms) == ("const", 25.0) and not app.exception
    app.selectbox(key="major_version").set_value(15).run()
    assert app.session_state["major_version"] == 15
    # reserved_connections exists only on 16+: an inline error, not a traceback
    assert any("reserved_connections" in plain(e.value) for e in app.error) and not app.exception


@db
def test_replica_on_the_same_server_is_found(app):
    app.toggle(key="replica").set_value(True).run()
    for key in ("replica_max_connections__s", "replica_pool_size__s", "replica_max_overflow__s"):
        assert app.slider(key=key) is not None
    app.slider(key="replica_pool_size__s").set_value(8).run()
    # two servers: the headline shows the tighter one, the replica (2 x (8 + 10) = 36 of 97; primary 30 of 97)
    assert (metrics(app)["Steady"], metrics(app)["Rollout peak"], metrics(app)["Headroom"]) == ("8", "36", "61")
    app.toggle(key="replica_same_server").set_value(True).run()
    # both engines on the primary: 2 processes x (5 + 10 + 8 + 10) = 66
    assert (metrics(app)["Steady"], metrics(app)["Rollout peak"], metrics(app)["Headroom"]) == ("13", "66", "31")
    assert any("replica-same-server" in e.label for e in app.expander)
    app.slider(key="replica_share_percent__s").set_value(25.0).run()
    plan = state.build_plan(session_inputs(app))
    assert [e.traffic_share for e in plan.engines] == [1.0, 0.25] and not app.exception


@db
def test_bad_combination_is_an_inline_error(app):
    app.number_input(key="superuser_reserved_connections").set_value(100).run()
    assert not app.exception
    (error,) = [plain(e.value) for e in app.error]
    assert error.startswith("Cannot build this plan: superuser_reserved_connections:")
    assert "must be less than max_connections (100)" in error
    assert not app.metric and not app.get("download_button")
    app.number_input(key="superuser_reserved_connections").set_value(3).run()
    assert not app.error and metrics(app)["Usable slots"] == "97"


@db
def test_downloads_are_the_planners_export(app, pg_url):
    plan = state.build_plan(session_inputs(app))  # the monitor's URL never reaches the exports
    files = state.export_files(plan)
    env = next(f.text for f in files if f.format == "env")
    assert pg_url.split("@")[-1] not in env and "DATABASE_URL=postgresql+asyncpg://USER:***@HOST:5432/DB" in env
    assert [f.format for f in files] == [f for f in FORMATS if f != "pgbouncer"]  # no PgBouncer in this plan
    for f in files:
        assert f.text == export(plan, f.format)
    with pytest.raises(InputError):
        export(plan, "pgbouncer")
    buttons = app.main.get("download_button")  # the sidebar's is the plan file's (tests/test_app_plan_file.py)
    assert [b.label for b in buttons] == [f"Download {f.file_name}" for f in files]
    by_mime = ["py", "txt", "sh", "sh", "txt", "json", "txt", "json"]
    assert [b.proto.url.rsplit(".", 1)[-1] for b in buttons] == by_mime
    code = [c.value for c in app.code]
    for f in files:
        assert f.text.rstrip("\n") in [c.rstrip("\n") for c in code], f.format


@db
def test_no_password_on_the_page(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    url = make_url(pg_url).set(password="s3cret-pw")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = url.render_as_string(hide_password=False)
    at.run()
    time.sleep(1.5)
    at.run()
    text = " ".join(str(e.proto) for e in at.main) + " ".join(str(e.proto) for e in at.sidebar)
    assert "s3cret-pw" not in text
    assert "***" in " ".join(c.value for c in at.sidebar.caption)


@db
def test_live_panel_shows_the_real_counts(app, pg_url):
    url = make_url(pg_url)
    conns = [psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                             application_name="apptest-held") for _ in range(3)]
    try:
        deadline = time.monotonic() + 15
        while True:
            app.run()
            # the live table: counts per application (the incident and "Observed" sections' tables have no count)
            live = [d.value for d in app.dataframe if {"count", "application_name"} <= set(d.value.columns)]
            table = live[0] if live else None
            held = None if table is None else table[table["application_name"] == "apptest-held"]
            if held is not None and len(held) and held["count"].sum() == 3:
                break
            assert time.monotonic() < deadline, f"live table never showed 3 apptest-held connections: {table}"
            time.sleep(0.5)
        assert held.iloc[0]["state"] == "idle"
        headline = next(m.value for m in app.markdown if m.value.startswith("**primary**"))
        assert "client connections at" in headline
        assert len(app.get("plotly_chart")) == 3  # budget, live, wait
    finally:
        for conn in conns:
            conn.close()
    app.button_group(key="time_range").set_value("whole history").run()
    app.button_group(key="split_by").set_value("application_name").run()
    assert not app.exception


@db
def test_demo_mode_without_a_url(tmp_path, monkeypatch):
    """Nothing configured: the embedded demo starts, says so, and its scenario control reaches the workers."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REPLICA_DATABASE_URL", raising=False)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception
    assert any("Demo mode" in c.value for c in at.caption)
    assert metrics(at)["Usable slots"] == "37"  # the demo server: max_connections 40 - 3 reserved
    radio = at.sidebar.radio(key="scenario")
    with_bouncer = ["PgBouncer queue"] if demo_pgbouncer.unavailable_reason() is None else []  # Debian's binary
    assert radio.options == ["normal", "leaking session", "cold start", "connection storm", *with_bouncer]
    switched_at = time.time()
    radio.set_value("leaking session").run()
    # the workers poll this control file every 0.5 s (tests/test_demo.py proves they act on it)
    # other demos (another dashboard, a parallel run) may exist: ours is the one written by this switch
    written = [p for p in Path("/tmp").glob("pooldemo*/scenario.json") if p.stat().st_mtime >= switched_at - 0.05]
    assert any('"leaking session"' in p.read_text() for p in written)
    at.sidebar.radio(key="scenario").set_value("normal").run()


@db
def test_live_limits_button_restores_the_servers_settings(app, pg_url):
    url = make_url(pg_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as conn:
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
    app.number_input(key="max_connections").set_value(5000).run()
    assert app.slider(key="max_connections__s").value == 1000  # the slider's end; the number keeps 5000
    app.button(key="use_live_limits").click().run()
    assert app.number_input(key="max_connections").value == max_connections
    assert app.number_input(key="superuser_reserved_connections").value == reserved
    assert metrics(app)["Usable slots"] == str(max_connections - reserved)


@db
def test_recommendation_applies_and_makes_the_plan_fit(app):
    app.selectbox(key="preset").set_value(LESSON).run()
    assert verdict(app).startswith("**UNSAFE**")
    (rec,) = [e for e in app.expander if e.label.startswith("Recommended:")]
    assert "pool_size=" in rec.label
    app.button(key="apply_recommendation").click().run()
    assert not app.exception
    assert verdict(app).startswith(("**SAFE**", "**TIGHT**"))
    plan = state.build_plan(session_inputs(app))
    assert state.evaluate(plan).verdict in ("safe", "tight")
    assert app.number_input(key="workers").value == 4  # the deployment is kept; the pools shrink


def test_monitor_targets_secrets_win_over_the_environment():
    env = {"DATABASE_URL": "postgresql+asyncpg://env@h/db", "REPLICA_DATABASE_URL": "postgresql+asyncpg://r@h/db"}
    assert state.monitor_targets({"DATABASE_URL": "postgresql+asyncpg://sec@h/db"}, env) == {
        "primary": "postgresql+asyncpg://sec@h/db", "replica": "postgresql+asyncpg://r@h/db",
    }
    assert state.monitor_targets(None, {}) == {}
    assert state.monitor_targets({"DATABASE_URL": "  "}, {}) == {}


def test_urls_are_masked_for_the_page_and_the_history_file(monkeypatch, tmp_path):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    targets = {"primary": "postgresql+asyncpg://app:s3cret@db.internal:5432/app?ssl=require"}
    assert state.masked_targets(targets) == {"primary": "postgresql+asyncpg://app:***@db.internal:5432/app?ssl=require"}
    socket = {"primary": "postgresql+asyncpg://app:p%40ss@/postgres?host=/tmp/pgserver/run"}  # the demo's form
    assert state.masked_targets(socket) == {"primary": "postgresql+asyncpg://app:***@/postgres?host=/tmp/pgserver/run"}
    path = state.history_path(targets)
    assert path.parent == tmp_path and "s3cret" not in str(path)
    assert path == state.history_path({"primary": "postgresql+asyncpg://app:other@db.internal:5432/app?ssl=require"})


def test_the_wait_curve_of_a_replica_is_drawn_for_its_share_of_requests():
    inputs = state.Inputs(replica=True, replica_share_percent=25.0, rps=800.0, hold_ms=20.0, workers=2)
    plan = state.build_plan(inputs)
    full = state.build_plan(state.Inputs(replica=True, rps=800.0, hold_ms=20.0, workers=2))
    per_worker = plan.workload.per_worker_rps(plan.deployment)
    assert f"per worker {per_worker * 0.25:.3g} req/s" in state.wait_caption(
        plan, state.wait_curve(plan, state.REPLICA), state.REPLICA)
    quarter = state.wait_curve(plan, state.REPLICA).set_index("pool_size")["utilisation"]
    whole = state.wait_curve(full, state.REPLICA).set_index("pool_size")["utilisation"]
    common = quarter.index.intersection(whole.index)
    assert (quarter[common] * 4 - whole[common]).abs().max() < 1e-9


def test_a_slider_that_leaves_the_load_alone_reuses_every_wait_point():
    state._wait_point.cache_clear()
    inputs = state.Inputs(rps=400.0, hold_ms=20.0, workers=4)
    first = state.wait_curve(state.build_plan(inputs))
    computed = state._wait_point.cache_info().misses
    again = state.wait_curve(state.build_plan(state.Inputs(rps=400.0, hold_ms=20.0, workers=4, max_connections=150)))
    assert state._wait_point.cache_info().misses == computed and again.equals(first)
    state.wait_curve(state.build_plan(state.Inputs(rps=800.0, hold_ms=20.0, workers=4)))  # the load changed
    assert state._wait_point.cache_info().misses > computed


@db
def test_pgbouncer_section_routes_the_primary_and_judges_pgbouncer(app, pg_url):
    app.slider(key="workers__s").set_value(4).run()
    app.toggle(key="pgbouncer").set_value(True).run()
    assert not app.exception
    plan = state.build_plan(session_inputs(app))  # as the page builds it: without the monitor's URL
    assert plan.engines[0].via_pgbouncer and plan.pgbouncer.version == "1.24"
    # the server sees PgBouncer's 20; the clients: (1 + 1 surge) x 4 workers x (5 + 10) = 120 > max_client_conn 100
    assert metrics(app)["Rollout peak"] == "20"
    assert verdict(app) == ("**UNSAFE** · PgBouncer headroom -20 at rollout peak (120 clients, limit 100: "
                            "max_client_conn)")
    assert any("PgBouncer: client rollout peak = (1 instances + 1 surge) x 4 workers x (5 + 10) = 120" in c.value
               for c in app.caption)
    assert [b.label for b in app.get("download_button")][4] == "Download pgbouncer.ini"
    assert export(plan, "pgbouncer").rstrip("\n") in [c.value.rstrip("\n") for c in app.code]

    app.slider(key="pgbouncer_max_client_conn__s").set_value(200).run()
    assert verdict(app).startswith("**SAFE** · headroom")
    app.button_group(key="pgbouncer_pool_mode").set_value("session").run()
    # session mode: each of the 120 clients pins one of PgBouncer's 20 server connections
    assert verdict(app) == ("**UNSAFE** · PgBouncer headroom -100 at rollout peak (120 clients, limit 20: "
                            "server connections, session mode)")
    assert any("pool-overload" in e.label and "critical" in e.label for e in app.expander)

    app.button_group(key="pgbouncer_pool_mode").set_value("transaction").run()
    app.selectbox(key="pgbouncer_version").set_value("1.18").run()
    assert any("prepared-statement-cache" in e.label for e in app.expander)
    app.number_input(key="pgbouncer_max_prepared_statements").set_value(-5).run()
    assert any("max_prepared_statements" in plain(e.value) for e in app.error) and not app.exception


def test_a_plan_with_pgbouncer_comes_back_as_the_same_inputs():
    inputs = state.Inputs(pgbouncer=True, pgbouncer_version="1.21", pgbouncer_pool_mode="session",
                          pgbouncer_default_pool_size=30, pgbouncer_max_client_conn=400,
                          pgbouncer_max_prepared_statements=100)
    plan = state.build_plan(inputs)
    assert state.inputs_from_plan(plan) == dataclasses.replace(inputs, surge_percent=25)
    old = dataclasses.replace(plan, pgbouncer=dataclasses.replace(plan.pgbouncer, version="1.12.0"))
    newer = dataclasses.replace(plan, pgbouncer=dataclasses.replace(plan.pgbouncer, version="1.30.1"))
    assert (state.inputs_from_plan(old).pgbouncer_version, state.inputs_from_plan(newer).pgbouncer_version) == (
        "1.18", "1.25")


@db
def test_an_alternative_applies_when_nothing_fits(app):
    for key, value in {"instances": 10, "workers": 4, "rps": 2000.0, "hold_ms": 20.0}.items():
        app.number_input(key=key).set_value(value).run()
    (rec,) = [e for e in app.expander if e.label.startswith("Recommended:")]
    assert rec.label.startswith("Recommended: Nothing fits as deployed")
    labels = {b.key: b.label for b in app.button if b.key and b.key.startswith("apply_")}
    assert set(labels) == {"apply_pgbouncer", "apply_max-connections"}
    app.button(key="apply_pgbouncer").click().run()
    assert not app.exception
    inputs = session_inputs(app)
    assert inputs.pgbouncer and inputs.pgbouncer_pool_mode == "transaction" and inputs.instances == 10
    assert verdict(app).startswith(("**SAFE**", "**TIGHT**"))
    assert state.evaluate(state.build_plan(inputs)).verdict in ("safe", "tight")


def test_applying_the_max_connections_alternative_sets_the_servers_limit():
    inputs = state.Inputs(instances=10, workers=4, rps=2000.0, hold_ms=20.0)
    rec = state.recommendation(state.build_plan(inputs))
    (alternative,) = [a for a in rec.alternatives if a.change == "max-connections"]
    applied = state.apply_alternative(inputs, alternative)
    assert applied.max_connections == alternative.plan.servers[0].max_connections > inputs.max_connections
    assert not applied.pgbouncer
    view = state.evaluate(state.build_plan(applied))
    assert view.verdict in ("safe", "tight") and state.recommendation(view.plan).fits


@db
def test_a_plan_that_is_not_the_server_is_a_pitfall_until_the_live_limits_are_used(app):
    """Issue #13: after a preset the chart showed the plan's max_connections over a server with fewer."""
    app.button(key="use_live_limits").click().run()
    assert not any("plan-differs-from-server" in e.label for e in app.expander)
    live = app.session_state["max_connections"]
    app.number_input(key="max_connections").set_value(live + 100).run()
    [entry] = [e for e in app.expander if "plan-differs-from-server" in e.label]
    assert "warning" in entry.label
    said = md_escape(f"max_connections {live + 100} in the plan, {live} on the server")  # shown escaped
    assert any(said in m.value for m in entry.markdown)
    app.button(key="use_live_limits").click().run()
    assert not any("plan-differs-from-server" in e.label for e in app.expander) and not app.exception
