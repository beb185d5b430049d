"""A seeded discrete-event simulation of SQLAlchemy's ``QueuePool`` / ``AsyncAdaptedQueuePool`` checkout.

It follows ``QueuePool._do_get`` / ``_do_return_conn`` (SQLAlchemy 2.1): an arrival takes an idle
connection if there is one; else, while fewer than ``pool_size + max_overflow`` are open, it opens a new
one and waits for the connect; else it waits in FIFO order for a check-in, up to ``pool_timeout``. On
check-in the connection goes to the first waiter, else back to the idle queue, unless ``pool_size`` are
already idle: then it is closed (overflow churn). It starts warm (``pool_size`` idle connections), as a
service is after its first burst. Same inputs and seed, same numbers.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass

from planner.queueing.holdtime import HoldTime

WAITED_MS = 1.0
"""A checkout "waited" when it took longer than this; below it is the pool's own overhead."""


@dataclass(frozen=True, slots=True)
class SimResult:
    waits_ms: tuple[float, ...]
    """Sorted checkout waits of the measured arrivals (timed-out ones count pool_timeout)."""
    timeouts: int
    arrivals: int
    open_mean: float
    """Time-weighted mean of open connections."""
    open_p99: int
    """Time-weighted 99th percentile of open connections."""
    open_max: int
    connects_per_s: float
    """New connections opened per second (the churn the server pays for in new backends)."""
    busy_mean: float
    """Time-weighted mean of connections checked out (including ones being opened)."""


def simulate(
    rate_per_s: float,
    hold: HoldTime,
    pool_size: int,
    max_overflow: int,
    pool_timeout_s: float,
    connect_ms: float,
    *,
    arrivals: int = 100_000,
    seed: int = 1,
    warmup_fraction: float = 0.1,
) -> SimResult:
    rng = random.Random(seed)
    draw_hold = hold.sampler(rng)
    ceiling = pool_size + max_overflow
    timeout_ms = pool_timeout_s * 1000.0
    mean_gap = 1000.0 / rate_per_s
    skip = int(arrivals * warmup_fraction)

    releases: list[float] = []  # heap of check-in times
    waiters: deque[float] = deque()  # arrival times, FIFO
    idle, open_ = pool_size, pool_size
    waits: list[float] = []
    timeouts = 0
    connects = 0
    now = 0.0
    start = None
    open_time: dict[int, float] = {}
    busy_area = 0.0
    last = 0.0

    def advance(to: float) -> None:
        nonlocal last, busy_area
        if start is not None:
            span = to - last
            open_time[open_] = open_time.get(open_, 0.0) + span
            busy_area += (open_ - idle) * span
        last = to

    def expire(until: float) -> None:
        nonlocal timeouts
        while waiters and waiters[0] + timeout_ms <= until:
            arrived = waiters.popleft()
            if arrived >= (start if start is not None else math.inf):
                timeouts += 1
                waits.append(timeout_ms)

    next_arrival = rng.expovariate(1.0) * mean_gap
    count = 0
    while True:
        more = count < arrivals
        if not more and not waiters:
            break  # the last arrivals' waiters are served or timed out before stopping
        if releases and (not more or releases[0] <= next_arrival):
            now = heapq.heappop(releases)
            expire(now)
            advance(now)
            if waiters:
                arrived = waiters.popleft()
                if start is not None and arrived >= start:
                    waits.append(now - arrived)
                heapq.heappush(releases, now + draw_hold())
            elif idle < pool_size:
                idle += 1
            else:
                open_ -= 1
            continue
        now = next_arrival
        expire(now)
        advance(now)
        count += 1
        if count == skip + 1:
            start = now
            last = now
        measured = start is not None
        if idle:
            idle -= 1
            if measured:
                waits.append(0.0)
            heapq.heappush(releases, now + draw_hold())
        elif open_ < ceiling:
            open_ += 1
            if measured:
                connects += 1
                waits.append(connect_ms)
            heapq.heappush(releases, now + connect_ms + draw_hold())
        else:
            waiters.append(now)
        next_arrival = now + rng.expovariate(1.0) * mean_gap

    span = sum(open_time.values()) or 1.0
    cumulative, p99 = 0.0, 0
    for n in sorted(open_time):
        cumulative += open_time[n]
        if cumulative >= 0.99 * span:
            p99 = n
            break
    measured_arrivals = arrivals - skip
    return SimResult(
        waits_ms=tuple(sorted(waits)),
        timeouts=timeouts,
        arrivals=measured_arrivals,
        open_mean=sum(n * t for n, t in open_time.items()) / span,
        open_p99=p99,
        open_max=max(open_time) if open_time else open_,
        connects_per_s=connects / (span / 1000.0),
        busy_mean=busy_area / span,
    )


def quantile(sorted_values: tuple[float, ...], q: float) -> float:
    """Nearest-rank quantile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]
