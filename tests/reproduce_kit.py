"""Shared pieces of the pitfall reproductions (tests/test_reproduce_*.py): a real app engine, the real sampler,
the live rules, and polling instead of blind sleeps.

Each reproduction makes a pitfall happen with create_async_engine + asyncpg against a real PostgreSQL,
samples it with ``dashboard.live.sample_once`` (the dashboard's own sampler), and judges the samples with
``planner.rules.live``, the same path the dashboard takes during an incident.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dashboard.live import sample_once
from planner.model import Finding, Plan
from planner.rules.live import live_findings
from planner.rules.thresholds import DEFAULT_THRESHOLDS
from planner.snapshot import Snapshot

FAST = replace(
    DEFAULT_THRESHOLDS,
    idle_in_transaction_warning_s=0.5,
    cold_pool_grace_s=0.5,
    recycle_age_slack_s=0.5,
    burst_new_backends=4,
)
"""The defaults, but with the time-based limits in tenths of seconds, so each pitfall shows within seconds."""


def app_engine(url: str, application_name: str, **kwargs) -> AsyncEngine:
    """The application's engine, as an app would build it, tagged so the live rules can match it to the plan."""
    connect_args = kwargs.pop("connect_args", {})
    server_settings = {**connect_args.pop("server_settings", {}), "application_name": application_name}
    return create_async_engine(url, connect_args={**connect_args, "server_settings": server_settings}, **kwargs)


async def sample(url: str, server: str = "primary", **kwargs) -> Snapshot:
    """One sample through the dashboard's sampler, off the event loop (the app's connections stay served)."""
    return await asyncio.to_thread(sample_once, url, server, **kwargs)


async def poll(
    url: str,
    plan: Plan | None,
    until: Callable[[list[Finding]], bool],
    *,
    history: list[Snapshot] | None = None,
    thresholds=FAST,
    timeout_s: float = 10.0,
    server: str = "primary",
    **sample_kwargs,
) -> list[Finding]:
    """Sample every 0.1 s until the live findings satisfy ``until``; the last findings, or AssertionError."""
    history = [] if history is None else history
    deadline = time.monotonic() + timeout_s
    while True:
        history.append(await sample(url, server, **sample_kwargs))
        found = without_monitor_role(live_findings(plan, history, thresholds))
        if until(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s; last findings: {found!r}; "
                                 f"last sample: {history[-1]!r}")
        await asyncio.sleep(0.1)


def without_monitor_role(findings: Sequence[Finding]) -> list[Finding]:
    """The findings without monitor-superuser: the reproductions sample as the test superuser, and that finding
    is about the monitor, not the pitfall reproduced (its own reproduction: tests/test_monitor_role.py)."""
    return [f for f in findings if f.id != "monitor-superuser"]


def by_id(findings: Sequence[Finding], id_: str) -> list[Finding]:
    return [f for f in findings if f.id == id_]


def fires(id_: str, needle: str = "") -> Callable[[list[Finding]], bool]:
    return lambda found: any(f.id == id_ and needle in f.message for f in found)


def clear(id_: str) -> Callable[[list[Finding]], bool]:
    return lambda found: not by_id(found, id_)


async def hold(engine: AsyncEngine, n: int):
    """Check out ``n`` connections at once (what n concurrent requests do) and return them, still open."""
    conns = await asyncio.gather(*(engine.connect() for _ in range(n)))
    await asyncio.gather(*(c.execute(text("SELECT 1")) for c in conns))
    return conns


async def release(conns) -> None:
    await asyncio.gather(*(c.close() for c in conns))
