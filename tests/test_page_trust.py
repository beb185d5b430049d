"""The page against hostile names and before its first sample, through Streamlit's AppTest on real servers.

- Clients on a real PostgreSQL 16 (max_connections 20) pick application names and a role name that are
  Markdown/HTML attacks; every Markdown element of the page (banners, captions, expander labels, pitfall
  evidence) renders them as text (markdown-it, GFM-like with linkify: no link, no image, no emphasis) and the
  live chart's legend carries them with plotly's tags escaped.
- Before the server's first sample the page judges nothing (no "SAFE · headroom 67" for the sidebar defaults):
  it says it waits, and why (status and the server's escaped error); once the server answers, its
  max_connections 20 is applied without a click.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from markdown_it import MarkdownIt
from mdtext import plain
from pgcluster import Cluster
from polling import wait_until as poll
from psycopg import sql
from streamlit.testing.v1 import AppTest

pytestmark = [pytest.mark.db]
APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
HOSTILE_APPS = [
    "[x](http://127.0.0.1:1/a) **b** $x$",
    "![i](http://127.0.0.1:1/i.png)",
    "<img src=http://127.0.0.1:1/x>",
    "<a href=http://127.0.0.1:1/l>l</a> %{y}",
    "www.evil.example a@b.co :red[c] :smile:",
]
HOSTILE_ROLE = "[r](http://127.0.0.1:1/r)"
RENDERER = MarkdownIt("gfm-like")
LINK_OR_IMAGE = re.compile(r"<(a|img|script|iframe|svg)\b", re.I)


def markdown_sources(at: AppTest) -> list[str]:
    """Every string the page hands to Streamlit's Markdown renderer."""
    out = [e.value for kind in ("markdown", "caption", "warning", "error", "info", "success") for e in at.get(kind)]
    out += [e.label for e in at.expander] + [m.label for m in at.metric]
    return out


CODE_SPAN = re.compile(r"(`+) .*? \1")


def assert_no_markup_from(at: AppTest, names: list[str]) -> str:
    """No hostile name verbatim in any Markdown source, and no source renders a link or an image (markdown-it,
    GFM-like with linkify); returns the page's visible text."""
    seen = []
    for source in markdown_sources(at):
        outside_code = CODE_SPAN.sub("", source)  # a code span (planner.text.md_code) is literal text
        for name in names:
            assert name not in outside_code, (name, source)
        rendered = RENDERER.render(source)
        assert not LINK_OR_IMAGE.search(rendered), (source, rendered)
        seen.append(plain(source))
    return "\n".join(seen)


def wait_until(at: AppTest, done, timeout: float = 40.0, what: str = "") -> None:
    """Rerun the page until ``done(at)``: the page samples in its own time."""
    def rerun_done() -> bool:
        if done(at):
            return True
        at.run()
        assert not at.exception, at.exception
        return done(at)

    poll(rerun_done, timeout_s=timeout, step_s=0.5, what=what)


@pytest.fixture(scope="module")
def small_server():
    cluster = Cluster({"max_connections": 20, "superuser_reserved_connections": 3}).start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def hold_hostile_clients(cluster: Cluster) -> list[psycopg.Connection]:
    """14 client connections (+ the monitor: 15 of 17 usable, 88%: too-many-connections lists the largest
    applications), each hostile application name three times, one session as a hostile role idle in a
    transaction."""
    cluster.psql(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(HOSTILE_ROLE)).as_string(None))
    conns = []
    for i in range(13):
        conns.append(psycopg.connect(host=cluster.host, port=cluster.port, user="postgres", dbname="postgres",
                                     application_name=HOSTILE_APPS[i % len(HOSTILE_APPS)]))
    leak = psycopg.connect(host=cluster.host, port=cluster.port, user=HOSTILE_ROLE, dbname="postgres",
                           application_name=HOSTILE_APPS[0])
    leak.execute("SELECT 1")  # idle in transaction from here on (psycopg opens a transaction)
    return [*conns, leak]


