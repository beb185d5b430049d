"""The pool-wait model: textbook closed forms, the simulation of QueuePool agreeing with them where both
hold, the connect-time and overload effects the textbook misses, monotonicity, and the ``wait`` CLI."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.cli import main
from planner.model import InputError
from planner.queueing import (
    DEFAULT_CHECKOUT_OVERHEAD_MS,
    OVERLOAD_ID,
    HoldTime,
    overload_finding,
    predict_wait,
)
from planner.queueing.erlang import erlang_b, erlang_c
from planner.queueing.simulate import _events, quantile, simulate

SMALL = 20_000  # simulated arrivals in tests: deterministic (seeded) and fast


def erlang_c_by_factorials(c: int, a: float) -> float:
    """The textbook formula, written independently of the recurrence under test."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_textbook_values():
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(10, 8.0) == pytest.approx(0.409180, abs=1e-6)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    for c, a in [(2, 1.5), (5, 4.0), (20, 19.0), (50, 30.0)]:
        assert erlang_c(c, a) == pytest.approx(erlang_c_by_factorials(c, a), rel=1e-12)
    assert erlang_c(5, 5.0) == 1.0
    assert erlang_c(5, 0.0) == 0.0


def test_mmc_whole_prediction():
    # 100/s x 40 ms = 4 erlangs on 5 connections: C = 0.554113, tail rate (5-4)/40 per ms.
    c = 0.5541125541125543
    result = predict_wait(100, HoldTime(40, "exp"), 5).as_dict()
    assert result == {
        "utilisation": 0.8,
        "p_wait": round(c * math.exp(-1 / 40), 4),
        "wait_ms": {
            "mean": round(c * 40, 3),
            "p50": round(40 * math.log(c / 0.5), 3),
            "p95": round(40 * math.log(c / 0.05), 3),
            "p99": round(40 * math.log(c / 0.01), 3),
        },
        "timeout_rate": 0.0,
        "open_connections": {"mean": 5.0, "p99": 5},
        "method": "erlang-c",
    }


def test_mm1_mean_wait():
    rho, hold = 0.6, 10.0
    result = predict_wait(rho / hold * 1000, HoldTime(hold, "exp"), 1)
    assert result.wait_mean_ms == pytest.approx(rho * hold / (1 - rho))
    assert result.method == "erlang-c"


@pytest.mark.parametrize("pool_size,utilisation", [(2, 0.6), (5, 0.8), (10, 0.7)])
def test_simulation_agrees_with_erlang_c(pool_size, utilisation):
    hold = HoldTime(20, "exp")
    rate = utilisation * pool_size / 0.020
    closed = predict_wait(rate, hold, pool_size)
    sim = predict_wait(rate, hold, pool_size, force_simulation=True, sim_arrivals=60_000, seed=3)
    assert (closed.method, sim.method) == ("erlang-c", "simulation")
    assert sim.p_wait == pytest.approx(closed.p_wait, abs=0.02)
    assert sim.wait_mean_ms == pytest.approx(closed.wait_mean_ms, rel=0.12)
    assert sim.wait_p95_ms == pytest.approx(closed.wait_p95_ms, rel=0.12)
    assert (sim.open_mean, sim.open_p99, sim.timeout_rate) == (pool_size, pool_size, 0.0)


def test_allen_cunneen_agrees_with_simulation_for_moderate_variability():
    hold = HoldTime.from_percentiles(13.8, 10, 37.2, 64.3)  # lognormal, log-sd 0.8, cs^2 about 0.9
    assert 0.75 <= hold.cs2 <= 1.5
    closed = predict_wait(200, hold, 5)
    sim = predict_wait(200, hold, 5, force_simulation=True, sim_arrivals=60_000, seed=5)
    assert closed.method == "allen-cunneen"
    assert sim.p_wait == pytest.approx(closed.p_wait, abs=0.03)
    assert sim.wait_p95_ms == pytest.approx(closed.wait_p95_ms, rel=0.15)


