"""The first-run demo: an embedded PostgreSQL (pgserver) and a real workload to watch.

``Demo.start()`` initialises a throwaway PostgreSQL 16 with a small ``max_connections`` (40), creates a
non-superuser application role, and starts several worker PROCESSES (``python -m dashboard.demo worker``).
Each worker has its own ``create_async_engine`` configured from the demo plan and its own
``application_name``, and serves a Poisson stream of requests. The user switches scenarios at run time
(a control file every worker polls): normal traffic, a leaking session left idle in transaction, a cold
start (pools emptied and a burst of new backends), and a connection storm that breaks the budget.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from uuid import uuid4

from dashboard import demo_pgbouncer
from planner.model import Deployment, Engine, Plan, Server, Workload
from planner.probe import instrument, serve

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = Path(__file__).with_name("demo_sql")
MAX_CONNECTIONS = 40
DEMO_PREFIX = "pooldemo"  # demo folders are /tmp/pooldemo*
OWNER_FILE = "owner"  # "<pid> <start time>" of the dashboard process that started the demo
WORKERS_FILE = "workers"  # one "<pid> <start time>" line per worker process
APP_ROLE = "demo_app"
RUN_AS = "pgserver" if os.geteuid() == 0 else None
"""PostgreSQL refuses to run as root: as root, the embedded server runs as pgserver's own system user."""
SCENARIOS: dict[str, str] = {
    "normal": "steady traffic: each pool keeps what it needed at once, at most pool_size (the steady line)",
    "leaking session": "handlers that open a transaction and never close it (idle in transaction)",
    "cold start": "every 20 s the workers restart their pools with the lesson's one-connection warm-up; 10 s of "
                  "quiet traffic, then a burst of 7 requests at once per worker opens new backends",
    "connection storm": "every worker's pool runs at pool_size + max_overflow: the fleet outgrows the server",
}
PGBOUNCER_SCENARIO = "PgBouncer queue"
PGBOUNCER_CAPTION = (f"requests go through a PgBouncer with {demo_pgbouncer.DEFAULT_POOL_SIZE} server connections that "
                     "cannot keep up: clients wait in PgBouncer, unseen by the server")
"""Offered only when Debian's PgBouncer is installed (``Demo.scenarios``); ``Demo.pgbouncer_note`` says why not."""
COLD_CYCLE_S = 20.0
"""Cold start: one cycle (pools disposed and warmed up the lesson's way at its start)."""
COLD_QUIET_S = 10.0
"""Cold start: seconds of one-request-at-a-time traffic after the warm-up: each pool keeps its one connection,
so the fleet sits at 1 per worker, below half the plan's pool_size x workers (cold-pool's threshold)."""
COLD_BURST = 7
"""Cold start: requests arriving at once in every worker when the quiet ends: 4 x 6 new backends within one
sample interval, the jump cold-pool's burst rule looks for (at least 20 by default), and 4 x 7 = 28 stays below
the 37 usable slots (no refusal muddles it)."""
COLD_BURST_HOLD_S = 1.5


DEMO_PLAN = Plan(
    servers=(Server(name="primary", max_connections=MAX_CONNECTIONS, superuser_reserved_connections=3),),
    engines=(
        Engine(name="primary", server="primary", pool_size=4, max_overflow=6, pool_timeout=5, pool_recycle=600,
               pool_pre_ping=True, application_name="demo-api"),
    ),
    deployment=Deployment(instances=1, workers=4, surge=0),
    workload=Workload(rps=60, hold_ms=25, request_timeout_s=10),
)
"""The demo fleet: 4 workers x (4 + 6) = 40 at peak > 37 usable, while the lesson's rule (4 x 4 = 16) passes."""


@cache
def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


@dataclass(frozen=True)
class WorkerConfig:
    """What one worker process needs: where to connect, its pool settings and its traffic."""

    url: str
    application_name: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: float
    pool_pre_ping: bool
    rps: float
    hold_ms: float
    control: str
    stats: str
    pgbouncer_url: str = ""
    """The same database through the demo's PgBouncer (the "PgBouncer queue" scenario), "" without one."""
    service: str = ""
    """The service the probe reports (the plan's application_name; the workers' names add ``-N``)."""


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
        import pgserver
        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        pgdata = self.root / "pgdata"
        pgdata.mkdir(exist_ok=True)
        if RUN_AS:
            import pwd

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
                        [sys.executable, "-m", "dashboard.demo", "worker", "-"],
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


def _process_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _process_start(pid: int) -> str | None:
    """A process's start time (field 22 of /proc/<pid>/stat), or None once it is gone: with the PID it names
    one process, even after the PID is given to another."""
    fields = _process_stat(pid)
    return fields[19] if fields else None


