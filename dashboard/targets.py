"""Which servers the page monitors (secrets or environment), their URLs as the page may show them, and
where their history is kept.

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote

from dashboard.inputs import PRIMARY, REPLICA
from dashboard.live.history import default_data_dir
from dashboard.setting import setting
from planner.dsn import mask_url

URL_KEYS = {PRIMARY: "DATABASE_URL", REPLICA: "REPLICA_DATABASE_URL"}
SERVERS_KEY = "POOL_PLANNER_SERVERS"
"""More servers to monitor, beside the primary and the replica: ``NAME=URL`` pairs separated by spaces or commas
(the names are the plan's server names, so each server's live limits meet its own plan entry)."""
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


def monitor_targets(secrets: Mapping[str, object] | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Servers to monitor: DATABASE_URL (+ REPLICA_DATABASE_URL, + POOL_PLANNER_SERVERS' NAME=URL pairs) from
    st.secrets, else the environment.

    Empty means: nothing configured, so the dashboard runs its embedded demo. An unnamed or twice-named entry of
    POOL_PLANNER_SERVERS gets a name of its own (``server-3``, ``db-2``), so no server is silently dropped."""
    targets: dict[str, str] = {}
    for server, key in URL_KEYS.items():
        value = setting(key, secrets, environ)
        if value:
            targets[server] = value
    extra = setting(SERVERS_KEY, secrets, environ) or ""
    for i, part in enumerate(extra.replace(",", " ").split(), start=len(targets) + 1):
        name, url = f"server-{i}", part
        head, sep, tail = part.partition("=")
        if sep and _NAME.match(head) and "://" not in head:
            name, url = head, tail
        while name in targets:
            name = f"{name}-{i}"
        targets[name] = url
    return targets


def masked_targets(targets: Mapping[str, str]) -> dict[str, str]:
    """The URLs as the page may show them: passwords replaced by ***, and readable (a socket folder as /tmp/x,
    not URL-encoded as %2Ftmp%2Fx over four lines of the sidebar)."""
    return {name: unquote(mask_url(url)) for name, url in targets.items()}


def history_path(targets: Sequence[tuple[str, str]] | Mapping[str, str]) -> Path:
    """Where the live history of these servers is kept: ``$POOL_PLANNER_DATA`` (default ``./data``).

    One file per set of servers, named by a hash of the masked URLs (no secret reaches the file system).
    """
    items = sorted(dict(targets).items())
    digest = hashlib.sha1(repr([(k, mask_url(v)) for k, v in items]).encode()).hexdigest()[:12]
    return default_data_dir() / f"history-{digest}.sqlite"
