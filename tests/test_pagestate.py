"""dashboard.pagestate without Streamlit: when the page may judge, what it says while waiting, and the history
store's notice from whatever status the store exposes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mdtext import plain

from dashboard import pagestate


@dataclass
class Status:
    state: str
    reason: str | None = None
    next_retry_at: datetime | None = None


def test_only_known_limits_allow_a_verdict():
    """A plan given with the page (the demo's, a plan file) or a chosen preset is judged at once; otherwise
    the live server's first sample must have brought its limits."""
    assert pagestate.limits_known(prefilled=True, live_settings=None)
    assert not pagestate.limits_known(prefilled=False, live_settings=None)
    assert pagestate.limits_known(prefilled=False, live_settings=object())


def test_waiting_says_why_with_the_servers_words_escaped():
    quiet = pagestate.waiting_for("primary", Status("starting"))
    assert "Waiting for the first sample of primary" in plain(quiet.message) and quiet.problem is None
    error = 'password authentication failed for user "[u](http://127.0.0.1:1/u)" postgresql://a:secret@h/d'
    down = pagestate.waiting_for("primary", Status("error", error, datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)))
    assert "[u](http" not in down.problem and "secret" not in down.problem
    assert plain(down.problem).startswith('**primary** is error: password authentication failed for user "[u](http')
    assert down.problem.endswith("next attempt 12:00:05 UTC")


def test_store_that_cannot_be_opened_is_a_state(tmp_path):
    folder_is_file = tmp_path / "f"
    folder_is_file.write_text("x")

    def opener(path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        raise AssertionError("not reached")

    opening = pagestate.open_history(folder_is_file / "history.sqlite", opener)
    assert opening.store is None and "FileExistsError" in opening.problem
    notice = plain(pagestate.store_notice(opening, None))
    assert "could not be opened" in notice and "kept in memory only" in notice

    def corrupt(path: Path):
        raise sqlite3.DatabaseError("file is not a database")

    assert "DatabaseError: file is not a database" in pagestate.open_history(tmp_path / "h", corrupt).problem


def test_store_notice_reads_the_stores_own_status():
    class Monitor:
        history_error = None

        def __init__(self, history):
            self.history = history

    class Healthy:
        status = type("S", (), {"ok": True, "message": None})()
        last_error = None

    class Failing:
        status = type("S", (), {"ok": False, "state": "unwritable", "message": "disk full <b>"})()

    class OldStore:
        last_error = "12 samples not saved to /data/h.sqlite: disk I/O error"

    assert pagestate.store_notice(None, Monitor(Healthy())) is None
    assert "unwritable · disk full <b>" in plain(pagestate.store_notice(None, Monitor(Failing())))
    assert "<b>" not in pagestate.store_notice(None, Monitor(Failing()))
    assert "12 samples not saved" in plain(pagestate.store_notice(None, Monitor(OldStore())))
    monitor = Monitor(Healthy())
    monitor.history_error = "sample of primary not saved: closed"
    assert "sample of primary not saved" in plain(pagestate.store_notice(None, monitor))
