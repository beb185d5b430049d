"""Chart builders: the figures carry exactly the planner's numbers and the sampled counts, gaps included."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from dashboard.charts import budget_figure, budget_segments, gap_mask, wait_figure, wide_counts, wide_figure
from planner.budget import pgbouncer_budget, plan_budgets
from planner.model import Deployment, Engine, PgBouncer, Plan, Server

LESSON = Plan(
    servers=(Server(max_connections=100, other_clients=5),),
    engines=(Engine(pool_size=20, max_overflow=10, pool_recycle=1800, pool_pre_ping=True),),
    deployment=Deployment(instances=1, workers=4, surge=1),
)

# Recent, not a fixed date: HistoryStore prunes by the clock (on open and every 10 min), so samples at a fixed
# date vanish once it is older than the retention (this file failed an hour after it was written).
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)


def live_figure(frame: pd.DataFrame, by: str, lines) -> object:
    """The live chart of raw history rows, as the page draws it: pivoted, with the failed samples as gaps."""
    return wide_figure(wide_counts(frame, by), by, lines, gaps=gap_mask(frame))


def history(rows):
    return pd.DataFrame(rows, columns=["taken_at", "server", "status", "application_name", "state", "count"])


def test_budget_segments_of_the_lessons_example():
    (budget,) = plan_budgets(LESSON)
    assert budget_segments(LESSON, budget) == {
        "reserved": 3, "other clients": 5, "steady": 80, "overflow": 40, "autoscale growth": 0, "rollout surge": 120,
        "free": 0,
    }


def test_autoscaling_growth_is_its_own_segment_not_the_rollout_surge():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=5),),
                deployment=Deployment(instances=2, workers=2, surge=1, autoscale_max=4))
    (budget,) = plan_budgets(plan)
    # peak 2 x 2 x 10 = 40; at the autoscaling maximum 4 x 2 x 10 = 80; rollout (4 + 1) x 2 x 10 = 100
    assert budget_segments(plan, budget) == {
        "reserved": 3, "other clients": 0, "steady": 20, "overflow": 20, "autoscale growth": 40, "rollout surge": 20,
        "free": 0,
    }
    routed = Plan(engines=(Engine(pool_size=5, max_overflow=5, via_pgbouncer=True),),
                  deployment=plan.deployment, pgbouncer=PgBouncer(max_client_conn=1000))
    fig = budget_figure(routed, plan_budgets(routed), pgbouncer_budget(routed))
    clients = {t.name: t.x[1] for t in fig.data}
    assert (clients["overflow"], clients["autoscale growth"], clients["rollout surge"]) == (20, 40, 20)


def test_budget_figure_stacks_every_segment():
    plan = Plan(servers=(Server(max_connections=200),), engines=(Engine(pool_size=5, max_overflow=5),),
                deployment=Deployment(workers=4, surge=0))
    fig = budget_figure(plan, plan_budgets(plan))
    assert [t.name for t in fig.data] == ["reserved", "other clients", "steady", "overflow", "autoscale growth",
                                          "rollout surge", "free"]
    assert [t.x[0] for t in fig.data] == [3, 0, 20, 20, 0, 0, 157]
    assert sum(t.x[0] for t in fig.data) == 200
    assert fig.layout.shapes[0].x0 == 200


def test_pgbouncer_clients_get_their_own_bar_against_their_limit():
    plan = Plan(engines=(Engine(pool_size=5, max_overflow=5, via_pgbouncer=True),),
                deployment=Deployment(instances=2, workers=4, surge=1),
                pgbouncer=PgBouncer(default_pool_size=20, max_client_conn=100))
    fig = budget_figure(plan, plan_budgets(plan), pgbouncer_budget(plan))
    assert list(fig.data[0].y) == ["primary", "PgBouncer clients"]
    # clients: steady 2 x 4 x 5 = 40, peak 80, rollout (2 + 1) x 4 x 10 = 120 > max_client_conn 100
    assert [t.x[1] for t in fig.data] == [0, 0, 40, 40, 0, 40, 0]
    assert [t.x[0] for t in fig.data] == [3, 0, 20, 0, 0, 0, 77]  # the server holds PgBouncer's 20
    assert (fig.layout.shapes[1].x0, fig.layout.annotations[1].text) == (100, "max_client_conn 100")
    session = dataclasses.replace(plan, pgbouncer=PgBouncer(pool_mode="session", default_pool_size=20,
                                                            max_client_conn=100))
    fig = budget_figure(session, plan_budgets(session), pgbouncer_budget(session))
    assert (fig.layout.shapes[1].x0, fig.layout.annotations[1].text) == (20, "session mode: 20 server connections")


def test_unbounded_budget_is_labelled():
    plan = Plan(engines=(Engine(max_overflow=-1),))
    fig = budget_figure(plan, plan_budgets(plan))
    assert "unbounded" in fig.layout.annotations[0].text


def test_wide_counts_sums_and_keeps_gaps():
    frame = history([
        (T0, "primary", "ok", "api", "idle", 3),
        (T0, "primary", "ok", "api", "active", 2),
        (T0, "primary", "ok", "worker", "idle", 4),
        (T0 + timedelta(seconds=1), "primary", "refused", None, None, float("nan")),
        (T0 + timedelta(seconds=2), "primary", "ok", "api", None, 1),
    ])
    by_state = wide_counts(frame, "state")
    assert list(by_state.columns) == ["(hidden)", "active", "idle"]
    assert by_state.iloc[0].tolist() == [0, 2, 7]
    assert all(math.isnan(v) for v in by_state.iloc[1])
    assert by_state.iloc[2].tolist() == [1, 0, 0]
    by_app = wide_counts(frame, "application_name")
    assert by_app.iloc[0].tolist() == [5, 4]


def test_live_figure_draws_counts_gaps_and_plan_lines():
    frame = history([
        (T0, "primary", "ok", "api", "idle", 3),
        (T0 + timedelta(seconds=1), "primary", "unreachable", None, None, float("nan")),
        (T0 + timedelta(seconds=2), "primary", "ok", "api", "active", 5),
    ])
    fig = live_figure(frame, "state", {"steady": 80, "peak": 120, "usable": 92, "rollout peak": None})
    names = [t.name for t in fig.data]
    assert names == ["active", "idle", "total"]
    total = fig.data[-1]
    assert total.y[0] == 3 and math.isnan(total.y[1]) and total.y[2] == 5
    assert total.connectgaps is False
    assert sorted(s.y0 for s in fig.layout.shapes) == [80, 92, 120]


def test_live_figure_downsamples_a_day_and_keeps_the_spike():
    times = pd.date_range(T0, periods=86_400, freq="s")
    counts = np.full(86_400, 10.0)
    counts[40_000] = 77
    frame = history({"taken_at": times, "server": "primary", "status": "ok", "application_name": "api",
                     "state": "idle", "count": counts})
    fig = live_figure(frame, "application_name", {})
    assert all(len(t.x) <= 2_000 for t in fig.data)
    assert max(fig.data[0].y) == 77


def test_empty_history_says_so():
    fig = live_figure(history([]), "state", {"usable": 37})
    assert fig.data == ()
    assert any("no samples" in a.text for a in fig.layout.annotations)


def test_wait_figure_marks_current_plan():
    curve = pd.DataFrame({"pool_size": [1, 2, 3, 4], "p99_wait_s": [math.inf, 0.5, 0.02, 0.0]})
    fig = wait_figure(curve, 3, pool_timeout_s=30)
    line, marker = fig.data
    assert list(line.x) == [1, 2, 3, 4]
    assert math.isnan(line.y[0]) and line.y[1] == 500 and line.y[2] == 20
    assert list(marker.x) == [3] and marker.y[0] == 20


def snapshot(seconds: int, counts: dict[tuple[str, str], int] | None):
    from planner.snapshot import ActivityGroup, Snapshot

    taken = T0 + timedelta(seconds=seconds)
    if counts is None:
        return Snapshot("primary", taken, "unreachable", error="connection refused")
    groups = tuple(ActivityGroup("db", "app", app, None, st, None, n, 0) for (app, st), n in counts.items())
    return Snapshot("primary", taken, "ok", groups)


def test_timeline_reads_incrementally_and_equals_a_full_pivot(tmp_path):
    from dashboard.live.history import HistoryStore
    from dashboard.timeline import Timeline

    store = HistoryStore(tmp_path / "history.sqlite")
    try:
        for i, counts in enumerate([{("api", "idle"): 3}, {("api", "idle"): 2, ("api", "active"): 1}, None, {}]):
            store.append(snapshot(i + 10, counts))
        store.flush()
        timeline = Timeline(store, "primary")
        first = timeline.window("state", T0 + timedelta(seconds=10))
        assert first.columns.tolist() == ["active", "idle"]
        assert first["idle"].tolist()[:2] == [3, 2] and math.isnan(first["idle"].iloc[2])
        assert first.iloc[3].tolist() == [0, 0]  # an ok sample with no client backend is zero, not a gap
        store.append(snapshot(14, {("worker", "idle in transaction"): 4}))
        store.append(snapshot(0, {("api", "idle"): 9}))  # older than the first window: read when asked for
        store.flush()
        for by in ("state", "application_name"):
            whole = timeline.window(by, None)
            expected = wide_counts(store.frame("primary"), by)
            pd.testing.assert_frame_equal(whole, expected, check_freq=False)
        assert timeline.window("application_name", None)["worker"].tolist()[-1] == 4
        recent = timeline.window("state", T0 + timedelta(seconds=13))
        assert recent.index.tolist() == [pd.Timestamp(T0 + timedelta(seconds=s)).tz_convert(None) for s in (13, 14)]
    finally:
        store.close()


def test_an_outage_in_a_quiet_window_is_a_gap_not_zero():
    """Only the monitor was connected (every ok sample saw zero client backends), then the server went down:
    the total line breaks over the failed samples instead of lying flat at 0."""
    frame = history([
        (T0, "primary", "ok", None, None, 0),
        (T0 + timedelta(seconds=1), "primary", "unreachable", None, None, float("nan")),
        (T0 + timedelta(seconds=2), "primary", "unreachable", None, None, float("nan")),
        (T0 + timedelta(seconds=3), "primary", "ok", None, None, 0),
    ])
    assert wide_counts(frame, "state").columns.tolist() == []
    fig = live_figure(frame, "state", {})
    (total,) = fig.data
    assert total.name == "total" and total.connectgaps is False
    assert total.y[0] == 0 and math.isnan(total.y[1]) and math.isnan(total.y[2]) and total.y[3] == 0


def test_timeline_keeps_a_quiet_outage_as_a_gap(tmp_path):
    """The same through the history store and the live panel's Timeline (what the page draws)."""
    from dashboard.live.history import HistoryStore
    from dashboard.timeline import Timeline

    store = HistoryStore(tmp_path / "history.sqlite")
    try:
        for i, counts in enumerate([{}, None, None, {}]):
            store.append(snapshot(i, counts))
        store.flush()
        timeline = Timeline(store, "primary")
        for by in ("state", "application_name"):
            wide, gaps = timeline.window_with_gaps(by, T0)
            assert gaps.tolist() == [False, True, True, False]
            (total,) = wide_figure(wide, by, {}, gaps=gaps).data
            assert [math.isnan(v) for v in total.y] == [False, True, True, False]
        store.append(snapshot(4, None))  # read incrementally: still a gap
        store.flush()
        wide, gaps = timeline.window_with_gaps("state", T0 + timedelta(seconds=3))
        (total,) = wide_figure(wide, "state", {}, gaps=gaps).data
        assert total.y[0] == 0 and math.isnan(total.y[1])
    finally:
        store.close()


HOSTILE = '[x](http://127.0.0.1:1/a) <a href="http://127.0.0.1:1/l">l</a> <img src=x> %{y} **b**'


def test_application_names_reach_legend_and_hover_as_text():
    """A client-chosen application_name is a legend entry and a hover label: plotly's tags and entities are
    escaped and the name is never part of a hovertemplate (where %{...} would be evaluated)."""
    frame = history([(T0, "primary", "ok", HOSTILE, "idle", 2), (T0 + timedelta(seconds=1), "primary", "ok",
                                                                   HOSTILE, "idle", 3)])
    fig = live_figure(frame, "application_name", {})
    trace = fig.data[0]
    assert "<" not in trace.name and "&lt;a href=" in trace.name and "&lt;img src=x&gt;" in trace.name
    assert HOSTILE not in trace.hovertemplate and trace.hovertemplate == "%{y:.0f}<extra>%{fullData.name}</extra>"
