"""The errors every command layer shares: ``UsageError`` (bad flags or arguments: one line, exit 2).

It lives below ``planner.cli`` and ``planner.commands`` so the commands need not import the CLI that loads them
(the dependency points one way: cli -> commands -> errors). ``planner.cli.UsageError`` is the same class.
"""

from __future__ import annotations


class UsageError(Exception):
    """Raised instead of argparse's own exit, so every bad input ends the same way."""


__all__ = ["UsageError"]
