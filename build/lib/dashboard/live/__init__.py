"""The live sampler: ``pg_stat_activity`` through one frugal async connection per server, and its history.

Synchronous entry points for the UI and the CLI (no asyncio in sight for callers):

- ``sample_once(url)``: one ``Snapshot`` now, or the fault as a status.
- ``Monitor({"primary": url, ...})``: a background thread that samples every interval, keeps the latest
  snapshot and status per server, and appends to a ``HistoryStore``.
- ``HistoryStore(path)``: the SQLite history, read back as pandas DataFrames or ``Snapshot`` lists.
"""

from dashboard.live.db import MONITOR_APPLICATION_NAME, ServerFault, mask_url
from dashboard.live.history import HistoryStore, default_data_dir, default_history_path
from dashboard.live.monitor import Monitor, ServerStatus
from dashboard.live.sampler import QUERY_CHARS, ServerSampler, permission_note, sample_once

__all__ = [
    "MONITOR_APPLICATION_NAME",
    "QUERY_CHARS",
    "HistoryStore",
    "Monitor",
    "ServerFault",
    "ServerSampler",
    "ServerStatus",
    "default_data_dir",
    "default_history_path",
    "mask_url",
    "permission_note",
    "sample_once",
]
