"""The measured-workload estimator (planner.observe) and its sizing (planner.observe_sizing): arithmetic
properties with hypothesis, and the source priority probe > pgbouncer > transactions > none."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.observe import (
    BouncerWindow,
    ProbeWindow,
    Source,
    TransactionWindow,
    busy_quantiles,
    censoring,
    counter_rate,
    fold_service,
    hold_shape,
    observe_service,
    rate_hold,
)
from planner.observe_sizing import ServerFacts, measured_workload, recommend_observed
from planner.rules.thresholds import DEFAULT_THRESHOLDS

busy_lists = st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=300)


@given(busy_lists, st.integers(min_value=1, max_value=64))
def test_offered_load_is_the_busy_mean_split_over_processes(busy, processes):
    obs = observe_service("orders", busy, busy, processes=processes)
    assert math.isclose(obs.offered_fleet, sum(busy) / len(busy))
    assert math.isclose(obs.offered_per_process * processes, obs.offered_fleet)
    assert obs.samples == len(busy)


@given(busy_lists)
def test_busy_quantiles_are_ordered_observed_values(busy):
    q = busy_quantiles(busy)
    assert min(busy) <= q.mean <= q.max == max(busy)
    assert q.p95 <= q.p99 <= q.max
    assert q.p95 in busy and q.p99 in busy


@given(st.floats(0.01, 500), st.integers(1, 10**6), st.floats(0.1, 3600), st.floats(0.01, 10_000))
def test_probe_rate_and_hold_are_checkouts_over_window_and_mean_hold(busy_mean, checkouts, window, hold):
    probe = ProbeWindow(checkouts=checkouts, window_s=window, hold_sum_ms=checkouts * hold)
    measured = rate_hold(busy_mean, probe, BouncerWindow(10, 1.0, 10.0), TransactionWindow(10, 1.0, alone=True))
    assert measured.source is Source.PROBE
    assert math.isclose(measured.rate_rps, checkouts / window)
    assert math.isclose(measured.hold_ms, hold, rel_tol=1e-9)


@given(st.floats(0.01, 500), st.integers(1, 10**6), st.integers(0, 10**6), st.floats(0.1, 3600))
def test_transactions_give_hold_by_littles_law_minus_the_monitor(busy_mean, total, own, window):
    measured = rate_hold(busy_mean, None, None, TransactionWindow(total + own, window, own, alone=True))
    assert measured.source is Source.TRANSACTIONS
    assert math.isclose(measured.rate_rps, total / window)
    assert math.isclose(measured.rate_rps * measured.hold_ms / 1000.0, busy_mean)  # Little's law, back again


def test_source_priority_and_none():
    bouncer = BouncerWindow(xacts=500, window_s=10.0, xact_time_ms=500 * 8.0)
    assert rate_hold(1.0, None, bouncer, TransactionWindow(9, 1.0, alone=True)).source is Source.PGBOUNCER
    assert rate_hold(1.0, None, bouncer, None).hold_ms == 8.0
    shared = rate_hold(1.0, None, None, TransactionWindow(900, 10.0, alone=False))
    assert (shared.source, shared.rate_rps, shared.hold_ms) == (Source.NONE, None, None)
    only_monitor = rate_hold(1.0, None, None, TransactionWindow(20, 10.0, monitor_transactions=20, alone=True))
    assert only_monitor.source is Source.NONE
    empty_probe = ProbeWindow(checkouts=0, window_s=10.0, hold_sum_ms=0.0)
    assert rate_hold(1.0, empty_probe, bouncer, None).source is Source.PGBOUNCER


@given(busy_lists, st.integers(1, 50))
def test_censored_exactly_when_at_the_cap_often_enough(busy, cap):
    censored, by, share = censoring(busy, cap, None, None)
    at_cap = sum(b >= cap for b in busy) / len(busy)
    assert censored == (at_cap >= DEFAULT_THRESHOLDS.observe_censored_fraction)
    assert math.isclose(share, at_cap)
    assert (by == "pool cap") == censored


def test_censoring_by_server_slots_and_cap_times_processes():
    obs = observe_service("orders", [8] * 10, [8] * 10, processes=2, cap_per_process=4)
    assert obs.censored and obs.censored_by == "pool cap"
    assert not observe_service("orders", [7] * 10, [8] * 10, processes=2, cap_per_process=4).censored
    full = censoring([5] * 10, None, [97] * 10, 97)
    assert full[:2] == (True, "server slots")


def test_fold_and_shape():
    assert fold_service("orders-3") == "orders"
    assert fold_service("orders") == "orders"
    assert fold_service("a-b") == "a-b"
    assert fold_service("-3") == "-3"
    assert fold_service("") is None
    assert hold_shape((10.0, 10.5, 11.0)) == "constant"
    assert hold_shape((6.9, 30.0, 46.0)) == "exponential"  # exp mean 10: p50 6.9, p95 30, p99 46
    assert hold_shape((10.0, 52.0, 102.0)) == "lognormal"  # sigma 1
    assert hold_shape(None) is None


@settings(max_examples=30, deadline=None)
@given(st.floats(5, 2000), st.floats(0.5, 200), st.integers(1, 8))
def test_recommendation_is_the_sizing_of_the_measured_workload(rate, hold, processes):
    busy_mean = rate * hold / 1000
    probe = ProbeWindow(checkouts=int(rate * 60), window_s=60.0, hold_sum_ms=int(rate * 60) * hold)
    obs = observe_service("orders", [round(busy_mean)] * 5, [10] * 5, processes=processes, probe=probe)
    workload = measured_workload(obs)
    assert workload is not None and math.isclose(workload.hold_ms, hold, rel_tol=1e-3)
    advice = recommend_observed(obs, server=ServerFacts(max_connections=10_000))
    assert advice.fits and advice.method == "queueing"
    assert advice.pool_size >= math.floor(workload.rps / processes * workload.hold_ms / 1000)
    assert advice.p99_wait_ms is not None and advice.p99_wait_ms <= workload.target_p99_wait_ms * 1.5


def test_without_rate_and_hold_littles_law_from_the_offered_load():
    obs = observe_service("orders", [4] * 10, [6] * 10, processes=2)
    advice = recommend_observed(obs, server=ServerFacts(max_connections=100))
    assert (advice.method, advice.p99_wait_ms, advice.workload) == ("littles-law", None, None)
    assert advice.pool_size == 3  # 2 erlangs per process x 1.5


@given(st.integers(1, 5000), st.integers(0, 10**6), st.floats(0.05, 5.0), st.integers(20, 600),
       st.floats(0.0, 100.0))
def test_counter_rate_is_exact_on_a_straight_counter(rate, offset, interval, readings, start):
    times = [start + i * interval for i in range(readings)]
    counts = [offset + rate * (t - start) for t in times]
    assert counter_rate(times, counts) == pytest.approx(rate)


def test_counter_rate_averages_out_steps():
    times = [i * 0.2 for i in range(600)]  # 2 minutes; the counter jumps once every 5 s by 5 s of traffic
    counts = [50 * 5 * math.floor(t / 5) for t in times]
    assert counter_rate(times, counts) == pytest.approx(50)  # exact between the first and the last step
    assert counter_rate([1.0], [3]) is None and counter_rate([0.0, 1.0, 2.0], [1, 2, 2]) is None  # moved once


def test_counter_rate_refuses_rare_large_steps():
    """Transactions that read no table are flushed only by something else, rarely and in lumps: a rate from
    such steps could be off by all the traffic between them, so there is none."""
    times = [i * 0.2 for i in range(600)]
    lumps = [50 * 30 * math.floor(t / 30) for t in times]  # a lump of 30 s of traffic every 30 s: 4 moves
    assert counter_rate(times, lumps) is None
    steady = [50 * math.floor(t) for t in times]  # every second, plus one lump of 20 s held back
    lumpy = [c + (1000 if t >= 60 else 0) for c, t in zip(steady, times, strict=True)]
    assert counter_rate(times, steady) == pytest.approx(50, rel=0.01)
    assert counter_rate(times, lumpy) is None  # 1 000 of a 6 900 rise in one move


def test_export_carries_the_provenance_line():
    import json as json_module

    from planner.export import FORMATS, export
    from planner.observe_sizing import provenance_note

    probe = ProbeWindow(checkouts=6000, window_s=60.0, hold_sum_ms=6000 * 20.0)
    obs = observe_service("orders", [2] * 60, [5] * 60, processes=2, probe=probe)
    advice = recommend_observed(obs, server=ServerFacts(max_connections=100))
    note = provenance_note(obs, advice, "primary", 60.0, "2026-11-26T08:00:00+00:00")
    assert "100 req/s" in note and "20 ms from probe" in note and "p99 wait <= 10 ms" in note
    for fmt in (f for f in FORMATS if f != "pgbouncer"):  # this plan has no [pgbouncer]
        snippet = export(advice.plan, fmt, provenance=note + "\nimport os")  # a newline cannot end the comment
        if fmt == "json":
            assert json_module.loads(snippet)["provenance"].startswith("workload measured by")
        elif fmt == "grafana":  # a dashboard JSON: the note is its description
            assert json_module.loads(snippet)["description"].startswith("workload measured by")
        else:
            assert snippet.splitlines()[0] == "# " + note + " import os"
    assert export(advice.plan, "env") == export(advice.plan, "env", provenance=None)


def _probe_obs(p_wait_count: int, wait_p99: float, checkouts: int = 6000):
    probe = ProbeWindow(checkouts=checkouts, window_s=60.0, hold_sum_ms=checkouts * 20.0, waited=p_wait_count,
                        wait_p99_ms=wait_p99, processes=1, pool_size=4, max_overflow=0, pool_cap=4)
    return observe_service("orders", [2] * 60, [4] * 60, processes=1, probe=probe), probe


def test_model_mismatch_fires_only_beyond_the_tolerance():
    from planner.queueing import HoldTime, predict_wait
    from planner.rules.model_check import model_check, model_mismatch_findings

    predicted = predict_wait(100.0, HoldTime(20.0, "exp"), 4, 0, 30.0)
    agree, probe = _probe_obs(round(predicted.p_wait * 6000), predicted.wait_p99_ms)
    check = model_check(agree, probe)
    assert check is not None and check.predicted_p_wait == pytest.approx(predicted.p_wait, abs=1e-3)
    assert model_mismatch_findings([check]) == []
    off, probe = _probe_obs(round(min(1.0, predicted.p_wait + 0.2) * 6000), predicted.wait_p99_ms * 3 + 20)
    findings = model_mismatch_findings([model_check(off, probe)])
    assert [f.id for f in findings] == ["model-mismatch"] and "orders" in findings[0].message
    few, probe = _probe_obs(100, 500.0, checkouts=100)
    assert model_mismatch_findings([model_check(few, probe)]) == []  # too few checkouts to judge
    none_source = observe_service("orders", [2] * 60, [4] * 60, processes=1)
    assert model_check(none_source, None) is None


def test_observed_view_says_at_least_and_fills_the_inputs():
    from dashboard.live.observe import ServiceResult
    from dashboard.observe_view import apply_measured, service_view
    from dashboard.state import initial_inputs

    probe = ProbeWindow(checkouts=2400, window_s=60.0, hold_sum_ms=2400 * 50.0, hold_p50_ms=50.0,
                        hold_p95_ms=51.0, hold_p99_ms=52.0, pool_cap=2)
    obs = observe_service("orders", [2] * 60, [2] * 60, processes=1, probe=probe)
    view = service_view(ServiceResult(obs, None, "--processes"))
    assert obs.censored and "at least" in view.line
    assert "at least" in " ".join(view.table["value"])
    assert view.inputs_change == {"rps": 40.0, "hold_ms": 50.0, "hold_dist": "const"}
    inputs = apply_measured(initial_inputs(), view.inputs_change)
    assert (inputs.rps, inputs.hold_ms, inputs.hold_dist) == (40.0, 50.0, "const")
    unmeasured = service_view(ServiceResult(observe_service("a", [1], [1], processes=1), None, "assumed"))
    assert unmeasured.inputs_change is None and "only the offered load" in unmeasured.line


def test_since_reads_the_recorded_history(tmp_path, capsys):
    import json as json_module
    from datetime import UTC, datetime, timedelta

    from dashboard.live.cli import main
    from dashboard.live.history import HistoryStore
    from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

    settings = ServerSettings(max_connections=100, superuser_reserved_connections=3, reserved_connections=None,
                              idle_in_transaction_session_timeout_ms=0, idle_session_timeout_ms=0, ssl=False,
                              server_version_num=150000, can_see_all=True)
    now = datetime.now(UTC)
    with HistoryStore(tmp_path / "history.sqlite") as store:
        for i in range(30):
            groups = (ActivityGroup("app", "app", "orders-1", None, "active", None, 1 + i % 2, 0),
                      ActivityGroup("app", "app", "orders-2", None, "idle", None, 3, 0))
            store.append(Snapshot("primary", now - timedelta(seconds=30 - i), "ok", groups=groups,
                                  settings=settings, own_connections=1))
        store.flush()
    assert main(["observe", "--since", "10m", "--data", str(tmp_path), "--json"]) == 0
    document = json_module.loads(capsys.readouterr().out)
    (orders,) = document["services"]
    assert document["from"] == "history" and orders["name"] == "orders" and orders["samples"] == 30
    assert orders["processes"] == 2 and orders["processes_from"] == "per-worker suffixes"
    assert orders["busy"]["mean"] == pytest.approx(1.5) and orders["busy"]["max"] == 2
    assert orders["source"] == "none" and orders["rate_rps"] is None and orders["hold_ms"] is None
    assert orders["recommendation"]["pool_size"] >= 1


def test_a_censored_pool_is_sized_for_the_demand_the_probe_counted():
    probe = ProbeWindow(checkouts=2400, window_s=60.0, hold_sum_ms=2400 * 50.0, pool_cap=2, arrivals=4800)
    obs = observe_service("orders", [2] * 60, [2] * 60, processes=1, probe=probe)
    assert obs.censored and obs.rate_rps == 40.0 and obs.demand_rps == 80.0
    assert measured_workload(obs).rps == 80.0  # not the 40/s the saturated pool let through
    calm = observe_service("orders", [1] * 60, [2] * 60, processes=1, probe=probe, cap_per_process=10)
    assert not calm.censored and measured_workload(calm).rps == 40.0


@pytest.mark.parametrize(("rate", "hold_ms"), [(100.0, 23.7), (50.0, 21.4), (40.0, 50.0)])
def test_overflow_connects_stay_out_of_the_p99(rate, hold_ms):
    """An overflow connection's checkout waits for a connect the model can only assume: the recommended pool
    sends at most 1 % of checkouts to open one (the p99 wait is then not a connect time), with the ceiling the
    sizing fitted to the server unchanged, and the plan for export carries the same numbers."""
    from planner.observe_sizing import CONNECT_SHARE, keep_connects_out_of_p99
    from planner.queueing import HoldTime, predict_wait

    checkouts = int(rate * 120)
    probe = ProbeWindow(checkouts=checkouts, window_s=120.0, hold_sum_ms=checkouts * hold_ms)
    obs = observe_service("orders", [round(rate * hold_ms / 1000)] * 60, [8] * 60, processes=1, probe=probe)
    advice = recommend_observed(obs, server=ServerFacts(max_connections=100))
    hold = HoldTime(hold_ms, "exp")
    prediction = predict_wait(rate, hold, advice.pool_size, advice.max_overflow)
    assert prediction.connects_per_s / rate <= CONNECT_SHARE
    engine = advice.plan.engines[0]
    assert (engine.pool_size, engine.max_overflow) == (advice.pool_size, advice.max_overflow)
    shift = keep_connects_out_of_p99(rate, hold, advice.pool_size - 1, advice.max_overflow + 1, 30.0)
    if shift.moved:  # one connection fewer in the pool sends more than 1 % to a connect: the shift was needed
        assert shift.connect_share_before > CONNECT_SHARE
        assert (shift.pool_size, shift.max_overflow) == (advice.pool_size, advice.max_overflow)
