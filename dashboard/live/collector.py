"""``pool-planner collect``: always-on collection, independent of any browser.

One process samples every server (one connection each), every PgBouncer console (``Monitor``: one event loop,
one task per target, per-target timeouts, so one dead or slow target never delays the others) and every probe
endpoint of the plan (``ProbeMonitor``: its own thread), judges the latest samples with the live rules, writes
the SQLite history (retention applied by the collector) and serves ``/metrics`` (``dashboard.live.metrics``).

While it runs it rewrites a heartbeat file next to the history, ``<history>.collector.json`` (``heartbeat_path``):
the dashboard, finding a fresh one for the history file it would use, reads the collector's history instead
of sampling itself (``dashboard.live.collector_reader``), so closing the browser loses nothing. When the
collector starts after a pause it writes one gap per server at the first missed sample, so its own downtime
is drawn as a gap, not as a line joining the last sample before to the first after.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard.live import db
from dashboard.live.history import HistoryStore
from dashboard.live.monitor import Monitor, ServerStatus
from dashboard.live.probes import ProbeMonitor, ProbeTarget
from planner.model import Finding, Plan
from planner.pgbouncer_snapshot import PgBouncerSnapshot
from planner.probe.reading import ProbeReading
from planner.rules.live import LiveFinding, tracked_live_findings
from planner.rules.pgbouncer_live import pgbouncer_live_findings
from planner.rules.probe import probe_findings
from planner.snapshot import Snapshot

RECENT_SAMPLES = 60
"""Samples per server the live rules see each tick (the waiting and burst windows fit in 60 s at 1 s; the
cold-pool grace also reads the backends' own ages). Each sample's one-sample findings are judged once and cached,
so a tick costs one new sample per server plus the cold-pool rule, which reads the whole window (most of the
remaining cost: benchmarks/collector_scale.py)."""
HEARTBEAT_SUFFIX = ".collector.json"
FRESH_INTERVALS = 3
"""A heartbeat older than this many intervals (and at least ``FRESH_MIN_S``) means no collector runs."""
FRESH_MIN_S = 5.0
GAP_LOOKBACK = timedelta(days=1)
"""How far back the start-up looks for the last sample before the collector's own downtime."""


def heartbeat_path(history: Path) -> Path:
    """The heartbeat file of the collector writing ``history``."""
    return history.with_name(history.name + HEARTBEAT_SUFFIX)


@dataclass(frozen=True)
class CollectorState:
    """Everything the collector knows after one tick: what ``/metrics`` and the heartbeat show."""

    at: datetime
    latest: dict[str, Snapshot]
    status: dict[str, ServerStatus]
    pgbouncer_latest: dict[str, PgBouncerSnapshot]
    pgbouncer_status: dict[str, ServerStatus]
    probes: list[ProbeReading]
    findings: list[LiveFinding]
    """Server findings with their subject (application) and since when they fire."""
    other_findings: list[Finding]
    """PgBouncer and probe findings."""
    failed_samples: dict[tuple[str, str], int] = field(default_factory=dict)
    """(kind, target) -> failed samples since the collector started (a counter)."""
    tick_s: float = 0.0
    """Seconds this tick took to take in the samples and judge them."""
    store_ok: bool = True
    """The history store writes (``HistoryStore.health().ok``); sampling and /metrics go on when it does not."""
    unsaved: int = 0
    """Samples not saved while the store fails (a gap is written for them when it works again)."""


class Collector:
    """Samples ``servers`` and ``pgbouncers`` (name -> URL) and ``probes`` every ``interval_s`` into ``store``."""

    def __init__(self, plan: Plan | None, servers: dict[str, str], pgbouncers: dict[str, str],
                 probes: Sequence[ProbeTarget], store: HistoryStore, *, interval_s: float = 1.0,
                 timeout_s: float | None = None):
        self.plan = plan
        self.store = store
        self.interval_s = float(interval_s)
        self.monitor = Monitor(servers, interval_s=interval_s, history=store, pgbouncers=pgbouncers,
                               timeout_s=timeout_s)
        self.probe_monitor = ProbeMonitor(probes, interval_s=interval_s, keep_s=max(60.0, 120 * interval_s),
                                          timeout_s=timeout_s)
        self.heartbeat = heartbeat_path(store.path)
        self._recent: dict[str, deque[Snapshot]] = {}
        self._recent_bouncer: dict[str, deque[PgBouncerSnapshot]] = {}
        self._failed: dict[tuple[str, str], int] = {}
        self._point_keys: dict = {}
        """Each kept sample's one-sample findings, judged once (``tracked_live_findings``' cache)."""
        self._lock = threading.Lock()
        self._state = CollectorState(datetime.now(UTC), {}, {}, {}, {}, [], [], [])
        self.started_at = time.time()

    def start(self) -> Collector:
        for snapshot in downtime_gaps(self.store, list(self.monitor.targets), self.interval_s, datetime.now(UTC)):
            self.store.append(snapshot)
        self.monitor.start()
        self.probe_monitor.start()
        return self

    def stop(self) -> None:
        self.probe_monitor.stop()
        self.monitor.stop()
        with contextlib.suppress(OSError):
            self.heartbeat.unlink()

    def state(self) -> CollectorState:
        with self._lock:
            return self._state

    # ------------------------------------------------------------------------------------------ one tick

    def tick(self, now: datetime | None = None) -> CollectorState:
        """Take in the newest samples, judge them, rewrite the heartbeat; returns the new state."""
        now = now or datetime.now(UTC)
        started = time.perf_counter()
        latest, bouncers = self.monitor.latest(), self.monitor.pgbouncer_latest()
        self._remember(latest, self._recent, "server")
        self._remember(bouncers, self._recent_bouncer, "pgbouncer")
        snapshots = [snap for recent in self._recent.values() for snap in recent]
        findings = tracked_live_findings(self.plan, snapshots, point_keys=self._point_keys) if snapshots else []
        self._forget_point_keys()
        health = self.store.health()
        rounds = [readings for _, readings in self.probe_monitor.recent(60 * self.interval_s)]
        other = pgbouncer_live_findings(self.plan, [s for r in self._recent_bouncer.values() for s in r])
        other += probe_findings(self.plan, rounds)
        state = CollectorState(now, latest, self.monitor.status(), bouncers, self.monitor.pgbouncer_status(),
                               self.probe_monitor.latest(), findings, other, dict(self._failed),
                               time.perf_counter() - started, health.ok, health.unsaved)
        with self._lock:
            self._state = state
        self.write_heartbeat(state)
        return state

    def _forget_point_keys(self) -> None:
        kept = {(snap.server, snap.taken_at) for recent in self._recent.values() for snap in recent}
        for key in [key for key in self._point_keys if key not in kept]:
            del self._point_keys[key]

    def _remember(self, latest: dict, recent: dict[str, deque], kind: str) -> None:
        for name, snap in latest.items():
            kept = recent.setdefault(name, deque(maxlen=RECENT_SAMPLES))
            if kept and kept[-1].taken_at == snap.taken_at:
                continue
            kept.append(snap)
            if not snap.ok:
                self._failed[(kind, name)] = self._failed.get((kind, name), 0) + 1

    def write_heartbeat(self, state: CollectorState) -> None:
        """Atomically replace the heartbeat file (a failure to write it never stops collection)."""
        document = {
            "pid": os.getpid(), "updated_at": time.time(), "started_at": self.started_at,
            "interval_s": self.interval_s, "retention_s": self.store.retention_s, "history": str(self.store.path),
            "servers": {name: db.mask_url(url) for name, url in self.monitor.targets.items()},
            "pgbouncers": {name: db.mask_url(url) for name, url in self.monitor.pgbouncers.items()},
            "status": {name: s.as_dict() for name, s in state.status.items()},
            "pgbouncer_status": {name: s.as_dict() for name, s in state.pgbouncer_status.items()},
        }
        temporary = self.heartbeat.with_name(self.heartbeat.name + f".{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            temporary.write_text(json.dumps(document, default=str))
            temporary.replace(self.heartbeat)


def downtime_gaps(store: HistoryStore, servers: Sequence[str], interval_s: float, now: datetime) -> list[Snapshot]:
    """One gap per server whose last recorded sample is older than a few intervals: the collector (or whoever
    recorded) was not running from then until ``now``."""
    gaps = []
    for server in servers:
        recent = store.snapshots(server, since=now - GAP_LOOKBACK)
        if not recent:
            continue
        last = recent[-1].taken_at
        if (now - last).total_seconds() <= FRESH_INTERVALS * interval_s:
            continue
        first_missed = last + timedelta(seconds=interval_s)
        gaps.append(Snapshot(server, first_missed, "error", error=(
            f"not sampled: no collector ran from {last.isoformat(timespec='seconds')} to "
            f"{now.isoformat(timespec='seconds')}")))
    return gaps


def read_heartbeat(path: Path, now: float | None = None) -> dict | None:
    """The heartbeat document when a collector is running (fresh file), else None."""
    try:
        document = json.loads(path.read_text())
        age = (now if now is not None else time.time()) - float(document["updated_at"])
        interval = float(document["interval_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return document if age <= max(FRESH_MIN_S, FRESH_INTERVALS * interval) else None
