"""``lint``: read the application's Python source for the lesson's pitfalls (no import, no execution).

Exit codes: 0 no finding at or above ``--fail-on`` (default warning), 1 such findings, 2 bad input (a missing
path, a directory without Python files, a bad flag) or a file that does not parse (the other files are still
linted and reported), 3 the linter failed on a file (one ``internal error:`` line each; never shown as a
finding). ``--inventory`` lists engines, not findings: 0 (or 2 / 3 as above).
"""

from __future__ import annotations

import argparse
import sys

from planner.cli_support import UsageError
from planner.commands.plan_args import add_plan_arguments, plan_from_args
from planner.lint import MAX_FILE_BYTES, lint_paths
from planner.lint.report import FORMATS, render, render_inventory
from planner.model import SEVERITY_ORDER

HELP = (
    "lint Python source for pool pitfalls (bind-in-literal, session-without-context, ...); with "
    "--max-connections/--workers also judge the engines' pool settings"
)
EXAMPLE = "python -m planner lint app/ --max-connections 100 --workers 4 --format github"
EXIT_CODES = ("exit codes: 0 no finding at or above --fail-on; 1 findings; 2 bad input or a file that does not "
              "parse; 3 internal error (--inventory: 0, or 2 for a file that does not parse)")

_ENGINE_FLAGS = ("pool_size", "max_overflow", "pool_timeout", "pool_recycle", "pool_pre_ping", "url")
_LIMIT_FLAGS = (
    "config", "max_connections", "superuser_reserved", "reserved", "other_clients", "pg_version",
    "idle_session_timeout", "lb_idle_timeout", "instances", "workers", "surge", "autoscale_max", "rps", "hold_ms",
    "request_timeout",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="Python files or directories (walked recursively)")
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="text",
                     help="text (default), json (a list of findings), annotations (file:line:col: id message), "
                          "github (workflow commands)")
    out.add_argument("--json", action="store_true", help="same as --format json")
    out.add_argument("--inventory", action="store_true",
                     help="print the engines found (pool settings as written) instead of the findings")
    parser.add_argument("--fail-on", choices=("critical", "warning", "info"), default="warning",
                        help="exit 1 on a finding of this severity or worse (default warning)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip files or directories matching GLOB (repeatable)")
    parser.add_argument("--max-file-mb", type=float, default=MAX_FILE_BYTES / 1e6, metavar="MB",
                        help="skip (with a note) files larger than this; default %(default)g")
    add_plan_arguments(parser)
    for action in parser._actions:  # the engine flags are read from the code: hide them (run() rejects them)
        if action.dest in _ENGINE_FLAGS:
            action.help = argparse.SUPPRESS


def run(args: argparse.Namespace) -> int:
    given = [f"--{name.replace('_', '-')}" for name in _ENGINE_FLAGS if getattr(args, name, None) is not None]
    if given:
        raise UsageError(f"lint reads pool settings from the code; {given[0]} is for plan/check")
    limits = any(getattr(args, name, None) is not None for name in _LIMIT_FLAGS)
    plan = plan_from_args(args) if limits else None
    if not args.max_file_mb > 0:
        raise UsageError(f"--max-file-mb: must be a positive number of megabytes, got {args.max_file_mb:g}")
    result = lint_paths(args.paths, exclude=args.exclude, plan=plan, max_file_bytes=int(args.max_file_mb * 1e6))
    fmt = "json" if args.json else args.format
    text = render_inventory(result, fmt) if args.inventory else render(result, fmt)
    if text:
        print(text)
    for line in result.internal_errors if fmt != "text" or args.inventory else ():
        print(f"internal error: {line}", file=sys.stderr)  # JSON and annotations stay parseable on stdout
    return exit_code(result, args.fail_on, inventory=args.inventory)


def exit_code(result, fail_on: str, *, inventory: bool = False) -> int:
    """3 when the linter failed on a file (never reported as a finding); 2 when a file did not parse (the
    verdict is incomplete); else 1 for a finding at or above ``fail_on`` (never for ``--inventory``)."""
    if result.internal_errors:
        return 3
    if result.parse_errors:
        return 2
    if inventory:
        return 0
    return 1 if any(SEVERITY_ORDER[f.severity] <= SEVERITY_ORDER[fail_on] for f in result.findings) else 0