def test_hostile_names_are_text_everywhere_on_the_page(small_server, tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    conns = hold_hostile_clients(small_server)
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets["DATABASE_URL"] = small_server.url()
        at.run()
        wait_until(at, lambda a: any("too-many-connections" in e.label for e in a.expander), what="the finding")
        at.button_group(key="split_by").set_value("application_name").run()
        text = assert_no_markup_from(at, [*HOSTILE_APPS, HOSTILE_ROLE])
        evidence = next(t for t in text.splitlines() if t.startswith("**Evidence:**") and "largest" in t)
        assert "'[x](http://127.0.0.1:1/a) **b** $x$' 4" in evidence  # shown, as text, with its count
        # the snippet names the hostile role as one quoted identifier
        code = "\n".join(c.value for c in at.code)
        assert 'ALTER ROLE "[r](http://127.0.0.1:1/r)" SET idle_in_transaction_session_timeout' in code
        # the live chart: legend names escaped for plotly, never inside a hovertemplate
        figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        traces = [t for fig in figures for t in fig["data"] if t.get("type") == "scatter"]
        names = {t.get("name") for t in traces}
        assert "&lt;img src=http://127.0.0.1:1/x&gt;" in names
        assert not any("<" in (n or "") for n in names)
        assert not any(app in t.get("hovertemplate", "") for t in traces for app in HOSTILE_APPS)
        # the latest table shows the names as data (st.dataframe renders cells as text)
        table = next(d.value for d in at.dataframe if "application_name" in d.value.columns)
        assert set(HOSTILE_APPS) <= set(table["application_name"])
    finally:
        for conn in conns:
            conn.close()
        small_server.psql(sql.SQL("DROP ROLE {}").format(sql.Identifier(HOSTILE_ROLE)).as_string(None))


def test_no_verdict_before_the_first_sample_then_the_servers_limits(tmp_path, monkeypatch):
    """A server that is down when the page opens: the page waits (with the server's status), judges nothing;
    when it comes up, its max_connections 20 replaces the sidebar's default 100 without a click."""
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    cluster = Cluster({"max_connections": 20})  # initialised, not started yet
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets["DATABASE_URL"] = cluster.url()
        at.run()
        # the waiting notice itself: the live headline's own "unreachable" warning can come a run earlier (the
        # status changes between the two in one run)
        wait_until(at, lambda a: "**primary** is unreachable" in plain(" ".join(w.value for w in a.warning)),
                   what="the server's status in the waiting notice")
        assert not at.metric and not at.success and not at.get("download_button")
        assert not any("headroom" in e.value for e in [*at.success, *at.warning, *at.error])
        info = plain(" ".join(i.value for i in at.info))
        assert "Waiting for the first sample of primary" in info
        problem = plain(" ".join(w.value for w in at.warning))
        assert "**primary** is unreachable: connection refused" in problem, problem
        assert at.session_state["max_connections"] == 100  # the default, untouched and unjudged
        cluster.start()
        wait_until(at, lambda a: bool(a.metric), what="the verdict after the first sample")
        assert at.session_state["max_connections"] == 20
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Usable slots"] == "17"  # 20 - 3 superuser_reserved, from the server
        assert not any("headroom 67" in e.value for e in [*at.success, *at.warning, *at.error])
    finally:
        cluster.destroy()


def test_server_error_text_is_escaped_while_waiting(small_server, tmp_path, monkeypatch):
    """The server's own error (an unknown database whose name is Markdown) reaches the waiting notice and the
    live headline as text."""
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    database = "![d](http://127.0.0.1:1/d.png)"
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = small_server.url(database="%21%5Bd%5D%28http%3A%2F%2F127.0.0.1%3A1%2Fd.png%29")
    at.run()
    wait_until(at, lambda a: any(database in plain(w.value) for w in a.warning), what="the error")
    assert_no_markup_from(at, [database])
    assert not at.metric


@pytest.mark.parametrize("breakage", ["data folder is a file", "history file is not SQLite"])
def test_a_broken_history_store_is_a_notice_and_the_page_works(small_server, tmp_path, monkeypatch, breakage):
    """The store cannot be opened: the page says so (or the store recovers on its own) and everything else
    works: the verdict from the server's limits, the live headline, no traceback."""
    from dashboard import state

    # a set of servers of its own per case: the process-wide cached store and monitor are not shared
    url = small_server.url(application_name="broken-" + breakage.split()[1])
    if breakage == "data folder is a file":
        data = tmp_path / "not-a-folder"
        data.write_text("a file where the data folder should be")
    else:
        data = tmp_path / "data"
        data.mkdir()
    monkeypatch.setenv("POOL_PLANNER_DATA", str(data))
    if breakage == "history file is not SQLite":
        state.history_path({state.PRIMARY: url}).write_bytes(b"not a database " * 100)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = url
    at.run()
    assert not at.exception
    wait_until(at, lambda a: bool(a.metric), what="the verdict")
    wait_until(at, lambda a: any("client connections at" in m.value for m in a.markdown), what="a live sample")
    notices = [plain(w.value) for w in at.warning if "History store" in w.value]
    if breakage == "data folder is a file":
        assert notices and "cannot write" in notices[0] and "kept in memory only" in notices[0]
    else:  # shown as a notice, or moved aside by the store: never overwritten
        garbage = b"not a database " * 100
        assert any(f.read_bytes() == garbage for f in data.iterdir() if f.is_file())
        path = state.history_path({state.PRIMARY: url})
        assert notices or not path.exists() or path.read_bytes() != garbage
    assert {m.label: m.value for m in at.metric}["Usable slots"] == "17"
