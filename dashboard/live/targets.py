"""The live commands' targets: which server a plan names, ``--url`` values as {name: url}, the servers and
PgBouncer consoles to record (``record`` and ``collect``), and a target's status line. Shared by
``dashboard.live.cli`` and ``dashboard.live.collect_cli`` (neither imports the other for these)."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence

from dashboard.live import db, pgbouncer_cli
from dashboard.live.monitor import ServerStatus
from dashboard.live.terminal import visible
from planner.cli_support import UsageError
from planner.config import load_plan

URL_ENV = "DATABASE_URL"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


def server_name(given: str | None, plan) -> str:
    if given is not None:
        if not _NAME.match(given):
            raise UsageError(f"--server must be 1-63 letters, digits, '_', '.' or '-', got {given!r}")
        if plan is not None and given not in [s.name for s in plan.servers]:
            names = ", ".join(s.name for s in plan.servers)
            raise UsageError(f"--server {given!r} is not a server of the plan (its servers: {names})")
        return given
    if plan is not None and len(plan.servers) == 1:
        return plan.servers[0].name
    return "primary"


def parse_targets(urls: Sequence[str] | None, default_name: str) -> dict[str, str]:
    """``--url`` values (``URL`` or ``NAME=URL``) as {name: url}; ``DATABASE_URL`` when none is given."""
    values = list(urls or [])
    if not values:
        env = os.environ.get(URL_ENV)
        if not env:
            raise UsageError(f"record: give --url or set {URL_ENV}")
        values = [env]
    targets: dict[str, str] = {}
    for value in values:
        name, url = default_name, value
        head, sep, tail = value.partition("=")
        if sep and _NAME.match(head) and "://" not in head:
            name, url = head, tail
        if name in targets:
            raise UsageError(f"record: server {name!r} given twice; name them: --url NAME=URL")
        db.monitor_url(url)  # a bad URL stops here, one line, exit 2
        targets[name] = url
    if not _NAME.match(default_name):
        raise UsageError(f"--server must be 1-63 letters, digits, '_', '.' or '-', got {default_name!r}")
    return targets


def status_line(status: ServerStatus) -> str:
    if status.state == "ok":
        pid = "" if status.own_pid is None else f", backend pid {status.own_pid}"  # a PgBouncer console has none
        return visible(f"{status.server}: ok (sampling {status.url}{pid})")
    retry = ""
    if status.next_retry_at is not None:
        retry = f"; retrying at {status.next_retry_at.isoformat(timespec='seconds')}"
    return visible(f"{status.server}: {status.state}: {status.reason}{retry}")


def record_targets(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """(servers, PgBouncer consoles) to record: --url (a console URL is one), --pgbouncer, the plan's admin_url."""
    plan = load_plan(args.config) if args.config else None
    urls, consoles = pgbouncer_cli.split_url_flags(args.url, args.pgbouncer, plan)
    targets = parse_targets(urls, args.server) if urls or os.environ.get(URL_ENV) or not consoles else {}
    if set(targets) & set(consoles):
        raise UsageError(f"record: {sorted(set(targets) & set(consoles))[0]!r} names a server and a PgBouncer")
    return targets, consoles
