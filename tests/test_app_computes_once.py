"""One rerun of the page computes the recommendation and the static findings at most once (issue 14).

The functions are wrapped where they are defined and in every module that imported them, so a call from any
path (the verdict panel, the recommendation, the pitfalls, the export) is counted.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import planner.rules.static
import planner.sizing
from dashboard import state
from planner.queueing import requirement

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def count_calls(monkeypatch, counter: Counter, owner, name: str, *, prefix: str = "", key: str = "") -> None:
    """Wrap ``owner.name`` in every loaded module holding that same function (``from x import name`` too)
    whose name starts with ``prefix``; calls are counted under ``key`` (default: the function's name)."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        # the "Observed" panel sizes the measured workload of each live service: another plan, not this one
        if not any(frame.filename.endswith("observe_sizing.py") for frame in inspect.stack(context=0)[1:]):
            counter[key or name] += 1
        return original(*args, **kwargs)

    for module_name, module in list(sys.modules.items()):
        if module_name.startswith(prefix) and getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, wrapper)


@pytest.mark.db
def test_one_unsafe_rerun_sizes_and_judges_the_plan_once(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = pg_url
    at.run()
    deadline = time.monotonic() + 15
    while not at.session_state["prefilled"] if "prefilled" in at.session_state else True:
        assert time.monotonic() < deadline, "no live sample within 15 s"
        time.sleep(0.3)
        at.run()
    at.selectbox(key="preset").set_value("PostgreSQL defaults").run()
    calls: Counter = Counter()
    count_calls(monkeypatch, calls, planner.sizing, "recommend_for_plan", prefix="dashboard", key="page asks")
    count_calls(monkeypatch, calls, planner.sizing, "recommend")
    count_calls(monkeypatch, calls, planner.rules.static, "static_findings")
    at.number_input(key="workers").set_value(7).run()  # a plan no cache has seen: unsafe
    assert not at.exception
    assert any(b.value.startswith("**UNSAFE**") for b in at.error)
    assert any(t.label.startswith("Recommended") for t in at.expander)
    assert "JSON" in [tab.label for tab in at.tabs]  # the export ran, with the plan's findings in it
    assert calls["static_findings"] == 1, calls
    assert calls["recommend"] <= 1, calls  # the sizing itself: once, whoever asks for it
    assert calls["page asks"] == 1, calls  # the dashboard's own ask; the rules quote the same (cached) result


def test_the_wait_chart_simulates_as_many_checkouts_as_the_recommendation():
    assert state.WAIT_CURVE_SIM_ARRIVALS == requirement.SIM_ARRIVALS