def _write_identities(path: Path, pids: list[int]) -> None:
    """One "<pid> <start time>" line per process: with the start time, a PID names one process for ever."""
    path.write_text("".join(" ".join((str(pid), str(_process_start(pid)))) + "\n" for pid in pids))


def _read_identities(path: Path) -> list[tuple[int, str]]:
    """What ``_write_identities`` wrote (a start time that could not be read is "None": it matches no process).
    Raises OSError when the file is missing, ValueError when it is not such a file."""
    return [(int(pid), started) for pid, started in (line.split() for line in path.read_text().splitlines())]


def sweep_orphaned_demos(folder: Path = Path("/tmp")) -> list[Path]:
    """Stop and remove the demos whose dashboard died without stopping them (SIGKILL, the OOM killer).

    Their workers would exit on their own within half a second, but the embedded PostgreSQL would run, and
    its folder stay, for ever. Only folders with an owner file naming a process that is gone are touched.
    The workers are killed first: one still writing its stats file into the folder would keep it from
    being removed.
    """
    removed = []
    for root in sorted(folder.glob(f"{DEMO_PREFIX}*")):
        try:
            [(pid, started)] = _read_identities(root / OWNER_FILE)
        except (OSError, ValueError):
            continue  # not a demo folder, or one being created
        owner_alive = _process_start(pid) == started
        if owner_alive:
            continue
        _kill_workers(root)
        demo_pgbouncer.kill_orphan(root / "pgbouncer")
        pgdata = root / "pgdata"
        if (pgdata / "postmaster.pid").exists():
            import pgserver

            with contextlib.suppress(Exception):
                pgserver.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=RUN_AS, timeout=60)
        for _ in range(10):
            shutil.rmtree(root, ignore_errors=True)
            if not root.exists():
                removed.append(root)
                break
            time.sleep(0.2)
    return removed


def _kill_workers(root: Path, timeout: float = 5.0) -> None:
    """SIGKILL the worker processes a demo folder names (those still running: PID and start time match) and
    wait until none runs."""
    try:
        workers = _read_identities(root / WORKERS_FILE)
    except (OSError, ValueError):
        return
    for pid, started in workers:
        if _running(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(pid, started) for pid, started in workers):
        time.sleep(0.05)


def _running(pid: int, started: str) -> bool:
    """True while the process is alive (a zombie, dead but not yet reaped, writes nothing)."""
    fields = _process_stat(pid)
    return bool(fields) and fields[19] == started and fields[0] != "Z"


# -- the worker process ---------------------------------------------------------------------------------------

