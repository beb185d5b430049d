"""Helpers for the collector's tests: ``pool-planner collect`` as a real subprocess, scraping its /metrics, client
connections that hold slots (psycopg), and a real Prometheus (Debian's /usr/bin/prometheus) on a free port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
from pgcluster import free_port
from polling import wait_until
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = "/usr/bin/prometheus"


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+asyncpg://...) as libpq takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://").replace("postgresql+psycopg://", "postgresql://")



class CollectorProcess:
    """``python -m pool_planner collect ARGS --metrics-port 0`` with its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None):
        command = [sys.executable, "-m", "pool_planner", "collect", "--metrics-port", "0", *args]
        self.proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = wait_until(lambda: next((ln for ln in self.lines if ln.startswith("metrics at ")), None)
                          or (self.proc.poll() is not None and "exited"), 30)
        if line == "exited":
            raise AssertionError("collector exited:\n" + "".join(self.lines))
        self.metrics_url = line.split()[-1]
        self.port = int(urllib.parse.urlsplit(self.metrics_url).port)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def scrape_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return response.read().decode()

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        """{(sample name, frozenset of label items): value}."""
        found = {}
        for family in text_string_to_metric_families(self.scrape_text()):
            for sample in family.samples:
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return found

    def value(self, name: str, **labels: str) -> float | None:
        wanted = set(labels.items())
        for (sample, items), value in self.scrape().items():
            if sample == name and wanted <= set(items):
                return value
        return None

    def terminate(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout_s)
        self._reader.join(5)
        return rc

    def __enter__(self) -> CollectorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@contextlib.contextmanager
def connections(url: str, count: int, application_name: str, *, idle_in_transaction: bool = False):
    """``count`` client connections named ``application_name``, held open (idle, or idle in a transaction)."""
    held = []
    try:
        for _ in range(count):
            conn = psycopg.connect(libpq_url(url), application_name=application_name, autocommit=True)
            if idle_in_transaction:
                conn.autocommit = False
                conn.execute("SELECT 1")
            held.append(conn)
        yield held
    finally:
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()


def plan_file(path: Path, *, max_connections: int, services: dict[str, tuple[int, int]],
              superuser_reserved: int = 3, extra: str = "") -> Path:
    """A plan TOML with one server ``primary`` and one engine per service: {application_name: (pool, overflow)}."""
    lines = ["[[servers]]", 'name = "primary"', f"max_connections = {max_connections}",
             f"superuser_reserved_connections = {superuser_reserved}", "major_version = 16", ""]
    for app, (pool, overflow) in services.items():
        lines += ["[[engines]]", f'name = "{app}"', 'server = "primary"', f"pool_size = {pool}",
                  f"max_overflow = {overflow}", f'application_name = "{app}"', ""]
    path.write_text("\n".join(lines) + extra)
    return path


class Prometheus:
    """Debian's Prometheus on a free loopback port, scraping ``targets`` every ``interval_s`` with ``rules``."""

    def __init__(self, folder: Path, targets: list[str], rules: Path | None = None, interval_s: float = 1.0,
                 job: str = "pool-planner"):
        self.port = free_port()
        config = {
            "global": {"scrape_interval": f"{int(interval_s * 1000)}ms",
                       "evaluation_interval": f"{int(interval_s * 1000)}ms", "scrape_timeout": "900ms"},
            "rule_files": [str(rules)] if rules else [],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
        }
        (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = open(folder / "prometheus.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: self._ready(), 60, 0.3)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited: " + Path(self.log.name).read_text()[-2000:])
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""), timeout=10) as r:
            document = json.loads(r.read())
        assert document["status"] == "success", document
        return document["data"]

    def alerts(self, name: str) -> list[dict]:
        return [a for a in self.api("alerts")["alerts"] if a["labels"].get("alertname") == name]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
