"""``check``: the CI gate. Exit 0 when every server is safe or tight, 1 when one is unsafe, 2 on bad input."""

from __future__ import annotations

import argparse

from planner.commands._shared import add_json_flag, dumps, render_result, result_data
from planner.config import add_plan_arguments, plan_from_args
from planner.model import SEVERITY_ORDER
from planner.rules import static_findings

HELP = "check a plan for CI: exit 0 safe or tight, 1 unsafe (or --fail-on findings), 2 bad input"
EXAMPLE = "python -m planner check --config plan.toml --json"


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    add_json_flag(parser)
    parser.add_argument(
        "--fail-on", choices=("unsafe", "critical", "warning"), default="unsafe",
        help="also exit 1 on a finding of this severity or worse (default: only an unsafe verdict)",
    )


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    findings = static_findings(plan)
    data = result_data(plan, findings)
    print(dumps(data) if args.json else render_result(plan, findings))
    failed = data["verdict"] == "unsafe"
    if args.fail_on != "unsafe":
        limit = SEVERITY_ORDER[args.fail_on]
        failed = failed or any(SEVERITY_ORDER[f.severity] <= limit for f in findings)
    return 1 if failed else 0
