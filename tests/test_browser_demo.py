"""The demo page in Debian's Chromium: the leaking-session scenario's pitfall is one entry naming the four
workers, the headline labels are not cut, and the live chart's legend does not cover its "UTC" axis title.

The screenshot goes to the test's temporary folder, and over docs/screenshot-demo.png only when
UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import require_binary
from streamlit_proc import HEADLESS, streamlit_run
from test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent

OVERLAP = """([a, b]) => {
    const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
    return !(r.right <= s.left || s.right <= r.left || r.bottom <= s.top || s.bottom <= r.top);
}"""
CUT = "el => [...el.querySelectorAll('*'), el].some(e => e.scrollWidth > e.clientWidth + 1)"


@pytest.fixture
def demo_page(tmp_path):
    unset = ("DATABASE_URL", "REPLICA_DATABASE_URL")
    with streamlit_run(ROOT / "dashboard" / "app.py", ROOT, {"POOL_PLANNER_DATA": str(tmp_path)}, *HEADLESS,
                       unset=unset, log_dir=tmp_path, stop_timeout_s=20) as (port, _):
        yield f"http://127.0.0.1:{port}/"  # at exit the dashboard stops its demo (workers, embedded server)


def test_demo_page_groups_the_leak_and_nothing_is_cut_or_covered(demo_page, tmp_path):
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(demo_page)
            expect(page.get_by_text("client connections at")).to_be_visible(timeout=90_000)
            # a dispatched click: on a loaded machine a pointer click waited > 30 s for the busy renderer
            page.get_by_role("radio", name="leaking session").dispatch_event("click", timeout=60_000)
            expect(page.get_by_text("scenario: leaking session")).to_be_visible(timeout=60_000)
            leak = re.compile(r"(?<!no-)idle-in-transaction ·")  # not no-idle-in-transaction-timeout
            header = page.locator('[data-testid="stExpander"] summary').filter(has_text=leak)
            expect(header).to_have_count(1, timeout=70_000)  # one entry, not one per worker
            expect(header).to_contain_text("4 applications: demo-api-1, demo-api-2, demo-api-3, demo-api-4")

            label = page.locator('[data-testid="stMetricLabel"]').filter(has_text="Lesson's rule")
            expect(label).to_have_count(1)
            assert not label.evaluate(CUT), "the Lesson's rule label is cut"
            for metric in page.locator('[data-testid="stMetricLabel"]').all():
                assert not metric.evaluate(CUT), f"metric label cut: {metric.inner_text()}"

            live_chart = page.locator(".js-plotly-plot").nth(1)
            legend, axis_title = live_chart.locator(".legend"), live_chart.locator(".xtitle")
            expect(axis_title).to_have_text("UTC")
            assert not page.evaluate(OVERLAP, [legend.element_handle(), axis_title.element_handle()]), \
                "the live chart's legend covers its UTC axis title"

            header.scroll_into_view_if_needed()
            shot = tmp_path / "screenshot-demo.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("UPDATE_SCREENSHOT") == "1":
                (ROOT / "docs" / "screenshot-demo.png").write_bytes(shot.read_bytes())
        finally:
            browser.close()
