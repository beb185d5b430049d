"""What the page checks about its own serving before it shows anything: where it listens, what errors show.

The page shows who holds a database's connections, so it is served on 127.0.0.1 unless someone chose
otherwise. ``dashboard/.streamlit/config.toml`` says so, and Streamlit reads that file (the *script-level*
config, next to ``app.py``) whatever the working folder; flags (``--server.address``) and
``STREAMLIT_SERVER_ADDRESS`` still win, and they are the explicit choices. If that file is missing or bypassed
and the address is Streamlit's default (empty: every interface), the page refuses to show anything.

Streamlit also shows a traceback with file paths to any viewer unless ``client.showErrorDetails`` says
otherwise, and a developer toolbar ("Deploy", "Clear cache") to whoever connects from localhost: both are set
to viewer-safe values here when nobody set them, so the page is safe with or without the config file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from streamlit import config
from streamlit.runtime import Runtime

ADDRESS_OPTION = "server.address"
SAFE_CLIENT_OPTIONS: dict[str, object] = {
    "client.showErrorDetails": "none",
    "client.toolbarMode": "viewer",
}
"""Viewer-safe values, applied at run time when no config file, flag or environment variable set them."""
DEFAULT_SOURCE = "<default>"
"""What ``streamlit.config.get_where_defined`` answers for an option nobody set."""


@dataclass(frozen=True)
class ServingCheck:
    """Whether the page may show itself on the address Streamlit is listening on."""

    address: str
    source: str
    """Where the address was set (a config file's path, a flag or environment variable, or ``<default>``)."""
    allowed: bool
    loopback: bool

    @property
    def refusal(self) -> str:
        """The page's whole text when refused (plain text, no server string in it)."""
        return (
            "This dashboard refuses to show itself: Streamlit is listening on every network interface because "
            "no server.address was set (its config file dashboard/.streamlit/config.toml is missing or was "
            "bypassed). The page shows who holds your database's connections. Restart it with "
            "--server.address 127.0.0.1, or, to expose it on purpose behind your own authentication, "
            "with an explicit --server.address 0.0.0.0 (or STREAMLIT_SERVER_ADDRESS)."
        )


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_serving(get_option: Callable[[str], object], get_where_defined: Callable[[str], str]) -> ServingCheck:
    """Allowed: a loopback address, or any address somebody set explicitly (flag, env or config file).

    Refused: no address at all (Streamlit's default listens on every interface).
    """
    address = str(get_option(ADDRESS_OPTION) or "").strip()
    source = get_where_defined(ADDRESS_OPTION)
    loopback = bool(address) and is_loopback(address)
    allowed = loopback or (bool(address) and source != DEFAULT_SOURCE)
    return ServingCheck(address, source, allowed, loopback)


def unsafe_client_defaults(get_where_defined: Callable[[str], str]) -> dict[str, object]:
    """The client options still at Streamlit's default, with the safe value each should get."""
    return {key: value for key, value in SAFE_CLIENT_OPTIONS.items() if get_where_defined(key) == DEFAULT_SOURCE}


def served_by_streamlit() -> bool:
    """True under ``streamlit run`` (a real Runtime with a listening server); False under Streamlit's AppTest,
    which runs the script with a stand-in Runtime and no socket at all."""
    return Runtime.exists() and type(Runtime.instance()) is Runtime


def enforce(st) -> ServingCheck | None:
    """Run at the top of the page: safe client options, then stop the page (``st.stop``) if it is refused.

    None when no server listens (AppTest): there is no address to check.
    """
    for key, value in unsafe_client_defaults(config.get_where_defined).items():
        st.set_option(key, value)
    if not served_by_streamlit():
        return None
    check = check_serving(config.get_option, config.get_where_defined)
    if not check.allowed:
        st.error(check.refusal, icon="⛔")
        st.stop()
    return check
