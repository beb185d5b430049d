"""``pool-planner collect`` (also ``python -m dashboard.live collect``): the always-on collector's command line.

Targets as ``record`` takes them (``--url NAME=URL``, ``$DATABASE_URL``, ``--pgbouncer``, the plan's
``[pgbouncer] admin_url``), plus the plan's probe endpoints. The history goes to the file the dashboard would
use for the same servers (``dashboard.state.history_path``: ``$POOL_PLANNER_DATA/history-<hash>.sqlite``) unless
``--history`` names one, so a dashboard started with the same ``DATABASE_URL`` reads it. SIGTERM and Ctrl-C stop
it cleanly: every queued sample is committed, every connection closed, the heartbeat removed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from dashboard.live.collector import Collector
from dashboard.live.history import DEFAULT_RETENTION_S, HistoryStore
from dashboard.live.metrics import DEFAULT_MAX_SERVICES, MetricsEndpoint, registry_for
from dashboard.live.probes import probe_targets
from dashboard.live.record_status import print_store_change, record_exit_code
from dashboard.live.targets import record_targets, server_name, status_line
from dashboard.targets import history_path
from planner.cli_support import UsageError as SharedUsageError
from planner.config import load_plan
from planner.model import InputError

SWITCH_INTERVAL_S = 0.001
"""The interpreter hands the GIL over at least this often (default 5 ms), so a /metrics scrape is answered
while the collector's tick judges samples."""
DEFAULT_METRICS_PORT = 9648
METRICS_HOST = "127.0.0.1"
EPILOG = """exit codes: 0 stopped after some target gave a sample; 2 bad input, or no target ever gave a sample;
3 internal error

example:
  pool-planner collect --config plan.toml --url primary=postgresql://monitor@db1/app --retention-days 30
  (then scrape http://127.0.0.1:9648/metrics; docs/metrics.md)"""


class UsageError(Exception):
    """Bad flags: one line, exit 2 (``dashboard.live.cli.main`` catches its own ``UsageError`` too)."""


def add_parser(sub) -> None:
    collect = sub.add_parser("collect", help="sample every target of the plan continuously; history + /metrics",
                             description="Sample every server, PgBouncer console and probe endpoint of the plan "
                                         "concurrently into the history, serve /metrics, until SIGTERM or Ctrl-C.",
                             epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    collect.add_argument("--config", help="plan TOML: judges the samples, names the probes and [pgbouncer] admin_url")
    collect.add_argument("--url", action="append",
                         help="URL, or NAME=URL for several servers (repeat); default: $DATABASE_URL")
    collect.add_argument("--server", default=None, help="name of an unnamed --url (default: the plan's only server, "
                                                        "or primary)")
    collect.add_argument("--pgbouncer", action="append", metavar="[NAME=]URL", help="a PgBouncer admin console")
    collect.add_argument("--interval", type=float, default=1.0, help="seconds between samples (1)")
    collect.add_argument("--timeout", type=float, default=None, help="per-target timeout in seconds "
                                                                    "(default: 2 intervals, 1 to 5 s)")
    collect.add_argument("--data", help="data folder (default: $POOL_PLANNER_DATA or ./data)")
    collect.add_argument("--history", help="history file (default: the one the dashboard uses for these servers)")
    collect.add_argument("--retention-days", type=float, default=DEFAULT_RETENTION_S / 86_400,
                         help="keep samples this many days (7); the collector prunes older ones")
    collect.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT,
                         help=f"serve /metrics on {METRICS_HOST}:PORT ({DEFAULT_METRICS_PORT}; 0 = a free port; "
                              "-1 = no /metrics)")
    collect.add_argument("--max-services", type=int, default=DEFAULT_MAX_SERVICES,
                         help=f"service label values per server before folding into 'other' ({DEFAULT_MAX_SERVICES})")
    collect.add_argument("--duration", type=float, help="stop after this many seconds (default: until stopped)")
    collect.set_defaults(run=run_collect)


