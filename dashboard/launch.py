"""``pool-planner dashboard`` (or ``python -m dashboard.launch``): the Streamlit page with the project's safe
settings, from any folder, without a shell.

It binds to 127.0.0.1 unless ``--address`` says otherwise, runs headless, shows no tracebacks or developer
menu (Deploy, Rerun, Clear cache) to the browser and sends no usage statistics, whatever config.toml files the
current folder or the home folder hold. The page monitors ``DATABASE_URL`` (and ``REPLICA_DATABASE_URL``) from
the environment or ``.streamlit/secrets.toml`` of the current folder; with neither it runs its demo.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from planner.cli_support import EXIT_OK, Parser, UsageError, run_guarded
from planner.config import load_plan

PLAN_ENV = "POOL_PLANNER_PLAN"
"""The plan file the page starts from (``dashboard.plan_panel``; the probe panel reads its probes too)."""

APP = Path(__file__).resolve().with_name("app.py")
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501
EXAMPLE = ("pool-planner dashboard --port 8600\n"
           "  pool-planner dashboard --plan plan.toml\n"
           "  DATABASE_URL=postgresql+asyncpg://monitor@db/app pool-planner dashboard")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = Parser(prog=prog, description=__doc__.split("\n\n")[0].replace("``", ""),
                     epilog=f"exit codes: 0 stopped (Ctrl-C); 2 bad input; 3 internal error\n\nexamples:\n  {EXAMPLE}",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=DEFAULT_ADDRESS,
                        help=f"address to listen on (default {DEFAULT_ADDRESS}: this machine only; the page shows "
                             f"who holds your database's connections, so expose it only behind your own auth)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--plan", metavar="PATH",
                        help=f"a plan file (TOML or JSON) the page starts from: its numbers fill the sidebar, and "
                             f"what the sidebar cannot show is kept (same as {PLAN_ENV}=PATH)")
    return parser


def flag_options(address: str, port: int) -> dict[str, Any]:
    """Streamlit's config options the dashboard always runs with (they override every config.toml)."""
    return {
        "server.address": address,
        "server.port": port,
        "server.headless": True,
        "client.showErrorDetails": "none",
        "client.toolbarMode": "viewer",
        "browser.gatherUsageStats": False,
        "browser.serverAddress": address,
    }


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m dashboard.launch") -> int:
    """Serve the page until Ctrl-C (exit 0); bad input one line and exit 2, a defect one line and exit 3."""
    return run_guarded(lambda: _serve(build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv)),
                                      prog))


def _serve(args: argparse.Namespace, prog: str) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError(f"{prog}: --port must be between 1 and 65535, got {args.port}")
    if args.plan is not None:
        load_plan(args.plan)  # a bad file is one line and exit 2 here, not a page that cannot start
        os.environ[PLAN_ENV] = str(Path(args.plan).resolve())  # the page (and its probes) read it from there
    # lazy, documented (tests/test_imports_at_top.py): Streamlit's server is loaded only to serve, so the
    # command's --help and its bad-input errors stay instant
    from streamlit.web import bootstrap

    options = flag_options(args.address, args.port)
    bootstrap.load_config_options(flag_options=options)
    try:
        bootstrap.run(str(APP), False, [], options)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
