"""The live headline over a sample: states in parentheses, none when the server has no client yet (seen on the
demo's first sample: "0 client connections at 08:31:34 UTC () · query 21.9 ms")."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.state import live_headline
from planner.snapshot import ActivityGroup, Snapshot

AT = datetime(2026, 11, 26, 8, 31, 34, tzinfo=UTC)


def test_states_in_parentheses_and_none_without_clients():
    idle = ActivityGroup("db", "app", "api", None, "idle", None, 3, 0)
    busy = Snapshot("primary", AT, "ok", groups=(idle,), latency_ms=2.0)
    empty = Snapshot("primary", AT, "ok", groups=(), latency_ms=21.9)
    head = "**primary**: **{}** client connections at 08:31:34 UTC"
    assert live_headline("primary", busy)[0] == head.format(3) + " (3 idle) · query 2.0 ms"
    assert live_headline("primary", empty)[0] == head.format(0) + " · query 21.9 ms"
