"""Faults, each created for real on a throwaway PostgreSQL 16 (tests/pgcluster.py) and then observed:
wrong password (scram over TCP), SSL required / refused, no slots left, nothing listening, and URLs that
cannot be used. Every one is a Snapshot with a status and one clear line, password masked, never a raise."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pgcluster import Cluster, free_port
from test_sampler_support import Sessions, unique_name, with_user

from dashboard.live import sample_once
from dashboard.live.db import ServerFault, classify, mask_url, monitor_url

SECRET = "s3cret-Pa55"
WRONG = "wrong-Pa55-xyz"


def write_hba(cluster: Cluster, lines: list[str]) -> None:
    (cluster.pgdata / "pg_hba.conf").write_text("\n".join(["local all all trust", *lines]) + "\n")


@pytest.fixture(scope="module")
def scram_cluster():
    cluster = Cluster()
    write_hba(cluster, ["hostnossl tlsonly all 127.0.0.1/32 reject", "host all postgres 127.0.0.1/32 trust",
                        "host all all 127.0.0.1/32 scram-sha-256"])
    cluster.start()
    cluster.psql(f"CREATE ROLE app LOGIN PASSWORD '{SECRET}'")
    yield cluster
    cluster.destroy()


@pytest.mark.db
def test_wrong_password_is_auth_with_the_servers_words_and_no_password(scram_cluster):
    url = with_user(scram_cluster.url(), "app", WRONG)
    snap = sample_once(url, timeout_s=5)
    assert (snap.status, snap.sqlstate, snap.error) == (
        "auth", "28P01", 'password authentication failed for user "app"'
    )
    assert snap.groups == () and snap.total is None and snap.settings is None
    assert sample_once(with_user(scram_cluster.url(), "app", SECRET)).status == "ok"


@pytest.mark.db
def test_no_slots_left_is_refused_with_the_servers_words():
    with Cluster({"max_connections": 5, "superuser_reserved_connections": 2}) as cluster:
        cluster.psql("CREATE ROLE app LOGIN")
        app_url = with_user(cluster.url(), "app")

        async def scenario():
            async with Sessions(app_url, unique_name("t-fill")) as sessions:
                await sessions.idle(3)  # 5 - 2 reserved: every slot a plain role may use
                reserved = await asyncio.to_thread(sample_once, app_url, timeout_s=5)
                admin = Sessions(cluster.url(), unique_name("t-fill-su"))
                async with admin:
                    await admin.idle(2)  # and the superuser slots too
                    full = await asyncio.to_thread(sample_once, cluster.url(), timeout_s=5)
            return reserved, full

        reserved, full = asyncio.run(scenario())
    assert (reserved.status, reserved.sqlstate, reserved.error) == (
        "refused", "53300",
        "the server refused the connection for lack of slots: remaining connection slots are reserved for roles "
        "with the SUPERUSER attribute",
    )
    assert (full.status, full.sqlstate, full.error) == (
        "refused", "53300", "the server refused the connection for lack of slots: sorry, too many clients already"
    )


@pytest.mark.db
def test_nothing_listening_is_unreachable_quickly():
    port = free_port()
    snap = sample_once(f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:{port}/postgres", timeout_s=2)
    assert (snap.status, snap.error) == (
        "unreachable", f"connection refused by 127.0.0.1:{port} (is the server running?)"
    )


@pytest.mark.db
def test_ssl_required_and_ssl_refused_are_one_clear_line_each(scram_cluster):
    # pgserver's PostgreSQL is built without SSL, so TLS itself cannot be negotiated here; what can be created
    # is a server that rejects plain connections (pg_hba hostnossl ... reject) and one that refuses TLS.
    required = sample_once(scram_cluster.url(database="tlsonly"))
    assert (required.status, required.sqlstate, required.error) == (
        "ssl", "28000",
        'the server requires TLS for this connection: pg_hba.conf rejects connection for host "127.0.0.1", '
        'user "postgres", database "tlsonly", no encryption',
    )
    no_tls = sample_once(scram_cluster.url(sslmode="require"))  # libpq spelling, translated to ssl=require
    where = f"127.0.0.1:{scram_cluster.port}"
    assert (no_tls.status, no_tls.error) == (
        "ssl", f'TLS problem with {where}: PostgreSQL server at "{where}" rejected SSL upgrade'
    )


KNOWN = "direct_tls, gsslib, host, krbsrvname, passfile, password, port, prepared_statement_cache_size, ssl, " \
    "sslmode, sslrootcert, target_session_attrs"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "no database URL given (use --url or DATABASE_URL)"),
        ("not a url",
         "cannot parse the database URL 'not a url': Could not parse SQLAlchemy URL from given URL string"),
        (f"mysql://u:{SECRET}@h/db",
         "not a PostgreSQL URL: 'mysql://u:***@h/db' (expected postgresql+asyncpg://user:password@host/db)"),
        (f"postgresql://u:{SECRET}@h:port/db",
         "cannot parse the database URL 'postgresql://u:***@h:port/db': the port must be a number"),
        (f"postgresql://u:{SECRET}@h/db?statement_cache_size=0",
         f"URL parameter 'statement_cache_size' is not understood by asyncpg (known: {KNOWN})"),
    ],
)
def test_unusable_urls_are_bad_url_with_the_password_masked(url, expected):
    snap = sample_once(url)
    assert (snap.status, snap.error, snap.groups, snap.total) == ("bad-url", expected, (), None)
    assert SECRET not in snap.error


def test_libpq_spellings_become_asyncpg_ones():
    url = monitor_url(f"postgres://u:{SECRET}@db.example:6000/app?sslmode=verify-full&application_name=x")
    assert (url.drivername, url.host, url.port, url.database, dict(url.query)) == (
        "postgresql+asyncpg", "db.example", 6000, "app", {"ssl": "verify-full"}
    )
    assert mask_url(f"postgresql://u:{SECRET}@h/db?password={SECRET}") == "postgresql://u:***@h/db?password=***"
    assert mask_url(f"bad://u:{SECRET}@h:x/db") == "bad://u:***@h:x/db"


@given(password=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="@/?#:%"),
                        min_size=4, max_size=30))
def test_a_password_echoed_in_any_error_is_masked(password):
    url = monitor_url(f"postgresql+asyncpg://u:{password}@h/db")
    fault = classify(RuntimeError(f"driver said: bad credentials {password} for u"), url=url)
    assert password not in fault.message and "***" in fault.message
    assert fault.status == "error"
    assert classify(fault) is fault  # already a ServerFault: unchanged


def test_classify_timeouts_and_lost_connections():
    url = monitor_url("postgresql://u@db.example:6000/app")
    assert (classify(TimeoutError(), url=url, timeout_s=2).status,
            classify(TimeoutError(), url=url, timeout_s=2).message) == (
        "unreachable", "no answer from db.example:6000 within 2 s"
    )
    lost = classify(ConnectionResetError("reset by peer"), url=url)
    assert (lost.status, lost.message) == (
        "unreachable",
        "connection to db.example:6000 lost (backend terminated, server restarting or network cut): reset by peer",
    )
    assert isinstance(lost, ServerFault)
