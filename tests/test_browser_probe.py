"""The joined view on the zero-config demo, in Debian's Chromium: every demo worker's probe is collected, the
section shows a verdict line per service with its evidence and a chart of both ends; the connection storm
turns the verdict away from "fine" with waiters or timeouts in the application pool while the server is full.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import require_binary
from test_browser import CHROMIUM, CHROMIUM_ARGS, free_port

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo_dashboard(tmp_path):
    require_binary(CHROMIUM, "chromium")
    port = free_port()
    env = {**os.environ, "POOL_PLANNER_DATA": str(tmp_path)}
    for name in ("DATABASE_URL", "REPLICA_DATABASE_URL", "POOL_PLANNER_PROBES"):
        env.pop(name, None)
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "streamlit did not become healthy in 60 s"
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()  # the dashboard stops its demo (workers, embedded server) at exit
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


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
