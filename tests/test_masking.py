"""Password masking that cannot leak: whatever the URL, no run of 3 or more characters of the password appears
in anything shown (planner.dsn.mask_url, parse/URL errors, check_url findings, the monitor's faults, driver
errors). Property tests over the full printable range, unencoded ``@ : / ? # %`` included."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from dashboard.live import db
from dashboard.live.monitor import Monitor
from planner.dsn import check_url, mask_url, parse_url, scrub
from planner.model import InputError

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
UNICODE = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
PASSWORDS = st.text(PRINTABLE, min_size=3, max_size=40) | st.text(UNICODE, min_size=3, max_size=25)


def leaks(password: str, shown: str, baseline: str = "") -> list[str]:
    """Runs of >= 3 characters of the password found in ``shown``, except runs of '*' (the mask itself) and
    runs that the same text holds for a plain password (``baseline``: fixed prose such as "create_async_engine"
    or the host name, which do not depend on the password)."""
    found = []
    for size in range(3, len(password) + 1):
        for i in range(len(password) - size + 1):
            part = password[i: i + size]
            if part.strip("*") and part in shown and part not in baseline:
                found.append(part)
    return found


def _libpq_quote(password: str) -> str:
    return "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"


def url_forms(password: str) -> list[str]:
    return [
        f"postgresql+asyncpg://app:{password}@db.internal:5432/orders",
        f"postgresql+asyncpg://app:{quote(password, safe='')}@db.internal/orders?ssl=require",
        f"postgresql://app@db.internal/orders?sslmode=require&password={password}",
        f"postgresql://app@db.internal/orders?password={quote(password, safe='')}&sslmode=require",
        f"host=db.internal user=app password={_libpq_quote(password)} dbname=orders",
        f"postgres ql://app:{password}@db.internal/orders",
        f"postgresql+asyncpg://app:{password}@db.internal:port/orders",
    ]


def everything_shown(url: str) -> list[str]:
    """Every text the project derives from a URL for a human: masks, errors, findings, faults."""
    shown = [mask_url(url)]
    try:  # (mask_url of an already-parsed URL cannot know what a lossy parse dropped: callers mask the text)
        parsed = make_url(url)
    except Exception:
        parsed = None
    try:
        for finding in check_url(url, engine="primary"):
            shown += [finding.message, finding.fix, finding.snippet]
    except InputError as err:
        shown.append(str(err))
    try:
        parse_url(url)
    except InputError as err:
        shown.append(str(err))
    try:
        monitor_url = db.monitor_url(url)
    except db.ServerFault as fault:
        shown.append(fault.message)
        monitor_url = None
    echoed = OSError(f"could not connect with {url} / {parsed!r} / {getattr(parsed, 'password', '')}")
    shown.append(db.classify(echoed, url=monitor_url, raw_url=url).message)
    return shown


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PASSWORDS)
@example("p@ssword123")
@example("a:b/c?d#e%f@g")
@example("x&sslmode=disable")
@example("%40%3A%2F")
@example("***secret***")
@example("db.internal")
def test_no_three_characters_of_the_password_are_ever_shown(password):
    for url, plain in zip(url_forms(password), url_forms("Zq9"), strict=True):
        baseline = "\n".join(everything_shown(plain))
        for text in everything_shown(url):
            assert not leaks(password, text, baseline), (url, text)


def test_the_issue_example_no_longer_shows_the_tail():
    assert mask_url("postgresql+asyncpg://u:p@ssword123@host/db") == "postgresql+asyncpg://u:***@host/db"
    assert mask_url(make_url("postgresql+asyncpg://u:p@ssword123@host/db")) == "postgresql+asyncpg://u:***@host/db"


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
    ("postgresql://app@db:5432/app", "postgresql://app@db:5432/app"),
    ("host=db password='a b\\'c' dbname=app", "host=db password=*** dbname=app"),
    ("host=db password=s3cret dbname=app", "host=db password=*** dbname=app"),
])
def test_readable_masks(url, masked):
    assert mask_url(url) == masked


@given(st.text(PRINTABLE, min_size=3, max_size=20), st.text(PRINTABLE, max_size=200))
def test_scrub_removes_every_run_of_three(secret, text):
    out = scrub(text + secret + text, [secret])
    assert not leaks(secret, out)


def test_the_monitor_status_and_the_history_show_the_url_masked(tmp_path):
    url = "postgresql+asyncpg://app:p@ss:w/rd?1#x@127.0.0.1:1/db"
    monitor = Monitor({"db": url}, interval_s=0.2)
    try:
        monitor.start()
        status = monitor.status()["db"]
        assert not leaks("p@ss:w/rd?1#x", status.url + repr(status.as_dict()))
    finally:
        monitor.stop()
