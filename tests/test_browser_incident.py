"""The incident section in a real browser: ``streamlit run`` headless against the test server, Debian's
Chromium, and a real lock chain (an idle-in-transaction billing-worker, two reconcile-cron waiters): the
blocking tree shows the blocker above its two waiters, with its count. A screenshot goes into the test's
folder, and over docs/incident.png only when UPDATE_SCREENSHOT=1."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import require_binary
from incident_support import lock_chain
from test_browser import CHROMIUM, CHROMIUM_ARGS, dashboard  # noqa: F401 - the fixture that runs streamlit

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def chain(pg_url):
    with lock_chain(pg_url) as made:
        yield made


def test_browser_shows_the_blocking_tree(chain, dashboard, tmp_path):  # noqa: F811 - pytest fixture
    require_binary(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    first, second = chain.waiter_pids
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 3600})
            page.goto(dashboard)
            expect(page.get_by_text("Incident: sessions and who blocks whom")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("primary: blocking tree")).to_be_visible(timeout=30_000)
            # st.dataframe draws on a canvas; its accessible grid (role=grid, rows of gridcells) holds the text
            tree = page.locator('[data-testid="stDataFrame"]').filter(has_text="longest_wait_s")
            expect(tree.first).to_be_attached(timeout=90_000)

            def rows() -> list[list[str]]:
                return tree.last.locator('[role="row"]').evaluate_all(
                    "rows => rows.map(r => [...r.querySelectorAll('[role=gridcell], [role=columnheader]')]"
                    ".map(c => c.textContent.trim()))")

            deadline = time.monotonic() + 60
            while not any(str(chain.blocker_pid) in row for row in rows()):
                assert time.monotonic() < deadline, rows()
                time.sleep(0.5)
            table = rows()
            header = table[0]
            by_pid = {row[header.index("pid")]: row for row in table[1:]}
            blocker, w1, w2 = (by_pid[str(pid)] for pid in (chain.blocker_pid, first, second))
            column = header.index
            assert (blocker[column("tree")], blocker[column("application_name")], blocker[column("state")],
                    blocker[column("blocks")]) == (str(chain.blocker_pid), "billing-worker", "idle in transaction", "2")
            assert (w1[column("tree")], w1[column("application_name")], w1[column("blocks")]) == (
                f"└── {first}", "reconcile-cron", "1")
            assert (w2[column("tree")].strip(), w2[column("blocks")]) == (f"└── {second}", "0")
            shot = tmp_path / "incident.png"
            heading = page.get_by_text("Incident: sessions and who blocks whom")
            heading.scroll_into_view_if_needed()
            box = heading.bounding_box()
            page.screenshot(path=str(shot), clip={"x": 0, "y": box["y"] - 20, "width": 1500, "height": 700})
            assert shot.stat().st_size > 10_000
            if os.environ.get("UPDATE_SCREENSHOT") == "1":
                (ROOT / "docs" / "incident.png").write_bytes(shot.read_bytes())
        finally:
            browser.close()
