"""The services editor in Debian's Chromium: from the single-service page, "Add a service" in the sidebar makes a
second service (the page's budget then sums both), and a click on a row of the main area's share table selects that
service for the sidebar's controls. A screenshot goes into the test's temporary folder."""

from __future__ import annotations

import pytest
from conftest import require_binary
from streamlit_proc import HEADLESS, streamlit_run
from test_browser import APP, CHROMIUM, CHROMIUM_ARGS, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]


def test_add_a_service_then_select_one_from_the_share_table(pg_url, tmp_path):
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    env = {"DATABASE_URL": pg_url, "POOL_PLANNER_DATA": str(tmp_path)}
    with streamlit_run(APP, ROOT, env, *HEADLESS, unset=("REPLICA_DATABASE_URL",), log_dir=tmp_path) as (port, _), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1800})
            page.goto(f"http://127.0.0.1:{port}/")
            rollout = page.locator('[data-testid="stMetric"]').filter(has_text="Rollout peak")
            expect(rollout).to_be_visible(timeout=90_000)  # the first sample applied the server's limits
            page.get_by_role("combobox", name="Preset").click()
            page.get_by_role("option", name="PostgreSQL defaults").click()
            expect(rollout.locator('[data-testid="stMetricValue"]')).to_have_text("30", timeout=30_000)

            page.locator('[data-testid="stSidebar"] summary').filter(has_text="Services").click()
            page.get_by_role("button", name="Add a service").click()
            expect(page.get_by_text("Services · 2 · selected: service-2")).to_be_visible(timeout=30_000)
            expect(rollout.locator('[data-testid="stMetricValue"]')).to_have_text("60", timeout=30_000)  # 2 x 30

            table = page.locator('[data-testid="stDataFrame"]').nth(1)  # primary's services (after the engines)
            expect(table).to_be_visible(timeout=30_000)
            box = table.bounding_box()
            page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's tick: the service "app"
            expect(page.get_by_text("Services · 2 · selected: app")).to_be_visible(timeout=30_000)
            page.screenshot(path=str(tmp_path / "services.png"))
        finally:
            browser.close()
