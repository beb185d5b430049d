"""The joined view's verdict: where a service's requests wait, from the app, PgBouncer and server sides."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from planner.pool_verdict import (
    AppSide,
    PgBouncerSide,
    ServerSide,
    WaitPlace,
    app_side,
    judge,
    pgbouncer_sides,
    verdict_line,
)
from planner.probe.histogram import Summary
from planner.probe.reading import ProbeReading


def app(**kw) -> AppSide:
    base = dict(service="orders", processes=4, checked_out=8, overflow=0, waiting=0, timeouts=0, connect_errors=0,
                wait_p99_ms=0.2, ceiling=40, pool_size=16)
    base.update(kw)
    return AppSide(**base)


ROOMY = ServerSide(by_state={"active": 3, "idle": 5}, total=20, usable=37)
FULL = ServerSide(by_state={"active": 30, "idle": 7}, total=37, usable=37)


def test_the_four_places():
    assert judge(app(), ROOMY).place is WaitPlace.FINE
    assert judge(app(waiting=5, checked_out=40), ROOMY).place is WaitPlace.APP_POOL
    assert judge(app(waiting=5), FULL).place is WaitPlace.SERVER
    assert judge(app(connect_errors=3), ROOMY).place is WaitPlace.SERVER  # refused new connections
    assert judge(app(waiting=5), ROOMY, PgBouncerSide(cl_waiting=12, maxwait_s=3.0)).place is WaitPlace.PGBOUNCER
    assert judge(app(queue_wait_p99_ms=250.0), ROOMY).place is WaitPlace.APP_POOL  # blocked, none waiting now
    assert judge(app(wait_p99_ms=250.0), ROOMY).place is WaitPlace.FINE  # slow connects or pre-pings: no contention
    assert judge(None, ROOMY, service="orders").place is WaitPlace.UNKNOWN
    assert judge(None, FULL, service="orders").place is WaitPlace.SERVER


def test_a_full_server_with_a_quiet_service_is_fine_for_that_service():
    assert judge(app(), FULL).place is WaitPlace.FINE


def test_the_line_has_the_place_and_the_evidence():
    line = verdict_line(judge(app(waiting=5, timeouts=2, wait_p99_ms=812.3, queue_wait_p99_ms=790.0), FULL,
                              PgBouncerSide(0, 0.0)))
    assert line.startswith("orders: at the server (slots full)")
    assert "5 waiting, 2 timeouts" in line and "p99 wait 812.3 ms (blocked 790.0 ms)" in line
    assert "30 active, 7 idle" in line and "37 of 37 usable slots" in line and "0 clients waiting" in line


@given(st.integers(0, 50), st.integers(0, 5), st.integers(0, 5), st.one_of(st.none(), st.floats(0, 5000)),
       st.integers(0, 60), st.integers(0, 20), st.one_of(st.none(), st.floats(0, 5000)))
def test_fine_exactly_when_nothing_waits(waiting, timeouts, errors, p99, total, cl_waiting, checkout_p99):
    side = app(waiting=waiting, timeouts=timeouts, connect_errors=errors, queue_wait_p99_ms=p99,
               wait_p99_ms=checkout_p99)
    verdict = judge(side, ServerSide(total=total, usable=37), PgBouncerSide(cl_waiting, 0.0))
    quiet = waiting == 0 and timeouts == 0 and errors == 0 and (p99 is None or p99 <= 10.0) and cl_waiting == 0
    assert (verdict.place is WaitPlace.FINE) == quiet
    assert verdict_line(verdict).startswith(f"orders: {verdict.place.value}")


def test_app_side_sums_the_processes_and_skips_failed_ones():
    def r(pid, **kw):
        base = dict(endpoint="http://a/probe", service="orders", engine="default", status="ok", taken_at=0.0,
                    pid=pid, pool_size=4, max_overflow=6, checked_out=10, overflow=6, waiting=2, timeouts=7,
                    timeouts_window=1, window_s=1.0, wait_ms=Summary(1, 2, 300.0 + pid, 1, 10))
        base.update(kw)
        return ProbeReading(**base)

    side = app_side("orders", [r(1), r(2), r(3, status="unreachable: refused"), r(4, service="jobs")])
    assert (side.processes, side.checked_out, side.waiting, side.timeouts, side.ceiling) == (2, 20, 4, 2, 20)
    assert side.wait_p99_ms == 302.0
    assert app_side("nobody", [r(1)]) is None


def test_pgbouncer_sides_join_clients_by_application_name():
    from planner.pgbouncer_snapshot import ConnectionGroup

    clients = [ConnectionGroup("app", "u", "waiting", "orders-1", 3, 0.8),
               ConnectionGroup("app", "u", "waiting", "orders-2", 2, 1.5),
               ConnectionGroup("app", "u", "active", "orders-2", 4, 0.0),
               ConnectionGroup("app", "u", "active", "search", 1, 0.0),
               ConnectionGroup("app", "u", "waiting", "orders-api", 7, 9.0)]  # another service, not orders
    sides = pgbouncer_sides(clients, ["orders", "search", "billing"])
    assert sides["orders"] == PgBouncerSide(5, 1.5)
    assert sides["search"] == PgBouncerSide(0, 0.0)
    assert "billing" not in sides  # no client in PgBouncer: nothing to say about its middle tier
    assert judge(None, None, sides["orders"], service="orders").place is WaitPlace.PGBOUNCER
    assert judge(None, None, sides["search"], service="search").place is not WaitPlace.PGBOUNCER
