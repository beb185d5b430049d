"""Reading the in-app probes (``planner.probe``) of the services in the plan: concurrently, one HTTP request
per endpoint per sample, each with its own timeout, never stalling the caller.

Targets come from the plan (``probes = ["http://host:8000/probe"]`` on an ``[[engines]]`` table) or from
``POOL_PLANNER_PROBES`` (``service=URL`` or ``URL``, comma- or space-separated). A target URL is the mount
point (``.../probe``; ``/json`` is appended) or the JSON endpoint itself. An endpoint that is down, slow or
answers nonsense is a reading whose ``status`` says why (a gap), never an exception and never a wait longer
than the timeout. A ``ProbeCollector`` keeps each process's previous histograms, so its readings carry the
window since the last sample (p99 wait over the last second, not since the process started).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from dashboard.live.db import mask_url
from planner.model import InputError, Plan
from planner.probe.histogram import BOUNDS_S, Summary, difference, summary
from planner.probe.reading import ProbeReading

ENV = "POOL_PLANNER_PROBES"
DEFAULT_TIMEOUT_S = 2.0
MAX_BODY_BYTES = 4_000_000
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")
_INT_FIELDS = ("pid", "pool_size", "max_overflow", "checked_out", "idle", "overflow", "waiting", "checkouts",
               "timeouts", "connect_errors", "invalidations", "pre_ping_failures", "peak_checked_out")


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One probe endpoint, and the service (``application_name``) the plan expects behind it."""

    url: str
    service: str
    engine: str = "default"

    @property
    def json_url(self) -> str:
        base = self.url.split("?", 1)[0].rstrip("/")
        if base.endswith("/json"):
            return base
        if base.endswith("/metrics"):
            return base[: -len("/metrics")] + "/json"
        return base + "/json"


# ------------------------------------------------------------------------------------------------ targets


def parse_env(text: str) -> list[ProbeTarget]:
    """``POOL_PLANNER_PROBES``: ``orders=http://10.0.0.5:8000/probe, http://10.0.0.6:8000/probe``."""
    targets = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        service, sep, url = item.partition("=")
        if not sep or "://" in service:
            service, url = "(unnamed)", item
        elif not _NAME.match(service):
            raise InputError(ENV, f"service names are 1-63 letters, digits, '_', '.' or '-', got {service!r}")
        if not re.match(r"^https?://[^\s/]+", url):
            raise InputError(ENV, f"each probe must be an http:// or https:// URL, got {mask_url(url)!r}")
        targets.append(ProbeTarget(url=url, service=service))
    return targets


def probe_targets(plan: Plan | None, environ: Mapping[str, str] | None = None) -> list[ProbeTarget]:
    """The plan's probe endpoints (per engine, named by its ``application_name``), then the environment's."""
    targets: list[ProbeTarget] = []
    for engine in plan.engines if plan is not None else ():
        service = engine.application_name or engine.name
        targets += [ProbeTarget(url=url, service=service, engine=engine.name) for url in engine.probes]
    env = (os.environ if environ is None else environ).get(ENV, "")
    seen = {t.url for t in targets}
    return targets + [t for t in parse_env(env) if t.url not in seen]


# ------------------------------------------------------------------------------------------------ fetching


class ProbeFault(Exception):
    """Why an endpoint gave no document: one line, the reading's ``status``."""


def fetch_document(url: str, timeout_s: float) -> dict[str, Any]:
    """GET the probe's JSON; every failure is a ``ProbeFault`` with a one-line reason (URL masked)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "pool-planner"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise ProbeFault(f"http {err.code}") from None
    except TimeoutError:
        raise ProbeFault(f"timeout after {timeout_s:g} s") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        text = "timed out" if isinstance(reason, TimeoutError) else str(reason)
        raise ProbeFault(f"unreachable: {mask_url(text)}"[:200]) from None
    if len(body) > MAX_BODY_BYTES:
        raise ProbeFault(f"bad document: larger than {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise ProbeFault("bad document: not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("probes"), list):
        raise ProbeFault("bad document: no probes list (is this a pool-planner probe?)")
    return document


def _int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProbeFault(f"bad document: expected a whole number, got {str(value)[:40]!r}")
    return value


def _histogram(item: Mapping[str, Any], key: str) -> tuple[list[int], float, int] | None:
    hist = (item.get("histograms") or {}).get(key) if isinstance(item.get("histograms"), dict) else None
    if not isinstance(hist, dict):
        return None
    counts = hist.get("counts")
    if not isinstance(counts, list) or len(counts) != len(BOUNDS_S) + 1:
        return None
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return None
    sum_s = hist.get("sum_s")
    return counts, float(sum_s) if isinstance(sum_s, int | float) else 0.0, _int(hist.get("count")) or 0


def _p99_count(at_checkout: object) -> int | None:
    if not isinstance(at_checkout, list) or not at_checkout:
        return None
    total = sum(c for c in at_checkout if isinstance(c, int))
    if total <= 0:
        return None
    running = 0
    for n, count in enumerate(at_checkout):
        running += count if isinstance(count, int) else 0
        if running >= 0.99 * total:
            return n
    return len(at_checkout) - 1


# ------------------------------------------------------------------------------------------------ readings


@dataclass(slots=True)
class _Raw:
    """What the collector keeps of one process's last report, to difference the next one against."""

    taken_at: float
    started_at: float | None
    wait: tuple[list[int], float, int] | None
    hold: tuple[list[int], float, int] | None
    queue: tuple[list[int], float, int] | None
    at_checkout: list[int] | None
    counters: dict[str, int | None] = field(default_factory=dict)
    reading: ProbeReading | None = None


