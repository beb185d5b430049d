"""The joined view's data from hand-built probe rounds and server samples: both sides per second, gaps kept as
gaps, the plan's lines, and the verdict of the latest second."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from dashboard.joined import endpoint_table, joined_services
from planner.model import Deployment, Engine, Plan, Server
from planner.pool_verdict import WaitPlace
from planner.probe.histogram import Summary
from planner.probe.reading import ProbeReading
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

T0 = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)
PLAN = Plan(servers=(Server(max_connections=40),), engines=(Engine(application_name="orders", pool_size=4,
                                                                   max_overflow=6),),
            deployment=Deployment(workers=4))
SETTINGS = ServerSettings(max_connections=40, superuser_reserved_connections=3, reserved_connections=0,
                          idle_in_transaction_session_timeout_ms=0, idle_session_timeout_ms=0, ssl=False,
                          server_version_num=160000, can_see_all=True)


def reading(pid: int, **kw) -> ProbeReading:
    base = dict(endpoint=f"http://w{pid}/probe", service="orders", engine="default", status="ok", taken_at=0.0,
                pid=pid, pool_size=4, max_overflow=6, checked_out=3, idle=1, overflow=0, waiting=0, checkouts=10,
                timeouts=0, window_s=1.0, timeouts_window=0, connect_errors_window=0,
                wait_ms=Summary(0.1, 0.2, 0.5, 0.1, 5), hold_ms=Summary(10, 20, 30, 12, 5))
    base.update(kw)
    return ProbeReading(**base)


def group(app: str, state: str, count: int) -> ActivityGroup:
    return ActivityGroup(datname="app", usename="app", application_name=app, client_addr=None, state=state,
                         wait_event_type=None, count=count, ssl_count=0)


def snapshot(second: int, groups, status="ok") -> Snapshot:
    return Snapshot(server="primary", taken_at=T0 + timedelta(seconds=second, milliseconds=300), status=status,
                    groups=tuple(groups) if status == "ok" else (), settings=SETTINGS if status == "ok" else None,
                    own_connections=1 if status == "ok" else 0)


def test_both_sides_per_second_with_gaps_and_plan_lines():
    t = T0.timestamp()
    rounds = [(t + 0.2, [reading(1), reading(2)]),
              (t + 1.2, [reading(1), reading(2, status="timeout after 1 s")]),
              (t + 3.2, [reading(1, waiting=5, checked_out=10), reading(2, waiting=2, checked_out=10)])]
    snapshots = [snapshot(0, [group("orders-1", "active", 3), group("orders-2", "idle", 2), group("other", "idle",
                                                                                                   9)]),
                 snapshot(1, [], status="unreachable"),
                 snapshot(3, [group("orders-1", "active", 10), group("orders-2", "active", 10)])]
    [joined] = joined_services(rounds, snapshots, PLAN)
    frame = joined.frame
    assert list(frame.index.second) == [0, 1, 3]
    assert frame["app checked out"].tolist() == [6, 3, 20]  # the second round had one process: 3
    assert frame["app waiting"].tolist()[-1] == 7
    assert frame.loc[frame.index[0], "server active"] == 3 and frame.loc[frame.index[0], "server idle"] == 2
    assert math.isnan(frame.loc[frame.index[1], "server active"])  # the server gave no sample: a gap, not 0
    assert frame.loc[frame.index[2], "server idle"] == 0
    assert joined.plan_lines == {"pool_size x 2": 8.0, "pool_size + max_overflow x 2": 20.0,
                                 "fleet ceiling (4 processes)": 40.0}
    assert joined.verdict.place is WaitPlace.APP_POOL  # 7 waiting, 21 of 37 slots used
    assert joined.line.startswith("orders: waiting in the application pool; app: 20 checked out of 20")
    assert endpoint_table(joined)["waiting"].tolist() == [5, 2]


def test_a_full_server_turns_the_verdict():
    t = T0.timestamp()
    rounds = [(t, [reading(1, waiting=3, checked_out=10)])]
    snapshots = [snapshot(0, [group("orders", "active", 30), group("other", "idle", 6)])]
    [joined] = joined_services(rounds, snapshots, PLAN)
    assert joined.verdict.place is WaitPlace.SERVER
    assert "server 37 of 37 usable slots" in joined.line


def test_no_probe_rounds_no_service():
    assert joined_services([], [snapshot(0, [])], PLAN) == []


def test_two_samplers_ticking_apart_leave_no_false_gaps():
    t = T0.timestamp()
    rounds = [(t + 0.9, [reading(1, checked_out=2)]), (t + 2.1, [reading(1, checked_out=4)]),
              (t + 6.0, [reading(1, status="unreachable: refused")])]
    snapshots = [snapshot(1, [group("orders", "active", 2)]), snapshot(3, [group("orders", "active", 4)])]
    frame = joined_services(rounds, snapshots, PLAN)[0].frame
    assert list(frame.index.second) == [0, 1, 2, 3, 6]
    app = frame["app checked out"].tolist()
    assert app[0] == 2 and app[2] == 4 and app[1] in (2, 4) and app[3] == 4  # seconds 1 and 3: the nearest round
    assert frame["server active"].tolist()[:4] == [2, 2, 4, 4]
    assert math.isnan(frame["app checked out"].iloc[4])  # every endpoint failed: a gap, not a zero
    assert math.isnan(frame["server active"].iloc[4])  # no server sample within 1.5 s: a gap


def test_the_sidebar_plan_without_application_name_still_draws_the_lines():
    plan = Plan(servers=(Server(max_connections=40),), engines=(Engine(pool_size=4, max_overflow=6),),
                deployment=Deployment(workers=4))
    [joined] = joined_services([(T0.timestamp(), [reading(1)])], [], plan)
    assert joined.plan_lines["pool_size + max_overflow x 1"] == 10.0


def test_the_joined_figure_labels_every_plan_line_once_and_never_says_new_text():
    """Seen on the demo (4 processes of 4): "pool_size + max_overflow x 4: 40" and "fleet ceiling (4 processes):
    40" were drawn over each other, and the server subplot's lines were labelled plotly's placeholder "new text"."""
    from dashboard.probe_panel import figure

    t = T0.timestamp()
    rounds = [(t + 0.2, [reading(pid) for pid in (1, 2, 3, 4)])]
    [joined] = joined_services(rounds, [snapshot(0, [group("orders-1", "idle", 4)])], PLAN)
    assert joined.plan_lines["pool_size + max_overflow x 4"] == joined.plan_lines["fleet ceiling (4 processes)"]
    fig = figure(joined)
    labels = [a.text for a in fig.layout.annotations if a.text not in ("application pool (probes)",
                                                                        "server (pg_stat_activity)")]
    assert sorted(labels) == ["pool_size + max_overflow x 4 = fleet ceiling (4 processes): 40", "pool_size x 4: 16"]
    assert len(fig.layout.shapes) == 4  # two heights, in both subplots
    assert all(a.text for a in fig.layout.annotations)  # an annotation without text is drawn as "new text"