class _Worker:
    """One application process: an async engine from the plan and a stream of requests."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self.counts = {"served": 0, "pool_timeouts": 0, "refused": 0, "errors": 0, "leaked": 0}
        self.scenario = "normal"
        self.engine = self._engine()
        self.bouncer_engine = None
        self.leaks: list[asyncio.Task] = []
        self.inflight: set[asyncio.Task] = set()
        self.since = time.time()
        """When the scenario was switched (wall clock, from the control file): the cold start cycle's origin."""
        self._cold_cycle = -1
        self._burst_fired = False
        # the in-app probe, on its own port: the dashboard shows this pool next to the server's view
        instrument(self.engine, service=config.service or config.application_name)
        self.probe_server = serve(port=0)

    def _engine(self, url: str | None = None):
        from sqlalchemy.ext.asyncio import create_async_engine

        c = self.config
        connect_args: dict = {"server_settings": {"application_name": c.application_name}}
        if url:  # through the demo's PgBouncer 1.18 in transaction mode: no prepared statement kept
            connect_args.update(statement_cache_size=0, prepared_statement_name_func=lambda: f"__asyncpg_{uuid4()}__")
        return create_async_engine(
            url or c.url, pool_size=c.pool_size, max_overflow=c.max_overflow, pool_timeout=c.pool_timeout,
            pool_recycle=c.pool_recycle, pool_pre_ping=c.pool_pre_ping, connect_args=connect_args,
        )

    def _request_engine(self):
        """The engine of this moment's scenario: through PgBouncer in the PgBouncer one."""
        if self.scenario != PGBOUNCER_SCENARIO or not self.config.pgbouncer_url:
            return self.engine
        if self.bouncer_engine is None:
            self.bouncer_engine = self._engine(self.config.pgbouncer_url)
        return self.bouncer_engine

    async def request(self, hold_s: float) -> None:
        from sqlalchemy import exc, text

        try:
            async with self._request_engine().connect() as conn:
                await conn.execute(text(load_sql("request")), {"hold_s": hold_s})
            self.counts["served"] += 1
        except exc.TimeoutError:
            self.counts["pool_timeouts"] += 1
        except exc.DBAPIError as err:
            refused = getattr(err.orig, "sqlstate", None) == "53300"
            self.counts["refused" if refused else "errors"] += 1
        except Exception:
            self.counts["errors"] += 1

    async def leak(self) -> None:
        """A handler that begins a transaction and never ends it: the session stays idle in transaction."""
        from sqlalchemy import text

        try:
            async with self.engine.connect() as conn:
                await conn.execute(text(load_sql("leak")))
                self.counts["leaked"] += 1
                await asyncio.Event().wait()  # forgotten until the scenario changes (cancelled)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counts["errors"] += 1

    def read_scenario(self) -> str:
        try:
            control = json.loads(Path(self.config.control).read_text())
            self.since = float(control.get("since", self.since))
            return control["scenario"]
        except (OSError, ValueError, KeyError, TypeError):
            return self.scenario

    async def cold_start_step(self, hold_s: float) -> bool:
        """One step of the cold start cycle (wall clock from the switch, so every worker is in step: a sample
        sees all of them quiet, then all of them bursting). True when this step took the place of a request."""
        elapsed = max(time.time() - self.since, 0.0)
        cycle, phase = int(elapsed // COLD_CYCLE_S), elapsed % COLD_CYCLE_S
        if cycle != self._cold_cycle:
            self._cold_cycle, self._burst_fired = cycle, False
            await self.drop_inflight()  # a restarted worker has no request in flight...
            await self.engine.dispose()  # ...and an empty pool
            await self.request(0)  # the lesson's warm-up: one SELECT 1 in one session opens one connection
            return True
        if phase < COLD_QUIET_S:
            await self.request(hold_s * random.uniform(0.5, 1.5))  # one at a time: the pool stays at one
            return True
        if not self._burst_fired:
            self._burst_fired = True
            for _ in range(COLD_BURST):
                self.spawn(self.request(COLD_BURST_HOLD_S))
        # while the burst holds its connections, nothing else arrives: every new backend is the burst's own
        return phase < COLD_QUIET_S + COLD_BURST_HOLD_S

    async def drop_inflight(self) -> None:
        """Cancel the requests in flight and wait for them: requests still queued for the pool (thousands after a
        connection storm) would otherwise keep the disposed pool, and its connections, alive."""
        tasks = list(self.inflight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro) -> None:
        if len(self.inflight) < 500:
            task = asyncio.create_task(coro)
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        else:
            coro.close()

    def write_stats(self) -> None:
        path = Path(self.config.stats)
        tmp = path.with_suffix(".tmp")
        probe = f"http://127.0.0.1:{self.probe_server.server_address[1]}/probe"
        tmp.write_text(json.dumps({"application_name": self.config.application_name, "scenario": self.scenario,
                                   "probe": probe, **self.counts}))
        tmp.replace(path)

    async def run(self, stop: asyncio.Event) -> None:
        last_check = cycle_start = 0.0
        parent = os.getppid()
        hold_s = self.config.hold_ms / 1000
        while not stop.is_set():
            now = time.monotonic()
            if now - last_check >= 0.5:
                last_check = now
                if os.getppid() != parent:
                    break  # the dashboard died without stopping us (SIGKILL): do not run on as an orphan
                scenario = self.read_scenario()
                if scenario != self.scenario:
                    for task in self.leaks:
                        task.cancel()
                    self.leaks.clear()
                    await self.drop_inflight()  # the new scenario starts from its own traffic
                    self.scenario, cycle_start, self._cold_cycle = scenario, now, -1
                self.write_stats()
            rate, hold = self.config.rps, hold_s
            if self.scenario == "leaking session" and len(self.leaks) < 3 and now - cycle_start > 3 * len(self.leaks):
                self.leaks.append(asyncio.create_task(self.leak()))
            elif self.scenario == "cold start" and await self.cold_start_step(hold):
                await asyncio.sleep(random.expovariate(max(rate, 0.1)))
                continue
            elif self.scenario == "connection storm":
                rate, hold = rate * 8, 0.3
            elif self.scenario == PGBOUNCER_SCENARIO:
                hold = hold * 4  # 60 req/s x 0.1 s = 6 busy > PgBouncer's 2 server connections: a queue in PgBouncer
            self.spawn(self.request(hold * random.uniform(0.5, 1.5)))
            await asyncio.sleep(random.expovariate(max(rate, 0.1)))
        for task in [*self.inflight, *self.leaks]:
            task.cancel()
        await asyncio.gather(*self.inflight, *self.leaks, return_exceptions=True)
        await self.engine.dispose()
        if self.bouncer_engine is not None:
            await self.bouncer_engine.dispose()


def _worker_main(config_json: str) -> int:
    config = WorkerConfig(**json.loads(config_json))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await _Worker(config).run(stop)

    asyncio.run(main())
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A demo application worker (started by dashboard.demo.Demo).")
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("config", help="WorkerConfig as JSON, or - to read it from stdin")
    args = parser.parse_args()
    sys.exit(_worker_main(sys.stdin.read() if args.config == "-" else args.config))
