"""Cost of opening the history store, with the corruption check (``PRAGMA quick_check`` on files up to
64 MB, dashboard/live/store_health.py) against a plain open, on the same file in the same run.

    python benchmarks/history_open.py [hours]   # default 6 h of 1 s samples x 20 groups
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.live import HistoryStore, queries
from planner.snapshot import ActivityGroup, Snapshot


def fill(path: Path, hours: float) -> None:
    start = datetime.now(UTC) - timedelta(hours=hours)
    groups = tuple(ActivityGroup("app", "role", f"svc-{i}", "10.0.0.1", "idle", "Client", 5, 0, None, None, 60.0,
                                 1.0, None) for i in range(20))
    with HistoryStore(path, retention_s=10 * 86_400) as store:
        for second in range(int(hours * 3600)):
            store.append(Snapshot("db", start + timedelta(seconds=second), "ok", groups=groups))


def best_of(n: int, work) -> float:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    hours = float(sys.argv[1]) if len(sys.argv) > 1 else 6
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.sqlite"
        fill(path, hours)
        size_mb = path.stat().st_size / 1e6

        def plain() -> None:
            with sqlite3.connect(path) as conn:
                conn.executescript(queries.load("history_schema"))

        def checked() -> None:
            HistoryStore(path, retention_s=10 * 86_400).close()

        def quick_check() -> None:
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA quick_check(1)").fetchone()

        print(f"history of {hours:g} h x 20 groups: {size_mb:.1f} MB")
        print(f"  plain open + schema (baseline): {best_of(3, plain) * 1000:8.1f} ms")
        print(f"  PRAGMA quick_check(1) alone: {best_of(3, quick_check) * 1000:8.1f} ms")
        print(f"  HistoryStore open (quick_check + write probe + writer thread): {best_of(3, checked) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
