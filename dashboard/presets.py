"""The sidebar's presets, read from the example plans (examples/*.toml) so the dashboard and the CLI judge the
same numbers: ``pool-planner check --config examples/lesson.toml`` and the "Lesson's production example"
preset show the same budget, findings and recommendation."""

from __future__ import annotations

import dataclasses
from functools import cache
from importlib import util
from pathlib import Path

from dashboard.state import Inputs, inputs_from_plan
from planner.config import load_plan
from planner.model import Plan

PRESET_FILES = {"Lesson's production example": "lesson.toml"}
"""Preset label -> example file. "PostgreSQL defaults" is the sidebar's own defaults (``Inputs()``)."""


def examples_dir() -> Path:
    """examples/ of this clone (or of an editable install); the ``planner.examples`` copy of an installed one."""
    source = Path(__file__).resolve().parent.parent / "examples"
    if source.is_dir():
        return source
    spec = util.find_spec("planner.examples")  # a namespace package (examples/ has no __init__.py)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the example plans (examples/ or planner.examples) are not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def preset_inputs(plan: Plan) -> Inputs:
    """The sidebar values of a single-server plan (``inputs_from_plan``, plus the autoscaling maximum)."""
    return dataclasses.replace(inputs_from_plan(plan), autoscale_max=plan.deployment.autoscale_max or 0)


@cache
def presets() -> dict[str, Inputs]:
    loaded = {label: preset_inputs(load_plan(examples_dir() / name)) for label, name in PRESET_FILES.items()}
    return {"PostgreSQL defaults": Inputs(), **loaded}