def test_constant_hold_waits_less_than_erlang_c_says():
    """M/D/c: Erlang C overstates P(wait) and the tail; the model simulates instead of using it."""
    rate, pool = 0.8 * 5 / 0.020, 5
    const = predict_wait(rate, HoldTime(20, "const"), pool, sim_arrivals=SMALL)
    expo = predict_wait(rate, HoldTime(20, "exp"), pool)
    assert const.method == "simulation"
    assert const.p_wait < expo.p_wait - 0.01
    assert const.wait_p95_ms < 0.7 * expo.wait_p95_ms


def test_query_time_plus_overhead_is_the_hold():
    query = predict_wait(150, HoldTime(25, "const").plus(DEFAULT_CHECKOUT_OVERHEAD_MS), 5, sim_arrivals=SMALL)
    hold = predict_wait(150, HoldTime(25 + DEFAULT_CHECKOUT_OVERHEAD_MS, "const"), 5, sim_arrivals=SMALL)
    bare = predict_wait(150, HoldTime(25, "const"), 5, sim_arrivals=SMALL)
    assert query.as_dict() == hold.as_dict()
    assert bare.p_wait < query.p_wait


def test_overflow_pays_connect_time_and_churns():
    """At moderate load a 5+5 pool waits far more often than 10+0: overflow connections are opened
    (the caller waits for the connect) and closed again on return."""
    hold, rate = HoldTime(20, "exp"), 200.0  # 4 connections busy on average
    split = predict_wait(rate, hold, 5, 5, connect_ms=5.0, sim_arrivals=SMALL)
    whole = predict_wait(rate, hold, 10, 0, connect_ms=5.0)
    free_connect = predict_wait(rate, hold, 5, 5, connect_ms=0.0, sim_arrivals=SMALL)
    assert split.method == "simulation" and whole.method == "erlang-c"
    assert split.p_wait > 0.08 and whole.p_wait < 0.03
    assert split.p_wait > 4 * whole.p_wait
    assert split.wait_p95_ms == pytest.approx(5.0)  # the connect itself
    assert free_connect.p_wait < 0.03
    assert split.connects_per_s > 5
    assert 5 < split.open_mean < 10 and split.open_p99 <= 10


def test_overload_times_out_at_the_fluid_rate():
    """Utilisation 1.5 with a long timeout: a third of the checkouts cannot be served and time out."""
    result = predict_wait(300, HoldTime(25, "exp"), 5, 0, pool_timeout_s=2.0, sim_arrivals=SMALL)
    assert result.method == "simulation"
    assert result.utilisation == pytest.approx(1.5)
    assert result.timeout_rate == pytest.approx(1 - 1 / 1.5, abs=0.02)
    assert result.wait_p99_ms == pytest.approx(2000.0)
    assert result.p_wait > 0.99


def test_overload_finding():
    hold = HoldTime(25, "exp")
    assert overload_finding(150, hold, 5) is None
    finding = overload_finding(300, hold, 5, 0, 2.0, sim_arrivals=SMALL)
    assert finding is not None
    assert (finding.id, finding.severity) == (OVERLOAD_ID, "critical") == ("pool-overload", "critical")
    assert "300 req/s x 25 ms hold = 7.5 connections" in finding.message
    assert "5 + 0 = 5" in finding.message and "utilisation 1.50" in finding.message
    share = int(re.search(r"about (\d+)% of checkouts", finding.message).group(1))
    assert 32 <= share <= 35  # at utilisation 1.5 a third of the demand cannot be served: 1 - 1/1.5
    assert "pool_size=10" in finding.snippet  # ceil(7.5 / 0.8)


