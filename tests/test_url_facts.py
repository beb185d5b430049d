"""Each URL is parsed once into typed facts (planner.dsn.url_facts), however many snippets and rules read it."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

import pytest

from planner import dsn
from planner.export import FORMATS, export
from planner.model import InputError
from planner.plan_io import load_plan
from planner.rules import static_findings

URL = "postgresql+asyncpg://app:s3cret@pgbouncer:6432/orders?ssl=require"


def test_url_facts_are_typed():
    facts = dsn.url_facts(URL)
    assert (facts.backend, facts.driver, facts.host, facts.port, facts.database) == (
        "postgresql", "asyncpg", "pgbouncer", 6432, "orders")
    assert facts.ssl and facts.pooler and facts.query_keys == frozenset({"ssl"})
    plain = dsn.url_facts("postgresql+psycopg://app@db/app")
    assert (plain.driver, plain.port, plain.ssl, plain.pooler) == ("psycopg", None, False, False)


def test_a_bad_url_is_still_one_input_error_with_the_password_masked():
    with pytest.raises(InputError, match=r"url: the port must be a number") as err:
        dsn.url_facts("postgresql+asyncpg://app:s3cret@db:port/app")
    assert "s3cret" not in str(err.value)


def test_every_export_and_the_findings_parse_each_url_once():
    plan = load_plan(Path(__file__).resolve().parent.parent / "examples" / "plan.toml")
    urls = {e.url for e in plan.engines if e.url}
    dsn._parse.cache_clear()
    static_findings(plan)
    for fmt in FORMATS:
        with suppress(InputError):  # pgbouncer.ini needs a [pgbouncer] section
            export(plan, fmt)
    info = dsn._parse.cache_info()
    assert info.misses == len(urls) and info.hits > 0
