"""``python -m planner plan | recommend | check | export | wait | lint`` (and, installed, ``pool-planner``).

Exit codes, the same for every command and stable for CI gates (the README has the table):
0 fine; 1 an unsafe plan, or a finding at or above ``--fail-on``; 2 bad input (one line on stderr, never a
traceback); 3 internal error (one line on stderr; ``POOL_PLANNER_TRACEBACK=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence

from planner import __version__
from planner.cli_support import (  # noqa: F401 - re-exported: commands and tests import them from here
    EXIT_BAD_INPUT,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_OK,
    Parser,
    UsageError,
    internal_error_line,
    run_guarded,
)
from planner.commands import check, export, lint, plan, recommend, wait

COMMAND_MODULES = {"plan": plan, "recommend": recommend, "check": check, "export": export, "wait": wait, "lint": lint}
"""The commands, imported at the top (they import the shared CLI bits from planner.cli_support, never this module)."""
COMMANDS = tuple(COMMAND_MODULES)
_Parser = Parser  # the name tests/test_config.py imports
EXIT_CODES_HELP = (
    "exit codes: 0 fine; 1 unsafe plan or a finding at or above --fail-on; 2 bad input; 3 internal error"
)
Delegate = tuple[str, Callable[[list[str]], int]]
"""A command run by another entry point with the remaining arguments verbatim: (help line, main)."""


def build_parser(prog: str = "python -m planner", delegates: Mapping[str, Delegate] | None = None
                 ) -> argparse.ArgumentParser:
    parser = Parser(
        prog=prog,
        description="Connection-pool capacity planner for FastAPI + async SQLAlchemy on PostgreSQL.",
        epilog=f"{EXIT_CODES_HELP}\n\nexample:\n  {prog} check --config plan.toml\n"
               f"  {prog} <command> --help   (every flag of a command)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pool-planner {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="<command>")
    for name, module in COMMAND_MODULES.items():
        example = module.EXAMPLE.replace("python -m planner", prog)
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=f"{getattr(module, 'EXIT_CODES', EXIT_CODES_HELP)}\n\nexample:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
        command.set_defaults(_run=module.run)
    for name, (help_line, _) in (delegates or {}).items():
        sub.add_parser(name, help=help_line, add_help=False)  # listed here; run by main() before parsing
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m planner",
         delegates: Mapping[str, Delegate] | None = None) -> int:
    """Run one command; ``delegates`` are commands of other entry points (``pool-planner live ...``)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if delegates and args_list and args_list[0] in delegates:
        return delegates[args_list[0]][1](args_list[1:])
    parser = build_parser(prog, delegates)
    if not args_list:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    def run() -> int:
        args = parser.parse_args(args_list)
        return int(args._run(args))

    return run_guarded(run)
