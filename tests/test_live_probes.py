"""Collecting the in-app probes: real endpoints (a probed pool on real PostgreSQL behind ``serve``), a dead
port, an endpoint that never answers and one that is not a probe, read concurrently within the timeout; the
window between two samples; ``live sample --json``'s ``probes`` key; the probe rules on hand-built readings."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pgcluster import free_port
from sqlalchemy import create_engine

from dashboard.live.cli import main
from dashboard.live.probes import ProbeCollector, ProbeTarget, parse_env, probe_targets, sample_probes
from planner.config import plan_from_toml
from planner.model import Deployment, Engine, InputError, Plan, Workload
from planner.probe import instrument, serve, uninstrument
from planner.probe.histogram import Summary
from planner.probe.reading import ProbeReading
from planner.rules.probe import probe_findings
from planner.rules.thresholds import DEFAULT_THRESHOLDS

CONTRACT_KEYS = {"service", "pid", "checked_out", "idle", "overflow", "waiting", "timeouts", "wait_ms", "hold_ms",
                 "status"}


@pytest.fixture
def endpoint(pg_url):
    """A probed sync pool (pool_size 2, max_overflow 1) served on a free port."""
    engine = create_engine(pg_url.replace("+asyncpg", "+psycopg"), pool_size=2, max_overflow=1, pool_timeout=0.2)
    probe = instrument(engine, service="orders")
    server = serve(port=0)
    try:
        yield engine, f"http://127.0.0.1:{server.server_address[1]}/probe"
    finally:
        server.shutdown()
        server.server_close()
        uninstrument(probe)
        engine.dispose()


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def not_a_probe():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"hello": "world"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/probe"
    server.shutdown()
    server.server_close()


@pytest.mark.db
def test_good_dead_silent_and_foreign_endpoints_in_one_bounded_round(endpoint, silent_port, not_a_probe):
    engine, url = endpoint
    held = [engine.connect() for _ in range(3)]
    targets = [ProbeTarget(url, "orders"), ProbeTarget(f"http://127.0.0.1:{free_port()}/probe", "dead"),
               ProbeTarget(f"http://127.0.0.1:{silent_port}/probe", "silent"), ProbeTarget(not_a_probe, "foreign")]
    started = time.monotonic()
    readings = {r.service: r for r in sample_probes(targets, timeout_s=1.0)}
    elapsed = time.monotonic() - started
    for conn in held:
        conn.close()
    assert elapsed < 2.0  # concurrent: the silent one costs its timeout once, nobody waits for it twice
    ok = readings["orders"]
    assert ok.status == "ok" and (ok.checked_out, ok.idle, ok.overflow, ok.waiting) == (3, 0, 1, 0)
    assert ok.pool_size == 2 and ok.window_s is None
    assert readings["dead"].status.startswith("unreachable") and readings["dead"].pid is None
    assert readings["silent"].status.startswith("timeout")
    assert readings["foreign"].status.startswith("bad document")
    assert set(ok.as_dict()) >= CONTRACT_KEYS and set(ok.as_dict()["wait_ms"]) == {"p50", "p95", "p99", "mean"}


@pytest.mark.db
def test_second_sample_covers_only_the_window(endpoint):
    engine, url = endpoint
    collector = ProbeCollector([ProbeTarget(url, "orders")], timeout_s=2.0)
    try:
        for _ in range(50):
            engine.connect().close()
        first = collector.collect()[0]
        holders = [engine.connect() for _ in range(3)]
        with pytest.raises(Exception, match="QueuePool limit"):
            engine.connect()
        for conn in holders:
            conn.close()
        second = collector.collect()[0]
    finally:
        collector.close()
    assert first.checkouts == 50 and first.window_s is None
    assert second.checkouts_window == 3 and second.timeouts_window == 1 and second.timeouts == 1
    assert second.window_s is not None and second.window_s > 0
    # the window holds 4 waits, one of them the 200 ms timeout: its p99 is that wait, the lifetime's is not
    assert second.wait_ms.count == 4 and second.wait_ms.p99 >= 150
    assert second.checked_out_p99 == 3


@pytest.mark.db
def test_live_sample_json_has_a_probe_entry_per_endpoint(endpoint, pg_url, tmp_path, capsys):
    engine, url = endpoint
    dead = f"http://127.0.0.1:{free_port()}/probe"
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(f'[[servers]]\nname = "primary"\n[[engines]]\nname = "primary"\n'
                         f'application_name = "orders"\nprobes = ["{url}", "{dead}"]\n')
    with engine.connect():
        code = main(["sample", "--url", pg_url, "--config", str(plan_file), "--json", "--timeout", "2"])
    document = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    probes = document["probes"]
    assert next(p["status"] for p in probes) == "ok" and probes[1]["status"].startswith("unreachable")
    assert all(set(p) >= CONTRACT_KEYS for p in probes)
    assert probes[0]["checked_out"] == 1 and probes[1]["service"] == "orders"


def test_targets_come_from_the_plan_and_the_environment():
    plan = plan_from_toml('[[engines]]\nname = "primary"\napplication_name = "api"\n'
                          'probes = ["http://10.0.0.5:8000/probe"]\n')
    targets = probe_targets(plan, {"POOL_PLANNER_PROBES": "jobs=http://10.0.0.6:9000/probe/json, "
                                                          "http://10.0.0.5:8000/probe"})
    assert [(t.service, t.json_url) for t in targets] == [("api", "http://10.0.0.5:8000/probe/json"),
                                                          ("jobs", "http://10.0.0.6:9000/probe/json")]
    with pytest.raises(InputError, match="http"):
        parse_env("orders=ftp://x")
    with pytest.raises(InputError, match="probes"):
        plan_from_toml('[[engines]]\nprobes = "http://x"\n')


# ------------------------------------------------------------------------------------------ rules (pure)


def reading(**kw) -> ProbeReading:
    base = dict(endpoint="http://x/probe", service="orders", engine="default", status="ok", taken_at=0.0, pid=1,
                pool_size=10, max_overflow=5, checked_out=2, idle=3, overflow=0, waiting=0, checkouts=5000,
                timeouts=0, pre_ping_failures=0, window_s=1.0, checkouts_window=100, timeouts_window=0,
                pre_ping_failures_window=0, checked_out_p99=2,
                wait_ms=Summary(0.1, 0.2, 0.3, 0.1, 100), hold_ms=Summary(18, 30, 40, 20, 300))
    base.update(kw)
    return ProbeReading(**base)


PLAN = Plan(engines=(Engine(application_name="orders"),), deployment=Deployment(),
            workload=Workload(rps=100, hold_ms=20))


def ids(findings):
    return sorted(f.id for f in findings)


def test_a_healthy_pool_has_no_finding():
    assert probe_findings(PLAN, [[reading()]]) == []


def test_waiters_warn_and_timeouts_are_critical():
    assert [(f.id, f.severity) for f in probe_findings(PLAN, [[reading(waiting=3)]])] == [("pool-exhausted",
                                                                                          "warning")]
    found = probe_findings(PLAN, [[reading(timeouts_window=2, timeouts=9)]])
    assert [(f.id, f.severity) for f in found] == [("pool-exhausted", "critical")]
    assert "2 pool timeout(s) in the last 1 s" in found[0].message


def test_pre_ping_failures_and_hold_drift():
    found = probe_findings(PLAN, [[reading(pre_ping_failures_window=1, hold_ms=Summary(50, 80, 90, 45, 300))]])
    assert ids(found) == ["hold-time-drift", "pre-ping-failures"]
    assert probe_findings(None, [[reading(hold_ms=Summary(50, 80, 90, 45, 300))]]) == []  # no plan, no drift


def test_oversized_needs_a_long_window_of_low_use():
    short = [[reading()] for _ in range(10)]
    assert probe_findings(PLAN, short) == []
    minutes = int(DEFAULT_THRESHOLDS.pool_oversized_window_s // 60) + 1
    long = [[reading(window_s=60.0, checkouts_window=500)] for _ in range(minutes)]
    assert ids(probe_findings(PLAN, long)) == ["pool-oversized"]
    busy = [[reading(window_s=60.0, checkouts_window=500, checked_out_p99=9)] for _ in range(minutes)]
    assert probe_findings(PLAN, busy) == []


def test_failed_readings_are_ignored_by_the_rules():
    assert probe_findings(PLAN, [[ProbeReading("http://x", "orders", "default", "unreachable: refused", 0.0)]]) == []


def _item(started_at: float, taken_at: float, checkouts: int, wait_counts: list[int]) -> dict:
    from planner.probe.histogram import BOUNDS_S

    counts = wait_counts + [0] * (len(BOUNDS_S) + 1 - len(wait_counts))
    hist = {"counts": counts, "sum_s": 0.001 * sum(counts), "count": sum(counts)}
    return {"service": "orders", "engine": "default", "pid": 7, "started_at": started_at, "taken_at": taken_at,
            "checked_out": 1, "checkouts": checkouts, "timeouts": 0, "histograms": {"wait": hist, "hold": hist}}


def test_a_restarted_process_is_read_from_scratch_and_a_stale_one_is_not_windowed_twice():
    from dashboard.live.probes import reading_from_item

    target = ProbeTarget("http://w/probe", "orders")
    first, raw = reading_from_item(target, _item(100.0, 110.0, 50, [50]), None, 110.0, 1.0)
    second, raw2 = reading_from_item(target, _item(100.0, 111.0, 60, [60]), raw, 111.0, 1.0)
    assert (second.window_s, second.checkouts_window, second.wait_ms.count) == (1.0, 10, 10)
    assert first.window_s is None and first.checkouts == 50
    same, raw3 = reading_from_item(target, _item(100.0, 111.0, 60, [60]), raw2, 111.5, 1.0)  # not republished
    assert same.checkouts_window == 10 and raw3 is raw2
    restarted, _ = reading_from_item(target, _item(200.0, 201.0, 5, [5]), raw2, 201.0, 1.0)
    assert restarted.window_s is None and restarted.checkouts == 5 and restarted.wait_ms.count == 5


def test_a_bad_number_in_a_document_is_a_status_not_a_crash(monkeypatch):
    import dashboard.live.probes as probes_module

    monkeypatch.setattr(probes_module, "fetch_document",
                        lambda url, timeout_s: {"probes": [{"service": "x", "pid": "seven"}]})
    [reading] = sample_probes([ProbeTarget("http://w/probe", "orders")], timeout_s=1.0)
    assert reading.status.startswith("bad document") and reading.pid is None
