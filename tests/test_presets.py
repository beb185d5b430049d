"""The dashboard's presets are the example files: the same budget, findings and recommendation as the CLI's
``--config examples/<file>``."""

from __future__ import annotations

import pytest

from dashboard import presets, state
from planner.budget import plan_budgets
from planner.config import load_plan
from planner.rules import static_findings
from planner.sizing import recommend_for_plan


@pytest.mark.parametrize("label", sorted(presets.PRESET_FILES))
def test_a_preset_judges_like_its_example_file(label):
    from_file = load_plan(presets.examples_dir() / presets.PRESET_FILES[label])
    from_page = state.build_plan(presets.presets()[label])
    assert [b.as_dict() for b in plan_budgets(from_page)] == [b.as_dict() for b in plan_budgets(from_file)]
    assert [f.as_dict() for f in static_findings(from_page)] == [f.as_dict() for f in static_findings(from_file)]
    page, cli = recommend_for_plan(from_page), recommend_for_plan(from_file)
    assert [(a.pool_size, a.max_overflow, a.pool_timeout, a.pool_recycle) for a in page.engines] == [
        (a.pool_size, a.max_overflow, a.pool_timeout, a.pool_recycle) for a in cli.engines]


def test_the_lesson_preset_has_the_readmes_surge():
    lesson = presets.presets()["Lesson's production example"]
    assert (lesson.surge_percent, lesson.workers, lesson.pool_size, lesson.max_overflow) == (0, 4, 20, 10)
    assert "Lesson's production example" in presets.presets() and "PostgreSQL defaults" in presets.presets()
