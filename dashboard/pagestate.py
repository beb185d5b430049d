"""Page states that are not a plan: waiting for a live server's first sample, and the history store's health.

Without Streamlit: ``app.py`` draws what these return. Every server string (an error, a status reason, a path
with whatever the store said) reaches the page through ``planner.text.md``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from planner.dsn import mask_url
from planner.text import md


@dataclass(frozen=True)
class Waiting:
    """No verdict yet: the server's limits are unknown until its first sample."""

    message: str
    """Markdown (escaped): what the page waits for."""
    problem: str | None
    """Markdown (escaped): why the server has not answered yet (its status and error), or None."""


def limits_known(*, prefilled: bool, live_settings: object | None) -> bool:
    """Whether the page may judge a plan: the live server's limits were applied (its first sample arrived), or
    the numbers are a plan's own (a plan file, the demo's plan) or a preset the user chose."""
    return prefilled or live_settings is not None


def waiting_for(server: str, status=None) -> Waiting:
    """What the page says instead of a verdict before ``server``'s first sample (``status``: ServerStatus)."""
    message = (
        f"**Waiting for the first sample of {md(server)}**: the verdict, the recommendation, the budget and the "
        "exports need the server's own max_connections and reserved slots, and appear as soon as it answers. "
        "To plan without it, pick a preset in the sidebar."
    )
    problem = None
    if status is not None and status.state not in ("ok", "starting"):
        reason = mask_url(status.reason or "") or "no message"
        retry = f" · next attempt {status.next_retry_at:%H:%M:%S} UTC" if status.next_retry_at is not None else ""
        problem = f"**{md(server)}** is {md(status.state)}: {md(reason)}{retry}"
    return Waiting(message, problem)


# -- the history store ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoreOpening:
    """The history store of a set of servers, or why it could not be opened (then samples stay in memory)."""

    store: object | None
    """A ``HistoryStore``; None when opening failed."""
    problem: str | None
    path: Path


def open_history(path: Path, opener) -> StoreOpening:
    """``opener(path)`` (``HistoryStore``), turning a store that cannot be opened (unwritable folder, a file
    that is not SQLite, a full disk) into a state instead of a traceback."""
    try:
        return StoreOpening(opener(path), None, path)
    except (OSError, sqlite3.Error, ValueError) as err:
        return StoreOpening(None, f"{type(err).__name__}: {err}", path)


def store_notice(opening: StoreOpening | None, monitor) -> str | None:
    """One warning line (Markdown, escaped) about the history store, or None when it is healthy.

    Reads, in order: a store that could not be opened; a typed status the store may expose (``status`` with
    ``ok``/``message``, or ``state``/``reason``); its ``last_error``; the monitor's ``history_error``.
    """
    if opening is not None and opening.problem is not None:
        return (f"**History store unavailable**: {md(opening.path)} could not be opened ({md(opening.problem)}). "
                "Samples are kept in memory only, for this process; everything else works.")
    store = getattr(monitor, "history", None)
    words = _store_status_words(store) or getattr(monitor, "history_error", None)
    if not words:
        return None
    return f"**History store**: {md(words)}. Sampling goes on; the chart may miss the samples not saved."


def _store_status_words(store) -> str | None:
    health = getattr(store, "health", None)  # HistoryStore.health() -> StoreHealth (dashboard/live/store_health.py)
    if callable(health):
        state = health()
        return None if state.ok and not state.moved_aside else state.line()
    status = getattr(store, "status", None)
    if callable(status):
        try:
            status = status()
        except Exception as err:  # a broken store's status is itself the news
            return f"status unavailable ({type(err).__name__}: {err})"
    if status is not None and not isinstance(status, str | bool):
        if getattr(status, "ok", False) is True:
            return None
        text = getattr(status, "message", None) or getattr(status, "reason", None)
        state = getattr(status, "state", None)
        if text or (state and str(state) != "ok"):
            return " · ".join(str(part) for part in (state, text) if part)
    return getattr(store, "last_error", None)
