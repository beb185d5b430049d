"""``plan``: evaluate a given configuration: per server usable slots, steady, peak, rollout peak, headroom."""

from __future__ import annotations

import argparse

from planner.budget import plan_verdict
from planner.commands._shared import add_json_flag, dumps, render_result, result_data
from planner.commands.plan_args import add_plan_arguments, plan_from_args
from planner.rules import static_findings

HELP = "evaluate a plan: every server's connection budget with its arithmetic, and the pitfalls found"
EXAMPLE = "python -m planner plan --max-connections 100 --workers 4 --pool-size 20 --max-overflow 10 --surge 0"
EXIT_CODES = ("exit codes: 0 safe or tight; 1 unsafe; 2 bad input; 3 internal error (findings alone do not fail "
              "plan: gate on them with check --fail-on)")


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    findings = static_findings(plan)
    print(dumps(result_data(plan, findings)) if args.json else render_result(plan, findings))
    return 1 if plan_verdict(plan) == "unsafe" else 0
