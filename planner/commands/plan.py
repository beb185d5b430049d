"""``plan``: evaluate a given configuration: per server usable slots, steady, peak, rollout peak, headroom."""

from __future__ import annotations

import argparse

from planner.commands._shared import add_json_flag, dumps, render_result, result_data
from planner.config import add_plan_arguments, plan_from_args
from planner.rules import static_findings

HELP = "evaluate a plan: the connection budget of every server, with its arithmetic, and the static pitfalls"
EXAMPLE = "python -m planner plan --max-connections 100 --workers 4 --pool-size 20 --max-overflow 10 --surge 0"


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    """Prints the budget; exits 0 whatever the verdict (``check`` is the CI gate)."""
    plan = plan_from_args(args)
    findings = static_findings(plan)
    print(dumps(result_data(plan, findings)) if args.json else render_result(plan, findings))
    return 0
