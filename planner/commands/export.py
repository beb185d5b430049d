"""``export``: the plan (or the recommended one) as a snippet to paste."""

from __future__ import annotations

import argparse
import sys

from planner.budget import plan_verdict
from planner.commands.plan_args import add_plan_arguments, plan_from_args
from planner.export import CLI_FORMATS, DEFAULT_APP, export
from planner.sizing import recommend_for_plan
from planner.sizing.shared import cut_text

HELP = ("print a snippet to paste: python (engines + warm-up), env, uvicorn, gunicorn, pgbouncer, postgresql, json "
        "or toml (the plan file; with --recommended, the recommended plan)")
EXAMPLE = "python -m planner export --config plan.toml --recommended --format python > app/db/engines.py"
EXIT_CODES = ("exit codes: 0 snippet of a safe or tight plan; 1 the snippet is printed but its plan is unsafe "
              "(or nothing fits with --recommended); 2 bad input; 3 internal error")


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument("--format", required=True, choices=CLI_FORMATS, help="snippet format")
    parser.add_argument("--recommended", action="store_true",
                        help="export the recommended pool settings (as recommend gives them) instead of the given ones")
    parser.add_argument("--alert-for", type=float, default=60.0, metavar="SECONDS",
                        help="prometheus-rules: how long a condition holds before its alert fires (60)")
    parser.add_argument("--app", default=DEFAULT_APP, help=f"ASGI app for uvicorn/gunicorn (default {DEFAULT_APP})")
    parser.add_argument("--provenance", metavar="TEXT", help="where the workload's numbers came from: printed first "
                        "as a comment line (live observe --export writes its measurement here)")


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    if args.recommended:
        rec = recommend_for_plan(plan)
        if rec.plan is None:
            cuts = "".join(f"; {cut_text(c)}" for c in rec.cuts)
            print("error: nothing fits: " + "; ".join(rec.why) + cuts + " (the recommend command lists the changes "
                  "that would)", file=sys.stderr)
            return 1
        plan = rec.plan
    if not 0 <= args.alert_for <= 86_400:
        print(f"error: --alert-for must be between 0 and 86400 seconds, got {args.alert_for:g}", file=sys.stderr)
        return 2
    sys.stdout.write(export(plan, args.format, app=args.app, provenance=args.provenance, alert_for_s=args.alert_for))
    if plan_verdict(plan) == "unsafe":
        print("warning: this plan is unsafe (check --config shows why); exit 1", file=sys.stderr)
        return 1
    return 0
