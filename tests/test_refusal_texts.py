"""The refusal texts planner/refusal.py quotes, taken from real servers: PostgreSQL 16 (pgserver) and
Debian's PostgreSQL (15 on bookworm), each a throwaway cluster of 6 slots filled by an ordinary role, a role with
pg_use_reserved_connections (16) and a superuser, in turn. The static too-many-connections finding then quotes
the first one the application's ordinary role gets, per version."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import suppress
from pathlib import Path

import asyncpg
import pytest
from conftest import require_binary
from pgcluster import RUN_AS, Cluster, free_port

from planner.model import Deployment, Engine, Plan, Server
from planner.refusal import (
    RESERVED_PG16,
    SUPERUSER_RESERVED_PG15,
    SUPERUSER_RESERVED_PG16,
    TOO_MANY_CLIENTS,
    first_refusal,
)
from planner.rules import static_findings

pytestmark = pytest.mark.db

_DEBIAN = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
DEBIAN_BIN = Path(_DEBIAN[-1]) if _DEBIAN else None
SLOTS = 6


class DebianCluster:
    """A throwaway cluster from Debian's PostgreSQL binaries (run as pgserver's user when we are root)."""

    def __init__(self, bindir: Path, settings: dict[str, object]):
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="pgref", dir="/tmp"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--encoding=utf8")
        options = " ".join([f"-p {self.port} -h 127.0.0.1 -k {self.root}",
                            *(f"-c {k}={v}" for k, v in settings.items())])
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.root / "server.log"), "-o", options, "start")

    def _run(self, program: str, *args: str) -> None:
        if RUN_AS:
            entry = pwd.getpwnam(RUN_AS)
            for path in (self.root, self.data):
                if path.exists():
                    os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run([str(self.bin / program), *args], check=True, capture_output=True, user=RUN_AS, timeout=60)

    def destroy(self) -> None:
        with suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


async def connect(port: int, user: str) -> asyncpg.Connection:
    return await asyncpg.connect(host="127.0.0.1", port=port, user=user, database="postgres", timeout=10)


async def fill(port: int, user: str, held: list, limit: int = SLOTS + 1) -> str:
    """Connect as ``user`` until refused; the refusal's text (SQLSTATE 53300)."""
    for _ in range(limit):
        try:
            held.append(await connect(port, user))
        except asyncpg.TooManyConnectionsError as err:
            assert err.sqlstate == "53300"
            return str(err)
    raise AssertionError(f"{user} was never refused")


async def refusals(port: int, *, reserved_role: bool) -> list[str]:
    """The texts an ordinary role, then (16) a pg_use_reserved_connections member, then a superuser get."""
    admin = await connect(port, "postgres")
    await admin.execute("CREATE ROLE app LOGIN")
    if reserved_role:
        await admin.execute("CREATE ROLE watcher LOGIN IN ROLE pg_use_reserved_connections")
    await admin.close()
    held: list[asyncpg.Connection] = []
    try:
        texts = [await fill(port, "app", held)]
        if reserved_role:
            texts.append(await fill(port, "watcher", held))
        texts.append(await fill(port, "postgres", held))
        return texts
    finally:
        for conn in held:
            await conn.close()


def static_refusal(version: int, reserved: int) -> str:
    """The text the static too-many-connections finding quotes for a plan on this server."""
    plan = Plan(servers=(Server(max_connections=SLOTS, superuser_reserved_connections=1, reserved_connections=reserved,
                                major_version=version),),
                engines=(Engine(pool_size=2, max_overflow=2),), deployment=Deployment(workers=4, surge=0))
    [finding] = [f for f in static_findings(plan) if f.id == "too-many-connections"]
    return finding.message.rsplit("the server refuses the rest with ", 1)[1].strip("'")


async def test_postgresql_16_refusal_texts():
    cluster = Cluster({"max_connections": SLOTS, "superuser_reserved_connections": 1, "reserved_connections": 1})
    try:
        cluster.start()
        texts = await refusals(cluster.port, reserved_role=True)
    finally:
        cluster.destroy()
    assert texts == [RESERVED_PG16, SUPERUSER_RESERVED_PG16, TOO_MANY_CLIENTS]
    assert first_refusal(16, 1, 1) == texts[0] == static_refusal(16, 1)
    assert first_refusal(16, 1, 0) == SUPERUSER_RESERVED_PG16 == static_refusal(16, 0)


async def test_debian_postgresql_refusal_texts():
    """Debian's server: PostgreSQL 15 on bookworm (the texts before 16), a later one elsewhere."""
    require_binary(str(DEBIAN_BIN / "postgres") if DEBIAN_BIN else "/usr/lib/postgresql/15/bin/postgres", "postgresql")
    version = int(DEBIAN_BIN.parent.name)
    settings = {"max_connections": SLOTS, "superuser_reserved_connections": 1}
    if version >= 16:
        settings["reserved_connections"] = 1
    cluster = DebianCluster(DEBIAN_BIN, settings)
    try:
        texts = await refusals(cluster.port, reserved_role=version >= 16)
    finally:
        cluster.destroy()
    if version >= 16:
        assert texts == [RESERVED_PG16, SUPERUSER_RESERVED_PG16, TOO_MANY_CLIENTS]
        assert first_refusal(version, 1, 1) == texts[0] == static_refusal(version, 1)
    else:
        assert texts == [SUPERUSER_RESERVED_PG15, TOO_MANY_CLIENTS]
        assert first_refusal(version, 1) == texts[0] == static_refusal(version, 0)
        assert first_refusal(version, 0) == TOO_MANY_CLIENTS
