"""The live chart's data between reruns: counts per state and per application, read incrementally.

Re-reading a day of 1 s samples from the history store on every refresh costs seconds. A ``Timeline`` keeps
the pivoted counts (``charts.wide_counts``) of one server in memory and, on each refresh, reads only the
samples newer than the last one it has; a longer time range is read once, backwards, when first asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from dashboard.charts import gap_mask, wide_counts

SPLITS = ("state", "application_name")


def _naive(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert(None) if stamp.tz is not None else stamp


@dataclass
class _Chunk:
    wide: dict[str, pd.DataFrame]
    gaps: pd.Series
    """Per sample time (naive UTC): True when the sample is a gap (not ok)."""


def _chunk(frame: pd.DataFrame) -> _Chunk:
    return _Chunk({by: wide_counts(frame, by) for by in SPLITS}, gap_mask(frame))


def _merge(a: _Chunk, b: _Chunk) -> _Chunk:
    """``a`` then ``b`` (b wins on equal times). A category missing from an ok sample is 0; a gap stays NaN."""
    gaps = pd.concat([a.gaps, b.gaps])
    keep = ~gaps.index.duplicated(keep="last")
    gaps = gaps[keep]
    wide = {}
    for by in SPLITS:
        merged = pd.concat([a.wide[by], b.wide[by]])[keep].fillna(0.0)
        merged = merged.reindex(sorted(merged.columns, key=str), axis=1)
        merged[gaps.to_numpy()] = float("nan")
        wide[by] = merged
    return _Chunk(wide, gaps)


class Timeline:
    """One server's pivoted history, kept up to date from a ``HistoryStore`` (thread-safe: shared by sessions)."""

    def __init__(self, store, server: str):
        self.store = store
        self.server = server
        self._data: _Chunk | None = None
        self._first: datetime | None = None
        """The oldest time read so far (None with data: the whole history)."""
        self._lock = threading.Lock()

    def _read(self, since: datetime | None, until: datetime | None = None) -> _Chunk:
        return _chunk(self.store.frame(self.server, since=since, until=until))

    def window(self, by: str, since: datetime | None) -> pd.DataFrame:
        """Counts per value of ``by`` from ``since`` (None: the whole history) up to the newest sample."""
        return self.window_with_gaps(by, since)[0]

    def window_with_gaps(self, by: str, since: datetime | None) -> tuple[pd.DataFrame, pd.Series]:
        """``window`` and, for the same rows, which samples failed (``charts.wide_figure``'s ``gaps``): with no
        client backend in the window the counts have no column, and only this says where the outage was."""
        if by not in SPLITS:
            raise ValueError(f"by must be one of {', '.join(SPLITS)}, got {by!r}")
        with self._lock:
            if self._data is None:
                self._data, self._first = self._read(since), since
            else:
                if self._first is not None and (since is None or since < self._first):
                    self._data = _merge(self._read(since, self._first), self._data)
                    self._first = since
                gaps = self._data.gaps
                newest = gaps.index[-1].tz_localize(UTC).to_pydatetime() if len(gaps) else self._first
                self._data = _merge(self._data, self._read(newest))
            wide, gaps = self._data.wide[by], self._data.gaps
        if since is None:
            return wide, gaps
        return wide.loc[wide.index >= _naive(since)], gaps.loc[gaps.index >= _naive(since)]
