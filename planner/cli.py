"""``python -m planner plan | recommend | check | export | wait | lint``.

Exit codes, stable for CI gates: 0 fine, 1 findings/unsafe, 2 bad input. Bad input is one line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from planner.model import InputError

COMMANDS = ("plan", "recommend", "check", "export", "wait", "lint")
EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Raised instead of argparse's own exit, so every bad input ends the same way."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m planner",
        description="Connection-pool capacity planner for async SQLAlchemy on PostgreSQL.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"planner.commands.{name}")
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=f"example:\n  {module.EXAMPLE}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args._run(args))
    except (UsageError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
