"""Min/max downsampling keeps every bucket's extremes and its gaps, and never exceeds the point budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dashboard.downsample import MAX_POINTS, downsample


def test_short_series_unchanged():
    x = np.arange(5)
    y = np.array([1.0, np.nan, 3.0, 2.0, 0.0])
    out_x, out_y = downsample(x, y, max_points=10)
    assert out_x.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(out_y, y)


def test_one_second_spike_survives_a_day():
    x = np.arange(86_400)
    y = np.full(86_400, 10.0)
    y[43_210] = 95.0
    y[50_000:50_600] = np.nan  # a 10-minute outage
    out_x, out_y = downsample(x, y)
    assert len(out_x) <= MAX_POINTS
    assert out_y[~np.isnan(out_y)].max() == 95.0
    assert 43_210 in out_x.tolist()
    nan_at = out_x[np.isnan(out_y)]
    assert len(nan_at) >= 1 and all(50_000 <= t < 50_600 for t in nan_at)
    assert np.all(np.diff(out_x) > 0)


def test_exact_buckets():
    x = np.arange(12)
    y = np.array([3, 1, 2, 9, 0, 5, 4, 4, 4, 7, 8, 6], dtype=float)
    out_x, out_y = downsample(x, y, max_points=6)  # 2 buckets of 6
    assert out_x.tolist() == [3, 4, 6, 10]
    assert out_y.tolist() == [9, 0, 4, 8]


def test_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        downsample(np.arange(3), np.arange(4))


values = st.floats(min_value=0, max_value=1_000, allow_nan=False) | st.just(float("nan"))


@settings(max_examples=200, deadline=None)
@given(arrays(float, st.integers(1, 3_000), elements=values), st.integers(3, 500))
def test_properties(y, max_points):
    x = np.arange(len(y))
    out_x, out_y = downsample(x, y, max_points)
    assert len(out_x) == len(out_y) <= max_points
    assert np.all(np.diff(out_x) > 0)  # time order kept, no duplicates
    np.testing.assert_array_equal(out_y, y[out_x])  # every point is a real sample
    finite = y[~np.isnan(y)]
    kept = out_y[~np.isnan(out_y)]
    if len(finite):
        assert kept.max() == finite.max() and kept.min() == finite.min()
    assert np.isnan(out_y).any() == np.isnan(y).any()  # a gap is never dropped nor invented
    # per bucket: the bucket's max and min are kept
    if len(y) > max_points:
        buckets = max_points // 3
        size = -(-len(y) // buckets)
        for start in range(0, len(y), size):
            chunk = y[start : start + size]
            inside = (out_x >= start) & (out_x < start + size)
            chunk_kept = out_y[inside]
            if (~np.isnan(chunk)).any():
                assert np.nanmax(chunk_kept) == np.nanmax(chunk)
                assert np.nanmin(chunk_kept) == np.nanmin(chunk)
