"""``pool-planner <command>``: one command for everything.

``plan``, ``recommend``, ``check``, ``export``, ``wait`` and ``lint`` are the planner's (``planner.cli``);
``live ...`` hands the remaining arguments verbatim to ``dashboard.live.cli.main`` (so every live subcommand
appears here without being listed); ``dashboard`` starts the Streamlit page (``dashboard.launch``).
Exit codes as in ``planner.cli``.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner import cli as planner_cli

PROG = "pool-planner"


def _live(argv: list[str]) -> int:
    from dashboard.live import cli as live_cli  # lazy: the planner's commands need no SQLAlchemy engine

    return live_cli.main(argv, prog=f"{PROG} live")


def _collect(argv: list[str]) -> int:
    from dashboard.live import cli as live_cli

    return live_cli.main(["collect", *argv], prog=f"{PROG} live")


def _dashboard(argv: list[str]) -> int:
    from dashboard import launch  # lazy: importing Streamlit takes a second

    return launch.main(argv, prog=f"{PROG} dashboard")


DELEGATES: dict[str, planner_cli.Delegate] = {
    "live": ("live sampler: sample, record, ... (pool-planner live --help lists them)", _live),
    "collect": ("always-on collector: every target of the plan into the history, /metrics", _collect),
    "dashboard": ("start the dashboard on 127.0.0.1 (the demo when no DATABASE_URL is set)", _dashboard),
}


def main(argv: Sequence[str] | None = None) -> int:
    return planner_cli.main(argv, prog=PROG, delegates=DELEGATES)