def test_hold_from_percentiles():
    sigma = 0.6
    median = 10.0
    hold = HoldTime.from_percentiles(12.0, median, median * math.exp(1.6448536 * sigma),
                                     median * math.exp(2.3263479 * sigma))
    assert (hold.shape, hold.sigma, hold.mean) == ("lognormal", pytest.approx(sigma, abs=1e-6), 12.0)
    assert hold.cs2 == pytest.approx(math.expm1(sigma**2))
    assert HoldTime.from_percentiles(5, 3, 3, 3).shape == "const"
    with pytest.raises(InputError, match="p50 <= p95 <= p99"):
        HoldTime.from_percentiles(5, 4, 3, 9)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"rate_per_s": -1}, "rps"),
        ({"pool_size": 0}, "pool_size"),
        ({"max_overflow": -1}, "max_overflow"),
        ({"pool_timeout_s": 0}, "pool_timeout"),
        ({"connect_ms": -2}, "connect_ms"),
    ],
)
def test_bad_inputs_name_the_field(kwargs, field):
    args = {"rate_per_s": 10, "hold": HoldTime(10), "pool_size": 5, "max_overflow": 0, "pool_timeout_s": 30}
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        predict_wait(**args)
    assert err.value.field == field


@settings(max_examples=60, deadline=None)
@given(
    pool=st.integers(1, 40),
    utilisation=st.floats(0.05, 0.98),
    hold_ms=st.floats(1, 500),
    shape=st.sampled_from(["exp", "lognormal"]),
)
def test_more_pool_never_waits_more(pool, utilisation, hold_ms, shape):
    hold = HoldTime(hold_ms, "exp") if shape == "exp" else HoldTime(hold_ms, "lognormal", sigma=0.8)
    rate = utilisation * pool / hold_ms * 1000
    smaller = predict_wait(rate, hold, pool)
    larger = predict_wait(rate, hold, pool + 1)
    assert larger.p_wait <= smaller.p_wait + 1e-12
    assert larger.wait_p99_ms <= smaller.wait_p99_ms + 1e-9
    for r in (smaller, larger):
        assert 0 <= r.p_wait <= 1 and r.wait_p50_ms <= r.wait_p95_ms <= r.wait_p99_ms


@settings(max_examples=60, deadline=None)
@given(pool=st.integers(1, 40), u1=st.floats(0.01, 0.98), u2=st.floats(0.01, 0.98), hold_ms=st.floats(1, 500))
def test_more_rate_never_waits_less(pool, u1, u2, hold_ms):
    low, high = sorted((u1, u2))
    hold = HoldTime(hold_ms, "exp")
    slow = predict_wait(low * pool / hold_ms * 1000, hold, pool)
    fast = predict_wait(high * pool / hold_ms * 1000, hold, pool)
    assert slow.p_wait <= fast.p_wait + 1e-12
    assert slow.wait_mean_ms <= fast.wait_mean_ms + 1e-9


def test_simulation_is_deterministic_and_monotone_in_pool():
    hold = HoldTime(30, "const")
    runs = [simulate(150, hold, n, 0, 30, 5.0, arrivals=SMALL, seed=9) for n in (5, 6, 8)]
    assert runs[0] == simulate(150, hold, 5, 0, 30, 5.0, arrivals=SMALL, seed=9)
    waited = [sum(w > 1 for w in r.waits_ms) / len(r.waits_ms) for r in runs]
    assert waited[0] > waited[1] > waited[2]


# --- the CLI -------------------------------------------------------------------------------------------