def _window_summary(new: tuple | None, old: tuple | None) -> Summary | None:
    if new is None:
        return None
    if old is None:
        return summary(*new)
    delta = difference(new[0], old[0])
    if delta is None:
        return summary(*new)
    return summary(delta, new[1] - old[1], new[2] - old[2])


def _raw(item: Mapping[str, Any], ints: dict[str, int | None], received: float) -> _Raw:
    at = item.get("checked_out_at_checkout")
    at_list = at if isinstance(at, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in at) else None
    taken = item.get("taken_at")
    started = item.get("started_at")
    return _Raw(
        taken_at=float(taken) if isinstance(taken, int | float) and not isinstance(taken, bool) else received,
        started_at=float(started) if isinstance(started, int | float) and not isinstance(started, bool) else None,
        wait=_histogram(item, "wait"), hold=_histogram(item, "hold"), queue=_histogram(item, "queue"),
        at_checkout=at_list,
        counters={k: ints[k] for k in ("checkouts", "timeouts", "pre_ping_failures", "connect_errors")},
    )


def _uptime(raw: _Raw) -> float | None:
    return None if raw.started_at is None else round(max(0.0, raw.taken_at - raw.started_at), 3)


def _delta(new: _Raw, old: _Raw | None, key: str) -> int | None:
    if old is None or new.counters.get(key) is None or old.counters.get(key) is None:
        return None
    value = new.counters[key] - old.counters[key]  # type: ignore[operator]
    return value if value >= 0 else None


def _at_window(new: _Raw, old: _Raw | None) -> list[int] | None:
    if new.at_checkout is None or old is None or old.at_checkout is None:
        return new.at_checkout
    padded = old.at_checkout + [0] * (len(new.at_checkout) - len(old.at_checkout))
    delta = difference(new.at_checkout, padded[: len(new.at_checkout)]) if len(padded) == len(new.at_checkout) \
        else None
    return delta if delta is not None else new.at_checkout


def reading_from_item(target: ProbeTarget, item: object, previous: _Raw | None, received: float,
                      latency_ms: float) -> tuple[ProbeReading, _Raw]:
    """One process's engine from a probe document, windowed against ``previous`` (same process) if any."""
    if not isinstance(item, dict):
        raise ProbeFault("bad document: a probe entry is not an object")
    ints = {name: _int(item.get(name)) for name in _INT_FIELDS}
    raw = _raw(item, ints, received)
    same_process = previous is not None and previous.started_at == raw.started_at
    if same_process and previous.taken_at >= raw.taken_at and previous.reading is not None:
        raw.reading = replace(previous.reading, taken_at=received, latency_ms=latency_ms)  # not republished yet
        return raw.reading, previous
    old = previous if same_process else None
    reading = ProbeReading(
        endpoint=mask_url(target.url), service=str(item.get("service") or target.service)[:63],
        engine=str(item.get("engine") or target.engine)[:63], status="ok", taken_at=received,
        **{name: ints[name] for name in _INT_FIELDS if name != "peak_checked_out"},
        wait_ms=_window_summary(raw.wait, old.wait if old else None),
        hold_ms=_window_summary(raw.hold, old.hold if old else None),
        queue_wait_ms=_window_summary(raw.queue, old.queue if old else None),
        window_s=round(raw.taken_at - old.taken_at, 3) if old else None,
        checkouts_window=_delta(raw, old, "checkouts"), timeouts_window=_delta(raw, old, "timeouts"),
        pre_ping_failures_window=_delta(raw, old, "pre_ping_failures"),
        connect_errors_window=_delta(raw, old, "connect_errors"), uptime_s=_uptime(raw),
        checked_out_p99=_p99_count(_at_window(raw, old)), latency_ms=round(latency_ms, 2),
    )
    raw.reading = reading
    return reading, raw


def _failed(target: ProbeTarget, status: str, received: float) -> ProbeReading:
    return ProbeReading(endpoint=mask_url(target.url), service=target.service, engine=target.engine,
                        status=status, taken_at=received)


