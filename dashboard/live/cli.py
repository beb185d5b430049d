"""``python -m dashboard.live sample | record``: the live layer without the dashboard, for shells and scripts.

``sample`` prints one sample (counts per group, the settings, our own connection apart, and the live findings,
judged with a plan when ``--config`` is given). ``record`` samples into the history store until stopped.
The URL comes from ``--url`` or ``DATABASE_URL``.

Exit codes (the project's table): 0 sampled, nothing at or above ``--fail-on`` (default critical); 1 sampled,
with a finding at or above it; 2 no sample: bad input (URL, plan file, arguments) or the server gave none
(unreachable, refused, auth, ssl, error); 3 internal error (one line). With
``--json`` the JSON document (with its ``status`` and ``error``) is printed on stdout in every case where a
sample was attempted, and the one-line reason also goes to stderr. Passwords never appear in the output.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from dashboard.live import collect_cli, db, incident_cli, observe_cli, pgbouncer_cli
from dashboard.live.history import DEFAULT_RETENTION_S, HistoryStore, default_data_dir
from dashboard.live.monitor import Monitor
from dashboard.live.probes import probe_targets, render_probes, sample_probes
from dashboard.live.record_status import print_store_change, record_exit_code
from dashboard.live.sampler import permission_note, sample_once
from dashboard.live.targets import (  # noqa: F401 - parse_targets and URL_ENV: names others import from here
    URL_ENV,
    parse_targets,
    record_targets,
    server_name,
    status_line,
)
from dashboard.live.terminal import visible
from planner.cli_support import (  # noqa: F401 - EXIT_* and UsageError: the names other modules import from here
    EXIT_BAD_INPUT,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_OK,
    Parser,
    UsageError,
    run_guarded,
)
from planner.config import load_plan
from planner.rules.live import live_findings
from planner.rules.probe import probe_findings
from planner.snapshot import Snapshot

FAIL_ON = {"critical": ("critical",), "warning": ("critical", "warning"), "info": ("critical", "warning", "info")}
EPILOG = """exit codes: 0 fine; 1 a finding at or above --fail-on; 2 bad input or no sample; 3 internal error

examples:
  {prog} sample --url postgresql://monitor@db.internal/app --config plan.toml
  {prog} sample --json --fail-on warning      (URL from $DATABASE_URL)
  {prog} record --url primary=postgresql://monitor@db1/app --url replica=postgresql://monitor@db2/app
  {prog} observe --url postgresql://monitor@db.internal/app --seconds 60 --processes orders=8 --json"""


