"""The real thing: ``streamlit run`` headless against the test server, driven by Debian's Chromium.

Waits for the live chart, changes an input like a user, sees the verdict change, and takes a screenshot:
into the test's temporary folder, and over docs/screenshot.png (the README's picture) only when
UPDATE_SCREENSHOT=1, so a test run never changes a tracked file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest
from conftest import require_binary
from sqlalchemy.engine import make_url
from streamlit_proc import HEADLESS, streamlit_run

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture
def dashboard(pg_url, tmp_path):
    env = {"DATABASE_URL": pg_url, "POOL_PLANNER_DATA": str(tmp_path)}
    with streamlit_run(APP, ROOT, env, *HEADLESS, unset=("REPLICA_DATABASE_URL",), log_dir=tmp_path) as (port, _):
        yield f"http://127.0.0.1:{port}/"


def test_browser_live_chart_and_verdict(dashboard, pg_url, tmp_path):
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    url = make_url(pg_url)
    held = [psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                            application_name="browser-test") for _ in range(2)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2300})
            page.goto(dashboard)
            # the live chart: a plotly figure whose headline reports a real sample
            expect(page.get_by_text("client connections at")).to_be_visible(timeout=60_000)
            # the verdict comes with the first sample (the page waits for the server's limits before it)
            expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible(timeout=60_000)
            expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=30_000)
            expect(page.locator(".js-plotly-plot").nth(1).locator(".scatterlayer .trace")).not_to_have_count(0)
            page.get_by_text("Preset").wait_for()
            verdict = page.locator('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentWarning"], '
                                   '[data-testid="stAlertContentError"]').filter(has_text="headroom").first
            expect(verdict).to_contain_text("SAFE")
            before = verdict.inner_text()

            workers = page.get_by_role("spinbutton", name="workers per instance")
            workers.fill("8")
            workers.press("Enter")
            expect(verdict).to_contain_text("UNSAFE", timeout=20_000)
            assert verdict.inner_text() != before
            expect(page.locator('[data-testid="stMetricValue"]').nth(2)).to_have_text("120")  # peak: 8 x 15
            time.sleep(3)  # a few live refreshes, so the chart has a line worth looking at
            shot = tmp_path / "screenshot.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("UPDATE_SCREENSHOT") == "1":
                (ROOT / "docs" / "screenshot.png").write_bytes(shot.read_bytes())
            assert "password" not in page.content().lower() or "***" in page.content()
        finally:
            browser.close()
            for conn in held:
                conn.close()
