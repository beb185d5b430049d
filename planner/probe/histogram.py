"""Fixed log-spaced histograms of durations, and the quantiles read back from their bucket counts.

Ten buckets per decade from 10 µs to 100 s (each bucket 26% wider than the one before), so a p99 of 1-100 ms
is read to within one bucket; inside a bucket the quantile is interpolated geometrically, which puts it
within 12% of the true value. The same counts are exposed to Prometheus (``le`` in seconds) and in the
JSON snapshot, and ``summary`` works on any counts, lifetime or the difference of two scrapes (a window).
Pure: no I/O, no locking (the probe holds its lock around ``observe``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

BUCKETS_PER_DECADE = 10
BOUNDS_S: tuple[float, ...] = tuple(1e-5 * 10 ** (i / BUCKETS_PER_DECADE) for i in range(7 * BUCKETS_PER_DECADE + 1))
"""Upper bounds (inclusive, Prometheus ``le``) in seconds: 1e-05 ... 100; one more bucket counts the rest."""


class Histogram:
    """Counts per bucket and their sum; the number of observations is the counts' total (one update less per
    observation on the probe's hot path). Not thread-safe by itself."""

    __slots__ = ("counts", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS_S) + 1)
        self.sum_s = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS_S, seconds)] += 1
        self.sum_s += seconds

    def observe_many(self, seconds: list[float]) -> None:
        """``observe`` each of ``seconds`` (sorted in place): one sort and one search per bound instead of a
        search per value, the same counts (a value equal to a bound is in that bound's bucket, ``le``)."""
        seconds.sort()
        counts = self.counts
        below = 0
        for index, bound in enumerate(BOUNDS_S):
            upto = bisect_right(seconds, bound, below)
            counts[index] += upto - below
            below = upto
        counts[-1] += len(seconds) - below
        self.sum_s += sum(seconds)

    def as_dict(self) -> dict[str, object]:
        return {"counts": list(self.counts), "sum_s": self.sum_s, "count": self.count}


@dataclass(frozen=True, slots=True)
class Summary:
    """Quantiles and mean of a histogram, in milliseconds (None when nothing was observed)."""

    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    count: int

    def as_dict(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p95": self.p95, "p99": self.p99, "mean": self.mean}


def quantile_s(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) in seconds from bucket counts over ``BOUNDS_S``; None when empty.

    Geometric interpolation inside the bucket (linear in the first one, whose lower edge is 0); a quantile in
    the overflow bucket is reported as the last bound (a floor: more than 100 s)."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(BOUNDS_S):
                return BOUNDS_S[-1]
            upper = BOUNDS_S[index]
            fraction = max(0.0, min(1.0, (rank - seen) / count))
            if index == 0:
                return upper * fraction
            lower = BOUNDS_S[index - 1]
            return lower * math.exp(fraction * math.log(upper / lower))
        seen += count
    return BOUNDS_S[-1]


def summary(counts: Sequence[int], sum_s: float, count: int) -> Summary:
    """p50, p95, p99 and mean in ms of one histogram's counts (lifetime, or a window's difference)."""
    if count <= 0 or sum(counts) <= 0:
        return Summary(None, None, None, None, 0)

    def ms(q: float) -> float:
        return round(quantile_s(counts, q) * 1000, 4)  # type: ignore[operator]

    return Summary(ms(0.5), ms(0.95), ms(0.99), round(sum_s / count * 1000, 4), count)


def difference(newer: Sequence[int], older: Sequence[int]) -> list[int] | None:
    """Bucket counts of the window between two scrapes of one process; None when the process restarted
    (a count went down) or the layouts differ."""
    if len(newer) != len(older):
        return None
    delta = [a - b for a, b in zip(newer, older, strict=True)]
    return None if any(d < 0 for d in delta) else delta
