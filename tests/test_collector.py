"""``pool-planner collect`` against real PostgreSQL: /metrics scraped from the running process, the dashboard
attaching to its history, SIGTERM, its own downtime drawn as a gap, bounded service labels, and the fault
matrix (a server stopped and restarted; a dead PgBouncer and a hanging probe not delaying the server)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from collector_kit import CollectorProcess, connections, plan_file, wait_until
from hypothesis import given
from hypothesis import strategies as st
from pgcluster import Cluster, free_port
from test_sampler_support import unique_name

from dashboard.live import collector_reader
from dashboard.live.collector import downtime_gaps, heartbeat_path
from dashboard.live.history import HistoryStore
from dashboard.live.metrics import OTHER, fold_services
from planner.snapshot import Snapshot

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------ pure parts


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers(1, 50), max_size=30), st.integers(1, 10),
       st.data())
def test_fold_services_bounds_the_labels_and_keeps_the_planned_ones(counts, limit, data):
    keep = set(data.draw(st.lists(st.sampled_from(sorted(counts)), max_size=3))) if counts else set()
    labels, folded = fold_services(counts, keep, limit)
    assert set(labels) == set(counts)
    named = {label for label in labels.values() if label != OTHER or OTHER in counts}
    assert len(named - {OTHER}) <= max(limit, len(keep))
    assert all(labels[name] == name for name in keep)
    assert folded == sum(1 for name, label in labels.items() if label == OTHER and name != OTHER) + (
        1 if OTHER in counts and labels.get(OTHER) == OTHER and OTHER not in keep and
        sorted((n for n in counts if n not in keep), key=lambda n: (-counts[n], n)).index(OTHER)
        >= max(0, limit - len(keep)) else 0)
    kept = [name for name, label in labels.items() if label == name and name not in keep and name != OTHER]
    dropped = [name for name, label in labels.items() if label != name]
    assert all(counts[k] >= counts[d] for k in kept for d in dropped)


def test_downtime_gap_is_written_once_at_the_first_missed_sample(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite")
    now = datetime.now(UTC)
    store.append(Snapshot("primary", now - timedelta(minutes=10), "ok"))
    store.append(Snapshot("fresh", now - timedelta(seconds=1), "ok"))
    store.flush()
    gaps = downtime_gaps(store, ["primary", "fresh", "never"], 1.0, now)
    store.close()
    assert [(g.server, g.status) for g in gaps] == [("primary", "error")]
    assert gaps[0].taken_at == now - timedelta(minutes=10) + timedelta(seconds=1)
    assert "no collector ran" in gaps[0].error


def test_collect_bad_input_is_one_line_and_exit_2(tmp_path):
    for args in (["--interval", "0"], ["--metrics-port", "70000"], ["--url", "mysql://x@y/z"]):
        done = subprocess.run([sys.executable, "-m", "pool_planner", "collect", *args, "--data", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------------ against a server


@pytest.mark.db
def test_metrics_scraped_from_the_running_collector(pg_url, tmp_path):
    app = unique_name("t-coll-api")
    plan = plan_file(tmp_path / "plan.toml", max_connections=100, services={app: (2, 1)})
    with CollectorProcess(["--config", str(plan), "--url", f"primary={pg_url}", "--data", str(tmp_path),
                           "--interval", "0.5"]) as collector, connections(pg_url, 3, app):
        wait_until(lambda: collector.value("pool_planner_connections", server="primary", service=app) == 3)
        assert collector.value("pool_planner_connections", server="primary", service=app, state="idle") == 3
        assert collector.value("pool_planner_up", kind="server", target="primary") == 1
        assert collector.value("pool_planner_usable_slots", server="primary") > 0
        assert 0 < collector.value("pool_planner_sample_latency_seconds", target="primary") < 5
        assert collector.value("pool_planner_plan_connections", server="primary", line="peak") == 3
        assert collector.value("pool_planner_plan_service_peak", server="primary", service=app) == 3
        assert collector.value("pool_planner_plan_headroom", server="primary") is not None
        text = collector.scrape_text()
        assert "password" not in text
        assert collector.terminate() == 0
    assert "primary:" in "".join(collector.lines) and "samples, last state ok" in "".join(collector.lines)
    histories = list(tmp_path.glob("history-*.sqlite"))
    assert len(histories) == 1 and not heartbeat_path(histories[0]).exists()
    with HistoryStore(histories[0]) as store:
        assert any(s.ok for s in store.snapshots("primary"))


@pytest.mark.db
def test_services_beyond_the_limit_fold_into_other(pg_url, tmp_path):
    planned = unique_name("t-coll-plan")
    plan = plan_file(tmp_path / "plan.toml", max_connections=100, services={planned: (2, 1)})
    extra = [unique_name(f"t-coll-x{i}") for i in range(3)]
    with CollectorProcess(["--config", str(plan), "--url", f"primary={pg_url}", "--data", str(tmp_path),
                           "--interval", "0.5", "--max-services", "2"]) as collector, \
            connections(pg_url, 1, planned), connections(pg_url, 3, extra[0]), connections(pg_url, 1, extra[1]), \
            connections(pg_url, 1, extra[2]):
        # a sample taken while the connections were still opening (planned first) would not fold yet: wait for both
        wait_until(lambda: collector.value("pool_planner_connections", server="primary", service=planned) == 1
                   and (collector.value("pool_planner_services_folded", server="primary") or 0) >= 2)
        services = {dict(labels)["service"] for (name, labels) in collector.scrape()
                    if name == "pool_planner_connections"}
        assert planned in services and OTHER in services
        assert len(services) == 3  # the planned service, the biggest other one, "other"
        assert collector.value("pool_planner_services_folded", server="primary") >= 2
        collector.terminate()


@pytest.mark.db
def test_dashboard_reads_the_collectors_history_and_sees_its_downtime(pg_url, tmp_path, monkeypatch):
    from dashboard.state import history_path

    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    servers = {"primary": pg_url}
    path = history_path(servers)
    assert collector_reader.attach(path, servers) is None  # no collector: the page samples itself
    args = ["--url", f"primary={pg_url}", "--data", str(tmp_path), "--interval", "0.5", "--metrics-port", "-1"]
    first = _collector_without_metrics(args)
    reader = wait_until(lambda: collector_reader.attach(path, servers))
    try:
        wait_until(lambda: reader.latest().get("primary") is not None and reader.latest()["primary"].ok)
        wait_until(lambda: reader.status()["primary"].state == "ok")  # the heartbeat is re-read every 0.5 s
        assert reader.running
        assert first.terminate() == 0
        wait_until(lambda: reader.status()["primary"].state == "error", 15)
        assert "collector stopped" in reader.status()["primary"].reason
        assert collector_reader.attach(path, servers) is None
        time.sleep(2.0)  # the collector is down for more than three intervals
        second = _collector_without_metrics(args)
        wait_until(lambda: collector_reader.attach(path, servers) is not None)
        wait_until(lambda: len([s for s in reader.history.snapshots("primary") if s.ok]) > 3)
        second.terminate()
        statuses = [s.status for s in reader.history.snapshots("primary")]
        gaps = [s for s in reader.history.snapshots("primary") if not s.ok]
        assert len(gaps) == 1 and "no collector ran" in gaps[0].error
        assert statuses.index("error") > 0 and "ok" in statuses[statuses.index("error"):]
    finally:
        reader.stop()


class _collector_without_metrics(CollectorProcess):
    """A CollectorProcess run with --metrics-port -1 (no line to wait for)."""

    def __init__(self, args):
        command = [sys.executable, "-m", "pool_planner", "collect", *args]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


# ------------------------------------------------------------------------------------------------ fault matrix


def _hanging_listener():
    """A TCP port that accepts and never answers (a hung probe or PgBouncer)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@pytest.mark.db
