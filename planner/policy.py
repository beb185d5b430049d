"""The one policy object: every threshold and margin the planner compares against, as one named, documented
setting (no literals in budget, sizing or the rules).

The verdict (``planner.budget``), the sizing (``planner.sizing``), the static rules and the live rules read the
same ``Thresholds``; the UI and the CLI may pass their own instance
(``dataclasses.replace(DEFAULT_THRESHOLDS, live_critical_fraction=0.9)``). ``Policy`` is the same class under the
name this module gives it; ``planner.rules.thresholds`` re-exports both (its old home).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.model import InputError

TIGHT_FRACTION = 0.10
"""The default tight margin: a plan with less than 10% of its usable slots to spare at rollout peak is tight."""
DEFAULT_HEADROOM = 0.5
"""Little's law gives the mean busy connections; the pool gets this much more (pool = busy x 1.5)."""
BURST_FRACTION = 0.5
"""max_overflow allowance, as a share of pool_size, for bursts above the mean (when the budget has room)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Named thresholds with their defaults. Fractions are of the server's usable slots unless stated."""

    tight_fraction: float = TIGHT_FRACTION
    """Static: a plan with less than this share of usable slots to spare at rollout peak is ``tight``."""
    live_warning_fraction: float = 0.80
    """Live ``too-many-connections`` warning: client connections at this share of usable slots."""
    live_critical_fraction: float = 0.95
    """Live ``too-many-connections`` critical: client connections at this share of usable slots."""
    idle_in_transaction_warning_s: float = 30.0
    """Live ``idle-in-transaction``: a session idle in a transaction this long is a warning."""
    idle_in_transaction_critical_s: float = 300.0
    """... and this long is critical (it holds locks and a slot, and blocks vacuum)."""
    recommended_idle_in_transaction_timeout_s: float = 60.0
    """The ``idle_in_transaction_session_timeout`` the export and ``no-idle-in-transaction-timeout`` suggest."""
    cold_pool_fraction: float = 0.5
    """Live ``cold-pool``: an application below this share of pool_size x processes after the grace time."""
    cold_pool_grace_s: float = 60.0
    """Seconds after an application's first connection before ``cold-pool`` may fire."""
    burst_new_backends: int = 20
    """Live ``cold-pool``: this many new backends of one application within ``burst_window_s`` is a burst."""
    burst_window_s: float = 10.0
    burst_reported_s: float = 300.0
    """Live ``cold-pool``: how long after a burst it is still reported (then it is history)."""
    leak_over_plan_fraction: float = 0.0
    """Live ``connection-leak``: an application over its planned ceiling by more than this share."""
    recycle_age_slack_s: float = 60.0
    """Live ``connection-leak``: connections older than ``pool_recycle`` plus this slack mean recycling is not
    happening (it only runs at checkout)."""
    unplanned_clients_slack: int = 0
    """Live ``unplanned-clients`` (plans with several services): connections from clients no service names may
    exceed the server's ``other_clients`` allowance by this many before the finding may fire ..."""
    unplanned_clients_margin_fraction: float = 0.0
    """... and it fires when those clients, the monitor and the services' planned rollout peak (or what they hold
    now, when more) leave less than this share of the server's slots for ordinary roles free (0: when they do
    not fit at all). Critical when they do not fit even at the services' planned peak (no rollout)."""
    recycle_fraction_of_idle_timeout: float = 0.5
    """``pool_recycle`` the fixes suggest, as a share of the shortest idle timeout (server or load balancer)."""
    pool_timeout_fraction_of_request_timeout: float = 0.5
    """``pool_timeout`` the fixes suggest, as a share of the request timeout (the rest is for the query)."""
    pgbouncer_maxwait_warning_s: float = 1.0
    """Live ``pgbouncer-clients-waiting``: a client waiting this long for a server connection is a warning."""
    pgbouncer_waiting_window_s: float = 10.0
    """... and so are clients waiting in every sample over this long a window, however short each wait."""
    pgbouncer_maxwait_critical_fraction: float = 0.5
    """... critical once the oldest wait reaches this share of query_wait_timeout (PgBouncer then fails it)."""
    pgbouncer_maxwait_critical_s: float = 30.0
    """... or this long when query_wait_timeout is off (0)."""
    pgbouncer_client_warning_fraction: float = 0.80
    """Live ``pgbouncer-client-limit``: client connections at this share of max_client_conn."""
    pgbouncer_client_critical_fraction: float = 0.95
    """... critical at this share (PgBouncer refuses the next clients)."""

    probe_wait_p99_ms: float = 10.0
    """In-app probe: a p99 queue wait (blocked because no connection was free) above this (ms) means requests
    wait in the application pool (the joined view's verdict; ``pool-exhausted`` fires on waiters or timeouts)."""
    pool_oversized_fraction: float = 0.5
    """``pool-oversized``: p99 of the connections checked out at most this share of pool_size ..."""
    pool_oversized_window_s: float = 600.0
    """... over at least this many seconds of a process's life ..."""
    pool_oversized_min_checkouts: int = 1000
    """... and at least this many checkouts (fewer say too little about the pool's use)."""
    pool_oversized_min_pool_size: int = 4
    """``pool-oversized`` is not reported for pools smaller than this (a few idle connections cost little)."""
    hold_drift_fraction: float = 0.5
    """``hold-time-drift``: measured mean hold off the plan's ``hold_ms`` by more than this share."""
    hold_drift_min_checkouts: int = 200
    """``hold-time-drift`` needs this many measured holds in the window."""
    observe_censored_fraction: float = 0.2
    """``live observe``: busy connections at the pool cap (or the server's usable slots) in at least this share
    of the samples means the measurement is censored: the true demand is at least what was seen."""
    model_mismatch_p_wait: float = 0.05
    """``model-mismatch``: measured P(wait) off the queueing model's prediction by more than this (absolute;
    benchmarks/pool_wait.py's largest in-scope error is 0.037, docs/queueing.md) ..."""
    model_mismatch_p99_fraction: float = 0.5
    """... or the measured p99 checkout wait off the prediction by more than this share (the benchmark's p95
    limit is 25 %; a p99 over a short window is noisier, so twice that) ..."""
    model_mismatch_p99_floor_ms: float = 5.0
    """... and by more than this many ms (below it, waits are noise: event-loop lag, a connect) ..."""
    model_mismatch_min_checkouts: int = 500
    """... over at least this many checkouts in the window."""

    def __post_init__(self) -> None:
        for name in ("tight_fraction", "live_warning_fraction", "live_critical_fraction", "cold_pool_fraction",
                     "recycle_fraction_of_idle_timeout", "pool_timeout_fraction_of_request_timeout",
                     "pgbouncer_maxwait_critical_fraction", "pgbouncer_client_warning_fraction",
                     "pgbouncer_client_critical_fraction", "pool_oversized_fraction", "hold_drift_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise InputError(name, f"must be a fraction in (0, 1], got {value!r}")
        slack = self.unplanned_clients_slack
        if isinstance(slack, bool) or not isinstance(slack, int) or slack < 0:
            raise InputError("unplanned_clients_slack", f"must be a whole number >= 0, got {slack!r}")
        if not 0 <= self.unplanned_clients_margin_fraction < 1:
            raise InputError("unplanned_clients_margin_fraction",
                             f"must be in [0, 1), got {self.unplanned_clients_margin_fraction!r}")
        if self.live_warning_fraction > self.live_critical_fraction:
            raise InputError("live_warning_fraction", "must not exceed live_critical_fraction")
        if self.idle_in_transaction_warning_s > self.idle_in_transaction_critical_s:
            raise InputError("idle_in_transaction_warning_s", "must not exceed idle_in_transaction_critical_s")
        if self.pgbouncer_client_warning_fraction > self.pgbouncer_client_critical_fraction:
            raise InputError("pgbouncer_client_warning_fraction", "must not exceed pgbouncer_client_critical_fraction")


DEFAULT_THRESHOLDS = Thresholds()
Policy = Thresholds
"""The policy object under its own name (one class: ``Policy is Thresholds``)."""
DEFAULT_POLICY = DEFAULT_THRESHOLDS

__all__ = ["BURST_FRACTION", "DEFAULT_HEADROOM", "DEFAULT_POLICY", "DEFAULT_THRESHOLDS", "TIGHT_FRACTION", "Policy",
           "Thresholds"]
