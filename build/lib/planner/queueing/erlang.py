"""Closed forms for a pool with no overflow: Erlang C (M/M/c) and Allen-Cunneen's M/G/c correction.

They hold for a steady state (utilisation < 1), a fixed number of connections and a ``pool_timeout`` that
almost never fires. ``planner.queueing.predict_wait`` decides when that is the case.
"""

from __future__ import annotations

import math


def erlang_b(servers: int, offered: float) -> float:
    """Blocking probability of ``servers`` with ``offered`` erlangs (stable recurrence, no factorials)."""
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    return b


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival finds all ``servers`` busy (M/M/c); 1.0 when offered >= servers."""
    if offered >= servers:
        return 1.0
    if offered <= 0:
        return 0.0
    b = erlang_b(servers, offered)
    rho = offered / servers
    return b / (1 - rho * (1 - b))


def wait_tail(servers: int, offered: float, mean_hold: float, cs2: float, arrival_cs2: float = 1.0):
    """(P(wait > 0), rate of the conditional wait's exponential tail) for M/G/c by Allen-Cunneen.

    Erlang C gives P(wait > 0) and the mean wait of M/M/c; Allen-Cunneen scales the mean wait by
    (ca^2 + cs^2) / 2. The wait given it waits is taken as exponential with the corrected mean, which is
    exact for M/M/c: P(W > t) = C * exp(-theta * t), theta = (c - a) / (mean_hold * (ca^2 + cs^2) / 2).
    """
    c = erlang_c(servers, offered)
    theta = (servers - offered) / mean_hold / ((arrival_cs2 + cs2) / 2)
    return c, theta


def wait_quantile(p_wait_pos: float, theta: float, q: float) -> float:
    """The q-quantile of W with P(W > t) = p_wait_pos * exp(-theta * t) (0 when most never wait)."""
    tail = 1 - q
    if tail >= p_wait_pos or theta <= 0:
        return 0.0
    return math.log(p_wait_pos / tail) / theta
