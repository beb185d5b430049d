"""Where the page listens and what it shows viewers, with real ``streamlit run`` processes.

- Started from another folder with the script's absolute path, it listens on 127.0.0.1 only (sockets read from
  /proc/net/tcp*): the config next to app.py is read whatever the working folder.
- An explicit ``--server.address`` still wins (the documented way to expose it).
- Streamlit's own config loader, run the way ``streamlit run`` runs it, resolves the viewer-safe options
  (no error details, viewer toolbar, no table export) from that file.
- Without the file (a copy of the code with the script-level config removed), Streamlit listens everywhere and
  the page refuses to show anything (Chromium sees the refusal, never the planner).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import require_binary
from streamlit_proc import listening_addresses, streamlit_run

from dashboard import guard

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def env_for(pg_url: str, data: Path) -> dict[str, str]:
    env = {"DATABASE_URL": pg_url, "POOL_PLANNER_DATA": str(data), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    for key in [k for k in os.environ if k.startswith("STREAMLIT_SERVER_ADDRESS")]:
        env[key] = ""  # never inherit an address from the test's environment
    return env


@pytest.mark.db
@pytest.mark.slow
def test_started_from_another_folder_it_listens_on_localhost_only(pg_url, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert not (elsewhere / ".streamlit").exists()
    with streamlit_run(APP, elsewhere, env_for(pg_url, tmp_path)) as (port, _):
        assert listening_addresses(port) == {"127.0.0.1"}


@pytest.mark.db
@pytest.mark.slow
def test_an_explicit_address_wins(pg_url, tmp_path):
    with streamlit_run(APP, tmp_path, env_for(pg_url, tmp_path), "--server.address", "0.0.0.0") as (port, _):
        assert listening_addresses(port) == {"0.0.0.0"}


def test_streamlits_config_loader_reads_the_scripts_config_from_any_folder(tmp_path, monkeypatch):
    """The loader ``streamlit run`` uses, with the main script set as the CLI sets it, from an empty folder."""
    from streamlit import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "_main_script_path", str(APP))
    try:
        config.get_config_options(force_reparse=True)
        ours = str(ROOT / "dashboard" / ".streamlit" / "config.toml")
        assert config.get_option("server.address") == "127.0.0.1"
        assert config.get_where_defined("server.address") == ours
        assert config.get_option("client.showErrorDetails") == "none"
        assert config.get_option("client.toolbarMode") == "viewer"
        assert config.get_option("client.disableDataExport") is True
        assert guard.check_serving(config.get_option, config.get_where_defined).allowed
    finally:
        monkeypatch.undo()
        config.get_config_options(force_reparse=True)


def test_check_serving_refuses_only_the_unchosen_wildcard():
    def options(address, source):
        return (lambda key: address), (lambda key: source)

    assert not guard.check_serving(*options("", "<default>")).allowed  # Streamlit's default: every interface
    assert not guard.check_serving(*options(None, "<default>")).allowed
    assert guard.check_serving(*options("127.0.0.1", "<default>")).allowed
    assert guard.check_serving(*options("::1", "/x/config.toml")).loopback
    assert guard.check_serving(*options("localhost", "<default>")).allowed
    chosen = guard.check_serving(*options("0.0.0.0", "command-line argument or environment variable"))
    assert chosen.allowed and not chosen.loopback
    assert guard.unsafe_client_defaults(lambda key: "<default>") == guard.SAFE_CLIENT_OPTIONS
    assert guard.unsafe_client_defaults(lambda key: "command-line argument or environment variable") == {}


@pytest.mark.db
@pytest.mark.slow
@pytest.mark.browser
def test_without_its_config_the_page_refuses_to_show_itself(pg_url, tmp_path):
    """A copy of the code whose dashboard/.streamlit/config.toml is gone, run with no address: Streamlit
    listens on every interface, and the page shows only the refusal (no planner, no live data)."""
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    copy = tmp_path / "copy"
    for part in ("dashboard", "planner"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", ".streamlit"))
    assert not (copy / "dashboard" / ".streamlit").exists()
    with streamlit_run(copy / "dashboard" / "app.py", tmp_path, env_for(pg_url, tmp_path),
                       "--server.headless", "true") as (port, _):
        assert listening_addresses(port) & {"0.0.0.0", "::"}  # Streamlit's default: the reason for the guard
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                expect(page.get_by_text("refuses to show itself")).to_be_visible(timeout=60_000)
                assert page.get_by_text("Connection-pool planner").count() == 0
                assert page.locator(".js-plotly-plot").count() == 0
                page.reload()  # the toolbar mode set at run time reaches the next session
                expect(page.get_by_text("refuses to show itself")).to_be_visible(timeout=60_000)
                assert page.get_by_role("button", name="Deploy").count() == 0
            finally:
                browser.close()
