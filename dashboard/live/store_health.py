"""How the history store is doing, as a typed value the CLI and the dashboard show, and the file-level
remedies behind it: probing that the file can be written, telling corruption from other faults, and moving a
corrupt file aside (renamed with a timestamp, never overwritten).

States (``StoreState``): ``ok``; ``unwritable`` (the file could not be opened for writing at start: samples
go to an in-memory store, lost at exit); ``failing`` (writes fail now, mid-run: samples since ``since`` are not
saved, and a gap is recorded when writing works again). ``moved_aside`` names a corrupt file found and
renamed, whatever the state.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

_CORRUPTION_WORDS = ("file is not a database", "malformed", "database disk image")
QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024
"""Files up to this size get ``PRAGMA quick_check`` when opened: about 22 ms per MB here
(``benchmarks/history_open.py``), so at most ~1.4 s once per process; a larger corrupt file is caught when a
read or write meets the damage."""


class StoreState(StrEnum):
    OK = "ok"
    UNWRITABLE = "unwritable"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """The history store's state for a status line: what, since when, why, and what was not saved."""

    state: StoreState
    path: Path
    reason: str | None = None
    """The one-line cause (the OS's or SQLite's words) when not ok."""
    since: datetime | None = None
    unsaved: int = 0
    """Samples not saved to the file since ``since`` (failing: dropped, recorded as a gap on recovery;
    unwritable: kept only in memory)."""
    moved_aside: Path | None = None
    """Where a corrupt history file was moved (it is kept there for inspection), or None."""
    dropped: dict[str, tuple[datetime, datetime, int]] = field(default_factory=dict)
    """Per server: (first, last, count) of the samples dropped while failing; written as a gap on recovery."""

    @property
    def ok(self) -> bool:
        return self.state is StoreState.OK

    def line(self) -> str:
        """One line for a terminal or a status box."""
        moved = f"; a corrupt history file was moved aside to {self.moved_aside}" if self.moved_aside else ""
        if self.state is StoreState.OK:
            return f"history: ok, writing {self.path}{moved}"
        if self.state is StoreState.UNWRITABLE:
            return (f"history: cannot write {self.path} ({self.reason}): samples are kept in memory only and lost "
                    f"at exit{moved}")
        since = self.since.isoformat(timespec="seconds") if self.since else "?"
        return (f"history: writing {self.path} fails since {since} ({self.reason}): {self.unsaved} samples not "
                f"saved; a gap is recorded when it works again{moved}")

    def as_dict(self) -> dict[str, object]:
        return {
            "state": str(self.state), "path": str(self.path), "reason": self.reason,
            "since": self.since.isoformat() if self.since else None, "unsaved": self.unsaved,
            "moved_aside": str(self.moved_aside) if self.moved_aside else None,
        }

    def failing(self, reason: str, taken: list[tuple[str, datetime]]) -> StoreHealth:
        """This health after a failed write of samples ``taken`` ((server, taken_at) pairs)."""
        dropped = dict(self.dropped)
        for server, at in taken:
            first, last, count = dropped.get(server, (at, at, 0))
            dropped[server] = (min(first, at), max(last, at), count + 1)
        state = StoreState.UNWRITABLE if self.state is StoreState.UNWRITABLE else StoreState.FAILING
        return replace(self, state=state, reason=one_line(reason), since=self.since or datetime.now(UTC),
                       unsaved=self.unsaved + len(taken), dropped=dropped)


def one_line(error: BaseException | str) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].strip()


def is_corruption(error: BaseException) -> bool:
    """SQLite says the file is not (or no longer) a sound database, as opposed to not writable or full."""
    return isinstance(error, sqlite3.DatabaseError) and any(w in str(error).lower() for w in _CORRUPTION_WORDS)


def check_file(conn: sqlite3.Connection, path: Path) -> None:
    """Raise ``sqlite3.DatabaseError`` if the file is corrupt (quick_check, for files up to the size limit)."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size <= QUICK_CHECK_MAX_BYTES:
            result = conn.execute("PRAGMA quick_check(1)").fetchone()
            if result and result[0] != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {result[0]}")


def check_writable(conn: sqlite3.Connection) -> None:
    """Raise ``sqlite3.Error`` if the file cannot be written: a write statement that changes nothing, in a
    transaction that is rolled back (SQLite refuses any write statement on a read-only file)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM sample WHERE 0")
    finally:
        conn.execute("ROLLBACK")


def move_aside(path: Path, now: datetime | None = None) -> Path:
    """Rename a corrupt ``path`` (and its -wal/-shm files) to ``<name>.corrupt-<UTC timestamp>``; never
    overwrites: an existing name gets a counter. Returns the new path of the main file."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    os.rename(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.rename(side, target.with_name(target.name + suffix))
    return target


@dataclass(frozen=True, slots=True)
class OpenedStore:
    """Where a ``HistoryStore`` writes: its file, or a shared in-memory database kept alive by ``keeper``."""

    target: str
    uri: bool
    keeper: sqlite3.Connection | None
    health: StoreHealth


def open_store(path: Path, schema: str) -> OpenedStore:
    """Open (and create) the history file: a corrupt one is moved aside and a fresh one started; one that
    cannot be written gives an in-memory store with the ``unwritable`` state. Never raises for a file fault."""
    moved: Path | None = None
    reason = ""
    for attempt in range(2):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
                check_file(conn, path)
                conn.executescript(schema)
                check_writable(conn)
            return OpenedStore(str(path), False, None, StoreHealth(StoreState.OK, path, moved_aside=moved))
        except sqlite3.DatabaseError as err:
            reason = one_line(err)
            if attempt or not is_corruption(err):
                break
            try:
                moved = move_aside(path)
            except OSError as move_err:
                reason = f"{reason}; moving it aside failed: {one_line(move_err)}"
                break
        except OSError as err:
            reason = one_line(err)
            break
    uri = f"file:pool-planner-history-{uuid.uuid4().hex}?mode=memory&cache=shared"
    keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
    keeper.executescript(schema)
    health = StoreHealth(StoreState.UNWRITABLE, path, reason, datetime.now(UTC), moved_aside=moved)
    return OpenedStore(uri, True, keeper, health)


def recovered(health: StoreHealth) -> StoreHealth:
    """The health once a write works again after failing (a corrupt file moved aside stays named)."""
    if health.state is not StoreState.FAILING:
        return health
    return StoreHealth(StoreState.OK, health.path, moved_aside=health.moved_aside)
