"""How long a request holds a pooled connection: checkout to check-in, as a distribution.

The pool's own per-checkout work (the reset ``ROLLBACK`` on return, ``pool_pre_ping``'s round trips, the
transaction's ``BEGIN``) is part of the hold: a model fed the bare query time underestimates waiting at
high load. ``HoldTime.for_query`` adds it; the defaults were measured by ``benchmarks/pool_wait.py``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from planner.model import InputError

DEFAULT_CHECKOUT_OVERHEAD_MS = 1.0
"""Checkout to check-in minus the statements, per request (BEGIN, reset ROLLBACK, pool bookkeeping).
Measured by benchmarks/pool_wait.py against PostgreSQL 16 on localhost TCP (see docs/queueing.md)."""
PRE_PING_OVERHEAD_MS = 1.1
"""Extra per checkout with ``pool_pre_ping=True`` (BEGIN; ";"; ROLLBACK). docs/facts.md, A: 660 -> 1770 us."""
DEFAULT_CONNECT_MS = 5.0
"""Time to open a new asyncpg connection (TCP, trust auth, new backend). Measured by the benchmark."""

Shape = Literal["const", "exp", "lognormal"]
_Z95, _Z99 = 1.6448536269514722, 2.3263478740408408


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InputError(name, f"must be a positive number of milliseconds, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class HoldTime:
    """Hold time in ms: ``shift_ms`` (a constant, the pool's overhead) plus a variable part of mean ``mean_ms``.

    ``shape`` is the variable part's distribution: ``const``, ``exp``, or ``lognormal`` with log-sd ``sigma``.
    """

    mean_ms: float
    shape: Shape = "exp"
    sigma: float = 0.0
    shift_ms: float = 0.0

    def __post_init__(self) -> None:
        _positive("hold_ms", self.mean_ms)
        if self.shape not in ("const", "exp", "lognormal"):
            raise InputError("hold_dist", f"must be exp or const, got {self.shape!r}")
        if not (math.isfinite(self.shift_ms) and self.shift_ms >= 0):
            raise InputError("checkout_overhead_ms", f"must be 0 or more, got {self.shift_ms!r}")
        if not (math.isfinite(self.sigma) and 0 <= self.sigma <= 4):
            raise InputError("hold percentiles", f"spread too wide (log-sd {self.sigma:.2f} > 4)")

    @classmethod
    def from_percentiles(cls, mean_ms: float, p50: float, p95: float, p99: float, shift_ms: float = 0.0) -> HoldTime:
        """A lognormal with the given mean whose spread fits the ratios p95/p50 and p99/p50 (least squares)."""
        p50, p95, p99 = (_positive(n, v) for n, v in (("hold_p50", p50), ("hold_p95", p95), ("hold_p99", p99)))
        if not p50 <= p95 <= p99:
            raise InputError("hold percentiles", f"need p50 <= p95 <= p99, got {p50:g}, {p95:g}, {p99:g}")
        sigma = (_Z95 * math.log(p95 / p50) + _Z99 * math.log(p99 / p50)) / (_Z95**2 + _Z99**2)
        if sigma == 0:
            return cls(mean_ms, "const", 0.0, shift_ms)
        return cls(mean_ms, "lognormal", sigma, shift_ms)

    def plus(self, overhead_ms: float) -> HoldTime:
        """The same hold with a constant per-checkout cost added (query time -> hold time)."""
        return HoldTime(self.mean_ms, self.shape, self.sigma, self.shift_ms + overhead_ms)

    @property
    def mean(self) -> float:
        """Mean hold in ms, the constant part included."""
        return self.shift_ms + self.mean_ms

    @property
    def cs2(self) -> float:
        """Squared coefficient of variation (variance / mean^2): 0 constant, 1 exponential."""
        share = self.mean_ms / self.mean  # the variable part's share of the mean (a ratio: no underflow)
        return {"const": 0.0, "exp": 1.0, "lognormal": math.expm1(self.sigma**2)}[self.shape] * share**2

    def sampler(self, rng: random.Random):
        """A function returning one hold time in ms per call (for the simulation)."""
        shift, mean = self.shift_ms, self.mean_ms
        if self.shape == "const":
            return lambda: shift + mean
        if self.shape == "exp":
            return lambda: shift + rng.expovariate(1.0 / mean)
        mu = math.log(mean) - self.sigma**2 / 2
        sigma = self.sigma
        return lambda: shift + rng.lognormvariate(mu, sigma)

    def describe(self) -> str:
        part = {"const": "constant", "exp": "exponential", "lognormal": f"lognormal (log-sd {self.sigma:.2f})"}
        extra = f" + {self.shift_ms:g} ms pool overhead" if self.shift_ms else ""
        return f"{part[self.shape]} {self.mean_ms:g} ms{extra}"
