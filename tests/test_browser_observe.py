"""The "Observed" panel on the zero-config demo, in Debian's Chromium: the demo's instrumented workers are
observed (rate and hold from their probes), and "Use measured workload" fills the sidebar's workload inputs
(requests per second and hold per request) with the measured numbers."""

from __future__ import annotations

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS
from test_browser_probe import demo_dashboard  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]


def test_use_measured_workload_on_the_demo(demo_dashboard, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(demo_dashboard)
            expect(page.get_by_role("heading", name="Observed")).to_be_visible(timeout=180_000)
            panel = page.locator('[class*="st-key-observed_"]').filter(has_text="rate and hold from probe").first
            expect(panel).to_be_visible(timeout=120_000)
            expect(panel.locator('[data-testid="stDataFrame"]').first).to_be_visible()
            rps = page.locator(".st-key-rps input")
            hold = page.locator(".st-key-hold_ms input")
            before = (rps.input_value(), hold.input_value())
            panel.get_by_role("button", name="Use measured workload").click()
            expect(rps).not_to_have_value(before[0], timeout=30_000)
            expect(hold).not_to_have_value(before[1], timeout=30_000)
            measured_rps, measured_hold = float(rps.input_value()), float(hold.input_value())
            assert 0 < measured_rps < 5000 and 0 < measured_hold < 1000
            page.screenshot(path=str(tmp_path / "observed.png"))
        finally:
            browser.close()
