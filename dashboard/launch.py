"""``pool-planner dashboard`` (or ``python -m dashboard.launch``): the Streamlit page with the project's safe
settings, from any folder, without a shell.

It binds to 127.0.0.1 unless ``--address`` says otherwise, runs headless, shows no tracebacks or developer
menu (Deploy, Rerun, Clear cache) to the browser and sends no usage statistics, whatever config.toml files the
current folder or the home folder hold. The page monitors ``DATABASE_URL`` (and ``REPLICA_DATABASE_URL``) from
the environment or ``.streamlit/secrets.toml`` of the current folder; with neither it runs its demo.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

APP = Path(__file__).resolve().with_name("app.py")
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501
EXAMPLE = ("pool-planner dashboard --port 8600\n"
           "  DATABASE_URL=postgresql+asyncpg://monitor@db/app pool-planner dashboard")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=__doc__.split("\n\n")[0].replace("``", ""),
                     epilog=f"exit codes: 0 stopped (Ctrl-C); 2 bad input; 3 internal error\n\nexamples:\n  {EXAMPLE}",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=DEFAULT_ADDRESS,
                        help=f"address to listen on (default {DEFAULT_ADDRESS}: this machine only; the page shows "
                             f"who holds your database's connections, so expose it only behind your own auth)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
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
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    if not 1 <= args.port <= 65535:
        print(f"error: {prog}: --port must be between 1 and 65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        from streamlit.web import bootstrap

        options = flag_options(args.address, args.port)
        bootstrap.load_config_options(flag_options=options)
        bootstrap.run(str(APP), False, [], options)
    except KeyboardInterrupt:
        return 0
    except Exception as err:  # a defect: one line, exit 3
        print(f"internal error: {type(err).__name__}: {' '.join(str(err).split())[:300]}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