def test_server_down_and_back_while_dead_targets_never_delay_it(tmp_path):
    hung = _hanging_listener()
    dead_port = free_port()
    plan = plan_file(tmp_path / "plan.toml", max_connections=30, services={"api": (2, 1)})
    probes = f"api=http://127.0.0.1:{hung.getsockname()[1]}/probe"
    with Cluster({"max_connections": 30}) as cluster:
        args = ["--config", str(plan), "--url", f"primary={cluster.url()}", "--data", str(tmp_path),
                "--interval", "0.5", "--timeout", "2",
                "--pgbouncer", f"bouncer=postgresql://pgbouncer@127.0.0.1:{dead_port}/pgbouncer"]
        with CollectorProcess(args, env={"POOL_PLANNER_PROBES": probes}) as collector:
            wait_until(lambda: collector.value("pool_planner_up", kind="server", target="primary") == 1, 30)
            start = collector.value("pool_planner_last_sample_timestamp_seconds", target="primary")
            time.sleep(3.0)
            end = collector.value("pool_planner_last_sample_timestamp_seconds", target="primary")
            assert end - start >= 2.0  # sampled on time while the probe hangs 2 s each round and PgBouncer is dead
            assert collector.value("pool_planner_up", kind="pgbouncer", target="bouncer") == 0
            assert collector.value("pool_planner_probe_up", service="api", result="failed") >= 1

            cluster.stop()
            wait_until(lambda: collector.value("pool_planner_up", kind="server", target="primary") == 0, 15)
            failures = collector.value("pool_planner_sample_failures_total", kind="server", target="primary")
            assert failures >= 1
            cluster.start()
            wait_until(lambda: collector.value("pool_planner_up", kind="server", target="primary") == 1, 20)
            assert collector.proc.poll() is None
            assert collector.terminate() == 0
    hung.close()
    history = next(tmp_path.glob("history-*.sqlite"))
    with HistoryStore(history) as store:
        statuses = [s.status for s in store.snapshots("primary")]
    first_gap = next(i for i, s in enumerate(statuses) if s != "ok")
    assert "ok" in statuses[:first_gap] and "ok" in statuses[first_gap:]  # before and after the outage, kept


