"""The workload as measured: offered load, rate and hold per service, from what the live side sees (pure).

Inputs are typed readings over one observation window; no I/O here (``dashboard.live.observe`` samples them):

* ``busy`` per sample: the service's backends ``active`` or ``idle in transaction`` in pg_stat_activity.
  By Little's law their mean is the offered load in erlangs (rate x hold), whatever the hold distribution.
* rate and hold, from the best source present, in this order:
  ``probe`` (the in-app probe's checkouts and hold histograms: exact), ``pgbouncer`` (PgBouncer's transactions
  and their total time for the service's database), ``transactions`` (pg_stat_database xact_commit +
  xact_rollback of a database the service has to itself, minus the monitor's own transactions; the hold then
  is mean busy / rate), else ``none``: only the offered load is known.
* censoring: when busy sits at the pool cap (pool_size + max_overflow, times processes) or at the server's
  usable slots in a share of the samples (``Thresholds.observe_censored_fraction``), requests queued for a
  connection the server never saw: the true demand is *at least* the offered load measured.

A request that runs several transactions makes the ``transactions`` and ``pgbouncer`` rates transactions per
second, not requests: the offered load (busy mean) is the same either way, and so is the sizing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

from planner.model import fold_application_name
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds


class Source(StrEnum):
    """Where rate and hold came from (contract values of ``live observe --json``)."""

    PROBE = "probe"
    PGBOUNCER = "pgbouncer"
    TRANSACTIONS = "transactions"
    NONE = "none"


def fold_service(application_name: str | None) -> str | None:
    """The service an application_name belongs to: ``orders-3`` (a per-worker suffix) is ``orders``."""
    return fold_application_name(application_name) if application_name else None


@dataclass(frozen=True, slots=True)
class BusyQuantiles:
    mean: float
    p95: float
    p99: float
    max: int


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 < q <= 1) by nearest rank: an observed value, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def busy_quantiles(busy: Sequence[int]) -> BusyQuantiles:
    """Mean, p95, p99 and max of the busy counts (one per sample); zeros when there is no sample."""
    if not busy:
        return BusyQuantiles(0.0, 0.0, 0.0, 0)
    return BusyQuantiles(sum(busy) / len(busy), float(nearest_rank(busy, 0.95)), float(nearest_rank(busy, 0.99)),
                         max(busy))


@dataclass(frozen=True, slots=True)
class ProbeWindow:
    """The service's probes over the window, summed over its processes (checkouts, hold time) ."""

    checkouts: int
    window_s: float
    hold_sum_ms: float
    """Total hold time of those checkouts (the histograms' sums)."""
    hold_p50_ms: float | None = None
    hold_p95_ms: float | None = None
    hold_p99_ms: float | None = None
    waited: int | None = None
    """Checkouts that blocked on the pool's queue (no connection free): P(wait) = waited / checkouts."""
    wait_p99_ms: float | None = None
    """p99 of the checkout wait over the window (all checkouts)."""
    processes: int = 0
    """Processes that reported."""
    pool_cap: int | None = None
    """pool_size + max_overflow of one process, as the probe reported it."""
    pool_size: int | None = None
    max_overflow: int | None = None
    """One process's pool as the probe reported it (the model check predicts for this pool)."""
    arrivals: int | None = None
    """Checkouts asked for in the window: completed + timed out + the growth of the queue of waiters. Above
    ``checkouts`` when the pool is saturated: the demand the server cannot see."""


@dataclass(frozen=True, slots=True)
class BouncerWindow:
    """PgBouncer's transactions of the service's database over the window and their total time."""

    xacts: int
    window_s: float
    xact_time_ms: float


@dataclass(frozen=True, slots=True)
class TransactionWindow:
    """pg_stat_database's committed + rolled back transactions of the service's database over the window."""

    transactions: int
    window_s: float
    monitor_transactions: int = 0
    """The monitor's own transactions in that database (subtracted)."""
    alone: bool = False
    """The service was the only application in that database during the window (else not attributable)."""