def _key(target: ProbeTarget, item: object) -> tuple[str, int | None, str]:
    """(endpoint, pid, engine): one process's one engine behind one endpoint."""
    if not isinstance(item, dict):
        return (target.url, None, "")
    pid = item.get("pid")
    return (target.url, pid if isinstance(pid, int) else None, str(item.get("engine", "")))


class ProbeCollector:
    """Samples a fixed list of targets; remembers each process's last report so readings are windowed."""

    def __init__(self, targets: Sequence[ProbeTarget], timeout_s: float = DEFAULT_TIMEOUT_S):
        self.targets = list(targets)
        self.timeout_s = timeout_s
        self._previous: dict[tuple[str, int | None, str], _Raw] = {}
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(16, len(self.targets))),
                                        thread_name_prefix="probe-fetch")

    def _fetch(self, target: ProbeTarget) -> list[ProbeReading]:
        started = time.perf_counter()
        try:
            document = fetch_document(target.json_url, self.timeout_s)
            received, latency = time.time(), (time.perf_counter() - started) * 1000
            readings = []
            for item in document["probes"]:
                key = _key(target, item)
                reading, raw = reading_from_item(target, item, self._previous.get(key), received, latency)
                self._previous[key] = raw
                readings.append(reading)
            return readings or [_failed(target, "no engine instrumented behind this endpoint", received)]
        except ProbeFault as fault:
            return [_failed(target, str(fault), time.time())]

    def collect(self) -> list[ProbeReading]:
        """One reading per process and engine of every target, or one failed reading per target; returns
        within ``timeout_s`` plus a little, whatever the endpoints do."""
        if not self.targets:
            return []
        try:
            futures = {self._pool.submit(self._fetch, target): target for target in self.targets}
        except RuntimeError:  # closed, or the interpreter is shutting down: no reading is a gap, not a crash
            return [_failed(target, "collector stopped", time.time()) for target in self.targets]
        done, _ = wait(futures, timeout=self.timeout_s + 0.5)
        readings: list[ProbeReading] = []
        for future, target in futures.items():
            if future in done and future.exception() is None:
                readings += future.result()
            elif future in done:
                readings.append(_failed(target, f"error: {type(future.exception()).__name__}", time.time()))
            else:
                future.cancel()
                readings.append(_failed(target, f"timeout after {self.timeout_s:g} s", time.time()))
        return readings

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def sample_probes(targets: Sequence[ProbeTarget], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[ProbeReading]:
    """One concurrent round over ``targets`` (lifetime figures: there is no previous sample to window by)."""
    collector = ProbeCollector(targets, timeout_s)
    try:
        return collector.collect()
    finally:
        collector.close()


class ProbeMonitor:
    """Collects every ``interval_s`` in a daemon thread and keeps the last ``keep_s`` of readings."""

    def __init__(self, targets: Sequence[ProbeTarget], interval_s: float = 1.0, keep_s: float = 900.0,
                 timeout_s: float | None = None):
        self.targets = list(targets)
        self.interval_s = interval_s
        self._collector = ProbeCollector(targets, timeout_s or min(DEFAULT_TIMEOUT_S, max(0.2, interval_s)))
        self._rounds: deque[tuple[float, list[ProbeReading]]] = deque(maxlen=max(1, int(keep_s / interval_s)))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ProbeMonitor:
        if self.targets and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="probe-monitor", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            readings = self._collector.collect()
            with self._lock:
                self._rounds.append((time.time(), readings))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def latest(self) -> list[ProbeReading]:
        with self._lock:
            return list(self._rounds[-1][1]) if self._rounds else []

    def recent(self, since_s: float) -> list[tuple[float, list[ProbeReading]]]:
        """Rounds of the last ``since_s`` seconds, oldest first: (epoch seconds, readings)."""
        cutoff = time.time() - since_s
        with self._lock:
            return [item for item in self._rounds if item[0] >= cutoff]

    def stop(self) -> None:
        self._stop.set()
        self._collector.close()


def render_probes(readings: Sequence[ProbeReading]) -> str:
    """Text lines for ``live sample`` without ``--json`` (empty when no probe is configured)."""
    lines = []
    for r in readings:
        head = f"probe {r.service}/{r.engine} pid {r.pid if r.pid is not None else '-'} ({r.endpoint}): {r.status}"
        if not r.ok:
            lines.append(head)
            continue
        wait = r.wait_ms.p99 if r.wait_ms else None
        hold = r.hold_ms.p99 if r.hold_ms else None
        lines.append(f"{head}: checked out {r.checked_out}, idle {r.idle}, overflow {r.overflow}, waiting "
                     f"{r.waiting}, timeouts {r.timeouts}, p99 wait {_ms(wait)}, p99 hold {_ms(hold)}")
    return "".join(line + "\n" for line in lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
