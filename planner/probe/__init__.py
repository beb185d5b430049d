"""The in-application pool probe: ``from planner.probe import instrument``.

    engine = create_async_engine(url, pool_size=5, max_overflow=10)
    probe = instrument(engine, service="orders")     # once per engine, in every worker process
    probe.snapshot()                                 # {"checked_out": ..., "wait_ms": {"p99": ...}, ...}
    app.mount("/probe", ProbeApp())                  # FastAPI: /probe/metrics (Prometheus), /probe/json

Standard library and SQLAlchemy only (``prometheus_client`` only inside ``register_prometheus``). The
contract (names, labels, units, costs) is docs/probe.md.
"""

from typing import Any

from planner.probe import core
from planner.probe.core import PoolProbe, probes, uninstrument
from planner.probe.exposition import (
    DIR_ENV,
    ProbeApp,
    gather,
    json_document,
    prometheus_text,
    publish_once,
    register_prometheus,
    serve,
    start_publisher,
)

__all__ = [
    "DIR_ENV", "PoolProbe", "ProbeApp", "gather", "instrument", "json_document", "probes", "prometheus_text",
    "publish_once", "register_prometheus", "serve", "start_publisher", "uninstrument",
]


def instrument(engine: Any, service: str, *, engine_name: str | None = None) -> PoolProbe:
    """Probe ``engine`` (``create_async_engine`` or ``create_engine``) in this process; idempotent per engine.

    ``service`` names the application (use its ``application_name``: the dashboard joins the probe with the
    server's view by it); ``engine_name`` the engine within it (``primary``, ``replica``). With
    ``POOL_PROBE_DIR`` set, this process also publishes its figures there for its sibling workers."""
    probe = core.instrument(engine, service, engine_name=engine_name)
    start_publisher()
    return probe
