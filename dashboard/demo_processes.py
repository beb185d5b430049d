"""The demo's process bookkeeping: which dashboard owns a demo folder, which workers it started (PID and
start time name one process for ever), and the sweep of the demos a dead dashboard left behind.

Part of the demo (``dashboard.demo`` re-exports every name).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

import pgserver

from dashboard import demo_pgbouncer

DEMO_PREFIX = "pooldemo"  # demo folders are /tmp/pooldemo*


OWNER_FILE = "owner"  # "<pid> <start time>" of the dashboard process that started the demo


WORKERS_FILE = "workers"  # one "<pid> <start time>" line per worker process


RUN_AS = "pgserver" if os.geteuid() == 0 else None
"""PostgreSQL refuses to run as root: as root, the embedded server runs as pgserver's own system user."""


def _process_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _process_start(pid: int) -> str | None:
    """A process's start time (field 22 of /proc/<pid>/stat), or None once it is gone: with the PID it names
    one process, even after the PID is given to another."""
    fields = _process_stat(pid)
    return fields[19] if fields else None


def _write_identities(path: Path, pids: list[int]) -> None:
    """One "<pid> <start time>" line per process: with the start time, a PID names one process for ever."""
    path.write_text("".join(" ".join((str(pid), str(_process_start(pid)))) + "\n" for pid in pids))


def _read_identities(path: Path) -> list[tuple[int, str]]:
    """What ``_write_identities`` wrote (a start time that could not be read is "None": it matches no process).
    Raises OSError when the file is missing, ValueError when it is not such a file."""
    return [(int(pid), started) for pid, started in (line.split() for line in path.read_text().splitlines())]


def sweep_orphaned_demos(folder: Path = Path("/tmp")) -> list[Path]:
    """Stop and remove the demos whose dashboard died without stopping them (SIGKILL, the OOM killer).

    Their workers would exit on their own within half a second, but the embedded PostgreSQL would run, and
    its folder stay, for ever. Only folders with an owner file naming a process that is gone are touched.
    The workers are killed first: one still writing its stats file into the folder would keep it from
    being removed.
    """
    removed = []
    for root in sorted(folder.glob(f"{DEMO_PREFIX}*")):
        try:
            [(pid, started)] = _read_identities(root / OWNER_FILE)
        except (OSError, ValueError):
            continue  # not a demo folder, or one being created
        owner_alive = _process_start(pid) == started
        if owner_alive:
            continue
        _kill_workers(root)
        demo_pgbouncer.kill_orphan(root / "pgbouncer")
        pgdata = root / "pgdata"
        if (pgdata / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                pgserver.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=RUN_AS, timeout=60)
        for _ in range(10):
            shutil.rmtree(root, ignore_errors=True)
            if not root.exists():
                removed.append(root)
                break
            time.sleep(0.2)
    return removed


def _kill_workers(root: Path, timeout: float = 5.0) -> None:
    """SIGKILL the worker processes a demo folder names (those still running: PID and start time match) and
    wait until none runs."""
    try:
        workers = _read_identities(root / WORKERS_FILE)
    except (OSError, ValueError):
        return
    for pid, started in workers:
        if _running(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(pid, started) for pid, started in workers):
        time.sleep(0.05)


def _running(pid: int, started: str) -> bool:
    """True while the process is alive (a zombie, dead but not yet reaped, writes nothing)."""
    fields = _process_stat(pid)
    return bool(fields) and fields[19] == started and fields[0] != "Z"
