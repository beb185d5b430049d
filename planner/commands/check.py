"""``check``: the CI gate. Exit 0 when the plan is safe or tight and no finding reaches ``--fail-on``, 1 otherwise,
2 on bad input."""

from __future__ import annotations

import argparse

from planner.commands._shared import add_json_flag, dumps, render_result, result_data
from planner.commands.plan_args import add_plan_arguments, plan_from_args
from planner.model import SEVERITY_ORDER
from planner.rules import static_findings

HELP = "check a plan for CI: exit 1 when it is unsafe or has a critical finding"
EXAMPLE = "python -m planner check --config plan.toml --json"
FAIL_ON = ("unsafe", "critical", "warning", "info")


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    add_json_flag(parser)
    parser.add_argument(
        "--fail-on", choices=FAIL_ON, default="critical",
        help="exit 1 on a finding of this severity or worse (default critical); unsafe: only on an unsafe verdict",
    )


def failed(verdict: str, findings, fail_on: str) -> bool:
    """An unsafe verdict always fails; a finding fails when its severity is ``fail_on`` or worse."""
    if verdict == "unsafe":
        return True
    if fail_on == "unsafe":
        return False
    return any(SEVERITY_ORDER[f.severity] <= SEVERITY_ORDER[fail_on] for f in findings)


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    findings = static_findings(plan)
    data = result_data(plan, findings)
    print(dumps(data) if args.json else render_result(plan, findings))
    return 1 if failed(str(data["verdict"]), findings, args.fail_on) else 0
