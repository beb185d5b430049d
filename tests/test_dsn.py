"""URL parsing, password masking and the per-driver checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.dsn import check_url, mask_url, parse_url
from planner.model import InputError


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql+asyncpg://app:s3cret@db:5432/app", "postgresql+asyncpg://app:***@db:5432/app"),
    ("postgresql+asyncpg://app@db/app?password=s3cret&ssl=require",
     "postgresql+asyncpg://app@db/app?password=***"),  # to the end: an unencoded & may be the password's
    ("postgresql://app:s3cret@db/app", "postgresql://app:***@db/app"),
    ("sqlite+aiosqlite:///./test.db", "sqlite+aiosqlite:///./test.db"),
    # unparsable: masked by pattern, so an error message can quote it
    ("postgres ql://app:s3cret@db/app?password=x", "postgres ql://app:***@db/app?password=***"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


@given(st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="!$*-_.~"),
               max_size=30))
def test_password_never_survives_masking(tail):
    password = "Zq" + tail  # "Zq" occurs nowhere else in these URLs
    for url in (f"postgresql+asyncpg://app:{password}@db:5432/app",
                f"postgresql+asyncpg://app@db/app?ssl=require&password={password}"):
        assert "Zq" not in mask_url(url)


@pytest.mark.parametrize(("url", "message"), [
    ("nonsense", "url: SQLAlchemy cannot parse it: nonsense"),
    ("postgresql+asyncpg://app:s3cret@db:port/app", "url: the port must be a number: "
                                                     "postgresql+asyncpg://app:***@db:port/app"),
    ("", "url: must be a connection URL such as postgresql+asyncpg://user@host/db, got ''"),
])
def test_unparsable_url_is_an_input_error_with_the_url_masked(url, message):
    with pytest.raises(InputError) as err:
        parse_url(url)
    assert str(err.value) == message and err.value.field == "url"
    assert "s3cret" not in str(err.value)


def ids(url, **kwargs):
    return [(f.id, f.severity) for f in check_url(url, **kwargs)]


def test_asyncpg_sslmode_is_the_typeerror_pitfall():
    [finding] = check_url("postgresql+asyncpg://app:s3cret@db/app?sslmode=require", engine="primary", server="primary")
    assert finding.as_dict() == {
        "id": "asyncpg-ssl",
        "severity": "critical",
        "message": "engine primary: postgresql+asyncpg://app:***@db/app?sslmode=require passes sslmode=require to "
                   "asyncpg, which raises TypeError: connect() got an unexpected keyword argument 'sslmode' at the "
                   "first connect",
        "fix": "replace sslmode=require with ssl=require",
        "snippet": "postgresql+asyncpg://app:***@db/app?ssl=require",
        "server": "primary",
        "service": None,
    }


def test_sslmode_is_fine_for_psycopg_and_ssl_is_fine_for_asyncpg():
    assert ids("postgresql+psycopg://app@db/app?sslmode=require") == []
    assert ids("postgresql+asyncpg://app@db/app?ssl=require") == []


def test_asyncpg_keys_that_fail_as_strings():
    assert ids("postgresql+asyncpg://app@db/app?statement_cache_size=0&application_name=x") == [
        ("asyncpg-url-param", "critical"), ("asyncpg-url-param", "critical")]


def test_sync_drivers_and_implicit_driver():
    assert ids("postgresql+psycopg2://app@db/app") == [("sync-driver", "critical")]
    assert ids("postgresql+pg8000://app@db/app") == [("sync-driver", "critical")]
    assert ids("postgresql://app@db/app") == [("sync-driver", "warning")]
    [finding] = check_url("postgresql+psycopg2://app:pw@db/app")
    assert finding.snippet == "postgresql+asyncpg://app:***@db/app"


def test_sqlite_is_not_postgresql():
    assert ids("sqlite+aiosqlite:///./test.db") == [("not-postgresql", "info")]
    assert ids("sqlite:///./test.db") == [("sync-driver", "critical"), ("not-postgresql", "info")]


def test_pooler_port_or_host_without_cache_settings_is_a_warning_saying_what_to_check():
    [finding] = check_url("postgresql+asyncpg://app@db:6432/app")
    assert finding.id == "prepared-statement-cache" and finding.severity == "warning"
    assert "looks like a connection pooler (port 6432)" in finding.message
    assert "prepared_statement_cache_size and statement_cache_size are not 0" in finding.message
    assert "check the pooler's pool mode, version and max_prepared_statements" in finding.message
    assert '"statement_cache_size": 0' in finding.snippet
    assert ids("postgresql+asyncpg://app@pgbouncer.internal/app?prepared_statement_cache_size=0") == [
        ("prepared-statement-cache", "warning")]  # asyncpg's own cache is still on
    assert ids("postgresql+asyncpg://app@pgbouncer.internal/app?prepared_statement_cache_size=0",
               statement_cache_size=0) == []
    assert ids("postgresql+psycopg://app@x.pooler.supabase.com:6543/app") == [("prepared-statement-cache", "warning")]
    assert ids("postgresql+asyncpg://app@db:6432/app", pgbouncer_declared=True) == []
    assert ids("postgresql+asyncpg://app@db:5432/app") == []


@given(st.text(max_size=80))
def test_any_string_gives_findings_or_an_input_error(text):
    try:
        findings = check_url(text)
    except InputError as err:
        assert err.field == "url"
    else:
        assert all(f.id for f in findings)