BASE = ["wait", "--rps", "100", "--pool-size", "5", "--max-overflow", "0", "--pool-timeout", "30"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_keys_and_values(capsys):
    code, out, _ = run_cli(capsys, *BASE, "--hold-ms", "40", "--json")
    assert code == 0
    data = json.loads(out)
    assert data == predict_wait(100, HoldTime(40, "exp"), 5).as_dict()
    assert list(data) == ["utilisation", "p_wait", "wait_ms", "timeout_rate", "open_connections", "method"]
    assert list(data["wait_ms"]) == ["mean", "p50", "p95", "p99"]
    assert list(data["open_connections"]) == ["mean", "p99"]


def test_cli_query_ms_adds_the_overhead(capsys):
    _, out_q, _ = run_cli(capsys, *BASE, "--query-ms", "30", "--checkout-overhead-ms", "2", "--json")
    expected = predict_wait(100, HoldTime(30, "exp").plus(2), 5).as_dict()
    assert json.loads(out_q) == expected
    _, out_d, _ = run_cli(capsys, *BASE, "--query-ms", "30", "--hold-dist", "const", "--json")
    assert json.loads(out_d)["method"] == "simulation"


def test_cli_percentiles(capsys):
    code, out, _ = run_cli(capsys, *BASE, "--hold-ms", "20", "--hold-p50", "16", "--hold-p95", "40",
                           "--hold-p99", "55", "--json")
    assert code == 0
    assert json.loads(out) == predict_wait(100, HoldTime.from_percentiles(20, 16, 40, 55), 5).as_dict()


def test_cli_overload_exits_1_with_the_finding(capsys):
    code, out, _ = run_cli(capsys, "wait", "--rps", "300", "--hold-ms", "25", "--pool-size", "5",
                           "--max-overflow", "0", "--pool-timeout", "2")
    assert code == 1
    assert "pool-overload" in out and "TimeoutError" in out and "method        simulation" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["wait", "--rps", "-5", "--hold-ms", "20", "--pool-size", "5", "--max-overflow", "0", "--pool-timeout",
          "30"], "rps: must be 0 or more"),
        (["wait", "--rps", "5", "--hold-ms", "20", "--pool-size", "0", "--max-overflow", "0", "--pool-timeout",
          "30"], "pool_size: must be a whole number of at least 1"),
        (["wait", "--rps", "5", "--hold-ms", "0", "--pool-size", "5", "--max-overflow", "0", "--pool-timeout",
          "30"], "hold_ms: must be a positive number"),
        ([*BASE], "one of the arguments --hold-ms --query-ms is required"),
        ([*BASE, "--hold-ms", "20", "--hold-p50", "10"], "give all three of --hold-p50"),
        ([*BASE, "--hold-ms", "20", "--checkout-overhead-ms", "1"], "--checkout-overhead-ms goes with --query-ms"),
        ([*BASE, "--hold-ms", "20", "--hold-dist", "pareto"], "invalid choice"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err


# --- recommend(): the smallest pool meeting the p99 wait target ----------------------------------------


def test_recommend_sizes_for_the_p99_target_by_default():
    from planner.model import Deployment, Server, Workload
    from planner.sizing import recommend

    args = (Server(max_connections=200), Deployment(instances=3, workers=4, surge=1),
            Workload(rps=1200, hold_ms=25, request_timeout_s=5))  # 100 req/s per worker x 25 ms = 2.5 busy
    little = recommend(*args, model="littles-law")
    queued = recommend(*args)
    assert (little.pool_size, queued.pool_size) == (4, 7)
    assert predict_wait(100, HoldTime(25, "exp"), 7).wait_p99_ms <= 10 < predict_wait(100, HoldTime(25), 6).wait_p99_ms
    assert queued.engines[0].reasons[0].startswith(
        "pool_size 7: 100 req/s per worker x 25 ms held = 2.50 busy connections on average; the queueing model "
        "(exponential 25 ms hold) needs 7 for p99 checkout wait <= 10 ms")
    assert "Little's law x 1.5 would give 4, whose p99 wait would be 58 ms" in queued.engines[0].reasons[0]
    const = recommend(*args, hold_dist="const")
    assert const.pool_size == 6 and const.engines[0].reasons[0].endswith("whose p99 wait would be 27 ms")
    const_hold = HoldTime(25, "const")
    assert predict_wait(100, const_hold, 6, sim_arrivals=30_000).wait_p99_ms <= 10
    assert predict_wait(100, const_hold, 5, sim_arrivals=30_000).wait_p99_ms > 10
    assert recommend(*args, target_p99_ms=100).pool_size == 4
    measured = Workload(rps=1200, hold_ms=25, hold_p50_ms=10, hold_p95_ms=80, hold_p99_ms=200, target_p99_wait_ms=5)
    assert "lognormal (log-sd 1.28) 25 ms hold" in recommend(*args[:2], measured).engines[0].reasons[0]


def test_pool_requirement_is_the_smallest_pool_meeting_the_target():
    from planner.queueing.requirement import pool_requirement
    from planner.sizing import required_pool_size

    light = pool_requirement(10, 5)  # 0.05 busy: one connection already meets 10 ms
    assert (light.pool_size, light.method) == (1, "queueing:erlang-c")
    heavy = pool_requirement(200, 30)  # 6 busy: Little x 1.5 = 9 waits 30 ms at p99
    assert heavy.pool_size == 11 > required_pool_size(200, 30).pool_size == 9
    assert predict_wait(200, HoldTime(30), 11).wait_p99_ms <= 10 < predict_wait(200, HoldTime(30), 10).wait_p99_ms
    big = pool_requirement(1000, 20)  # 20 busy: economies of scale, fewer than Little x 1.5 = 30
    assert big.pool_size == 26 and big.reason.endswith("Little's law x 1.5 would give 30 (more than needed)")
    with pytest.raises(InputError):
        pool_requirement(10, 5, hold_dist="pareto")
    with pytest.raises(InputError, match="target_p99_wait_ms"):
        pool_requirement(10, 5, target_p99_ms=0)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 3000), st.floats(0.2, 200), st.sampled_from([1.0, 10.0, 50.0]))
