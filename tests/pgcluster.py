"""Throwaway PostgreSQL clusters for tests, from the binaries the ``pgserver`` package ships (PostgreSQL 16).

Tests that need a server of their own (a tiny ``max_connections``, SSL on, a restart mid-sampling) start
one here on a free TCP port on 127.0.0.1 plus a unix socket. As root, PostgreSQL refuses to run, so the
cluster runs as the ``pgserver`` system user that the pgserver package itself creates.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import closing, suppress
from pathlib import Path

import pgserver
from pgserver._commands import POSTGRES_BIN_PATH
from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

RUN_AS = "pgserver" if os.geteuid() == 0 else None


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chown_tree(path: Path) -> None:
    if RUN_AS is None:
        return
    import pwd

    entry = pwd.getpwnam(RUN_AS)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


class Cluster:
    """A PostgreSQL 16 cluster in its own temporary folder; ``settings`` go on the postgres command line."""

    def __init__(self, settings: dict[str, object] | None = None, *, port: int | None = None):
        if RUN_AS:
            ensure_user_exists(RUN_AS)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
        # Short path: unix socket paths are limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pgc", dir="/tmp"))
        self.root.chmod(0o755)
        self.pgdata = self.root / "data"
        self.socket_dir = self.root
        self.log = self.root / "server.log"
        self.port = port or free_port()
        self.settings = dict(settings or {})
        self.pgdata.mkdir()
        _chown_tree(self.root)
        pgserver.initdb(
            ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.pgdata,
            user=RUN_AS,
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres", user: str = "postgres", driver: str = "asyncpg", **query: str) -> str:
        """SQLAlchemy URL over TCP."""
        extra = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql+{driver}://{user}@{self.host}:{self.port}/{database}" + (f"?{extra}" if extra else "")

    def start(self, timeout: float = 30) -> Cluster:
        options = [f"-p {self.port}", "-h 127.0.0.1", f"-k {self.socket_dir}"]
        options += [f"-c {key}={value}" for key, value in self.settings.items()]
        args = ["-w", "-t", str(int(timeout)), "-l", str(self.log)]
        for option in options:
            args += ["-o", option]
        args.append("start")
        try:
            pgserver.pg_ctl(args, pgdata=self.pgdata, user=RUN_AS, timeout=timeout + 5)
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"cluster did not start:\n{self.log.read_text() if self.log.exists() else err}") from err
        return self

    def stop(self, mode: str = "fast") -> None:
        pgserver.pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=RUN_AS, timeout=60)

    def restart(self) -> None:
        self.stop()
        self.start()

    def psql(self, sql: str, user: str = "postgres", database: str = "postgres") -> str:
        """Run SQL through the bundled psql over the socket; returns unaligned output."""
        cmd = [str(POSTGRES_BIN_PATH / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-h", str(self.socket_dir), "-p", str(self.port), "-U", user, "-d", database, "-c", sql]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.psql("select 1")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        raise TimeoutError("cluster not ready")

    def destroy(self) -> None:
        with suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()
