"""A seeded discrete-event simulation of SQLAlchemy's ``QueuePool`` / ``AsyncAdaptedQueuePool`` checkout.

It follows ``QueuePool._do_get`` / ``_do_return_conn`` (SQLAlchemy 2.1): an arrival takes an idle
connection if there is one; else, while fewer than ``pool_size + max_overflow`` are open, it opens a new
one and waits for the connect; else it waits in FIFO order for a check-in, up to ``pool_timeout``. On
check-in the connection goes to the first waiter, else back to the idle queue, unless ``pool_size`` are
already idle: then it is closed (overflow churn). A connection handed to a waiter stays unused for
``handoff_ms`` more: the event loop must first resume the waiting task, and an arrival that runs in
that window takes the connection instead (the waiter queues again at the back, so the order is not
strictly FIFO and the tail grows). It starts warm (``pool_size`` idle connections), as a
service is after its first burst. Same inputs and seed, same numbers.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass

from planner.queueing.holdtime import HoldTime

RELEASE, HANDOFF = 0, 1
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
    handoff_ms: float = 0.0,
    *,
    arrivals: int = 100_000,
    seed: int = 1,
    warmup_fraction: float = 0.1,
) -> SimResult:
    if max_overflow == 0 and handoff_ms == 0:
        return _fixed_pool(rate_per_s, hold, pool_size, pool_timeout_s, arrivals, seed, warmup_fraction)
    return _events(rate_per_s, hold, pool_size, max_overflow, pool_timeout_s, connect_ms, handoff_ms, arrivals, seed,
                   warmup_fraction)


def _fixed_pool(rate_per_s: float, hold: HoldTime, pool_size: int, pool_timeout_s: float, arrivals: int, seed: int,
                warmup_fraction: float) -> SimResult:
    """The pool without overflow or hand-off delay is a first-come-first-served queue with ``pool_size``
    servers and reneging at ``pool_timeout``: each checkout starts when the earliest of the connections is
    free (Kiefer-Wolfowitz), so one heap of free times replaces the event queue, about 4x faster. Arrivals
    and holds are drawn in the same order as ``_events`` draws them when a hold is drawn at checkout, so
    constant holds give the very same waits."""
    rng = random.Random(seed)
    draw_hold = hold.sampler(rng)
    draw_gap = rng.expovariate
    mean_gap = 1000.0 / rate_per_s
    timeout_ms = pool_timeout_s * 1000.0
    skip = int(arrivals * warmup_fraction)
    free = [0.0] * pool_size  # when each connection is next free (a heap); warm: all idle at the start
    waits: list[float] = []
    timeouts = 0
    busy_ms = 0.0
    now = start = draw_gap(1.0) * mean_gap
    for count in range(arrivals):
        if count == skip:
            start = now
        earliest = free[0]
        if earliest <= now:
            held = draw_hold()
            heapq.heapreplace(free, now + held)
            wait = 0.0
        elif earliest - now > timeout_ms:
            held, wait = 0.0, timeout_ms  # gives up; the connections stay as they were
            timeouts += count >= skip
        else:
            held = draw_hold()
            heapq.heapreplace(free, earliest + held)
            wait = earliest - now
        if count >= skip:
            waits.append(wait)
            busy_ms += held
        now += draw_gap(1.0) * mean_gap
    span = max(now - start, 1e-9)
    busy_ms -= sum(max(t - now, 0.0) for t in free)  # what the last checkouts hold after the window closes
    return SimResult(
        waits_ms=tuple(sorted(waits)),
        timeouts=timeouts,
        arrivals=arrivals - skip,
        open_mean=float(pool_size),
        open_p99=pool_size,
        open_max=pool_size,
        connects_per_s=0.0,
        busy_mean=max(busy_ms, 0.0) / span,
    )


def _events(rate_per_s: float, hold: HoldTime, pool_size: int, max_overflow: int, pool_timeout_s: float,
            connect_ms: float, handoff_ms: float, arrivals: int, seed: int, warmup_fraction: float) -> SimResult:
    """The general case, event by event: overflow connections opened and closed, hand-off delays, robbing."""
    rng = random.Random(seed)
    draw_hold = hold.sampler(rng)
    ceiling = pool_size + max_overflow
    timeout_ms = pool_timeout_s * 1000.0
    mean_gap = 1000.0 / rate_per_s
    skip = int(arrivals * warmup_fraction)

    events: list[tuple[float, int, int]] = []  # (time, kind, waiter id): RELEASE, or HANDOFF to a waiter
    deadlines: list[tuple[float, int]] = []  # (arrival + pool_timeout, waiter id)
    waiters: deque[int] = deque()  # waiter ids in the order asyncio will wake them
    arrived_at: dict[int, float] = {}  # waiters still waiting (queued or being handed a connection)
    handing: deque[int] = deque()  # waiters a connection was checked in to, not yet resumed
    overdue: set[int] = set()  # waiters whose pool_timeout passed while being handed a connection
    idle, open_ = pool_size, pool_size
    waits: list[float] = []
    timeouts = connects = 0
    now = last = busy_area = 0.0
    start: float | None = None
    open_time: dict[int, float] = {}

    def advance(to: float) -> None:
        nonlocal last, busy_area
        if start is not None:
            span = to - last
            open_time[open_] = open_time.get(open_, 0.0) + span
            busy_area += (open_ - idle) * span
        last = to

    def record(arrived: float, wait: float) -> None:
        if start is not None and arrived >= start:
            waits.append(wait)

    def expire(until: float) -> None:
        nonlocal timeouts
        while deadlines and deadlines[0][0] <= until:
            _, waiter = heapq.heappop(deadlines)
            if waiter in handing:
                overdue.add(waiter)  # being handed a connection; times out only if overtaken
            elif waiter in arrived_at:
                give_up(waiter)

    def give_up(waiter: int) -> None:
        nonlocal timeouts
        arrived = arrived_at.pop(waiter)
        record(arrived, timeout_ms)
        timeouts += start is not None and arrived >= start

    def serve(waiter: int) -> None:
        arrived = arrived_at.pop(waiter)
        record(arrived, now - arrived)
        heapq.heappush(events, (now + draw_hold(), RELEASE, -1))

    next_arrival = rng.expovariate(1.0) * mean_gap
    count = 0
    while count < arrivals or arrived_at:
        if events and (count >= arrivals or events[0][0] <= next_arrival):
            now, kind, waiter = heapq.heappop(events)
            expire(now)
            advance(now)
            if kind == HANDOFF:
                if handing and handing[0] == waiter:  # not robbed meanwhile
                    handing.popleft()
                    serve(waiter)
                continue
            while waiters and waiters[0] not in arrived_at:
                waiters.popleft()  # timed out
            if waiters:
                waiter = waiters.popleft()
                if handoff_ms:
                    handing.append(waiter)
                    heapq.heappush(events, (now + handoff_ms, HANDOFF, waiter))
                else:
                    serve(waiter)
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
            start = last = now
        measured = start is not None
        if idle:
            idle -= 1
            if measured:
                waits.append(0.0)
            heapq.heappush(events, (now + draw_hold(), RELEASE, -1))
        elif handing:
            # The connection sits in asyncio's queue until its waiter resumes; a task that runs first takes it
            # (AsyncAdaptedQueue.get tries get_nowait), and the robbed waiter queues again at the back.
            robbed = handing.popleft()
            if robbed in overdue:
                give_up(robbed)
            else:
                waiters.append(robbed)
            if measured:
                waits.append(0.0)
            heapq.heappush(events, (now + draw_hold(), RELEASE, -1))
        elif open_ < ceiling:
            open_ += 1
            if measured:
                connects += 1
                waits.append(connect_ms)
            heapq.heappush(events, (now + connect_ms + draw_hold(), RELEASE, -1))
        else:
            arrived_at[count] = now
            waiters.append(count)
            heapq.heappush(deadlines, (now + timeout_ms, count))
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
