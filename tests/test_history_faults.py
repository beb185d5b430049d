"""History store faults with real files: unwritable at start (a directory in the way, a file where the folder
should be, an immutable file), corrupt (garbage, truncated, corrupted while open), and failing mid-run
(immutable files, a full filesystem) while a Monitor samples a real server. Each time: a typed state
(``HistoryStore.health()``), sampling goes on in memory, ``record`` says it in one line and exits 2 when it
cannot write at start, a corrupt file is moved aside (never overwritten), and a failure that ends leaves a gap.

Root ignores permission bits, so unwritable files are made with ``chattr +i`` (skipped where the filesystem or
the user cannot) and a full disk with a small tmpfs (skipped unless mounting is allowed)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from polling import wait_until
from test_sampler_support import unique_name

from dashboard.live import HistoryStore, Monitor
from dashboard.live.store_health import StoreState, move_aside
from planner.snapshot import Snapshot

ROOT = Path(__file__).resolve().parent.parent


def snap(server: str = "db", status: str = "ok") -> Snapshot:
    return Snapshot(server, datetime.now(UTC), status)  # type: ignore[arg-type]



def chattr(flag: str, *paths: Path) -> None:
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"chattr {flag} not possible here: {done.stderr.strip()}")


@contextlib.contextmanager
def immutable(*paths: Path):
    chattr("+i", *paths)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True)


def record(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard.live", "record", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


# ------------------------------------------------------------------------------------------ at start


def unwritable_history(kind: str, tmp_path: Path) -> tuple[Path, contextlib.AbstractContextManager]:
    if kind == "path is a directory":
        path = tmp_path / "history.sqlite"
        path.mkdir()
        return path, contextlib.nullcontext()
    if kind == "folder is a file":
        (tmp_path / "data").write_text("not a folder")
        return tmp_path / "data" / "history.sqlite", contextlib.nullcontext()
    path = tmp_path / "history.sqlite"
    HistoryStore(path).close()
    return path, immutable(path, tmp_path)


@pytest.mark.parametrize("kind", ["path is a directory", "folder is a file", "immutable file"])
def test_an_unwritable_store_is_a_state_and_sampling_goes_on_in_memory(kind, tmp_path):
    path, blocked = unwritable_history(kind, tmp_path)
    with blocked:
        store = HistoryStore(path)
        try:
            health = store.health()
            assert health.state is StoreState.UNWRITABLE and health.reason
            assert "samples are kept in memory only" in health.line() and "\n" not in health.line()
            store.append(snap())
            assert list(store.totals("db")["status"]) == ["ok"]  # readable, from memory
        finally:
            store.close()


@pytest.mark.parametrize("kind", ["path is a directory", "folder is a file", "immutable file"])
def test_record_exits_2_at_start_with_one_line_when_it_cannot_write(kind, tmp_path):
    path, blocked = unwritable_history(kind, tmp_path)
    with blocked:
        done = record("--url", "postgresql://u@127.0.0.1:1/db", "--data", str(path.parent), "--duration", "1")
    assert done.returncode == 2
    assert done.stderr.startswith("error: record: history: cannot write") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and done.stdout == ""


# ------------------------------------------------------------------------------------------ corrupt


def corrupt(kind: str, path: Path) -> bytes:
    if kind == "garbage":
        path.write_bytes(os.urandom(8192))
    else:
        with HistoryStore(path) as store:
            for _ in range(2000):
                store.append(snap())
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_a_corrupt_file_is_moved_aside_and_a_fresh_one_started(kind, tmp_path):
    path = tmp_path / "history.sqlite"
    before = corrupt(kind, path)
    with HistoryStore(path) as store:
        health = store.health()
        assert health.state is StoreState.OK and health.moved_aside is not None
        assert health.moved_aside.name.startswith("history.sqlite.corrupt-")
        assert health.moved_aside.read_bytes() == before  # kept as it was, for inspection
        store.append(snap())
        assert len(store.totals("db")) == 1
    assert "moved aside to" in health.line()


def test_moving_aside_never_overwrites(tmp_path):
    path = tmp_path / "history.sqlite"
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    targets = []
    for content in (b"first", b"second"):
        path.write_bytes(content)
        targets.append(move_aside(path, now))
    assert targets[0] != targets[1]
    assert [t.read_bytes() for t in targets] == [b"first", b"second"]


def test_record_says_a_corrupt_file_was_moved_aside_and_records(pg_url, tmp_path):
    path = tmp_path / "history.sqlite"
    corrupt("garbage", path)
    done = record("--url", pg_url, "--data", str(tmp_path), "--duration", "1.5", "--interval", "0.3")
    assert done.returncode == 0, done.stderr
    assert "history: ok, writing" in done.stdout and "moved aside to" in done.stdout
    with HistoryStore(path) as store:
        assert (store.totals("primary")["status"] == "ok").sum() >= 2


def test_a_file_corrupted_while_open_reads_as_empty_and_is_moved_aside(tmp_path):
    path = tmp_path / "history.sqlite"
    store = HistoryStore(path)
    try:
        for _ in range(50):
            store.append(snap())
        store.flush()
        with open(path, "r+b") as f:
            f.write(os.urandom(4096))  # the header and the first page
        assert store.totals("db").empty  # no exception for the page
        wait_until(lambda: store.health().moved_aside is not None)
        store.append(snap())
        wait_until(lambda: len(store.totals("db")) >= 1)
        assert store.health().state is StoreState.OK
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ mid-run


def _failure_and_recovery(pg_url: str, path: Path, block, unblock, *, one_gap: bool = True) -> dict[str, float]:
    app = unique_name("t-store")
    store = HistoryStore(path)
    monitor = Monitor({"db": pg_url}, interval_s=0.2, history=store, application_name=app).start()
    try:
        wait_until(lambda: (store.totals("db")["status"] == "ok").sum() >= 3)
        block()
        blocked_at = time.monotonic()
        health = wait_until(lambda: (h := store.health()).state is StoreState.FAILING and h.unsaved >= 3 and h)
        seen_at = time.monotonic()
        assert "a gap is recorded when it works again" in health.line()
        samples_while_failing = monitor.status()["db"].samples
        time.sleep(0.5)
        assert monitor.status()["db"].samples > samples_while_failing  # sampling goes on
        assert monitor.status()["db"].state == "ok"
        unblock()
        unblocked_at = time.monotonic()
        wait_until(lambda: store.health().state is StoreState.OK)
        recovered_at = time.monotonic()
        totals = store.totals("db")
    finally:
        monitor.stop()
        store.close()
    gaps = totals[totals["error"].str.startswith("not recorded: the history store failed", na=False)]
    # one failure, one gap; a full disk lets some batches through (WAL space freed by a checkpoint), so each
    # failed stretch between them is a gap of its own
    assert (len(gaps) == 1) if one_gap else (len(gaps) >= 1)
    assert gaps["total"].isna().all() and gaps["error"].str.contains("samples from").all()
    gap_at = gaps["taken_at"].iloc[0]
    assert (totals[totals["taken_at"] > gap_at]["status"] == "ok").any()  # samples saved again after the gap
    return {"failure seen after s": round(seen_at - blocked_at, 2), "saved again after s":
            round(recovered_at - unblocked_at, 2)}


@pytest.mark.db
def test_immutable_files_mid_run_leave_a_gap_and_writing_resumes(pg_url, tmp_path):
    path = tmp_path / "history.sqlite"
    chattr("+i", tmp_path)
    chattr("-i", tmp_path)
    # not the -shm file: SQLite maps it into memory, and a write to a mapped immutable page is SIGBUS (a
    # fault no program survives, and no operator causes; a full disk is safe: SQLite allocates it by writing)
    files = lambda: [p for p in tmp_path.iterdir() if not p.name.endswith("-shm")] + [tmp_path]  # noqa: E731
    times = _failure_and_recovery(
        pg_url, path,
        block=lambda: subprocess.run(["chattr", "+i", *map(str, files())], check=True),
        unblock=lambda: subprocess.run(["chattr", "-i", *map(str, files())], check=True),
    )
    print("immutable mid-run:", times)
    assert times["saved again after s"] < 2


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "mnt"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.db
def test_a_full_disk_mid_run_leaves_a_gap_and_writing_resumes(pg_url, small_tmpfs):
    filler = small_tmpfs / "filler"

    def fill() -> None:
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()

    times = _failure_and_recovery(pg_url, small_tmpfs / "history.sqlite", block=fill,
                                  unblock=lambda: filler.unlink(), one_gap=False)
    print("disk full mid-run:", times)
    assert times["saved again after s"] < 2
    shutil.rmtree(small_tmpfs, ignore_errors=True)
