"""The dashboard page (Streamlit's AppTest) while ``pool-planner collect`` runs for the same server: the page
reads the collector's history and opens no connection of its own (one monitor backend on the server, the
collector's), and shows the live sample the collector took."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from collector_kit import CollectorProcess, connections, wait_until
from pgcluster import Cluster
from streamlit.testing.v1 import AppTest

from dashboard.live.db import MONITOR_APPLICATION_NAME

pytestmark = pytest.mark.db
APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def monitor_backends(cluster: Cluster) -> int:
    return int(cluster.psql("SELECT count(*) FROM pg_catalog.pg_stat_activity "
                            f"WHERE application_name = '{MONITOR_APPLICATION_NAME}'"))


def test_the_page_reads_the_collectors_history_and_samples_nothing_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    with Cluster({"max_connections": 30}) as cluster, \
            CollectorProcess(["--url", f"primary={cluster.url()}", "--data", str(tmp_path), "--interval", "0.5"]) \
            as collector, connections(cluster.url(), 3, "page-app"):
        wait_until(lambda: collector.value("pool_planner_connections", server="primary", service="page-app") == 3)
        assert monitor_backends(cluster) == 1
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets["DATABASE_URL"] = cluster.url()
        at.run()
        deadline = time.monotonic() + 20
        while not at.session_state["prefilled"] if "prefilled" in at.session_state else True:
            assert time.monotonic() < deadline, "no live sample within 20 s"
            time.sleep(0.3)
            at.run()
        assert not at.exception
        assert monitor_backends(cluster) == 1  # the collector's only: the page did not connect
        headlines = [m.value for m in at.markdown if "client connections" in m.value]
        assert any("**3**" in h or "**4**" in h for h in headlines), headlines  # the collector's sample
        collector.terminate()
