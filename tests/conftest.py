"""Shared fixtures: a real PostgreSQL for every test that needs one.

``TEST_DATABASE_URL`` (a SQLAlchemy asyncpg URL) picks an existing server, e.g. this machine's
PostgreSQL 15: ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``. Without it, one embedded
PostgreSQL 16 (pgserver's binaries, ``tests/pgcluster.py``) is started for the session.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IN_CI = os.environ.get("CI") == "1"

# Property tests judge logic, not speed: no per-example deadline (a loaded CI machine is slow), and in CI the
# same examples every run (derandomize), so a landing never depends on which examples a run happened to draw.
settings.register_profile("pool-planner", deadline=None, derandomize=IN_CI,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pool-planner")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """SQLAlchemy URL (postgresql+asyncpg://...) of a real server where the test role is superuser."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from pgcluster import Cluster

    cluster = Cluster().start()
    try:
        yield cluster.url()
    finally:
        cluster.destroy()


def require_binary(path: str, package: str) -> None:
    """Skip with a reason outside CI when a Debian binary is missing; in CI (CI=1) a missing one fails."""
    import shutil

    if shutil.which(path) or Path(path).exists():
        return
    message = f"{path} not installed (apt-get install {package}; .ci/run installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