def test_smallest_pool_meets_the_target_and_one_less_does_not(rate, hold_ms, target):
    from planner.queueing.requirement import smallest_pool

    hold = HoldTime(hold_ms, "exp")
    size, prediction = smallest_pool(rate, hold, target)
    assert prediction.wait_p99_ms <= target and prediction.utilisation < 1
    assert prediction == predict_wait(rate, hold, size, 0, 30.0, sim_arrivals=30_000)
    if size > 1:
        below = predict_wait(rate, hold, size - 1, 0, 30.0, sim_arrivals=30_000)
        assert below.utilisation >= 1 or below.wait_p99_ms > target or below.timeout_rate >= 1e-3


@settings(max_examples=6, deadline=None)
@given(st.floats(5, 400), st.floats(2, 50))
def test_smallest_pool_for_constant_holds_checks_its_neighbour_by_simulation(rate, hold_ms):
    from planner.queueing.requirement import smallest_pool

    hold = HoldTime(hold_ms, "const")
    size, prediction = smallest_pool(rate, hold, 10.0)
    assert prediction.method == "simulation" and prediction.wait_p99_ms <= 10
    if size > math.floor(rate * hold_ms / 1000) + 1:
        assert predict_wait(rate, hold, size - 1, 0, 30.0, sim_arrivals=30_000).wait_p99_ms > 10


def test_cli_pre_ping_and_handoff(capsys):
    from planner.queueing import PRE_PING_OVERHEAD_MS

    _, out, _ = run_cli(capsys, *BASE, "--query-ms", "30", "--pre-ping", "--handoff-ms", "0.5", "--json")
    hold = HoldTime(30, "exp").plus(DEFAULT_CHECKOUT_OVERHEAD_MS + PRE_PING_OVERHEAD_MS)
    assert json.loads(out) == predict_wait(100, hold, 5, handoff_ms=0.5).as_dict()
    assert json.loads(out)["method"] == "simulation"
    code, _, err = run_cli(capsys, *BASE, "--hold-ms", "30", "--pre-ping")
    assert code == 2 and "--pre-ping goes with --query-ms" in err


def test_handoff_window_lets_arrivals_overtake_waiters():
    """asyncio hands a checked-in connection to a waiter only when the loop resumes it; an arrival that runs
    first takes it. P(wait) barely moves, the tail grows: waiters lose their place in line."""
    hold = HoldTime(20, "const")
    prompt = predict_wait(200, hold, 5, handoff_ms=0.0, force_simulation=True, sim_arrivals=SMALL)
    slow = predict_wait(200, hold, 5, handoff_ms=1.0, sim_arrivals=SMALL)
    assert abs(slow.p_wait - prompt.p_wait) < 0.05
    assert slow.wait_p99_ms > 1.3 * prompt.wait_p99_ms
    with pytest.raises(InputError):
        predict_wait(200, hold, 5, handoff_ms=-1)


