"""Masking and connecting against an SSL-only server with a scram password full of URL special characters:
the CLI's table, JSON, errors and the history file never show 3 characters of the password; the CA file is
given as ``sslrootcert=`` in the URL. Uses the Debian PostgreSQL with SSL of tests/test_reproduce_ssl.py."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import require_binary
from test_reproduce_ssl import DEBIAN_BINARIES, TlsServer

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parent.parent
# No 3 characters of it may occur in what the tools write anyway: "Rn Tc" failed on the history file's
# schema ("application_name TEXT"), the masking being right.
PASSWORD = "Qx@Zv:Wk/Jy?Fh#Gm%Pb&Rq Xc'Ld\"Zq"
ROLE = "pp monitor"  # a name that needs quoting


def grams(secret: str) -> set[str]:
    return {secret[i: i + 3] for i in range(len(secret) - 2)}


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        found = [g for g in grams(PASSWORD) if g in text]
        assert not found, (found, text)


@pytest.fixture(scope="module")
def scram_ssl_server():
    require_binary("openssl", "openssl")
    require_binary(f"{DEBIAN_BINARIES[-1]}/postgres" if DEBIAN_BINARIES else "/usr/lib/postgresql/15/bin/postgres",
                   "postgresql")
    server = TlsServer(DEBIAN_BINARIES[-1])
    try:
        escaped = PASSWORD.replace("'", "''")
        subprocess.run(
            [str(server.bin / "psql"), "-h", str(server.root), "-p", str(server.port), "-U", "postgres", "-qAtc",
             f"SET password_encryption = 'scram-sha-256'; CREATE ROLE \"{ROLE}\" LOGIN PASSWORD '{escaped}'; "
             f"GRANT pg_monitor TO \"{ROLE}\";"],
            check=True, capture_output=True, timeout=30,
        )
        hba = server.data / "pg_hba.conf"
        hba.write_text("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
                       "hostnossl all all 127.0.0.1/32 reject\n")
        server._chown(hba)
        server._run("pg_ctl", "-D", str(server.data), "reload")
        yield server
    finally:
        server.destroy()


def url(server: TlsServer, password: str = PASSWORD, *, encode: bool = True, **query: str) -> str:
    secret = quote(password, safe="") if encode else password
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return f"postgresql://{quote(ROLE)}:{secret}@127.0.0.1:{server.port}/postgres" + (f"?{extra}" if extra else "")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard.live", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=90, env={**os.environ, **(env or {})})


def test_sample_over_verified_tls_with_a_scram_password_shows_no_part_of_it(scram_ssl_server):
    ca = scram_ssl_server.root / "server.crt"
    for extra in ((), ("--json",)):
        done = cli("sample", "--url", url(scram_ssl_server, sslmode="verify-ca", sslrootcert=str(ca)), *extra)
        assert done.returncode in (0, 1), done.stderr
        assert_no_leak(done.stdout, done.stderr)
    assert '"status": "ok"' in done.stdout and "pp monitor" in done.stdout


@pytest.mark.parametrize(("query", "status"), [
    ({"sslmode": "disable"}, "ssl"),  # the server is SSL-only
    ({"sslmode": "verify-full"}, "ssl"),  # no CA file anywhere
])
def test_refused_tls_set_ups_are_ssl_faults_without_the_password(scram_ssl_server, tmp_path, query, status):
    done = cli("sample", "--json", "--url", url(scram_ssl_server, **query), env={"HOME": str(tmp_path)})
    assert done.returncode == 2
    assert f'"status": "{status}"' in done.stdout, done.stdout
    assert_no_leak(done.stdout, done.stderr)


@pytest.mark.parametrize("encode", [True, False])
def test_a_wrong_or_unencoded_password_fails_without_showing_it(scram_ssl_server, encode):
    wrong = PASSWORD[::-1]
    done = cli("sample", "--json", "--url", url(scram_ssl_server, wrong if encode else PASSWORD, encode=encode,
                                                     sslmode="require"))
    assert done.returncode == 2
    assert_no_leak(done.stdout, done.stderr)
    assert not [g for g in grams(wrong) if g in done.stdout + done.stderr]


def test_record_keeps_the_password_out_of_its_output_and_the_history_file(scram_ssl_server, tmp_path):
    good = url(scram_ssl_server, sslmode="require")
    bad = url(scram_ssl_server, PASSWORD[:-1], sslmode="require")  # wrong: a scram auth failure every sample
    done = cli("record", "--url", f"good={good}", "--url", f"bad={bad}", "--interval", "0.3", "--duration", "2",
               "--data", str(tmp_path))
    assert_no_leak(done.stdout, done.stderr)
    assert "good: ok" in done.stdout and "bad: auth" in done.stdout, done.stdout + done.stderr
    raw = (tmp_path / "history.sqlite").read_bytes().decode("latin-1")
    assert_no_leak(raw)
    with sqlite3.connect(tmp_path / "history.sqlite") as conn:
        errors = [row[0] for row in conn.execute("SELECT error FROM sample WHERE error IS NOT NULL")]
    assert errors and all(not [g for g in grams(PASSWORD) if g in e] for e in errors)
