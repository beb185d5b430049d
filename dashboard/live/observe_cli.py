"""``live observe``: per service, the workload as measured (busy quantiles, offered load, rate and hold with their
source, censoring) and the pool it needs, from live sampling (``--seconds N``) or the history (``--since 30m``).

Exit codes: 0 observed; 1 observed, and a service is censored (its demand is higher than the pool or the server
lets through) or the model check disagrees (``model-mismatch``); 2 bad input or no sample; 3 internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard.live import db
from dashboard.live.history import HistoryStore, default_data_dir
from dashboard.live.observe import ServiceResult, Window, observe, observe_live, window_from_history
from dashboard.live.probes import probe_targets
from dashboard.live.terminal import visible
from planner.budget import service_view
from planner.config import load_plan
from planner.export import FORMATS, PER_SERVICE_FORMATS, export
from planner.observe_sizing import provenance_note
from planner.rules.model_check import model_mismatch_findings
from planner.sizing.shared import cut_text

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2
EPILOG = """exit codes: 0 observed; 1 observed, and a service is censored (its demand is higher than what the pool or
the server let through) or the model check disagrees (model-mismatch); 2 bad input or no sample; 3 internal error

examples:
  pool-planner live observe --url postgresql://monitor@db.internal/app --seconds 120 --processes orders=8
  pool-planner live observe --since 30m --data ./data --json
  pool-planner live observe --url postgresql://monitor@db.internal/app --seconds 60 --config plan.toml \\
      --export python"""
URL_ENV = "DATABASE_URL"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


def add_parser(sub, usage_error: type[Exception]) -> None:
    observe_parser = sub.add_parser(
        "observe", help="measure each service's workload and the pool it needs",
        description="Per service: busy connections, offered load, rate and hold with their source, censoring, "
                    "and the recommended pool (through the same sizing as recommend).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    observe_parser.add_argument("--url", help=f"URL of the server (default: ${URL_ENV})")
    observe_parser.add_argument("--server", default="primary", help="server name (primary; the history's key)")
    observe_parser.add_argument("--config", help="plan TOML: deployment, pools, probes, PgBouncer and target")
    when = observe_parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--seconds", type=float, help="sample live for this many seconds (1-3600)")
    when.add_argument("--since", help="read the recorded history of the last 30s / 30m / 2h / 1d")
    observe_parser.add_argument("--interval", type=float, help="seconds between samples (default 0.2 for "
                                "windows up to 120 s, else 1)")
    observe_parser.add_argument("--processes", action="append", default=[], metavar="NAME=N",
                                help="processes of a service (repeat); default: the plan, per-worker suffixes, "
                                     "the probes, else 1")
    observe_parser.add_argument("--pgbouncer", metavar="URL", help="PgBouncer admin console to sample too")
    observe_parser.add_argument("--data", help=f"history folder for --since (default {default_data_dir()})")
    observe_parser.add_argument("--target-p99-wait-ms", type=float, help="p99 checkout wait the pool is sized "
                                "for (default: the plan's, else 10)")
    observe_parser.add_argument("--timeout", type=float, default=5.0, help="connect and query timeout (5 s)")
    observe_parser.add_argument("--json", action="store_true", help="print JSON")
    observe_parser.add_argument("--export", choices=FORMATS, metavar="FORMAT",
                                help="print each service's recommended snippet instead (python, env, ...), with a "
                                     "comment line saying where its numbers came from")
    observe_parser.set_defaults(run=lambda args: run_observe(args, usage_error))


def parse_processes(values: list[str], usage_error: type[Exception]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not _NAME.match(name) or not count.isdigit() or not 1 <= int(count) <= 100_000:
            raise usage_error(f"observe: --processes wants NAME=N (N 1-100000), got {value!r}")
        out[name] = int(count)
    return out


def parse_since(text: str, usage_error: type[Exception]) -> float:
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise usage_error(f"observe: --since wants a duration like 30s, 30m, 2h or 1d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _window(args: argparse.Namespace, plan, usage_error: type[Exception]) -> Window:
    if args.since is not None:
        seconds = parse_since(args.since, usage_error)
        folder = Path(args.data) if args.data else default_data_dir()
        if not (folder / "history.sqlite").exists():
            raise usage_error(f"observe: no history in {folder} (record one with `live record`)")
        with HistoryStore(folder / "history.sqlite") as store:
            names = store.pgbouncer_names()
            return window_from_history(store, args.server, datetime.now(UTC) - timedelta(seconds=seconds),
                                       names[0] if names else None)
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        raise usage_error(f"observe: give --url or set {URL_ENV}")
    if not 1 <= args.seconds <= 3600:
        raise usage_error(f"observe: --seconds must be between 1 and 3600, got {args.seconds:g}")
    if args.interval is not None and not 0.05 <= args.interval <= 60:
        raise usage_error(f"observe: --interval must be between 0.05 and 60 seconds, got {args.interval:g}")
    db.monitor_url(url)  # a bad URL: one line, exit 2
    bouncer = None if plan is None else (plan.pgbouncer_for(args.server) if args.server else None) or plan.pgbouncer
    console = args.pgbouncer or (bouncer.admin_url if bouncer is not None else None)
    return observe_live(url, args.server, seconds=args.seconds, interval_s=args.interval,
                        probes=probe_targets(plan), console=console, timeout_s=args.timeout)


def run_observe(args: argparse.Namespace, usage_error: type[Exception]) -> int:
    if not 0.1 <= args.timeout <= 600:
        raise usage_error(f"observe: --timeout must be between 0.1 and 600 seconds, got {args.timeout:g}")
    processes = parse_processes(args.processes, usage_error)
    plan = load_plan(args.config) if args.config else None
    window = _window(args, plan, usage_error)
    if not window.ok_snapshots:
        last = window.snapshots[-1] if window.snapshots else None
        why = f"{last.status}: {last.error}" if last else "no sample recorded in that window"
        if args.json:
            print(json.dumps({"status": "no-sample", "error": why, "services": []}, indent=2))
        print(visible(f"error: {args.server}: {why}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    results = observe(window, plan=plan, processes=processes, target_p99_ms=args.target_p99_wait_ms)
    findings = model_mismatch_findings([r.model for r in results])
    if args.export:
        print(export_snippets(window, results, args), end="")
    elif args.json:
        print(json.dumps(document(window, results, findings, args), indent=2, default=str))
    else:
        print(render(window, results, findings, args))
    return EXIT_FINDINGS if findings or any(r.observation.censored for r in results) else EXIT_OK


def export_snippets(window: Window, results: list[ServiceResult], args) -> str:
    """The recommended snippet per service, each headed by its provenance line (planner.export)."""
    snaps = window.ok_snapshots
    taken = snaps[-1].taken_at.isoformat(timespec="seconds")
    parts, shared = [], []
    for result in results:
        if result.advice is None or result.advice.plan is None:
            parts.append(visible(f"# {result.observation.name}: nothing fits as deployed; no snippet\n"))
            continue
        note = provenance_note(result.observation, result.advice, args.server, _window_seconds(window), taken)
        plan = result.advice.plan
        if result.advice.service is not None and args.export not in PER_SERVICE_FORMATS:
            shared.append((plan, note))  # the whole multi-service plan: once, after the per-service snippets
            continue
        if result.advice.service is not None:
            plan = service_view(plan, result.advice.service)
        parts.append(export(plan, args.export, provenance=visible(note)))
    if shared:
        parts.append(export(shared[0][0], args.export, provenance=visible(" | ".join(n for _, n in shared))))
    return "\n".join(parts)


def document(window: Window, results: list[ServiceResult], findings, args) -> dict[str, object]:
    return {
        "status": "ok", "server": args.server, "url": db.mask_url(args.url) if args.url else None,
        "from": window.source, "window_s": _window_seconds(window),
        "sampling": {"interval_s": window.interval_s, "samples": len(window.ok_snapshots),
                     "gaps": len(window.snapshots) - len(window.ok_snapshots),
                     "mean_latency_ms": window.mean_latency_ms},
        "services": [r.as_dict() for r in results],
        "findings": [f.as_dict() for f in findings],
    }


def _window_seconds(window: Window) -> float:
    snaps = window.ok_snapshots
    return round((snaps[-1].taken_at - snaps[0].taken_at).total_seconds(), 3) if len(snaps) > 1 else 0.0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def render_service(result: ServiceResult) -> list[str]:
    o = result.observation
    floor = "at least " if o.censored else ""
    lines = [f"{o.name}: {o.samples} samples, {o.processes} processes ({result.processes_from})",
             f"  busy connections: mean {o.busy.mean:.2f}, p95 {o.busy.p95:g}, p99 {o.busy.p99:g}, max {o.busy.max}; "
             f"open {o.open_mean:.1f} on average",
             f"  offered load: {floor}{o.offered_fleet:.2f} erlangs for the fleet, {floor}"
             f"{o.offered_per_process:.2f} per process"]
    if o.measurable:
        shape = f", {o.hold_shape}" if o.hold_shape else ""
        lines.append(f"  rate {floor}{o.rate_rps:.1f} req/s, hold {o.hold_ms:.2f} ms{shape} (source: {o.source})")
    else:
        lines.append("  rate and hold: not measurable here (no probe, no PgBouncer, and the database is shared "
                     "or unknown): only the offered load (source: none)")
    if o.censored:
        lines.append(f"  censored: busy was at the {o.censored_by} in {o.at_cap_fraction:.0%} of the samples, so "
                     "the true demand is at least this (requests queued where the server cannot see them)")
        if o.demand_rps is not None:
            lines.append(f"  demand counted by the probe: {o.demand_rps:.1f} req/s asked for a connection (completed,"
                         " timed out or still waiting): the pool is sized for that")
    a = result.advice
    if a is not None and a.pool_size is not None:
        lines.append(f"  recommended: {floor}pool_size={a.pool_size}, max_overflow={a.max_overflow} ({a.method}), "
                     f"predicted p99 wait {_ms(a.p99_wait_ms)}"
                     + (" for the demand seen, which is a floor" if o.censored else ""))
    elif a is not None:
        lines.append("  recommended: nothing fits as deployed: " + "; ".join(a.reasons[:2]))
    if result.model is not None:
        m = result.model
        lines.append(f"  model check (pool {m.pool_size}+{m.max_overflow}): P(wait) predicted {m.predicted_p_wait:.3f}"
                     f" / measured {m.measured_p_wait:.3f}; p99 wait predicted {_ms(m.predicted_p99_ms)} / measured "
                     f"{_ms(m.measured_p99_ms)}")
    return lines


def render_shared(results: list[ServiceResult]) -> list[str]:
    """A multi-service plan: how the one shared sizing split each server between the services, or whom to cut."""
    advice = next((r.advice for r in results if r.advice is not None and (r.advice.splits or r.advice.cuts)), None)
    if advice is None:
        return []
    lines = ["shared servers (every service sized together with its measured workload):"]
    for split in advice.splits:
        parts = ", ".join(f"{p.service} {p.given}" for p in split.parts)
        lines.append(f"  {split.server} ({split.rule}): {parts}" + (f" + {split.pgbouncer} PgBouncer" if
                     split.pgbouncer else "") + f" = rollout peak {split.rollout_peak} of {split.allowed} allowed")
    lines += [f"  {cut_text(cut)}" for cut in advice.cuts]
    return lines


def render(window: Window, results: list[ServiceResult], findings, args) -> str:
    lines = [f"{args.server}: {len(window.ok_snapshots)} samples over {_window_seconds(window):g} s from "
             f"{window.source} (every {window.interval_s:g} s, mean sample latency "
             f"{_ms(window.mean_latency_ms)}; {len(window.snapshots) - len(window.ok_snapshots)} gaps)"]
    if not results:
        lines.append("no application connections seen")
    for result in results:
        lines += render_service(result)
    lines += render_shared(results)
    for finding in findings:
        lines.append(f"{finding.severity}: [{finding.id}] {finding.message}")
        lines.append(f"  fix: {finding.fix}")
    return "\n".join(visible(line) for line in lines)