@settings(max_examples=25, deadline=None)
@given(
    pool=st.integers(1, 8),
    overflow=st.integers(0, 6),
    utilisation=st.floats(0.1, 2.0),
    shape=st.sampled_from(["exp", "const"]),
    timeout_s=st.floats(0.05, 5.0),
    connect_ms=st.floats(0, 20),
    handoff_ms=st.floats(0, 2),
)
def test_simulation_respects_the_pool_limits(pool, overflow, utilisation, shape, timeout_s, connect_ms, handoff_ms):
    hold = HoldTime(20, shape)
    rate = utilisation * (pool + overflow) / 0.020
    sim = simulate(rate, hold, pool, overflow, timeout_s, connect_ms, handoff_ms, arrivals=2_000, seed=4)
    assert len(sim.waits_ms) == sim.arrivals == 1_800  # every measured arrival ends served or timed out
    assert 0 <= sim.timeouts <= sim.arrivals
    assert pool - 1e-9 <= sim.open_mean <= sim.open_max + 1e-9
    assert pool <= sim.open_p99 <= sim.open_max <= pool + overflow
    assert sim.busy_mean <= pool + overflow + 1e-9
    assert max(sim.waits_ms) <= timeout_s * 1000 + handoff_ms + 1e-6
    if overflow == 0:
        assert sim.connects_per_s == 0


@settings(max_examples=40, deadline=None)
@given(pool=st.integers(1, 30), utilisation=st.floats(0.05, 2.0), timeout_s=st.sampled_from([0.02, 0.3, 30.0]),
       seed=st.integers(0, 1000))
def test_the_fixed_pool_fast_path_gives_the_event_simulations_very_waits_for_constant_holds(
        pool, utilisation, timeout_s, seed):
    """Without overflow or hand-off delay the simulation takes a first-come-first-served shortcut; with
    constant holds it draws the same random numbers in the same order, so every wait is the same."""
    hold = HoldTime(20, "const")
    rate = utilisation * pool / 0.020
    fast = simulate(rate, hold, pool, 0, timeout_s, 3.0, 0.0, arrivals=3_000, seed=seed)
    slow = _events(rate, hold, pool, 0, timeout_s, 3.0, 0.0, 3_000, seed, 0.1)
    assert (fast.waits_ms, fast.timeouts, fast.arrivals) == (slow.waits_ms, slow.timeouts, slow.arrivals)
    assert (fast.open_mean, fast.open_p99, fast.open_max, fast.connects_per_s) == (pool, pool, pool, 0.0)
    assert fast.busy_mean <= pool + 1e-9
    if utilisation < 0.8:  # the event simulation also counts the time its queue takes to drain after the last arrival
        assert fast.busy_mean == pytest.approx(slow.busy_mean, rel=0.02, abs=0.05)


@pytest.mark.parametrize("shape", ["exp", "lognormal"])
@pytest.mark.parametrize(("pool", "utilisation"), [(5, 0.6), (10, 0.8)])
def test_the_fixed_pool_fast_path_agrees_with_the_event_simulation_for_variable_holds(shape, pool, utilisation):
    """Variable holds are drawn at arrival rather than at checkout: other numbers, the same queue."""
    hold = HoldTime(20, shape, sigma=1.0) if shape == "lognormal" else HoldTime(20, shape)
    rate = utilisation * pool / 0.020
    fast = simulate(rate, hold, pool, 0, 30.0, 3.0, 0.0, arrivals=200_000, seed=1)
    slow = _events(rate, hold, pool, 0, 30.0, 3.0, 0.0, 200_000, 1, 0.1)
    for q in (0.5, 0.95, 0.99):
        assert quantile(fast.waits_ms, q) == pytest.approx(quantile(slow.waits_ms, q), rel=0.1, abs=0.5), q
    assert fast.busy_mean == pytest.approx(slow.busy_mean, rel=0.01)
