"""What every command-line entry point of the project shares: the parser that never exits on its own, the
exit codes and the guard that turns any failure into one line.

Used by ``python -m planner`` (planner/cli.py), ``python -m dashboard.live`` (dashboard/live/cli.py) and
``pool-planner dashboard`` (dashboard/launch.py). It lives in planner/ because planner never imports dashboard.

Exit codes, stable for CI gates (the README has the table): 0 fine; 1 an unsafe plan or a finding at or above
``--fail-on``; 2 bad input (one line on stderr, never a traceback); 3 internal error (one line on stderr;
``POOL_PLANNER_TRACEBACK=1`` shows the traceback). An internal error is never mistaken for a finding.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from planner.dsn import mask_url
from planner.model import InputError

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
"""Ctrl-C, as a shell reports it (128 + SIGINT)."""
TRACEBACK_ENV = "POOL_PLANNER_TRACEBACK"


class UsageError(Exception):
    """Bad command-line input, raised instead of argparse's own exit, so every bad input ends the same way."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise ``UsageError`` (``run_guarded`` prints them: one line, exit 2)."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message}")


def run_guarded(run: Callable[[], int], *, bad_input: tuple[type[BaseException], ...] = ()) -> int:
    """``run()``, with bad input (``UsageError``, ``InputError`` and ``bad_input``) as one line and exit 2,
    an internal error as one line and exit 3, a closed pipe as 0 and Ctrl-C as 130."""
    try:
        return run()
    except (UsageError, InputError, *bad_input) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as err:  # a defect, not a finding: exit 3, never 1
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(internal_error_line(err), file=sys.stderr)
        return EXIT_INTERNAL


def internal_error_line(err: BaseException) -> str:
    """One line naming the defect, with any URL password masked (set POOL_PLANNER_TRACEBACK=1 for more)."""
    text = " ".join(str(err).split()) or "no message"
    return f"internal error: {type(err).__name__}: {mask_url(text)[:300]} (set {TRACEBACK_ENV}=1 for details)"
