"""Hypothesis strategies for valid planner inputs (invalid combinations are rejected, not built)."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from planner.model import Deployment, Engine, InputError, Plan, Server, Service, Workload


@st.composite
def servers(draw, name: str = "primary") -> Server:
    try:
        return Server(
            name=name,
            max_connections=draw(st.integers(1, 3000)),
            superuser_reserved_connections=draw(st.integers(0, 10)),
            reserved_connections=draw(st.integers(0, 10)),
            other_clients=draw(st.integers(0, 60)),
            major_version=16,
        )
    except InputError:
        assume(False)
        raise


@st.composite
def deployments(draw) -> Deployment:
    instances = draw(st.integers(1, 30))
    surge = draw(st.one_of(st.integers(0, 10), st.integers(0, 100).map(lambda p: f"{p}%")))
    autoscale = draw(st.one_of(st.none(), st.integers(instances, instances + 20)))
    return Deployment(instances=instances, workers=draw(st.integers(1, 16)), surge=surge, autoscale_max=autoscale)


workloads = st.one_of(
    st.none(),
    st.builds(
        Workload,
        rps=st.floats(0, 20_000, allow_nan=False),
        hold_ms=st.floats(0, 500, allow_nan=False),
        request_timeout_s=st.one_of(st.none(), st.floats(0.01, 120, allow_nan=False)),
        hold_dist=st.sampled_from([None, "exp", "const"]),
        target_p99_wait_ms=st.sampled_from([1.0, 10.0, 100.0]),
    ),
)


@st.composite
def engines(draw, name: str = "primary", server: str = "primary", max_pool: int = 100) -> Engine:
    return Engine(
        name=name,
        server=server,
        pool_size=draw(st.integers(1, max_pool)),
        max_overflow=draw(st.integers(0, 50)),
        pool_timeout=draw(st.floats(0, 60, allow_nan=False)),
        traffic_share=draw(st.sampled_from([1.0, 1.0, 0.5, 0.25, 0.7])),
    )


@st.composite
def plans(draw) -> Plan:
    primary = draw(servers())
    deployment = draw(deployments())
    engine = draw(engines(max_pool=primary.max_connections))
    try:
        return Plan(servers=(primary,), engines=(engine,), deployment=deployment, workload=draw(workloads))
    except InputError:
        assume(False)
        raise


shared_workloads = st.builds(Workload, rps=st.floats(1, 3000), hold_ms=st.floats(1, 200))


@st.composite
def shared_plans(draw) -> Plan:
    """2-5 services on 1-3 servers (exponential holds: the closed form sizes them), either rollout setting."""
    n_servers = draw(st.integers(1, 3))
    servers = tuple(Server(name=f"s{i}", max_connections=draw(st.integers(20, 600))) for i in range(n_servers))
    services = []
    for i in range(draw(st.integers(2, 5))):
        engines = (Engine(name="main", server=f"s{draw(st.integers(0, n_servers - 1))}",
                          pool_size=draw(st.integers(1, 20)), max_overflow=draw(st.integers(-1, 10))),)
        if draw(st.booleans()) and n_servers > 1:
            engines += (Engine(name="reads", server=f"s{draw(st.integers(0, n_servers - 1))}", traffic_share=0.5,
                               pool_size=draw(st.integers(1, 20)), max_overflow=draw(st.integers(0, 10))),)
        dep = Deployment(instances=draw(st.integers(1, 6)), workers=draw(st.integers(1, 4)),
                         surge=draw(st.integers(0, 2)), autoscale_max=draw(st.one_of(st.none(), st.integers(6, 8))))
        services.append(Service(f"svc{i}", engines, dep, draw(st.one_of(st.none(), shared_workloads)),
                                draw(st.one_of(st.none(), st.floats(0.5, 10)))))
    return Plan(servers=servers, services=tuple(services), rollout=draw(st.sampled_from(["together", "one-at-a-time"])))
