"""Several services on the page, in Debian's Chromium, against a real workload on PostgreSQL 16: a primary
(max_connections 40) and its real streaming standby (50), the plan file of tests/services_live_kit.py in
``POOL_PLANNER_PLAN``.

Split by application_name, each server's chart draws one series per service (orders-1, orders-2 and orders summed
into ``orders``) with the service's own steady, peak and rollout-peak lines, and the client no service names as
its own series; the headline attributes the connections; the standby's live max_connections goes to its own plan
entry (no plan-differs-from-server for it); three more unplanned connections raise ``unplanned-clients``. The
screenshot is kept in the test's folder (and over docs/screenshot-services.png with UPDATE_SCREENSHOT=1).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
from collector_kit import connections
from conftest import require_binary
from services_live_kit import primary_and_standby, workload, write_plan
from streamlit_proc import HEADLESS, streamlit_run
from test_page_serving import APP, CHROMIUM, CHROMIUM_ARGS, env_for

from planner.text import WORD_JOINER

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def legend_of(page, title: str):
    """The legend entries of the live chart titled ``title`` (one per server when there are several)."""
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text=title))
    return chart.locator(".legendtext")


def choose(radio, timeout_s: float = 90.0) -> None:
    """Click a segmented control's option until it is the chosen one (the live panel redraws every 2 s; on a
    loaded machine one click can time out while the fragment lays the page out again)."""
    deadline = time.monotonic() + timeout_s
    while radio.get_attribute("aria-checked") != "true":
        assert time.monotonic() < deadline, "the option never got chosen"
        with contextlib.suppress(Exception):
            radio.click(timeout=10_000)
        time.sleep(0.5)


def test_per_service_plan_lines_and_unplanned_clients_in_chromium(tmp_path):
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    plan_path = write_plan(tmp_path / "services.toml", replica_max=100)  # the standby runs with 50
    with primary_and_standby() as (primary, standby), workload(primary.url(), unplanned=3), \
            connections(standby.url(), 2, "search-1"):
        env = {**env_for(primary.url(), tmp_path), "REPLICA_DATABASE_URL": standby.url(),
               "POOL_PLANNER_PLAN": str(plan_path)}
        with streamlit_run(APP, ROOT, env, *HEADLESS, log_dir=tmp_path) as (port, _), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 2600})
                page.goto(f"http://127.0.0.1:{port}/?by=application_name")  # the link's split (dashboard.urlstate)
                attribution = page.get_by_text("By service: orders 5, billing 2, search 0 · unplanned 3 (t-cron 3)")
                expect(attribution).to_be_visible(timeout=90_000)
                expect(page.get_by_text("By service: orders 0, billing 0, search 2")).to_be_visible(timeout=60_000)
                choose(page.get_by_role("radio", name="application_name"))  # chosen by the link already

                primary_legend = legend_of(page, "primary")
                for name in ("orders", "billing", "unplanned: t-cron", "orders · steady 16", "orders · peak 24",
                             "orders · rollout peak 30", "billing · steady 2", "billing · peak 2"):
                    expect(primary_legend.filter(has_text=name).first).to_be_visible(timeout=30_000)
                texts = [t.replace(WORD_JOINER, "") for t in primary_legend.all_text_contents()]
                assert not [t for t in texts if t.startswith("orders-")], texts  # the suffixes folded into orders
                assert "search" not in texts  # search connects to the replica only
                replica_legend = legend_of(page, "replica")
                for name in ("search", "search · steady 2", "search · peak 2"):
                    expect(replica_legend.filter(has_text=name).first).to_be_visible(timeout=30_000)

                # each server's own live limits to its own entry: the primary's to the sidebar, the standby's 50
                # (not the primary's 40, not the file's 100) to the plan's replica: nothing differs on either
                button = page.get_by_role("button", name="Use the live server's limits")
                if not button.count():  # a plan file's page judged before the first sample: the button comes with a
                    page.reload()       # full run that has one (a reload is one)
                    expect(attribution).to_be_visible(timeout=90_000)
                    choose(page.get_by_role("radio", name="application_name"))
                button.click(timeout=60_000)
                expect(page.get_by_role("spinbutton", name="max_connections").first).to_have_value("40")
                pitfalls = page.locator('[data-testid="stExpander"]')
                expect(pitfalls.filter(has_text="plan-differs-from-server")).to_have_count(0, timeout=30_000)
                expect(pitfalls.filter(has_text="connection-leak")).to_have_count(0)

                with connections(primary.url(), 3, "t-cron"):  # 6 unplanned: 32 + 6 + 1 > 37 slots
                    finding = pitfalls.filter(has_text="unplanned-clients")
                    expect(finding.first).to_be_visible(timeout=60_000)
                    expect(primary_legend.filter(has_text="unplanned: t-cron").first).to_be_visible()
                    time.sleep(4)  # a few live refreshes, so the unplanned series shows its step
                    finding.first.click()
                    shown = " ".join(finding.first.locator('[data-testid="stMarkdownContainer"]').all_inner_texts())
                    shown = shown.replace(WORD_JOINER, "")
                    assert "('t-cron' 6) > the plan's other_clients 2: the services' planned rollout peak 32" in shown
                    assert "= 39 > 37 slots for ordinary roles" in shown, shown
                    shot = tmp_path / "services.png"
                    page.screenshot(path=str(shot), full_page=True)
                    assert shot.stat().st_size > 10_000
                    for server in ("primary", "replica"):  # the live charts themselves, one picture each
                        chart = page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text=server))
                        picture = tmp_path / f"services-{server}.png"
                        for _ in range(5):  # the live panel redraws every 2 s: a chart can be replaced mid-shot
                            with contextlib.suppress(Exception):
                                chart.first.screenshot(path=str(picture), timeout=15_000)
                                break
                        assert picture.exists() and picture.stat().st_size > 5_000
                    if os.environ.get("UPDATE_SCREENSHOT") == "1":
                        (ROOT / "docs" / "screenshot-services.png").write_bytes(shot.read_bytes())
                expect(pitfalls.filter(has_text="unplanned-clients")).to_have_count(0, timeout=60_000)
            finally:
                browser.close()
