"""``/metrics`` of the collector: a ``prometheus_client`` custom collector reading the collector's latest state.

Nothing is computed twice: connection counts come from the latest sample, usable slots from the live rules'
own sum (``planner.rules.live._usable``), the plan's lines from ``planner.budget``, the per-service planned
ceilings from ``planner.export_prometheus.service_ceilings``. Names, labels and units: docs/metrics.md.

Label cardinality is bounded: per server, the services (``application_name``) the plan names are always kept;
the others, biggest first, up to ``max_services`` in all; the rest are folded into ``service="other"``, and
``pool_planner_services_folded`` says how many were folded. With several services in the plan, ``service`` is
the service a connection is attributed to (``Plan.service_of``: ``orders-3`` counts as ``orders``); the clients
no service names keep their application_name (folded as above) and are summed in
``pool_planner_unplanned_connections``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector as RegistryCollector
from prometheus_client.registry import CollectorRegistry

from dashboard.live.collector import Collector, CollectorState
from planner.attribution import attribute
from planner.budget import plan_budgets
from planner.export_prometheus import METRIC_PREFIX as P
from planner.export_prometheus import service_ceilings
from planner.model import Plan
from planner.rules.live import _plan_server, _usable
from planner.snapshot import Snapshot

DEFAULT_MAX_SERVICES = 50
OTHER = "other"
UNNAMED = "(none)"


def fold_services(counts: dict[str, int], keep: set[str], limit: int) -> tuple[dict[str, str], int]:
    """{service: label} with at most ``limit`` distinct labels besides ``other`` (the ``keep`` ones first, then
    the biggest), and how many services were folded into ``other``.

    >>> fold_services({"a": 5, "b": 1, "c": 3}, {"b"}, 2)
    ({'b': 'b', 'a': 'a', 'c': 'other'}, 1)
    """
    kept = [name for name in counts if name in keep]
    rest = sorted((name for name in counts if name not in keep), key=lambda n: (-counts[n], n))
    labels = {name: name for name in kept}
    room = max(0, limit - len(kept))
    for index, name in enumerate(rest):
        labels[name] = name if index < room else OTHER
    return labels, max(0, len(rest) - room)


def _planned_services(plan: Plan | None, server: str) -> set[str]:
    if plan is None:
        return set()
    if plan.multi_service:
        return {s.name for s in plan.services}
    return {e.application_name for e in plan.engines_on(server) if e.application_name}


def service_label(plan: Plan | None, application_name: str | None) -> str:
    """The ``service`` a connection counts under before folding: with several services in the plan, the service
    ``Plan.service_of`` attributes it to (per-worker suffixes folded), else its application_name."""
    if plan is not None and plan.multi_service:
        service = plan.service_of(application_name)
        if service is not None:
            return service
    return application_name or UNNAMED


class CollectorMetrics(RegistryCollector):
    """Reads ``collector.state()`` at every scrape; never samples a server itself."""

    def __init__(self, collector: Collector, max_services: int = DEFAULT_MAX_SERVICES):
        self.collector = collector
        self.max_services = max_services
        self._built: tuple[int, list] | None = None

    def refresh(self, state: CollectorState) -> None:
        """Build the families of ``state`` now (the collector's loop calls this after each tick), so a scrape
        only serialises them."""
        self._built = (id(state), list(self._families(state)))

    def collect(self) -> Iterator:
        state = self.collector.state()
        built = self._built
        if built is None or built[0] != id(state):
            self.refresh(state)
            built = self._built
        yield from built[1]

    def _families(self, state: CollectorState) -> Iterator:
        plan = self.collector.plan
        yield from self._targets(state)
        yield from self._connections(state, plan)
        yield from self._plan(plan)
        yield from self._findings(state)
        yield from self._pgbouncer(state)
        yield from self._probes(state)

    # ---------------------------------------------------------------------------------------- sampling

    def _targets(self, state: CollectorState) -> Iterator:
        up = GaugeMetricFamily(f"{P}_up", "1 when the latest sample of the target succeeded, 0 for a gap",
                               labels=["kind", "target"])
        latency = GaugeMetricFamily(f"{P}_sample_latency_seconds", "Round trip of the latest sample query",
                                    labels=["kind", "target"])
        failures = CounterMetricFamily(f"{P}_sample_failures", "Failed samples since the collector started",
                                       labels=["kind", "target"])
        last = GaugeMetricFamily(f"{P}_last_sample_timestamp_seconds", "When the latest sample was taken (epoch)",
                                 labels=["kind", "target"])
        books = (("server", state.latest, state.status), ("pgbouncer", state.pgbouncer_latest, state.pgbouncer_status))
        for kind, latest, statuses in books:
            for name in statuses:
                snap = latest.get(name)
                up.add_metric([kind, name], 1.0 if snap is not None and snap.ok else 0.0)
                failures.add_metric([kind, name], float(state.failed_samples.get((kind, name), 0)))
                if snap is not None:
                    last.add_metric([kind, name], snap.taken_at.timestamp())
                if snap is not None and snap.latency_ms is not None:
                    latency.add_metric([kind, name], snap.latency_ms / 1000)
        collector = GaugeMetricFamily(f"{P}_collector_interval_seconds", "Seconds between samples")
        collector.add_metric([], self.collector.interval_s)
        tick = GaugeMetricFamily(f"{P}_collector_tick_seconds", "Time the last tick took to judge the samples")
        tick.add_metric([], state.tick_s)
        store = GaugeMetricFamily(f"{P}_history_ok", "1 while the history store writes, 0 while it fails")
        store.add_metric([], 1.0 if state.store_ok else 0.0)
        unsaved = GaugeMetricFamily(f"{P}_history_unsaved_samples", "Samples not saved while the store fails")
        unsaved.add_metric([], float(state.unsaved))
        yield from (up, latency, failures, last, collector, tick, store, unsaved)

    def _connections(self, state: CollectorState, plan: Plan | None) -> Iterator:
        conns = GaugeMetricFamily(f"{P}_connections", "Client backends by service (application_name) and state",
                                  labels=["server", "service", "state"])
        idle_tx = GaugeMetricFamily(f"{P}_idle_in_transaction_oldest_seconds",
                                    "Age of the oldest session idle in a transaction", labels=["server", "service"])
        usable = GaugeMetricFamily(f"{P}_usable_slots", "Slots an application role may use on the live server "
                                   "(max_connections - reserved - the plan's other clients)", labels=["server"])
        folded = GaugeMetricFamily(f"{P}_services_folded", "Services folded into service=\"other\" (label limit)",
                                   labels=["server"])
        unplanned = GaugeMetricFamily(f"{P}_unplanned_connections", "Client backends no service of the plan names "
                                      "(plans with several services)", labels=["server"])
        for name, snap in state.latest.items():
            if not snap.ok:
                continue
            self._add_server(conns, idle_tx, folded, snap, plan)
            if plan is not None and plan.multi_service:
                unplanned.add_metric([name], float(attribute(plan, snap).unplanned_total))
            if snap.settings is not None:
                usable.add_metric([name], float(_usable(snap.settings, _plan_server(plan, name))[0]))
        yield from (conns, idle_tx, usable, folded, unplanned)

    def _add_server(self, conns, idle_tx, folded, snap: Snapshot, plan: Plan | None) -> None:
        keys = {g.application_name: service_label(plan, g.application_name) for g in snap.groups}
        sizes: dict[str, int] = {}
        for g in snap.groups:
            sizes[keys[g.application_name]] = sizes.get(keys[g.application_name], 0) + g.count
        labels, n_folded = fold_services(sizes, _planned_services(plan, snap.server), self.max_services)
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[str, float] = {}
        for g in snap.groups:
            service = labels[keys[g.application_name]]
            key = (service, g.state or "hidden")
            counts[key] = counts.get(key, 0) + g.count
            if g.oldest_idle_in_transaction_s is not None:
                oldest[service] = max(oldest.get(service, 0.0), g.oldest_idle_in_transaction_s)
        for (service, state_), count in sorted(counts.items()):
            conns.add_metric([snap.server, service, state_], float(count))
        for service, age in sorted(oldest.items()):
            idle_tx.add_metric([snap.server, service], age)
        folded.add_metric([snap.server], float(n_folded))

    # ---------------------------------------------------------------------------------------- the plan

    def _plan(self, plan: Plan | None) -> Iterator:
        lines = GaugeMetricFamily(f"{P}_plan_connections", "The plan's connection lines per server",
                                  labels=["server", "line"])
        headroom = GaugeMetricFamily(f"{P}_plan_headroom", "usable - rollout peak under the plan", labels=["server"])
        ceiling = GaugeMetricFamily(f"{P}_plan_service_peak", "Planned peak connections of one service (all "
                                    "processes x (pool_size + max_overflow))", labels=["server", "service"])
        if plan is not None:
            for budget in plan_budgets(plan):
                for line in ("usable", "steady", "peak", "rollout_peak"):
                    value = getattr(budget, line)
                    if value is not None:
                        lines.add_metric([budget.name, line], float(value))
                if budget.headroom is not None:
                    headroom.add_metric([budget.name], float(budget.headroom))
            for (server, service), peak in sorted(service_ceilings(plan).items()):
                ceiling.add_metric([server, service], float(peak))
        yield from (lines, headroom, ceiling)

    def _findings(self, state: CollectorState) -> Iterator:
        finding = GaugeMetricFamily(f"{P}_finding", "1 per active finding (docs/pitfalls.md lists the ids)",
                                    labels=["server", "id", "severity", "subject"])
        seen: set[tuple[str, str, str, str]] = set()
        for tracked in state.findings:
            f = tracked.finding
            seen.add((f.server or "", f.id, f.severity, tracked.subject))
        for f in state.other_findings:
            seen.add((f.server or "", f.id, f.severity, ""))
        for labels in sorted(seen):
            finding.add_metric(list(labels), 1.0)
        yield finding

    # ---------------------------------------------------------------------------------- re-exported

    def _pgbouncer(self, state: CollectorState) -> Iterator:
        clients = GaugeMetricFamily(f"{P}_pgbouncer_clients", "PgBouncer client connections per pool and state",
                                    labels=["pgbouncer", "database", "user", "state"])
        servers = GaugeMetricFamily(f"{P}_pgbouncer_servers", "PgBouncer server connections per pool and state",
                                    labels=["pgbouncer", "database", "user", "state"])
        maxwait = GaugeMetricFamily(f"{P}_pgbouncer_maxwait_seconds", "Oldest client wait in the pool",
                                    labels=["pgbouncer", "database", "user"])
        for name, snap in state.pgbouncer_latest.items():
            if not snap.ok:
                continue
            for pool in snap.pools:
                key = [name, pool.database, pool.user]
                clients.add_metric([*key, "active"], float(pool.cl_active))
                clients.add_metric([*key, "waiting"], float(pool.cl_waiting))
                for state_ in ("active", "idle", "used"):
                    servers.add_metric([*key, state_], float(getattr(pool, f"sv_{state_}")))
                maxwait.add_metric(key, float(pool.maxwait_s))
        yield from (clients, servers, maxwait)

    def _probes(self, state: CollectorState) -> Iterator:
        names = ("checked_out", "idle", "overflow", "waiting", "pool_size")
        gauges = {n: GaugeMetricFamily(f"{P}_probe_{n}", f"In-app probe: {n} summed over the service's processes",
                                       labels=["service", "engine"]) for n in names}
        up = GaugeMetricFamily(f"{P}_probe_up", "Probe readings that succeeded / failed in the latest round",
                               labels=["service", "engine", "result"])
        p99 = GaugeMetricFamily(f"{P}_probe_wait_p99_seconds", "Worst process's p99 checkout wait in its window",
                                labels=["service", "engine"])
        sums: dict[tuple[str, str], dict[str, float]] = {}
        results: dict[tuple[str, str, str], int] = {}
        worst: dict[tuple[str, str], float] = {}
        for r in state.probes:
            key = (r.service, r.engine)
            results[(*key, "ok" if r.ok else "failed")] = results.get((*key, "ok" if r.ok else "failed"), 0) + 1
            if not r.ok:
                continue
            bucket = sums.setdefault(key, {})
            for n in names:
                value = getattr(r, n)
                if value is not None:
                    bucket[n] = bucket.get(n, 0.0) + value
            if r.wait_ms is not None and r.wait_ms.p99 is not None:
                worst[key] = max(worst.get(key, 0.0), r.wait_ms.p99 / 1000)
        for key, bucket in sorted(sums.items()):
            for n, value in bucket.items():
                gauges[n].add_metric(list(key), value)
        for key, count in sorted(results.items()):
            up.add_metric(list(key), float(count))
        for key, value in sorted(worst.items()):
            p99.add_metric(list(key), value)
        yield from (*gauges.values(), up, p99)


def registry_for(collector: Collector, max_services: int = DEFAULT_MAX_SERVICES) -> tuple[CollectorRegistry,
                                                                                         CollectorMetrics]:
    """A registry holding only the collector's metrics (no process/platform collectors: stable output), and the
    metrics object (``refresh`` it after each tick)."""
    registry = CollectorRegistry(auto_describe=False)
    metrics = CollectorMetrics(collector, max_services)
    registry.register(metrics)
    return registry, metrics


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log on stderr."""


class MetricsEndpoint:
    """Serves ``/metrics`` from text rendered once per tick (``publish``), so a scrape costs no Python work
    beyond sending bytes, even while the collector judges its samples."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int):
        self.registry = registry
        self._body = generate_latest(registry)
        self.server = make_server(host, port, self._app, server_class=_Server, handler_class=_Quiet)
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> MetricsEndpoint:
        self._thread.start()
        return self

    def publish(self) -> None:
        """Render the registry now (after a tick)."""
        self._body = generate_latest(self.registry)

    def _app(self, environ, start_response):
        if environ.get("PATH_INFO") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics\n"]
        body = self._body
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
