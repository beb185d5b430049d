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
    sim = _EventSim(hold.sampler(rng), pool_size, pool_size + max_overflow, pool_timeout_s * 1000.0, connect_ms,
                    handoff_ms)
    mean_gap = 1000.0 / rate_per_s
    skip = int(arrivals * warmup_fraction)
    events = sim.events
    next_arrival = rng.expovariate(1.0) * mean_gap
    count = 0
    while count < arrivals or sim.arrived_at:
        if events and (count >= arrivals or events[0][0] <= next_arrival):
            sim.next_event()
            continue
        count += 1
        sim.arrive(next_arrival, count, count == skip + 1)
        next_arrival = sim.now + rng.expovariate(1.0) * mean_gap
    return sim.result(arrivals - skip)


class _EventSim:
    """The state of one event-by-event run; ``next_event`` handles a check-in or a hand-off, ``arrive`` a
    checkout. The order of the random draws is the run's identity (same seed, same numbers)."""

    __slots__ = ("arrived_at", "busy_area", "ceiling", "connect_ms", "connects", "deadlines", "draw_hold", "events",
                 "handing", "handoff_ms", "idle", "last", "now", "open_", "open_time", "overdue", "pool_size",
                 "start", "timeout_ms", "timeouts", "waiters", "waits")

    def __init__(self, draw_hold, pool_size: int, ceiling: int, timeout_ms: float, connect_ms: float,
                 handoff_ms: float) -> None:
        self.draw_hold, self.pool_size, self.ceiling = draw_hold, pool_size, ceiling
        self.timeout_ms, self.connect_ms, self.handoff_ms = timeout_ms, connect_ms, handoff_ms
        self.events: list[tuple[float, int, int]] = []  # (time, kind, waiter id): RELEASE, or HANDOFF to a waiter
        self.deadlines: list[tuple[float, int]] = []  # (arrival + pool_timeout, waiter id)
        self.waiters: deque[int] = deque()  # waiter ids in the order asyncio will wake them
        self.arrived_at: dict[int, float] = {}  # waiters still waiting (queued or being handed a connection)
        self.handing: deque[int] = deque()  # waiters a connection was checked in to, not yet resumed
        self.overdue: set[int] = set()  # waiters whose pool_timeout passed while being handed a connection
        self.idle = self.open_ = pool_size
        self.waits: list[float] = []
        self.timeouts = self.connects = 0
        self.now = self.last = self.busy_area = 0.0
        self.start: float | None = None
        self.open_time: dict[int, float] = {}

    def advance(self, to: float) -> None:
        if self.start is not None:
            span = to - self.last
            self.open_time[self.open_] = self.open_time.get(self.open_, 0.0) + span
            self.busy_area += (self.open_ - self.idle) * span
        self.last = to

    def record(self, arrived: float, wait: float) -> None:
        if self.start is not None and arrived >= self.start:
            self.waits.append(wait)

    def expire(self, until: float) -> None:
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= until:
            _, waiter = heapq.heappop(deadlines)
            if waiter in self.handing:
                self.overdue.add(waiter)  # being handed a connection; times out only if overtaken
            elif waiter in self.arrived_at:
                self.give_up(waiter)

    def give_up(self, waiter: int) -> None:
        arrived = self.arrived_at.pop(waiter)
        self.record(arrived, self.timeout_ms)
        self.timeouts += self.start is not None and arrived >= self.start

    def serve(self, waiter: int) -> None:
        arrived = self.arrived_at.pop(waiter)
        self.record(arrived, self.now - arrived)
        heapq.heappush(self.events, (self.now + self.draw_hold(), RELEASE, -1))

    def next_event(self) -> None:
        """A hand-off reaching its waiter, or a check-in: to the first live waiter, else idle, else closed."""
        self.now, kind, waiter = heapq.heappop(self.events)
        self.expire(self.now)
        self.advance(self.now)
        handing, waiters = self.handing, self.waiters
        if kind == HANDOFF:
            if handing and handing[0] == waiter:  # not robbed meanwhile
                handing.popleft()
                self.serve(waiter)
            return
        while waiters and waiters[0] not in self.arrived_at:
            waiters.popleft()  # timed out
        if waiters:
            waiter = waiters.popleft()
            if self.handoff_ms:
                handing.append(waiter)
                heapq.heappush(self.events, (self.now + self.handoff_ms, HANDOFF, waiter))
            else:
                self.serve(waiter)
        elif self.idle < self.pool_size:
            self.idle += 1
        else:
            self.open_ -= 1

    def arrive(self, now: float, count: int, first_measured: bool) -> None:
        """Checkout number ``count``: an idle connection, a robbed hand-off, a new connection, or a wait."""
        self.now = now
        self.expire(now)
        self.advance(now)
        if first_measured:
            self.start = self.last = now
        measured = self.start is not None
        if self.idle:
            self.idle -= 1
            self._took(measured, 0.0, now + self.draw_hold())
        elif self.handing:
            # The connection sits in asyncio's queue until its waiter resumes; a task that runs first takes it
            # (AsyncAdaptedQueue.get tries get_nowait), and the robbed waiter queues again at the back.
            robbed = self.handing.popleft()
            if robbed in self.overdue:
                self.give_up(robbed)
            else:
                self.waiters.append(robbed)
            self._took(measured, 0.0, now + self.draw_hold())
        elif self.open_ < self.ceiling:
            self.open_ += 1
            self.connects += measured
            self._took(measured, self.connect_ms, now + self.connect_ms + self.draw_hold())
        else:
            self.arrived_at[count] = now
            self.waiters.append(count)
            heapq.heappush(self.deadlines, (now + self.timeout_ms, count))

    def _took(self, measured: bool, wait: float, release_at: float) -> None:
        if measured:
            self.waits.append(wait)
        heapq.heappush(self.events, (release_at, RELEASE, -1))

    def result(self, measured_arrivals: int) -> SimResult:
        open_time = self.open_time
        span = sum(open_time.values()) or 1.0
        cumulative, p99 = 0.0, 0
        for n in sorted(open_time):
            cumulative += open_time[n]
            if cumulative >= 0.99 * span:
                p99 = n
                break
        return SimResult(
            waits_ms=tuple(sorted(self.waits)),
            timeouts=self.timeouts,
            arrivals=measured_arrivals,
            open_mean=sum(n * t for n, t in open_time.items()) / span,
            open_p99=p99,
            open_max=max(open_time) if open_time else self.open_,
            connects_per_s=self.connects / (span / 1000.0),
            busy_mean=self.busy_area / span,
        )


def quantile(sorted_values: tuple[float, ...], q: float) -> float:
    """Nearest-rank quantile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]
