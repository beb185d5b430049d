"""What a collector read from one process's probe: the typed input of the probe rules and the joined view.

Pure data (no I/O): ``dashboard.live.probes`` builds these from the probes' JSON; ``planner.rules.probe`` and
``planner.verdict`` judge them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.probe.histogram import Summary


@dataclass(frozen=True, slots=True)
class ProbeReading:
    """One engine of one process as its probe reported it, or why there is no report (``status``)."""

    endpoint: str
    """The target URL, password masked."""
    service: str
    engine: str
    status: str
    """``ok``, or the reason: ``unreachable: ...``, ``timeout after 2 s``, ``http 500``, ``bad document: ...``."""
    taken_at: float
    """Epoch seconds the collector received it (or gave up)."""
    pid: int | None = None
    pool_size: int | None = None
    max_overflow: int | None = None
    checked_out: int | None = None
    idle: int | None = None
    overflow: int | None = None
    waiting: int | None = None
    checkouts: int | None = None
    timeouts: int | None = None
    """Since the process started (the probe's counter)."""
    pre_ping_failures: int | None = None
    invalidations: int | None = None
    connect_errors: int | None = None
    wait_ms: Summary | None = None
    hold_ms: Summary | None = None
    queue_wait_ms: Summary | None = None
    """The part of the wait spent blocked because no connection was free (contention, not connecting)."""
    window_s: float | None = None
    """Seconds ``wait_ms``, ``hold_ms`` and the ``*_window`` counts cover; None = the process lifetime."""
    checkouts_window: int | None = None
    timeouts_window: int | None = None
    pre_ping_failures_window: int | None = None
    connect_errors_window: int | None = None
    checked_out_p99: int | None = None
    """p99 of the connections checked out as each checkout saw them (same window)."""
    latency_ms: float | None = None
    uptime_s: float | None = None
    """Seconds the process had been instrumented when it reported."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def recent_timeouts(self) -> int | None:
        """Timeouts in the window, or since the process started when there is no window."""
        return self.timeouts_window if self.window_s is not None else self.timeouts

    @property
    def recent_pre_ping_failures(self) -> int | None:
        return self.pre_ping_failures_window if self.window_s is not None else self.pre_ping_failures

    @property
    def recent_connect_errors(self) -> int | None:
        return self.connect_errors_window if self.window_s is not None else self.connect_errors

    @property
    def span(self) -> str:
        """What ``recent_*`` and the quantiles cover, in words."""
        return f"in the last {self.window_s:g} s" if self.window_s is not None else "since the process started"

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        empty = {"p50": None, "p95": None, "p99": None, "mean": None}
        out["wait_ms"] = self.wait_ms.as_dict() if self.wait_ms else dict(empty)
        out["hold_ms"] = self.hold_ms.as_dict() if self.hold_ms else dict(empty)
        out["queue_wait_ms"] = self.queue_wait_ms.as_dict() if self.queue_wait_ms else dict(empty)
        return out
