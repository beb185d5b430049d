"""The overview of every server: the plan's and the sampled ones, each with its verdict, headroom, live total
against its usable slots, and the trend of its live total; and the server picker's choices.

Server names are untrusted text (a plan file, a collector target): the table shows them through
``planner.text.visible`` (glide's cells are plain text, never Markdown; ``visible`` keeps control characters and
bidi overrides from disguising a name). Part of the page's view-model; no Streamlit here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd

from dashboard.charts import total_counts
from planner.budget import ServerBudget
from planner.text import visible

TREND_WINDOW = timedelta(minutes=15)
TREND_POINTS = 60
"""Points per sparkline: the 15 min window in 15 s buckets, each bucket's highest total (a spike stays)."""
ALL_SERVERS = "All servers"
COLUMNS = ("server", "verdict", "headroom", "usable", "live total", "live / usable", "sample", "trend")


@dataclass(frozen=True)
class ServerRow:
    """One server of the overview."""

    server: str
    verdict: str | None
    """safe / tight / unsafe (``planner.budget``); None: the plan does not have this server."""
    headroom: int | None
    usable: int | None
    live_total: int | None
    """Client connections in the latest ok sample; None: not sampled, or the latest sample failed."""
    live_status: str | None
    """The latest sample's status (ok, unreachable, ...); None: no sample."""
    trend: tuple[float, ...]
    """The live total over the recent window (at most ``TREND_POINTS`` points, gaps left out)."""

    @property
    def live_share(self) -> float | None:
        """Live total / usable slots (None when either is unknown or usable <= 0)."""
        if self.live_total is None or not self.usable or self.usable <= 0:
            return None
        return self.live_total / self.usable


def server_names(plan_servers: Iterable[str], live_servers: Iterable[str]) -> list[str]:
    """The plan's servers in its order, then the sampled ones it does not have."""
    names = list(dict.fromkeys(plan_servers))
    return names + [name for name in dict.fromkeys(live_servers) if name not in names]


def trend(wide: pd.DataFrame, gaps: pd.Series | None, points: int = TREND_POINTS) -> tuple[float, ...]:
    """The total per sample (``charts.total_counts``), failed samples left out, as at most ``points`` bucket
    maxima in time order."""
    totals = total_counts(wide, gaps)
    totals = totals[~np.isnan(totals)]
    if len(totals) <= points:
        return tuple(float(v) for v in totals)
    edges = np.linspace(0, len(totals), points + 1).astype(int)
    return tuple(float(totals[a:b].max()) for a, b in pairwise(edges) if b > a)


def fleet_rows(budgets: Iterable[ServerBudget], latest: Mapping[str, object], live_servers: Iterable[str],
               window: Callable[[str], tuple[pd.DataFrame, pd.Series]] | None = None) -> list[ServerRow]:
    """One row per server the plan (``budgets``) or the sampling (``live_servers``) knows.

    ``latest``: server -> its latest ``Snapshot``; ``window(server)``: its recent ``(wide, gaps)``
    (``Timeline.window_with_gaps``), asked only of sampled servers."""
    by_name = {b.name: b for b in budgets}
    live = list(live_servers)
    rows = []
    for name in server_names(by_name, live):
        budget = by_name.get(name)
        snapshot = latest.get(name)
        ok = snapshot is not None and getattr(snapshot, "ok", False)
        points = trend(*window(name)) if window is not None and name in live else ()
        rows.append(ServerRow(
            server=name, verdict=budget.verdict if budget else None, headroom=budget.headroom if budget else None,
            usable=budget.usable if budget else _live_usable(snapshot), live_total=snapshot.total if ok else None,
            live_status=getattr(snapshot, "status", None), trend=points))
    return rows


def _live_usable(snapshot: object) -> int | None:
    """A server the plan does not know: the slots its own settings leave an ordinary role (no other clients)."""
    settings = getattr(snapshot, "settings", None)
    if settings is None:
        return None
    return (settings.max_connections - settings.superuser_reserved_connections
            - (settings.reserved_connections or 0))


def matching(rows: Iterable[ServerRow], text: str | None) -> list[ServerRow]:
    """The rows whose server name or verdict contains ``text`` (case-insensitive; empty: all)."""
    needle = (text or "").strip().casefold()
    return [r for r in rows if not needle or needle in r.server.casefold() or needle in (r.verdict or "")]


def _sample_cell(row: ServerRow) -> str:
    return "not sampled" if row.live_status is None else visible(row.live_status)


def overview_frame(rows: Iterable[ServerRow]) -> pd.DataFrame:
    """The overview table: text cells (names and sample states through ``visible``), numbers where a column sorts
    by number (an unknown number is empty, its reason in ``sample``)."""
    records = [{
        "server": visible(r.server),
        "verdict": r.verdict.upper() if r.verdict else "not in the plan",
        "headroom": r.headroom,
        "usable": r.usable,
        "live total": r.live_total,
        "live / usable": None if r.live_share is None else round(100 * r.live_share, 1),
        "sample": _sample_cell(r),
        "trend": list(r.trend),
    } for r in rows]
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def picker_choices(rows: Iterable[ServerRow]) -> list[str]:
    """The server picker's options: every server, after "All servers"."""
    return [ALL_SERVERS, *(r.server for r in rows)]


def default_pick(names: list[str]) -> str:
    """All servers while they fit one under the other (two); the first server from three on."""
    return ALL_SERVERS if len(names) <= 2 else names[0]


def shown_servers(pick: str | None, live_servers: list[str]) -> list[str]:
    """The sampled servers whose detailed charts the page draws for the picker's value."""
    if pick in (None, ALL_SERVERS):
        return live_servers
    return [pick] if pick in live_servers else []


def since(now: datetime) -> datetime:
    return now - TREND_WINDOW
