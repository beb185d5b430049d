"""A real Prometheus (Debian's /usr/bin/prometheus, on a free loopback port) scraping a real collector that
samples a real PostgreSQL 16 with max_connections = 20: a connection storm makes the plan's generated
``PoolPlannerHeadroomTight`` alert fire within three evaluation intervals, closing the connections clears it,
the dashboard's Prometheus history reads the storm back through query_range, and stopping the collector fires
``PoolPlannerCollectorDown``."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from collector_kit import PROMETHEUS, CollectorProcess, Prometheus, connections, plan_file, wait_until
from conftest import require_binary
from pgcluster import Cluster

from dashboard.live.prometheus_history import PrometheusError, PrometheusHistory, step_for

pytestmark = pytest.mark.db
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
EVAL_S = 1.0
STORM = 16  # usable = 20 - 3 superuser-reserved = 17; the tight margin is ceil(10% of 17) = 2 free slots


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_binary(PROMETHEUS, "prometheus")
    folder = tmp_path_factory.mktemp("prom")
    plan = plan_file(folder / "plan.toml", max_connections=20, services={"api": (2, 0)})
    rules = folder / "rules.yml"
    done = subprocess.run([sys.executable, "-m", "pool_planner", "export", "--config", str(plan), "--format",
                           "prometheus-rules", "--alert-for", "0"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    rules.write_text(done.stdout)
    with Cluster({"max_connections": 20}) as cluster:
        collector = CollectorProcess(["--config", str(plan), "--url", f"primary={cluster.url()}", "--data",
                                      str(folder), "--interval", "0.5"])
        prometheus = Prometheus(folder, [f"127.0.0.1:{collector.port}"], rules, interval_s=EVAL_S)
        try:
            wait_until(lambda: prometheus.api("query", query="pool_planner_usable_slots")["result"], 30, 0.5)
            yield cluster, collector, prometheus
        finally:
            prometheus.stop()
            with collector:
                collector.terminate()


def firing(prometheus: Prometheus, name: str) -> bool:
    return any(a["state"] == "firing" for a in prometheus.alerts(name))


def test_storm_fires_the_headroom_alert_within_three_evaluations_and_recovery_clears_it(stack):
    cluster, collector, prometheus = stack
    assert not firing(prometheus, "PoolPlannerHeadroomTight")
    with connections(cluster.url(), STORM, "api"):
        wait_until(lambda: collector.value("pool_planner_connections", server="primary", service="api") == STORM)
        visible = time.monotonic()
        wait_until(lambda: firing(prometheus, "PoolPlannerHeadroomTight"), 10, 0.05)
        fired_after = time.monotonic() - visible
        print(f"\nPoolPlannerHeadroomTight fired {fired_after:.2f} s after the storm reached /metrics")
        assert fired_after <= 3 * EVAL_S
        assert firing(prometheus, "PoolPlannerServiceOverPlan")  # 16 connections of api, planned peak 2
        alert = prometheus.alerts("PoolPlannerHeadroomTight")[0]
        assert alert["labels"]["server"] == "primary" and alert["labels"]["severity"] == "warning"
    wait_until(lambda: collector.value("pool_planner_connections", server="primary", service="api") is None)
    cleared = time.monotonic()
    wait_until(lambda: not firing(prometheus, "PoolPlannerHeadroomTight"), 10, 0.05)
    print(f"cleared {time.monotonic() - cleared:.2f} s after the connections closed")
    assert time.monotonic() - cleared <= 3 * EVAL_S + 1


def test_dashboard_history_from_prometheus_reads_the_storm_back(stack):
    cluster, collector, prometheus = stack
    history = PrometheusHistory(prometheus.url)
    since = datetime.now(UTC) - timedelta(minutes=5)
    with connections(cluster.url(), 5, "api"):
        wait_until(lambda: collector.value("pool_planner_connections", server="primary", service="api") == 5)
        time.sleep(2.5 * EVAL_S)  # scraped at least twice
        wait_until(lambda: (history.read_frame("primary", since)["application_name"] == "api").any())
        frame = history.read_frame("primary", since)
    api = frame[frame["application_name"] == "api"]
    assert api["count"].max() >= 5 and set(api["status"]) == {"ok"}
    assert frame["taken_at"].is_monotonic_increasing and str(frame["taken_at"].dt.tz) == "UTC"
    assert "primary" in history.servers()
    assert len(history.read_frame("primary", since)["taken_at"].unique()) <= 2_000
    assert step_for(since - timedelta(days=30), since) * 1999 >= 30 * 86_400


def test_prometheus_down_is_an_error_line_and_an_empty_frame():
    history = PrometheusHistory("http://127.0.0.1:9/")
    with pytest.raises(PrometheusError, match=r"Prometheus at http://127\.0\.0\.1:9"):
        history.read_frame("primary")
    assert history.frame("primary").empty and history.last_error


def test_collector_down_fires_its_alert(stack):
    _, collector, prometheus = stack
    assert not firing(prometheus, "PoolPlannerCollectorDown")
    assert collector.terminate() == 0
    wait_until(lambda: firing(prometheus, "PoolPlannerCollectorDown"), 15, 0.2)
