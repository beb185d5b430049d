"""The servers' overview, plan files and links in Debian's Chromium against a real PostgreSQL.

``streamlit run`` starts with ``POOL_PLANNER_PLAN=examples/plan.toml`` and both servers of the plan sampled (the
same test server as primary and replica). The browser opens a link asking for 3 workers and the replica: the
sidebar shows 3, the picker the replica, and the detailed charts only the replica's; the overview table lists
both servers with their sparklines. A broken upload is one line of error; moving an input rewrites the link.
A screenshot goes to the test's folder (and to $FLEET_SCREENSHOT when set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import require_binary
from streamlit_proc import HEADLESS, streamlit_run
from test_page_serving import APP, CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def test_link_overview_and_upload_in_chromium(pg_url, tmp_path):
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    env = {"DATABASE_URL": pg_url, "REPLICA_DATABASE_URL": pg_url, "POOL_PLANNER_DATA": str(tmp_path),
           "POOL_PLANNER_PLAN": str(ROOT / "examples" / "plan.toml")}
    bad = tmp_path / "broken.toml"
    bad.write_text('[[servers]]\nname = "primary"\nmax_connections = "many"\n')
    with streamlit_run(APP, ROOT, env, *HEADLESS, log_dir=tmp_path) as (port, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 2200}).new_page()
            page.goto(f"http://127.0.0.1:{port}/?workers=3&server=replica")
            workers = page.get_by_label("workers per instance").and_(page.locator("input[type=number]"))
            expect(workers).to_have_value("3", timeout=90_000)
            overview = page.locator('[data-testid="stDataFrame"]').first
            expect(overview).to_be_visible(timeout=90_000)
            picker = page.get_by_role("combobox", name="Server for the detailed charts")
            expect(picker).to_have_value("replica", timeout=30_000)
            headlines = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="client connections at")
            expect(headlines.filter(has_text="replica").first).to_be_visible(timeout=60_000)
            assert headlines.filter(has_text="primary").count() == 0  # the picked server's charts alone
            page.wait_for_timeout(5_000)  # a few live refreshes: the sparklines have points
            page.screenshot(path=str(tmp_path / "fleet.png"), full_page=True)
            if os.environ.get("FLEET_SCREENSHOT"):
                shutil.copy(tmp_path / "fleet.png", os.environ["FLEET_SCREENSHOT"])

            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
            error = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
            expect(error).to_contain_text("Plan file not loaded", timeout=60_000)
            assert error.count() == 1 and "max_connections" in error.inner_text()
            assert page.locator('[data-testid="stException"]').count() == 0  # never a traceback

            workers.fill("5")
            workers.press("Enter")
            page.wait_for_url("**workers=5**", timeout=60_000)
            assert "server=replica" in page.url
        finally:
            browser.close()
