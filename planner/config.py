"""Compatibility alias: plan files moved to ``planner.plan_io`` (TOML and JSON in and out, no argparse) and the
plan flags to ``planner.commands.plan_args``. Every name imported from ``planner.config`` keeps working; no logic
lives here.
"""

from planner.commands.plan_args import add_plan_arguments, plan_from_args
from planner.plan_io import (
    load_plan,
    plan_from_data,
    plan_from_json,
    plan_from_toml,
    plan_to_data,
    plan_to_toml,
)

__all__ = ["add_plan_arguments", "load_plan", "plan_from_args", "plan_from_data", "plan_from_json", "plan_from_toml",
           "plan_to_data", "plan_to_toml"]
