"""A real PgBouncer for tests, in front of a throwaway PostgreSQL (tests/pgcluster.py), on a free port.

Debian's ``/usr/sbin/pgbouncer`` (1.18 on bookworm) always; the newest PgBouncer this machine can run too when
``PGBOUNCER_NEWEST`` names its binary (``scripts/newest-pgbouncer.sh`` fetches Debian trixie's 1.24 with the
C library it needs, since bookworm-backports has none). As root PgBouncer refuses to run, so it runs as the
pgserver package's system user, like the clusters.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pgcluster import RUN_AS, Cluster, free_port

DEBIAN_PGBOUNCER = "/usr/sbin/pgbouncer"
NEWEST_ENV = "PGBOUNCER_NEWEST"

# passwords share no 3 characters with any name, host or word of the output: masking scrubs every such run
USERS = {"app": "Zx9Qv7Lk1", "stats": "Wj3Hn8Tb2", "admin": "Rf5Yc2Mp3", "plain": "Gd6Ks4Nu4"}
"""Logins in the auth file: ``stats`` is in stats_users, ``admin`` in admin_users, ``plain`` in neither."""


def binaries() -> list[str]:
    """The PgBouncer binaries to test: Debian's, and ``$PGBOUNCER_NEWEST`` when it is set."""
    found = [DEBIAN_PGBOUNCER]
    newest = os.environ.get(NEWEST_ENV)
    if newest and Path(newest).exists() and newest not in found:
        found.append(newest)
    return found


def version_of(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    return re.search(r"PgBouncer (\d+\.\d+\.\d+)", out).group(1)


@dataclass
class Bouncer:
    """A running PgBouncer: its port, version, process and folder."""

    port: int
    version: str
    process: subprocess.Popen
    folder: Path

    def url(self, user: str = "stats", password: str | None = None, database: str = "pgbouncer") -> str:
        secret = USERS[user] if password is None else password
        return f"postgresql://{user}:{secret}@127.0.0.1:{self.port}/{database}"

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version.split("."))


def _write_files(folder: Path, cluster: Cluster, port: int, settings: str, auth_type: str, databases: str) -> None:
    users = "".join(f'"{user}" "{secret}"\n' for user, secret in USERS.items())
    users += '"postgres" ""\n'
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\npostgres = host=127.0.0.1 port={cluster.port} dbname=postgres user=postgres\n"
        f"appdb = host=127.0.0.1 port={cluster.port} dbname=postgres user=postgres\n"
        + databases.format(port=cluster.port) + "\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = {auth_type}\nauth_file = {folder}/users.txt\n"
        f"admin_users = admin\nstats_users = stats\n{settings}"
        f"logfile = {folder}/pgbouncer.log\npidfile = {folder}/pgbouncer.pid\n"
    )
    (folder / "users.txt").write_text(users)


@contextmanager
def running_pgbouncer(cluster: Cluster, name: str, settings: str, *, binary: str = DEBIAN_PGBOUNCER,
                      auth_type: str = "trust", port: int | None = None, databases: str = ""):
    """A PgBouncer in front of ``cluster`` with ``settings`` (pgbouncer.ini lines); yields a ``Bouncer``.

    ``auth_type = trust`` accepts any password; ``md5`` checks the ``USERS`` passwords (the console's too).
    ``databases`` adds [databases] lines (``{port}`` is the cluster's port).
    """
    folder = cluster.root / name
    folder.mkdir()
    port = port or free_port()
    _write_files(folder, cluster, port, settings, auth_type, databases)
    process = start(binary, folder, port)
    bouncer = Bouncer(port, version_of(binary), process, folder)
    try:
        yield bouncer
    finally:
        stop(bouncer)


def start(binary: str, folder: Path, port: int) -> subprocess.Popen:
    command = [binary, str(folder / "pgbouncer.ini")]
    if RUN_AS:  # PgBouncer refuses to run as root
        import pwd

        entry = pwd.getpwnam(RUN_AS)
        for path in (folder, *folder.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        command[1:1] = ["-u", RUN_AS]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_listening(port, process, folder)
    return process


def stop(bouncer: Bouncer) -> None:
    """Kill it: SIGTERM means "wait for every client to leave" from PgBouncer 1.23 on, SIGQUIT nothing in 1.18."""
    if bouncer.process.poll() is None:
        bouncer.process.kill()
        bouncer.process.wait(timeout=10)


def restart(bouncer: Bouncer, binary: str) -> None:
    """Start the same PgBouncer again (same folder and port) after ``stop``."""
    stop(bouncer)
    bouncer.process = start(binary, bouncer.folder, bouncer.port)


def _wait_listening(port: int, process: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (folder / "pgbouncer.log").read_text() if (folder / "pgbouncer.log").exists() else ""
            raise RuntimeError(f"pgbouncer exited: {process.stdout.read().decode()}\n{log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("pgbouncer did not listen")
