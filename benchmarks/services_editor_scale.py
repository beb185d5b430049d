"""The services editor at scale: the page with 50 services against the single-service page (the baseline) and
examples/services.toml's 5, on a real PostgreSQL (DATABASE_URL, default the local test server).

Prints, side by side: the editor's own work per rerun (all services' Plan from the sidebar state; each server's
share table), the planner's judgement of that plan (``rerun.judge``: budgets, findings, recommendation, exports),
and a whole page run through Streamlit's AppTest (median of --repeat reruns after a warm-up), for a slider move on
the selected service.

    /work/venv/bin/python benchmarks/services_editor_scale.py [--services 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import rerun, services_editor, state  # noqa: E402
from planner.config import load_plan  # noqa: E402
from planner.model import Deployment, Engine, PgBouncer, Plan, Server, Service, Workload  # noqa: E402

APP = str(ROOT / "dashboard" / "app.py")


def many_services(count: int) -> Plan:
    """``count`` services: most on the primary, every fifth on its replica, every tenth through PgBouncer."""
    services = []
    for i in range(count):
        name = f"svc{i:02d}"  # no "-NN" suffix: that would fold into one application_name
        on_replica, via = i % 5 == 4, i % 10 == 9 and i % 5 != 4
        engine = Engine(name="primary", server="replica" if on_replica else "primary", pool_size=2 + i % 4,
                        max_overflow=i % 3, application_name=name, via_pgbouncer=via, replica=on_replica)
        services.append(Service(name, (engine,), Deployment(instances=1 + i % 3, workers=1 + i % 2, surge=1),
                                Workload(rps=20.0 + i, hold_ms=10.0)))
    servers = (Server(name="primary", max_connections=2000, other_clients=10, major_version=16),
               Server(name="replica", max_connections=2000, replica_of="primary", major_version=16))
    return Plan(servers=servers, services=tuple(services),
                pgbouncer=PgBouncer(server="primary", version="1.24.1", default_pool_size=20, max_client_conn=2000))


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def page_ms(inputs: state.Inputs | None, url: str, repeat: int) -> float:
    """A whole page rerun after moving the selected service's pool_size (the page loaded first, warm)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["DATABASE_URL"] = url
    if inputs is not None:
        for key, value in inputs.as_dict().items():
            at.session_state[key] = value
    at.session_state["prefilled"] = True
    at.run()
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        at.number_input(key="pool_size").set_value(3 + i % 2).run()
        times.append((time.perf_counter() - t0) * 1000)
        assert not at.exception, at.exception
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    os.environ.setdefault("POOL_PLANNER_DATA", tempfile.mkdtemp(prefix="svc-bench-"))
    cases = {"single-service page (baseline)": None,
             "examples/services.toml (5)": state.inputs_from_plan(load_plan(ROOT / "examples" / "services.toml")),
             f"{args.services} services": state.inputs_from_plan(many_services(args.services))}
    print(f"{'case':<34}{'editor: plan':>14}{'share tables':>14}{'judge':>10}{'page rerun':>12}   (ms, median)")
    for label, inputs in cases.items():
        given = inputs or state.Inputs()
        plan = state.plan_from_inputs(given)
        build = median_ms(lambda given=given: state.plan_from_inputs(given), args.repeat)
        shares = median_ms(lambda plan=plan: services_editor.share_groups(plan, plan.services[0].name),
                           args.repeat) if inputs is not None else 0.0
        judge = median_ms(lambda plan=plan: rerun.judge(plan), 1)
        page = page_ms(inputs, args.url, args.repeat)
        print(f"{label:<34}{build:>14.2f}{shares:>14.2f}{judge:>10.1f}{page:>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
