"""The PgBouncer part of ``python -m dashboard.live sample | record``: which console to sample, the JSON and
the text of a PgBouncer sample, and its findings. ``dashboard.live.cli`` hooks it in with a few lines.

A console is named by ``--url`` itself (a URL whose database is ``pgbouncer``), by ``--pgbouncer [NAME=]URL``
(repeatable for ``record``), or by the plan's ``[pgbouncer] admin_url`` (``--config``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from dashboard.live import db
from dashboard.live.pgbouncer import console_params, is_pgbouncer_url, sample_pgbouncer_once
from planner.model import Finding, Plan
from planner.pgbouncer_snapshot import PgBouncerSnapshot
from planner.rules.pgbouncer_live import pgbouncer_live_findings

DEFAULT_NAME = "pgbouncer"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


@dataclass(frozen=True, slots=True)
class Console:
    name: str
    url: str


def named(value: str, default: str = DEFAULT_NAME) -> tuple[str, str]:
    """``URL`` or ``NAME=URL`` as (name, url); the URL checked (``ServerFault('bad-url')``, one line)."""
    name, url = default, value
    head, sep, tail = value.partition("=")
    if sep and _NAME.match(head) and "://" not in head:
        name, url = head, tail
    console_params(url)
    return name, url


def consoles(flags: Sequence[str] | None, plan: Plan | None) -> dict[str, str]:
    """{name: console URL} from ``--pgbouncer`` flags, else from the plan's PgBouncers' ``admin_url`` (one:
    ``pgbouncer``; several: each by its name in the plan, ``Plan.pgbouncer_name``)."""
    found: dict[str, str] = {}
    for value in flags or ():
        name, url = named(value)
        if name in found:
            raise db.ServerFault("bad-url", f"PgBouncer {name!r} given twice; name them: --pgbouncer NAME=URL")
        found[name] = url
    if not found and plan is not None:
        for bouncer in plan.pgbouncers:
            if bouncer.admin_url:
                name = DEFAULT_NAME if len(plan.pgbouncers) == 1 else plan.pgbouncer_name(bouncer)
                found[name] = named(bouncer.admin_url)[1]
    return found


def split_targets(targets: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """{name: URL} as (servers, PgBouncer consoles), a console recognised by its database ``pgbouncer``."""
    servers = {name: url for name, url in targets.items() if not is_pgbouncer_url(url)}
    return servers, {name: url for name, url in targets.items() if is_pgbouncer_url(url)}


def split_url_flags(values: Sequence[str] | None, flags: Sequence[str] | None,
                    plan: Plan | None) -> tuple[list[str], dict[str, str]]:
    """``record``'s ``--url`` values as (server values, {name: console URL}): a ``[NAME=]URL`` whose database is
    ``pgbouncer`` is a console (named ``pgbouncer`` unless named), joined by ``--pgbouncer`` flags or the plan's
    ``admin_url``."""
    servers, found = [], consoles(flags, plan)
    for value in values or ():
        head, sep, tail = value.partition("=")
        url = tail if sep and _NAME.match(head) and "://" not in head else value
        if not is_pgbouncer_url(url):
            servers.append(value)
            continue
        name, url = named(value)
        if name in found:
            raise db.ServerFault("bad-url", f"PgBouncer {name!r} given twice; name them: --url NAME=URL")
        found[name] = url
    return servers, found


def console_for_sample(url: str | None, flag: str | None, plan: Plan | None) -> tuple[str | None, Console | None]:
    """``sample``'s (server URL, PgBouncer console): ``--url`` naming the console samples it alone; else the
    ``--pgbouncer`` flag, else the plan's ``admin_url``, is sampled beside the server."""
    if is_pgbouncer_url(url):
        assert url is not None
        return None, Console(*named(url))
    found = consoles([flag] if flag else None, plan)
    return url, next((Console(name, console) for name, console in found.items()), None)


@dataclass(frozen=True, slots=True)
class BouncerSample:
    """One sampled console, its findings, and the URL to show (masked)."""

    console: Console
    snapshot: PgBouncerSnapshot
    findings: list[Finding]

    @property
    def masked_url(self) -> str:
        return db.mask_url(self.console.url)


def sample(console: Console, plan: Plan | None, timeout_s: float) -> BouncerSample:
    snapshot = sample_pgbouncer_once(console.url, console.name, timeout_s=timeout_s)
    return BouncerSample(console, snapshot, pgbouncer_live_findings(plan, [snapshot]))


def document(bouncer: BouncerSample) -> dict[str, object]:
    """The ``pgbouncer`` object of ``sample --json``: the snapshot's keys and the masked console URL."""
    return {**bouncer.snapshot.as_dict(), "url": bouncer.masked_url}


def report_fault(bouncer: BouncerSample) -> bool:
    """True when sampled; else the one-line reason on stderr and False."""
    snap = bouncer.snapshot
    if not snap.ok:
        print(f"error: {snap.name}: {snap.status}: {snap.error}", file=sys.stderr)
    return snap.ok


def report_alone(bouncer: BouncerSample | None, console: Console | None, as_json: bool) -> int:
    """Print a console sampled alone (``--url`` named it); the exit code: 0, 1 with findings, 2 without sample."""
    assert bouncer is not None and console is not None
    snap, findings = bouncer.snapshot, bouncer.findings
    if as_json:
        print(json.dumps({"status": snap.status, "error": snap.error, "taken_at": snap.taken_at.isoformat(),
                          "url": bouncer.masked_url, "pgbouncer": document(bouncer), "notes": [],
                          "findings": [f.as_dict() for f in findings]}, indent=2, default=str))
    elif snap.ok:
        print(render(bouncer))
        for finding in findings:
            print(f"{finding.severity}: [{finding.id}] {finding.message}")
            if finding.fix:
                print(f"  fix: {finding.fix}")
    if not report_fault(bouncer):
        return 2
    return 1 if any(f.severity in ("critical", "warning") for f in findings) else 0


def _wait(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def render(bouncer: BouncerSample) -> str:
    """A human-readable PgBouncer sample: header, the live config, one line per pool."""
    snapshot = bouncer.snapshot
    taken = snapshot.taken_at.isoformat(timespec="seconds")
    lines = [f"{snapshot.name} ({bouncer.masked_url}) at {taken}: {snapshot.status}"]
    if not snapshot.ok:
        lines.append(f"  {snapshot.error}")
        return "\n".join(lines)
    c = snapshot.config
    if c is not None:
        prepared = "n/a" if c.max_prepared_statements is None else c.max_prepared_statements
        lines.append(f"  PgBouncer {snapshot.version}, pool_mode {c.pool_mode}, default_pool_size "
                     f"{c.default_pool_size}, max_client_conn {c.max_client_conn}, max_prepared_statements "
                     f"{prepared}, query_wait_timeout "
                     f"{_ms(c.query_wait_timeout_s)} s, server_idle_timeout {_ms(c.server_idle_timeout_s)} s")
    lines.append(f"  clients: {snapshot.total_clients} ({snapshot.console_clients} on the console, ours included), "
                 f"sample took {snapshot.latency_ms:.1f} ms")
    header = ("database", "user", "mode", "cl_active", "cl_waiting", "maxwait", "sv_active", "sv_idle", "sv_used",
              "avg_xact_ms", "avg_query_ms")
    rows = [(p.database, p.user, p.pool_mode or "-", str(p.cl_active), str(p.cl_waiting), _wait(p.maxwait_s),
             str(p.sv_active), str(p.sv_idle), str(p.sv_used), _ms(p.avg_xact_ms), _ms(p.avg_query_ms))
            for p in snapshot.pools]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
