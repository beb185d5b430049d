"""The joined view on the zero-config demo, in Debian's Chromium: every demo worker's probe is collected, the
section shows a verdict line per service with its evidence and a chart of both ends; the connection storm
turns the verdict away from "fine" with waiters or timeouts in the application pool while the server is full.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from conftest import require_binary
from streamlit_proc import HEADLESS, streamlit_run
from test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo_dashboard(tmp_path):
    require_binary(CHROMIUM, "chromium")
    unset = ("DATABASE_URL", "REPLICA_DATABASE_URL", "POOL_PLANNER_PROBES")
    with streamlit_run(ROOT / "dashboard" / "app.py", ROOT, {"POOL_PLANNER_DATA": str(tmp_path)}, *HEADLESS,
                       unset=unset, log_dir=tmp_path, stop_timeout_s=30) as (port, _):
        yield f"http://127.0.0.1:{port}/"  # at exit the dashboard stops its demo (workers, embedded server)


def test_joined_view_on_the_demo(demo_dashboard, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(demo_dashboard)
            expect(page.get_by_text("Both ends of the pool")).to_be_visible(timeout=120_000)
            section = page.locator('[class*="st-key-joined_demo-api"]')
            expect(section).to_be_visible(timeout=120_000)
            line = section.locator('[data-testid="stText"]').first
            expect(line).to_contain_text("demo-api: ", timeout=60_000)
            expect(line).to_contain_text("over 4 process(es)", timeout=30_000)  # all four workers' probes
            expect(line).to_contain_text("demo-api: fine", timeout=30_000)  # normal traffic: nobody waits
            expect(section.locator(".js-plotly-plot")).to_have_count(1, timeout=90_000)
            expect(section.locator(".js-plotly-plot .scatterlayer .trace")).not_to_have_count(0)
            expect(section.locator('[data-testid="stDataFrame"]')).to_be_visible()
            page.screenshot(path=str(tmp_path / "joined-normal.png"))

            page.get_by_text("connection storm", exact=True).first.click()
            storm = re.compile(r"demo-api: (at the server \(slots full\)|waiting in the application pool)")
            deadline, text = time.monotonic() + 120, ""
            while time.monotonic() < deadline:  # the storm needs a few seconds to fill every pool
                text = line.inner_text()
                numbers = [int(re.search(rf"(\d+) {what}", text).group(1)) for what in
                           ("waiting", "timeouts", "failed connects")] if storm.match(text) else [0]
                if sum(numbers) > 0:
                    break
                time.sleep(0.5)
            assert storm.match(text) and sum(numbers) > 0, text
            page.screenshot(path=str(tmp_path / "joined-storm.png"))
            section.screenshot(path=str(tmp_path / "joined-storm-section.png"))
            if os.environ.get("UPDATE_SCREENSHOT") == "1":
                shot = (tmp_path / "joined-storm-section.png").read_bytes()
                (ROOT / "docs" / "screenshot-probe.png").write_bytes(shot)
        finally:
            browser.close()