def _check(args: argparse.Namespace) -> None:
    if not (0.1 <= args.interval <= 3600):
        raise UsageError(f"collect: --interval must be between 0.1 and 3600 seconds, got {args.interval:g}")
    if args.timeout is not None and not (0.1 <= args.timeout <= 600):
        raise UsageError(f"collect: --timeout must be between 0.1 and 600 seconds, got {args.timeout:g}")
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"collect: --duration must be positive, got {args.duration:g}")
    if not args.retention_days > 0:
        raise UsageError(f"collect: --retention-days must be positive, got {args.retention_days:g}")
    if not (-1 <= args.metrics_port <= 65535):
        raise UsageError(f"collect: --metrics-port must be -1 (off), 0 (any) or a port, got {args.metrics_port}")
    if not (1 <= args.max_services <= 10_000):
        raise UsageError(f"collect: --max-services must be between 1 and 10000, got {args.max_services}")


def _history_file(args: argparse.Namespace, servers: dict[str, str]) -> Path:
    if args.history:
        return Path(args.history)
    if args.data:
        os.environ["POOL_PLANNER_DATA"] = args.data  # history_path reads it, as the dashboard does
    return history_path(servers)


def _open_store(path: Path, retention_s: float) -> HistoryStore:
    try:
        store = HistoryStore(path, retention_s=retention_s)
    except Exception as err:
        raise UsageError(f"collect: cannot open the history {path}: {err}") from None
    if not store.health().ok:
        store.close()
        raise UsageError(f"collect: {store.health().line()}")
    return store


def _serve_metrics(collector: Collector, args: argparse.Namespace):
    """(HTTP server, metrics) serving /metrics, or (None, None) with --metrics-port -1."""
    if args.metrics_port < 0:
        return None, None
    registry, metrics = registry_for(collector, args.max_services)
    try:
        server = MetricsEndpoint(registry, METRICS_HOST, args.metrics_port).start()
    except OSError as err:
        raise UsageError(f"collect: cannot serve /metrics on {METRICS_HOST}:{args.metrics_port}: {err}") from None
    print(f"metrics at http://{METRICS_HOST}:{server.port}/metrics", flush=True)
    return server, metrics


def run_collect(args: argparse.Namespace) -> int:
    _check(args)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    plan = load_plan(args.config) if args.config else None
    args.server = server_name(args.server, plan)
    try:
        servers, consoles = record_targets(args)  # record's parsing: its messages name "record"
    except SharedUsageError as err:
        raise UsageError(str(err).replace("record:", "collect:", 1)) from None
    try:
        probes = probe_targets(plan)
    except InputError as err:
        raise UsageError(f"collect: {err}") from None
    store = _open_store(_history_file(args, servers), args.retention_days * 86_400)
    collector = Collector(plan, servers, consoles, probes, store, interval_s=args.interval, timeout_s=args.timeout)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    server = metrics = None
    try:
        server, metrics = _serve_metrics(collector, args)
        names = ", ".join([*servers, *consoles, *(f"probe {t.service}" for t in probes)])
        print(f"collecting {names} every {args.interval:g} s into {store.path} (SIGTERM or Ctrl-C stops)", flush=True)
        collector.start()
        _loop(collector, stop, args, metrics, server)
    finally:
        if server is not None:
            server.shutdown()
        collector.stop()
        store.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    statuses = {**collector.monitor.status(), **collector.monitor.pgbouncer_status()}
    for name, status in statuses.items():
        print(f"{name}: {status.samples} samples, last state {status.state}", flush=True)
    return record_exit_code(statuses)


def _loop(collector: Collector, stop: threading.Event, args: argparse.Namespace, metrics, server) -> None:
    deadline = time.monotonic() + args.duration if args.duration else None
    shown: dict[str, tuple[str, str | None]] = {}
    shown_store = collector.store.health().state
    next_at = time.monotonic()
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        state = collector.tick()
        if metrics is not None:
            metrics.refresh(state)
            server.publish()  # a scrape then only sends these bytes
        for name, status in {**state.status, **state.pgbouncer_status}.items():
            key = (status.state, status.reason)
            if status.state != "starting" and shown.get(name) != key:
                shown[name] = key
                print(status_line(status), flush=True)
        shown_store = print_store_change(collector.store.health(), shown_store)  # failing / writing again
        next_at = max(next_at + args.interval, time.monotonic())
        wait = next_at - time.monotonic()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.monotonic()))
        stop.wait(max(0.0, wait))
