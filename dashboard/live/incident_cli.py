"""The incident part of ``python -m dashboard.live``: ``sample --sessions`` output, ``cancel`` and ``terminate``.

``cancel|terminate --url URL --pid PID`` acts only when ``POOL_PLANNER_ALLOW_ACTIONS=1``; exit 0 when done,
2 with the reason on stderr when disabled, refused (the monitor's own backend, a superuser's, no privilege,
no such pid) or failed. With ``--json`` the attempt is printed as JSON on stdout in every case. Attempts
that reach the server are written to the history file's ``action_log`` (``--data``, as for ``record``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dashboard.live import db
from dashboard.live.actions import Action, ActionLog, act, actions_enabled
from dashboard.live.history import default_data_dir
from dashboard.live.terminal import visible
from planner.sessions import BlockingNode, Session, blocking_trees, walk

EXIT_OK, EXIT_REFUSED = 0, 2
ACTION_EPILOG = """exit codes: 0 done; 2 not done, with the reason on stderr: acting is off (the default), refused (the
monitor's own backend, a superuser's, a non-client backend, a cancel of an idle session, a role without
pg_signal_backend, no such pid), failed, or bad input

example:
  POOL_PLANNER_ALLOW_ACTIONS=1 pool-planner live {action} --url postgresql://monitor@db/app --pid 12345
"""
URL_ENV = "DATABASE_URL"


def add_sample_options(sample: argparse.ArgumentParser) -> None:
    sample.add_argument("--sessions", action="store_true",
                        help="one row per backend (blockers first, then the oldest transaction) and the blocking tree")


def add_action_commands(sub, usage_error: type[Exception]) -> None:
    """The ``cancel`` and ``terminate`` subcommands (``usage_error`` is the CLI's exit-2 exception)."""
    for action, words in ((Action.CANCEL, "cancel a backend's current statement (pg_cancel_backend)"),
                          (Action.TERMINATE, "terminate a backend's session (pg_terminate_backend)")):
        parser = sub.add_parser(str(action), help=words, description=f"{words[0].upper()}{words[1:]}; only with "
                                f"POOL_PLANNER_ALLOW_ACTIONS=1.", epilog=ACTION_EPILOG.format(action=action),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--url", help=f"SQLAlchemy/libpq URL of the server (default: ${URL_ENV})")
        parser.add_argument("--pid", type=int, required=True, help="the backend's pid (sample --sessions lists them)")
        parser.add_argument("--server", default="primary", help="server name for the history (primary)")
        parser.add_argument("--data", help=f"data folder of the history (default: $POOL_PLANNER_DATA or ./data; "
                            f"now {default_data_dir()})")
        parser.add_argument("--json", action="store_true", help="print the attempt as JSON")
        parser.add_argument("--timeout", type=float, default=5.0, help="connect and query timeout in seconds (5)")
        parser.set_defaults(run=lambda args, action=action: run_action(args, action, usage_error))


def run_action(args: argparse.Namespace, action: Action, usage_error: type[Exception]) -> int:
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        raise usage_error(f"{action}: give --url or set {URL_ENV}")
    if not 0 < args.pid < 2**31:
        raise usage_error(f"{action}: --pid must be a backend pid (1 to {2**31 - 1}), got {args.pid}")
    if not (0.1 <= args.timeout <= 600):
        raise usage_error(f"{action}: --timeout must be between 0.1 and 600 seconds, got {args.timeout:g}")
    enabled = actions_enabled()
    log = None
    if enabled:
        db.monitor_url(url)  # a bad URL stops here, one line, exit 2
        folder = Path(args.data) if args.data else default_data_dir()
        log = ActionLog(folder / "history.sqlite")
    result = act(url, action, args.pid, server=args.server, enabled=enabled, log=log, timeout_s=args.timeout)
    if args.json:
        print(json.dumps({**result.as_dict(), "url": db.mask_url(url)}, indent=2))
    if not result.ok:
        print(visible(f"error: {action} pid {args.pid}: {result.outcome}: {result.reason}"), file=sys.stderr)
        return EXIT_REFUSED
    if not args.json:
        print(visible(f"{action} pid {args.pid} ({result.application_name or '(no application_name)'}, role "
                      f"{result.usename}): {result.reason}"))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- rendering


def sessions_document(sessions: tuple[Session, ...] | None) -> dict[str, object]:
    """The JSON keys ``sample --sessions`` adds beside the snapshot's ``sessions``: the blocking trees."""
    if sessions is None:
        return {}
    return {"blocking": [tree.as_dict() for tree in blocking_trees(sessions)]}


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def render_sessions(sessions: tuple[Session, ...]) -> str:
    """The sessions as a table (incident order), then the blocking trees; control characters in server
    strings are shown escaped (``terminal.visible``), never obeyed."""
    header = ("pid", "application_name", "usename", "datname", "client_addr", "state", "wait", "xact", "in state",
              "blocked_by")
    rows = [(str(s.pid), s.application_name or "(none)", s.usename or "-", s.datname or "-", s.client_addr or "local",
             s.state or "(hidden)", ":".join(w for w in (s.wait_event_type, s.wait_event) if w) or "-",
             _age(s.xact_age_s), _age(s.state_age_s), ",".join(map(str, s.blocked_by)) or "-")
            for s in sessions]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  sessions (blockers first, then the oldest transaction):"]
    lines += ["    " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in [header, *rows]]
    lines += [f"    query of {s.pid}: {s.query}" for s in sessions if s.query]
    trees = blocking_trees(sessions)
    lines.append("  blocking: none" if not trees else "  blocking (blocker -> blocked):")
    lines += ["    " + "  " * depth + tree_line(node, depth) for depth, node in walk(trees)]
    return "\n".join(visible(line) for line in lines)


def tree_line(node: BlockingNode, depth: int) -> str:
    """One node of a printed blocking tree: who it is and, for a blocker, how many wait and how long."""
    s = node.session
    who = (f"pid {node.pid} (not among the sessions)" if s is None else
           f"pid {node.pid} {s.application_name or '(none)'} [{s.state or 'hidden'}"
           + (f", transaction {_age(s.xact_age_s)}" if s.xact_age_s is not None else "")
           + (f", waiting {_age(s.state_age_s)}" if depth and s.state_age_s is not None else "") + "]")
    if node.blocked_count:
        who += f" blocks {node.blocked_count}, longest wait {_age(node.longest_wait_s)}"
    return ("└ " if depth else "") + who