def test_export_rules_pass_promtool_and_grafana_is_json(tmp_path):
    from conftest import require_binary

    require_binary("/usr/bin/promtool", "prometheus")
    plan = plan_file(tmp_path / "plan.toml", max_connections=50, services={"api": (5, 5), "worker": (2, 0)})
    rules = tmp_path / "rules.yml"
    done = subprocess.run([sys.executable, "-m", "pool_planner", "export", "--config", str(plan),
                           "--format", "prometheus-rules", "--alert-for", "5"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rules.write_text(done.stdout)
    check = subprocess.run(["/usr/bin/promtool", "check", "rules", str(rules)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 9 rules found" in check.stdout
    assert "< 5" in done.stdout  # tight margin: 10% of usable 47, rounded up
    assert "> 10" in done.stdout and "> 2" in done.stdout  # the services' planned peaks
    grafana = subprocess.run([sys.executable, "-m", "pool_planner", "export", "--config", str(plan),
                              "--format", "grafana"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    panels = json.loads(grafana.stdout)["panels"]
    assert any("pool_planner_connections" in t["expr"] for p in panels for t in p["targets"])


@pytest.mark.db
def test_a_failing_history_store_is_exported_and_sampling_goes_on(pg_url, tmp_path):
    from test_history_faults import chattr

    data = tmp_path / "data"
    data.mkdir()
    chattr("+i", data)
    chattr("-i", data)
    args = ["--url", f"primary={pg_url}", "--data", str(data), "--interval", "0.3"]
    with CollectorProcess(args) as collector:
        wait_until(lambda: collector.value("pool_planner_up", kind="server", target="primary") == 1)
        files = [p for p in data.iterdir() if not p.name.endswith("-shm")] + [data]  # -shm: see test_history_faults
        subprocess.run(["chattr", "+i", *map(str, files)], check=True)
        try:
            wait_until(lambda: collector.value("pool_planner_history_ok") == 0, 15)
            wait_until(lambda: collector.value("pool_planner_history_unsaved_samples") >= 3, 15)
            before = collector.value("pool_planner_last_sample_timestamp_seconds", target="primary")
            time.sleep(1.0)
            assert collector.value("pool_planner_last_sample_timestamp_seconds", target="primary") > before
            assert collector.value("pool_planner_up", kind="server", target="primary") == 1
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=True)
        wait_until(lambda: collector.value("pool_planner_history_ok") == 1, 15)
        assert collector.terminate() == 0
    assert "history" in "".join(collector.lines).lower()
    history = next(data.glob("history-*.sqlite"))
    with HistoryStore(history) as store:
        errors = [s.error or "" for s in store.snapshots("primary") if not s.ok]
    assert any(e.startswith("not recorded: the history store failed") for e in errors)


def test_cached_point_findings_give_the_same_findings_as_judging_every_sample_again():
    from planner.model import Deployment, Engine, Plan, Server
    from planner.rules.live import tracked_live_findings
    from planner.snapshot import ActivityGroup, ServerSettings

    plan = Plan(servers=(Server(max_connections=40),), engines=(Engine(application_name="api", pool_size=2,
                                                                        max_overflow=1),),
                deployment=Deployment(instances=2, workers=2))
    settings = ServerSettings(40, 3, 0, 0, 0, False, 160000, True, "monitor")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pattern = [(4, None), (20, None), (20, 45.0), (36, 400.0), (5, None), (0, None)]
    samples = []
    for i in range(60):
        count, idle_tx = pattern[(i // 7) % len(pattern)]
        groups = (ActivityGroup("app", "app", "api", "10.0.0.1", "idle in transaction" if idle_tx else "idle",
                                None, count, 0, oldest_idle_in_transaction_s=idle_tx, oldest_backend_s=600.0),)
        status = "unreachable" if i % 13 == 12 else "ok"
        samples.append(Snapshot("primary", start + timedelta(seconds=i), status,
                                groups if status == "ok" else (), settings if status == "ok" else None))
    cache: dict = {}
    seen = set()
    for end in range(1, len(samples) + 1):
        window = samples[max(0, end - 20):end]
        fresh = [f.as_dict() for f in tracked_live_findings(plan, window)]
        cached = [f.as_dict() for f in tracked_live_findings(plan, window, point_keys=cache)]
        assert cached == fresh
        seen |= {f["id"] for f in fresh}
    assert {"too-many-connections", "idle-in-transaction", "connection-leak"} <= seen