MIN_COUNTER_MOVES = 5
"""pg_stat_database's counter must move at least this often in the window for its rate to be used."""
MAX_STEP_SHARE = 0.10
"""...and no single move may carry more than this share of its rise over the window."""


def counter_rate(times: Sequence[float], counts: Sequence[float]) -> float | None:
    """A cumulative counter's rate per second, from the first to the last reading at which it moved.

    pg_stat_database's counters move in steps: a backend adds its pending transaction counts to them when it
    flushes its statistics, at most once a second, and only when it has other statistics pending as well (a
    table it read, WAL it wrote: PostgreSQL 15+ returns early from ``pgstat_report_stat`` otherwise). A backend
    whose transactions read tables flushes about once a second while it works: then between the first and the
    last move the counter has counted every transaction but the last second's of each backend, and the rate is
    close. One whose transactions touch no table is never counted while it lives: the counter then moves
    rarely, in large steps flushed by something else (a catalog read after an invalidation, the connection's
    end), and the difference of two such steps errs by up to all the traffic in between. So the rate is used
    only when the counter moved at least ``MIN_COUNTER_MOVES`` times and no move carried more than
    ``MAX_STEP_SHARE`` of its rise between the first and the last move; else None (the source is then absent).
    """
    n = min(len(times), len(counts))
    moved = [i for i in range(1, n) if counts[i] != counts[i - 1]]
    if len(moved) < MIN_COUNTER_MOVES:
        return None
    first, last = moved[0], moved[-1]
    rise, span = counts[last] - counts[first], times[last] - times[first]
    if span <= 0 or rise <= 0:
        return None
    largest = max(counts[i] - counts[i - 1] for i in moved[1:])
    return rise / span if largest <= MAX_STEP_SHARE * rise else None


@dataclass(frozen=True, slots=True)
class RateHold:
    rate_rps: float | None
    hold_ms: float | None
    source: Source
    hold_percentiles: tuple[float, float, float] | None = None
    """Measured p50, p95, p99 of the hold (ms), when the probe gave them."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One service over one window: what was measured, from where, and whether it is a floor."""

    name: str
    samples: int
    processes: int
    busy: BusyQuantiles
    open_mean: float
    offered_fleet: float
    offered_per_process: float
    rate_rps: float | None
    hold_ms: float | None
    source: Source
    hold_shape: str | None
    hold_percentiles: tuple[float, float, float] | None
    censored: bool
    censored_by: str | None
    """``pool cap`` or ``server slots`` when censored."""
    at_cap_fraction: float
    p_wait: float | None = None
    wait_p99_ms: float | None = None
    checkouts: int | None = None
    demand_rps: float | None = None
    """Requests per second that asked for a connection (the probe's arrivals), when the probe counted them:
    the demand of a censored service, where ``rate_rps`` is only what the pool let through."""

    @property
    def measurable(self) -> bool:
        return self.rate_rps is not None and self.hold_ms is not None

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["source"] = str(self.source)
        out["busy"] = asdict(self.busy)
        out["offered_load"] = {"fleet": round(self.offered_fleet, 4), "per_process": round(self.offered_per_process, 4)}
        del out["offered_fleet"], out["offered_per_process"]
        return out


