"""The demo's embedded PostgreSQL (pgserver), its PgBouncer when installed, and its worker processes.

Part of the demo (``dashboard.demo`` re-exports every name).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pgserver
from pgserver._commands import POSTGRES_BIN_PATH
from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

from dashboard import demo_pgbouncer
from dashboard.demo_plan import APP_ROLE, DEMO_PLAN, PGBOUNCER_CAPTION, PGBOUNCER_SCENARIO, SCENARIOS
from dashboard.demo_processes import (
    DEMO_PREFIX,
    OWNER_FILE,
    RUN_AS,
    WORKERS_FILE,
    _write_identities,
    sweep_orphaned_demos,
)
from dashboard.demo_worker import WorkerConfig, load_sql
from planner.model import Plan, Workload

ROOT = Path(__file__).resolve().parent.parent


class Demo:
    """An embedded PostgreSQL plus worker processes; start once per Streamlit server, stop at exit."""

    def __init__(self, plan: Plan = DEMO_PLAN, *, root: Path | None = None):
        self.plan = plan
        self.root = Path(root or tempfile.mkdtemp(prefix=DEMO_PREFIX, dir="/tmp"))
        self.control = self.root / "scenario.json"
        self._server = None
        self._workers: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self.pgbouncer: demo_pgbouncer.DemoPgBouncer | None = None
        self.pgbouncer_note: str | None = None
        """Why the demo runs no PgBouncer (not installed, failed to start), or None."""

    # -- server -------------------------------------------------------------------------------------------
    def _start_server(self) -> None:
        pgdata = self.root / "pgdata"
        pgdata.mkdir(exist_ok=True)
        if RUN_AS:
            ensure_user_exists(RUN_AS)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            self.root.chmod(0o755)
            entry = pwd.getpwnam(RUN_AS)
            os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            pgserver.initdb(["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                            pgdata=pgdata, user=RUN_AS)
            server = self.plan.servers[0]
            with (pgdata / "postgresql.conf").open("a") as conf:
                conf.write(f"\n# pool-planner demo\nmax_connections = {server.max_connections}\n"
                           f"superuser_reserved_connections = {server.superuser_reserved_connections}\n")
        self._server = pgserver.get_server(pgdata, cleanup_mode="delete")
        self._server.psql(load_sql("create_role"))
        self._start_pgbouncer()

    def _start_pgbouncer(self) -> None:
        """Debian's PgBouncer in front of the server when installed; otherwise a note says why not."""
        self.pgbouncer_note = demo_pgbouncer.unavailable_reason()
        if self.pgbouncer_note:
            return
        info = self._server.get_postmaster_info()
        bouncer = demo_pgbouncer.DemoPgBouncer(self.root / "pgbouncer", str(info.socket_dir), info.port, APP_ROLE,
                                               run_as=RUN_AS)
        try:
            self.pgbouncer = bouncer.start()
        except (OSError, RuntimeError, TimeoutError) as err:
            self.pgbouncer_note = f"the PgBouncer scenario is off: PgBouncer did not start ({err})"

    @property
    def scenarios(self) -> dict[str, str]:
        """The scenarios this demo offers: the PgBouncer one only with a PgBouncer running."""
        extra = {PGBOUNCER_SCENARIO: PGBOUNCER_CAPTION} if self.pgbouncer is not None else {}
        return {**SCENARIOS, **extra}

    def url(self, user: str = "postgres") -> str:
        """SQLAlchemy URL over the unix socket (no password: trust auth on a private socket)."""
        socket_dir = self._server.get_postmaster_info().socket_dir
        return f"postgresql+asyncpg://{user}@/postgres?host={socket_dir}"

    # -- workers ------------------------------------------------------------------------------------------
    def _worker_configs(self) -> list[WorkerConfig]:
        engine = self.plan.engines[0]
        workers = self.plan.deployment.processes
        workload = self.plan.workload or Workload(rps=40, hold_ms=25)
        base = self.service
        return [
            WorkerConfig(url=self.url(APP_ROLE), application_name=f"{base}-{i + 1}", pool_size=engine.pool_size,
                         max_overflow=engine.max_overflow, pool_timeout=engine.pool_timeout,
                         pool_recycle=engine.pool_recycle, pool_pre_ping=engine.pool_pre_ping,
                         rps=workload.per_worker_rps(self.plan.deployment), hold_ms=workload.hold_ms,
                         control=str(self.control), stats=str(self.root / f"stats-{i + 1}.json"), service=base,
                         pgbouncer_url=self.pgbouncer.app_url() if self.pgbouncer else "")
            for i in range(workers)
        ]

    def start(self) -> Demo:
        with self._lock:
            if not (self.root / OWNER_FILE).exists():
                _write_identities(self.root / OWNER_FILE, [os.getpid()])
            if self._server is None:
                self._start_server()
                self.set_scenario("normal")
            if not self._workers:
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                   os.environ.get("PYTHONPATH")]))}
                for config in self._worker_configs():
                    # the config on stdin, not in argv: its PgBouncer URL has a password, and argv is in ps
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "dashboard.demo_worker", "worker", "-"],
                        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                        stderr=open(self.root / f"{config.application_name}.log", "ab"),  # noqa: SIM115
                    )
                    with proc.stdin:  # type: ignore[union-attr]
                        proc.stdin.write(json.dumps(asdict(config)).encode())  # type: ignore[union-attr]
                    self._workers.append(proc)
                _write_identities(self.root / WORKERS_FILE, [p.pid for p in self._workers])
                atexit.register(self.stop)
        return self

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._workers if p.poll() is None]

    @property
    def application_names(self) -> list[str]:
        return [c.application_name for c in self._worker_configs()]

    @property
    def running(self) -> bool:
        return self._server is not None and bool(self.worker_pids)

    def set_scenario(self, name: str) -> None:
        if name == PGBOUNCER_SCENARIO and self.pgbouncer is None:
            raise ValueError(self.pgbouncer_note or "the demo runs no PgBouncer")
        if name not in self.scenarios:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps({"scenario": name, "since": time.time()}))
        tmp.replace(self.control)

    @property
    def scenario(self) -> str:
        try:
            return json.loads(self.control.read_text())["scenario"]
        except (OSError, ValueError, KeyError):
            return "normal"

    def stats(self) -> dict[str, dict[str, int]]:
        """Per worker: requests served, pool timeouts, refusals by the server, other errors."""
        out = {}
        for path in sorted(self.root.glob("stats-*.json")):
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())
                out[data.pop("application_name")] = data
        return out

    @property
    def service(self) -> str:
        """The service name the workers' probes report (their application_name without the ``-N``)."""
        return self.plan.engines[0].application_name or "demo-api"

    def probe_urls(self) -> list[str]:
        """Every running worker's probe endpoint, as the workers wrote them into their stats files."""
        return sorted({data["probe"] for data in self.stats().values() if isinstance(data.get("probe"), str)})

    def stop(self) -> None:
        """Stop the workers (SIGTERM, then SIGKILL after 5 s), then the server, then remove the folder."""
        with self._lock:
            for proc in self._workers:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            for proc in self._workers:
                try:
                    proc.wait(max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            self._workers.clear()
            if self.pgbouncer is not None:
                self.pgbouncer.stop()
                self.pgbouncer = None
            if self._server is not None:
                with contextlib.suppress(Exception):
                    self._server.cleanup()
                self._server = None
            shutil.rmtree(self.root, ignore_errors=True)


def start_demo(plan: Plan = DEMO_PLAN) -> Demo:
    """Start an embedded server and its workers (what the dashboard calls once, cached), after stopping the
    servers that earlier dashboards left behind."""
    sweep_orphaned_demos()
    return Demo(plan).start()
