"""Min/max-per-bucket downsampling: a day of 1 s samples becomes <= 2,000 points without losing a spike.

Averaging or taking every n-th sample hides a 1-second burst of connections in a 24-hour view, which is
exactly the burst an operator is looking for. Each bucket keeps its minimum and its maximum (in time
order) and, when it contains a gap (NaN), one NaN so the chart still draws the outage as a break.
"""

from __future__ import annotations

import numpy as np

MAX_POINTS = 2_000
POINTS_PER_BUCKET = 3  # min, max, and one NaN when the bucket holds a gap


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Keep per bucket the min and the max of ``y`` (and one NaN if any); ``x`` must be sorted.

    Returns at most ``max_points`` points, in the original order. Short series come back unchanged.
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    if max_points < POINTS_PER_BUCKET:
        raise ValueError(f"max_points must be at least {POINTS_PER_BUCKET}, got {max_points}")
    n = len(y)
    if n <= max_points:
        return x, y
    buckets = max_points // POINTS_PER_BUCKET
    size = -(-n // buckets)  # ceil: every bucket but the last is full
    buckets = -(-n // size)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = y
    grid = padded.reshape(buckets, size)
    nan = np.isnan(grid)
    nan[-1, n - (buckets - 1) * size :] = False  # the padding is not a gap
    offsets = np.arange(buckets) * size
    has_value = ~np.all(np.isnan(grid), axis=1)
    high = np.where(np.isnan(grid), -np.inf, grid).argmax(axis=1) + offsets
    low = np.where(np.isnan(grid), np.inf, grid).argmin(axis=1) + offsets
    first_nan = nan.argmax(axis=1) + offsets
    keep = np.concatenate([high[has_value], low[has_value], first_nan[nan.any(axis=1)]])
    keep = np.unique(keep)
    return x[keep], y[keep]
