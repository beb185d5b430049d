"""The dashboard's view-model, without Streamlit: sidebar inputs -> Plan -> what every panel shows.

``app.py`` only draws what these functions return, so the whole page logic is tested without a browser
and the UI computes nothing itself: budgets, verdicts and arithmetic come from ``planner.budget``, findings
from ``planner.rules``, predicted waits from ``planner.queueing``, snippets from ``planner.export``.

This module only re-exports, one concern per module (no logic here; new code imports the module it needs):
``dashboard.inputs`` (sidebar values -> Plan), ``dashboard.planview`` (verdict, budget, recommendation),
``dashboard.targets`` (which servers, masked URLs, history file), ``dashboard.findings_view`` (pitfalls rows),
``dashboard.wait_view`` (wait chart), ``dashboard.liveview`` (live panel), ``dashboard.exports_view`` (export tabs).
"""

from __future__ import annotations

from dashboard.demo_plan import SCENARIOS  # noqa: F401 - re-exported for the page
from dashboard.exports_view import (  # noqa: F401 - re-exported
    EXPORT_FILES,
    ExportFile,
    export_files,
)
from dashboard.findings_view import (  # noqa: F401 - re-exported
    LIVE_FINDINGS_WINDOW,
    FindingRow,
    finding_rows,
    live_findings_for,
    snippet_language,
)
from dashboard.inputs import (  # noqa: F401 - re-exported
    PGBOUNCER_POOL_MODES,
    PGBOUNCER_VERSIONS,
    PRIMARY,
    REPLICA,
    Inputs,
    _pgbouncer,
    _pgbouncer_inputs,
    apply_alternative,
    apply_plan,
    apply_recommendation,
    build_plan,
    initial_inputs,
    inputs_from,
    inputs_from_plan,
    plan_from_inputs,
    prefill_from_server,
)
from dashboard.liveview import (  # noqa: F401 - re-exported
    TIME_RANGES,
    LiveView,
    history_since,
    latest_table,
    live_headline,
    live_view,
    with_server_limit,
)
from dashboard.planview import (  # noqa: F401 - re-exported
    METRIC_HELP,
    PlanView,
    evaluate,
    fmt,
    headline_metrics,
    inline_error,
    plan_lines,
    recommendation,
    recommendation_summary,
)
from dashboard.targets import (  # noqa: F401 - re-exported
    URL_KEYS,
    history_path,
    masked_targets,
    monitor_targets,
)
from dashboard.wait_view import (  # noqa: F401 - re-exported
    WAIT_CURVE_SIM_ARRIVALS,
    _wait_point,
    wait_caption,
    wait_curve,
)
