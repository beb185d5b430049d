"""History from Prometheus: with ``PROMETHEUS_URL`` set, the dashboard's chart ranges come from the team's
Prometheus (which scrapes ``pool-planner collect``), so every dashboard and every restart shares one history.

``PrometheusHistory.frame`` answers what the live chart asks a ``HistoryStore`` (``dashboard.timeline``): the
long-form frame of ``history.FRAME_COLUMNS``, built from two range queries over the HTTP API
(``/api/v1/query_range``): connections by service and state, and ``pool_planner_up`` for the gaps (a sample
that failed is a row with status ``error`` and no count). The step is chosen so a trace has at most
``MAX_POINTS`` points (never finer than ``MIN_STEP_S``). Errors (Prometheus down, a bad answer) raise
``PrometheusError`` with one line; the page shows it and keeps its other panels.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from dashboard.live.history import FRAME_COLUMNS
from planner.dsn import mask_url
from planner.export_prometheus import METRIC_PREFIX as P

ENV = "PROMETHEUS_URL"
MAX_POINTS = 2_000
MIN_STEP_S = 1.0
ALL_OF_IT = timedelta(days=15)
"""The range asked for "everything" (Prometheus' default retention)."""
TIMEOUT_S = 10.0


class PrometheusError(Exception):
    """Prometheus could not answer (one line, password masked)."""


def step_for(since: datetime, until: datetime, max_points: int = MAX_POINTS, min_step_s: float = MIN_STEP_S) -> float:
    """Seconds between points so that [since, until] has at most ``max_points`` points per trace.

    >>> step_for(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    44.0
    >>> step_for(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 15, tzinfo=UTC))
    1.0
    """
    span = max(0.0, (until - since).total_seconds())
    return max(min_step_s, float(math.ceil(span / max(1, max_points - 1))))


def _quote(value: str) -> str:
    return json.dumps(value)


class PrometheusHistory:
    """Reads the collector's series back from Prometheus at ``url`` (``http://prometheus:9090``)."""

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{ENV} must be an http:// or https:// URL, got {mask_url(url)!r}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.path = mask_url(self.url)
        """What the page names as the history's place (no password)."""
        self.last_error: str | None = None

    @classmethod
    def from_env(cls, environ=None) -> PrometheusHistory | None:
        """From ``PROMETHEUS_URL``; None when unset or not an http(s) URL (the page then keeps SQLite)."""
        url = (os.environ if environ is None else environ).get(ENV, "").strip()
        try:
            return cls(url) if url else None
        except ValueError:
            return None

    def _get(self, path: str, params: dict[str, str]) -> dict:
        address = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as response:
                document = json.loads(response.read())
        except (OSError, ValueError) as err:
            raise PrometheusError(f"Prometheus at {self.path}: {type(err).__name__}: {err}") from None
        if document.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.path}: {document.get('error', 'no data')}")
        return document["data"]

    def query_range(self, query: str, since: datetime, until: datetime, step_s: float) -> list[dict]:
        data = self._get("query_range", {"query": query, "start": f"{since.timestamp():.3f}",
                                         "end": f"{until.timestamp():.3f}", "step": f"{step_s:g}"})
        return list(data.get("result", []))

    def servers(self) -> list[str]:
        return sorted(self._get("label/server/values", {"match[]": f"{P}_connections"}))

    def frame(self, server: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """Counts per (time, service, state) of one server, with a row per failed sample: ``FRAME_COLUMNS``.
        Empty when Prometheus cannot answer (``last_error`` says why), as a ``HistoryStore`` that cannot read."""
        try:
            frame = self.read_frame(server, since, until)
        except PrometheusError as err:
            self.last_error = str(err)
            return _frame(server, [])
        self.last_error = None
        return frame

    def read_frame(self, server: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """``frame``, raising ``PrometheusError`` when Prometheus cannot answer."""
        until = until or datetime.now(UTC)
        since = since or until - ALL_OF_IT
        step = step_for(since, until)
        s = _quote(server)
        counts = self.query_range(f"sum by (service, state) ({P}_connections{{server={s}}})", since, until, step)
        up = self.query_range(f"max({P}_up{{kind=\"server\",target={s}}})", since, until, step)
        rows = [(ts, "ok", series["metric"].get("service"), series["metric"].get("state"), float(value))
                for series in counts for ts, value in series["values"]]
        rows += [(ts, "error", None, None, np.nan) for series in up for ts, value in series["values"]
                 if float(value) == 0]
        return _frame(server, rows)


def _frame(server: str, rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ts", "status", "application_name", "state", "count"])
    frame = frame.sort_values("ts", kind="stable", ignore_index=True)
    return pd.DataFrame({
        "taken_at": pd.to_datetime(frame["ts"].astype("float64"), unit="s", utc=True),
        "server": server,
        "status": frame["status"].astype("str"),
        "application_name": frame["application_name"].astype("str"),
        "state": frame["state"].astype("str"),
        "count": frame["count"].astype("float64"),
    }, columns=FRAME_COLUMNS)
