"""asyncpg-ssl, reproduced against a server with SSL on (a self-signed certificate made here with openssl):
libpq's sslmode=require in an asyncpg URL fails at the first connect, ssl=require works; live, an application
that connects without SSL where the plan requires it is found, and clears once it uses ssl=require."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import suppress
from pathlib import Path

import pytest
from conftest import require_binary
from pgcluster import RUN_AS, free_port
from reproduce_kit import app_engine, by_id, clear, fires, poll
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from planner.model import Engine, Plan, Server
from planner.rules.static import static_findings

pytestmark = pytest.mark.db


DEBIAN_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))


class TlsServer:
    """A throwaway PostgreSQL with ssl=on and a self-signed certificate, from Debian's binaries.

    pgserver's PostgreSQL 16 (tests/pgcluster.py) is built without SSL ("FATAL: SSL is not supported by this
    build"), so this one uses the distribution's server, run as the pgserver user when we are root."""

    def __init__(self, bindir: str):
        self.bin = Path(bindir)
        self.root = Path(tempfile.mkdtemp(prefix="pgtls", dir="/tmp"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--encoding=utf8")
        subprocess.run(
            ["openssl", "req", "-new", "-x509", "-days", "1", "-nodes", "-subj", "/CN=127.0.0.1",
             "-newkey", "rsa:2048", "-keyout", "server.key", "-out", "server.crt"],
            cwd=self.root, check=True, capture_output=True,
        )
        for name in ("server.key", "server.crt"):
            shutil.copy(self.root / name, self.data / name)
            (self.data / name).chmod(0o600)  # PostgreSQL refuses a key that others can read
            self._chown(self.data / name)
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c ssl=on -c ssl_cert_file=server.crt " \
                  "-c ssl_key_file=server.key"
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.root / "server.log"), "-o", options, "start")

    def _chown(self, path: Path) -> None:
        if RUN_AS:
            entry = pwd.getpwnam(RUN_AS)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        self._chown(self.root)
        if self.data.exists():
            self._chown(self.data)
        subprocess.run([str(self.bin / program), *args], check=True, capture_output=True, user=RUN_AS, timeout=60)

    def url(self, **query: str) -> str:
        extra = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres" + (f"?{extra}" if extra else "")

    def destroy(self) -> None:
        with suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def tls():
    require_binary("openssl", "openssl")
    require_binary(f"{DEBIAN_BINARIES[-1]}/postgres" if DEBIAN_BINARIES else "/usr/lib/postgresql/15/bin/postgres",
                   "postgresql")
    server = TlsServer(DEBIAN_BINARIES[-1])
    try:
        yield server
    finally:
        server.destroy()


def ssl_plan(shop_url: str, legacy_url: str) -> Plan:
    return Plan(
        servers=(Server(ssl_required=True),),
        engines=(
            Engine(name="primary", application_name="shop", url=shop_url),
            Engine(name="legacy", application_name="legacy", url=legacy_url),
        ),
    )


async def test_sslmode_fails_at_first_connect_and_ssl_works(tls):
    libpq_style = tls.url(sslmode="require")
    (finding,) = [f for f in static_findings(ssl_plan(libpq_style, tls.url(ssl="require"))) if f.id == "asyncpg-ssl"]
    assert finding.severity == "critical"
    assert "TypeError: connect() got an unexpected keyword argument 'sslmode'" in finding.message

    engine = create_async_engine(libpq_style)  # building the engine works: the failure waits for the first connect
    try:
        with pytest.raises(TypeError, match="unexpected keyword argument 'sslmode'"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()

    fixed = tls.url(ssl="require")
    assert by_id(static_findings(ssl_plan(fixed, fixed)), "asyncpg-ssl") == []
    engine = create_async_engine(fixed)
    try:
        async with engine.connect() as conn:
            on_tls = await conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
            assert on_tls.scalar() is True
    finally:
        await engine.dispose()


async def test_live_plain_connection_where_ssl_is_required_then_fixed(tls):
    plain, encrypted = tls.url(ssl="disable"), tls.url(ssl="require")
    plan = ssl_plan(encrypted, plain)
    shop = app_engine(encrypted, "shop", pool_size=2)
    legacy = app_engine(plain, "legacy", pool_size=2)  # TLS turned off (a copied dev URL): the server accepts it
    default = app_engine(tls.url(), "default", pool_size=2)  # no ssl= at all: asyncpg's default is "prefer"
    try:
        for engine in (shop, legacy, default):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        history = []
        found = await poll(tls.url(), plan, fires("asyncpg-ssl"), history=history)
        assert [(f.severity, f.message) for f in by_id(found, "asyncpg-ssl")] == [
            ("critical", "app 'legacy': 1 of 1 connection to primary without SSL, and the plan requires SSL")
        ]
        on_tls = {g.application_name: (g.count, g.ssl_count) for g in history[-1].groups}
        # "prefer" negotiated TLS here because the server offers it; it would fall back to plain text silently.
        assert on_tls == {"shop": (1, 1), "legacy": (1, 0), "default": (1, 1)}

        await legacy.dispose()
        legacy = app_engine(encrypted, "legacy", pool_size=2)  # the fix: ssl=require
        async with legacy.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await poll(tls.url(), plan, clear("asyncpg-ssl"))
    finally:
        for engine in (shop, legacy, default):
            await engine.dispose()
