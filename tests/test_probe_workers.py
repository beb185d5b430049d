"""The probe behind ``uvicorn --workers 2`` (real worker processes, one port): with ``POOL_PROBE_DIR`` any
worker's ``/probe/json`` and ``/probe/metrics`` show every worker, and the figures add up to what the test
itself did (requests sent, connections held, as pg_stat_activity counts them)."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from pgcluster import free_port
from polling import wait_until as poll
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.db


# the workers' endpoints refuse connections until they are up: that is 'not yet', not a failure
wait_until = functools.partial(poll, timeout_s=30.0, step_s=0.2, retry_on=(OSError,))

def fetch(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def probes(base: str) -> list[dict]:
    return json.loads(fetch(f"{base}/probe/json"))["probes"]



@pytest.fixture
def service(pg_url, tmp_path):
    port = free_port()
    name = f"probe-workers-{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": pg_url, "POOL_PROBE_DIR": str(tmp_path / "probe"), "SERVICE_NAME": name,
           "POOL_SIZE": "2", "MAX_OVERFLOW": "2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", "examples", "probe_app:app", "--workers", "2",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "uvicorn.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: len({p["pid"] for p in probes(base)}) == 2, what="both workers publishing")
        yield base, name
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def server_active(pg_url: str, name: str) -> int:
    engine = create_engine(pg_url.replace("+asyncpg", "+psycopg"))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = "
                                     ":name AND state = 'active'"), {"name": name}).scalar() or 0
    finally:
        engine.dispose()


def test_every_worker_is_seen_through_one_port(service, pg_url):
    base, name = service
    for _ in range(20):
        fetch(f"{base}/hold?ms=0")
    # every worker publishes once a second: wait for the counts the test made to arrive
    wait_until(lambda: sum(p["checkouts"] for p in probes(base)) == 20, what="20 checkouts over both workers")
    threads = [threading.Thread(target=fetch, args=(f"{base}/hold?ms=3000", 10)) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: server_active(pg_url, name) == 4, what="4 requests holding a connection on the server")
    held = wait_until(lambda: (lambda ps: ps if sum(p["checked_out"] for p in ps) == 4 else None)(probes(base)),
                      timeout_s=5, what="4 checked out over both workers")
    for thread in threads:
        thread.join()
    assert {p["service"] for p in held} == {name}
    assert len({p["pid"] for p in held}) == 2
    assert all(p["pool_size"] == 2 and p["max_overflow"] == 2 for p in held)
    text_body = fetch(f"{base}/probe/metrics").decode()
    pids = {p["pid"] for p in held}
    for pid in pids:
        assert f'pool_probe_checked_out{{service="{name}",engine="default",pid="{pid}"}}' in text_body