def build_parser(prog: str = "python -m dashboard.live") -> argparse.ArgumentParser:
    parser = Parser(prog=prog, description=__doc__.split("\n\n")[0].replace("``", ""),
                     epilog=EPILOG.format(prog=prog), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sample = sub.add_parser("sample", help="print one sample of a server", description="Print one sample.")
    sample.add_argument("--url", help=f"SQLAlchemy/libpq URL of the server (default: ${URL_ENV})")
    sample.add_argument("--server", help="server name, as in the plan (default: the plan's only server, or primary)")
    sample.add_argument("--config", help="plan TOML: judge the sample with it (live findings)")
    sample.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sample.add_argument("--collect-queries", action="store_true",
                        help="include the truncated last statement of sessions idle in a transaction")
    sample.add_argument("--timeout", type=float, default=5.0, help="connect and query timeout in seconds (5)")
    sample.add_argument("--fail-on", choices=tuple(FAIL_ON), default="critical",
                        help="exit 1 on a finding of this severity or worse (default critical)")
    sample.add_argument("--pgbouncer", metavar="[NAME=]URL", help="also sample this PgBouncer admin console "
                        "(postgresql://stats@host:6432/pgbouncer; default: the plan's [pgbouncer] admin_url)")
    incident_cli.add_sample_options(sample)
    sample.set_defaults(run=run_sample)

    record = sub.add_parser("record", help="sample into the history store until stopped",
                            description="Sample every interval into DIR/history.sqlite until Ctrl-C.")
    record.add_argument("--url", action="append",
                        help=f"URL, or NAME=URL for several servers (repeat); default: ${URL_ENV}")
    record.add_argument("--server", default="primary", help="name of the server of an unnamed --url (primary)")
    record.add_argument("--interval", type=float, default=1.0, help="seconds between samples (1)")
    record.add_argument("--data", help=f"data folder (default: $POOL_PLANNER_DATA or ./data; now {default_data_dir()})")
    record.add_argument("--retention-days", type=float, default=DEFAULT_RETENTION_S / 86_400,
                        help="keep samples this many days (7)")
    record.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    record.add_argument("--collect-queries", action="store_true",
                        help="include the truncated last statement of sessions idle in a transaction")
    record.add_argument("--pgbouncer", action="append", metavar="[NAME=]URL",
                        help="also record this PgBouncer admin console (repeat; a --url naming database pgbouncer "
                             "is one too)")
    record.add_argument("--config", help="plan TOML: record its [pgbouncer] admin_url too")
    record.set_defaults(run=run_record)
    incident_cli.add_action_commands(sub, UsageError)
    observe_cli.add_parser(sub, UsageError)
    collect_cli.add_parser(sub)  # the always-on collector (dashboard.live.collect_cli)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m dashboard.live") -> int:
    """Run one command: bad input or no sample exits 2, a defect 3 (one line each, ``planner.cli_support``)."""
    parser = build_parser(prog)
    if not list(sys.argv[1:] if argv is None else argv):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    def run() -> int:
        args = parser.parse_args(argv)
        return int(args.run(args))

    return run_guarded(run, bad_input=(db.ServerFault, collect_cli.UsageError))


# ---------------------------------------------------------------------------------------------- sample


def run_sample(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get(URL_ENV)
    if not (0.1 <= args.timeout <= 600):
        raise UsageError(f"sample: --timeout must be between 0.1 and 600 seconds, got {args.timeout:g}")
    plan = load_plan(args.config) if args.config else None
    url, console = pgbouncer_cli.console_for_sample(url, args.pgbouncer, plan)
    if not url and console is None:
        raise UsageError(f"sample: give --url or set {URL_ENV}")
    bouncer = pgbouncer_cli.sample(console, plan, args.timeout) if console else None
    if not url:
        return pgbouncer_cli.report_alone(bouncer, console, args.json)
    server = server_name(args.server, plan)
    targets = probe_targets(plan)
    snapshot = sample_once(url, server, collect_queries=args.collect_queries, timeout_s=args.timeout,
                           collect_sessions=args.sessions)
    probes = sample_probes(targets, timeout_s=min(args.timeout, 5.0))  # in-app probes: a gap each, never a stall
    findings, findings_note = _findings(plan, snapshot)
    findings += bouncer.findings if bouncer else []
    findings += probe_findings(plan, [probes])
    notes = [note for note in (permission_note(snapshot.settings), findings_note) if note]
    if args.json:
        document = {**snapshot.as_dict(), "url": db.mask_url(url), "notes": notes,
                    "findings": [finding.as_dict() for finding in findings],
                    "probes": [reading.as_dict() for reading in probes],
                    **incident_cli.sessions_document(snapshot.sessions)}
        if bouncer:
            document["pgbouncer"] = pgbouncer_cli.document(bouncer)
        print(json.dumps(document, indent=2, default=str))
    elif snapshot.ok:
        print(render_sample(snapshot, db.mask_url(url), notes, findings))
        if snapshot.sessions is not None:
            print(incident_cli.render_sessions(snapshot.sessions))
        print(render_probes(probes), end="")
        if bouncer:
            print(pgbouncer_cli.render(bouncer))
    if not snapshot.ok:
        print(visible(f"error: {server}: {snapshot.status}: {snapshot.error}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    if bouncer and not pgbouncer_cli.report_fault(bouncer):
        return EXIT_BAD_INPUT
    return EXIT_FINDINGS if any(f.severity in FAIL_ON[args.fail_on] for f in findings) else EXIT_OK


def _findings(plan, snapshot: Snapshot) -> tuple[list, str | None]:
    """Live findings for this one sample (with the plan when given), and a note (None: nothing to add)."""
    return list(live_findings(plan, [snapshot])), None


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


GROUP_HEADER = ("count", "ssl", "state", "application_name", "usename", "datname", "client_addr", "wait",
                "idle-in-tx", "xact", "oldest", "newest")


def _group_lines(snapshot: Snapshot) -> list[str]:
    """The sample's groups as an aligned table, then the last statement of each group idle in a transaction."""
    if not snapshot.groups:
        return []
    rows = [
        tuple(visible(cell) for cell in (
            str(g.count), str(g.ssl_count), g.state or "(hidden)", g.application_name or "(none)", g.usename or "-",
            g.datname or "-", g.client_addr or "local", g.wait_event_type or "-",
            _age(g.oldest_idle_in_transaction_s), _age(g.oldest_xact_s), _age(g.oldest_backend_s),
            _age(g.youngest_backend_s)))
        for g in snapshot.groups
    ]
    widths = [max(len(row[i]) for row in [GROUP_HEADER, *rows]) for i in range(len(GROUP_HEADER))]
    lines = ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [GROUP_HEADER, *rows]]
    lines += [f"  last statement of {g.application_name or '(none)'} idle in transaction: {g.last_query}"
              for g in snapshot.groups if g.last_query]
    return lines


def render_sample(snapshot: Snapshot, masked_url: str, notes: list[str], findings: list) -> str:
    """A human-readable sample: header, settings, one line per group, notes and findings."""
    taken = snapshot.taken_at.isoformat(timespec="seconds")
    lines = [f"{snapshot.server} ({masked_url}) at {taken}: {snapshot.status}"]
    if not snapshot.ok:
        lines.append(f"  {snapshot.error}")
        return "\n".join(lines)
    s = snapshot.settings
    if s is not None:
        reserved = f", reserved_connections {s.reserved_connections}" if s.reserved_connections is not None else ""
        lines.append(
            f"  PostgreSQL {s.major_version}, max_connections {s.max_connections}, superuser_reserved_connections "
            f"{s.superuser_reserved_connections}{reserved}, idle_in_transaction_session_timeout "
            f"{s.idle_in_transaction_session_timeout_ms} ms, idle_session_timeout {s.idle_session_timeout_ms} ms, "
            f"ssl {'on' if s.ssl else 'off'}, role {s.role}"
        )
    lines.append(
        f"  client backends: {snapshot.total} (the monitor's own {snapshot.own_connections} excluded), "
        f"sample took {snapshot.latency_ms:.1f} ms"
    )
    lines += _group_lines(snapshot)
    for note in notes:
        lines.append(f"note: {note}")
    for finding in findings:
        lines.append(f"{finding.severity}: [{finding.id}] {finding.message}")
        if finding.fix:
            lines.append(f"  fix: {finding.fix}")
    return "\n".join(visible(line) for line in lines)  # a control character in a name is shown, not obeyed


# ---------------------------------------------------------------------------------------------- record


def _report_changes(monitor: Monitor, store: HistoryStore, stop: threading.Event, deadline: float | None) -> None:
    """Until stopped or the deadline: one line each time a server's or the history store's state changes."""
    shown: dict[str, tuple[str, str | None]] = {}
    shown_store = store.health().state
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        for name, status in {**monitor.status(), **monitor.pgbouncer_status()}.items():
            key = (status.state, status.reason)
            if status.state != "starting" and shown.get(name) != key:
                shown[name] = key
                print(status_line(status), flush=True)
        shown_store = print_store_change(store.health(), shown_store)
        stop.wait(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))


def run_record(args: argparse.Namespace) -> int:
    if not (0.1 <= args.interval <= 3600):
        raise UsageError(f"record: --interval must be between 0.1 and 3600 seconds, got {args.interval:g}")
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"record: --duration must be positive, got {args.duration:g}")
    if not args.retention_days > 0:
        raise UsageError(f"record: --retention-days must be positive, got {args.retention_days:g}")
    targets, consoles = record_targets(args)
    folder = Path(args.data) if args.data else default_data_dir()
    try:
        store = HistoryStore(folder / "history.sqlite", retention_s=args.retention_days * 86_400)
    except (OSError, Exception) as err:
        raise UsageError(f"record: cannot open the history in {folder}: {err}") from None
    if not store.health().ok:  # unwritable: recording into memory only would save nothing
        store.close()
        raise UsageError(f"record: {store.health().line()}")
    if store.health().moved_aside:
        print(store.health().line(), flush=True)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    monitor = Monitor(targets, interval_s=args.interval, history=store, collect_queries=args.collect_queries,
                      pgbouncers=consoles)
    names = ", ".join([*targets, *consoles])
    print(f"recording {names} every {args.interval:g} s into {store.path} (Ctrl-C stops)", flush=True)
    deadline = time.monotonic() + args.duration if args.duration else None
    monitor.start()
    try:
        _report_changes(monitor, store, stop, deadline)
    finally:
        monitor.stop()
        for name, status in {**monitor.status(), **monitor.pgbouncer_status()}.items():
            print(f"{name}: {status.samples} samples, last state {status.state}", flush=True)
        store.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return record_exit_code({**monitor.status(), **monitor.pgbouncer_status()})