def rate_hold(busy_mean: float, probe: ProbeWindow | None, bouncer: BouncerWindow | None,
              transactions: TransactionWindow | None) -> RateHold:
    """Rate and hold from the first source that has them: probe > pgbouncer > transactions > none."""
    if probe is not None and probe.checkouts > 0 and probe.window_s > 0:
        percentiles = None
        if None not in (probe.hold_p50_ms, probe.hold_p95_ms, probe.hold_p99_ms):
            percentiles = (probe.hold_p50_ms, probe.hold_p95_ms, probe.hold_p99_ms)
        return RateHold(probe.checkouts / probe.window_s, probe.hold_sum_ms / probe.checkouts, Source.PROBE,
                        percentiles)  # type: ignore[arg-type]
    if bouncer is not None and bouncer.xacts > 0 and bouncer.window_s > 0:
        return RateHold(bouncer.xacts / bouncer.window_s, bouncer.xact_time_ms / bouncer.xacts, Source.PGBOUNCER)
    if transactions is not None and transactions.alone and transactions.window_s > 0:
        own = transactions.transactions - transactions.monitor_transactions
        if own > 0:
            rate = own / transactions.window_s
            return RateHold(rate, busy_mean / rate * 1000.0, Source.TRANSACTIONS)
    return RateHold(None, None, Source.NONE)


def hold_shape(percentiles: tuple[float, float, float] | None) -> str | None:
    """The hold distribution's shape from its percentiles: ``constant`` (p99 within 1.3 x p50), ``exponential``
    (p99/p50 near ln(100)/ln(2) = 6.6), else ``lognormal`` (skewed; fitted to the three percentiles)."""
    if percentiles is None or percentiles[0] <= 0:
        return None
    ratio = percentiles[2] / percentiles[0]
    if ratio <= 1.3:
        return "constant"
    if 4.5 <= ratio <= 8.5 and 3.0 <= percentiles[1] / percentiles[0] <= 5.5:
        return "exponential"
    return "lognormal"


def censoring(busy: Sequence[int], cap: int | None, server_busy: Sequence[int] | None, server_slots: int | None,
              thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[bool, str | None, float]:
    """(censored, by what, share of samples at the cap): busy at the pool cap or the server full often enough."""
    if not busy:
        return False, None, 0.0
    at_cap = sum(1 for b in busy if cap is not None and cap > 0 and b >= cap) / len(busy)
    if at_cap >= thresholds.observe_censored_fraction:
        return True, "pool cap", at_cap
    if server_busy and server_slots:
        full = sum(1 for b in server_busy if b >= server_slots) / len(server_busy)
        if full >= thresholds.observe_censored_fraction:
            return True, "server slots", full
    return False, None, at_cap


def observe_service(name: str, busy: Sequence[int], open_: Sequence[int], *, processes: int,
                    cap_per_process: int | None = None, server_busy: Sequence[int] | None = None,
                    server_slots: int | None = None, probe: ProbeWindow | None = None,
                    bouncer: BouncerWindow | None = None, transactions: TransactionWindow | None = None,
                    thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Observation:
    """One service's observation: busy quantiles, offered load, rate and hold with their source, censoring."""
    processes = max(1, processes)
    quantiles = busy_quantiles(busy)
    measured = rate_hold(quantiles.mean, probe, bouncer, transactions)
    cap = cap_per_process if cap_per_process is not None else (probe.pool_cap if probe else None)
    censored, by, share = censoring(busy, None if cap is None else cap * processes, server_busy, server_slots,
                                    thresholds)
    waited = probe.waited if probe and probe.checkouts > 0 else None
    return Observation(
        name=name, samples=len(busy), processes=processes, busy=quantiles,
        open_mean=sum(open_) / len(open_) if open_ else 0.0,
        offered_fleet=quantiles.mean, offered_per_process=quantiles.mean / processes,
        rate_rps=measured.rate_rps, hold_ms=measured.hold_ms, source=measured.source,
        hold_shape=hold_shape(measured.hold_percentiles), hold_percentiles=measured.hold_percentiles,
        censored=censored, censored_by=by, at_cap_fraction=round(share, 4),
        p_wait=None if waited is None else waited / probe.checkouts,  # type: ignore[union-attr]
        wait_p99_ms=probe.wait_p99_ms if probe and probe.checkouts > 0 else None,
        checkouts=probe.checkouts if probe else None,
        demand_rps=probe.arrivals / probe.window_s if probe and probe.arrivals and probe.window_s > 0 else None,
    )
