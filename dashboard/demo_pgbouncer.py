"""The demo's optional PgBouncer: Debian's binary in front of the demo's embedded PostgreSQL, when installed.

Transaction mode with 2 server connections (``DEFAULT_POOL_SIZE``) and a 10 s ``query_wait_timeout``: in the
demo's "PgBouncer queue" scenario the workers send their requests through it, faster than 2 server
connections can serve, so clients wait in PgBouncer, which the server cannot show and the dashboard's
PgBouncer section does. It listens on 127.0.0.1 only, with md5 logins whose passwords are made per demo:
the workers' role and a read-only console login (``stats_users``).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

PGBOUNCER = "/usr/sbin/pgbouncer"
DEFAULT_POOL_SIZE = 2
QUERY_WAIT_TIMEOUT_S = 10
STATS_USER = "demo_stats"


def unavailable_reason(binary: str | None = None) -> str | None:
    """Why the demo cannot run a PgBouncer here, or None when it can."""
    binary = binary or PGBOUNCER
    if not (shutil.which(binary) or Path(binary).exists()):
        return f"the PgBouncer scenario needs Debian's PgBouncer ({binary} is not installed: apt-get install pgbouncer)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoPgBouncer:
    """A PgBouncer process in ``folder``, in front of the server listening on the unix socket ``socket_dir``."""

    def __init__(self, folder: Path, socket_dir: str, server_port: int, app_role: str, *, run_as: str | None,
                 binary: str | None = None):
        self.folder = folder
        self.binary = binary or PGBOUNCER
        self.run_as = run_as
        self.app_role = app_role
        self.port = _free_port()
        self.app_password = secrets.token_hex(12)
        self.stats_password = secrets.token_hex(12)
        self._process: subprocess.Popen | None = None
        self._ini = (
            f"[databases]\npostgres = host={socket_dir} port={server_port} dbname=postgres\n\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = md5\nauth_file = {folder}/users.txt\nstats_users = {STATS_USER}\n"
            f"pool_mode = transaction\ndefault_pool_size = {DEFAULT_POOL_SIZE}\nmax_client_conn = 200\n"
            f"query_wait_timeout = {QUERY_WAIT_TIMEOUT_S}\n"
            f"logfile = {folder}/pgbouncer.log\npidfile = {folder}/pgbouncer.pid\n"
        )

    def start(self, timeout_s: float = 10.0) -> DemoPgBouncer:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "pgbouncer.ini").write_text(self._ini)
        users = self.folder / "users.txt"
        users.write_text(f'"{self.app_role}" "{self.app_password}"\n"{STATS_USER}" "{self.stats_password}"\n')
        users.chmod(0o600)
        command = [self.binary, str(self.folder / "pgbouncer.ini")]
        if self.run_as:  # PgBouncer refuses to run as root
            entry = pwd.getpwnam(self.run_as)
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            command[1:1] = ["-u", self.run_as]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"PgBouncer exited at start (exit {self._process.returncode}); see "
                                   f"{self.folder / 'pgbouncer.log'}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"PgBouncer did not listen on 127.0.0.1:{self.port} within {timeout_s:g} s")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def app_url(self) -> str:
        """The workers' URL through PgBouncer; PgBouncer 1.18 keeps no prepared statements, so the URL turns
        SQLAlchemy's statement cache off (the worker turns asyncpg's off and names statements uniquely)."""
        return (f"postgresql+asyncpg://{self.app_role}:{self.app_password}@127.0.0.1:{self.port}/postgres"
                "?prepared_statement_cache_size=0")

    def admin_url(self) -> str:
        """The read-only console login the dashboard samples."""
        return f"postgresql://{STATS_USER}:{self.stats_password}@127.0.0.1:{self.port}/pgbouncer"

    def stop(self) -> None:
        """Kill it (from PgBouncer 1.23 on, SIGTERM waits for every client to leave)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)


def kill_orphan(folder: Path) -> bool:
    """SIGKILL the PgBouncer a dead demo left running in ``folder`` (its pidfile, checked against the process's
    command line, so a reused PID is never hit); True when one was killed."""
    try:
        pid = int((folder / "pgbouncer.pid").read_text().split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return False
    if str(folder / "pgbouncer.ini").encode() not in command:
        return False
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return False
    return True
