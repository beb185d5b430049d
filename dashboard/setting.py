"""One setting of the page (a URL list such as DATABASE_URL): from ``.streamlit/secrets.toml``, else the
environment. Shared by the server targets (``dashboard.state``) and the PgBouncer consoles
(``dashboard.pgbouncer_view``)."""

from __future__ import annotations

import os
from collections.abc import Mapping


def setting(key: str, secrets: Mapping[str, object] | None, environ: Mapping[str, str] | None = None) -> str:
    """``secrets[key]``, else ``environ[key]`` (default: the process environment), stripped; "" when unset."""
    environ = os.environ if environ is None else environ
    value = None
    if secrets is not None:
        try:
            value = secrets.get(key)
        except Exception:  # st.secrets raises when no secrets.toml exists at all
            value = None
    return str(value or "").strip() or environ.get(key, "").strip()
