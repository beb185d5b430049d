"""A real ``streamlit run`` process for tests: started from any folder, on a free port, stopped afterwards;
and the TCP sockets it listens on, read from /proc/net/tcp and tcp6."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

LISTEN = "0A"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # /proc/net/tcp6: four 32-bit words, each in host (little-endian) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def listening_addresses(port: int) -> set[str]:
    """Every local address with a TCP socket listening on ``port`` (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.add(_address(address))
    return found


HEADLESS = ("--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false")
"""The arguments of a browser test's page: no browser opened by Streamlit, bound to 127.0.0.1, no usage stats."""


@contextmanager
def streamlit_run(script: Path, cwd: Path, env: dict[str, str], *args: str, health_host: str = "127.0.0.1",
                  unset: tuple[str, ...] = (), log_dir: Path | None = None, stop_timeout_s: float = 15.0):
    """``python -m streamlit run <script> --server.port P ...args`` from ``cwd``; yields (port, process).

    ``env`` is added to this process's environment after removing ``unset``; the log goes to ``log_dir`` (default
    ``cwd``) as streamlit-<port>.log. The process runs in its own session and gets ``stop_timeout_s`` to stop (the
    demo stops its workers and embedded server at exit) before it is killed."""
    port = free_port()
    log_path = (log_dir or cwd) / f"streamlit-{port}.log"
    environ = {name: value for name, value in os.environ.items() if name not in unset}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
             "--server.fileWatcherType", "none", *args],
            cwd=cwd, env={**environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            _wait_healthy(f"http://{health_host}:{port}/_stcore/health", proc, log_path)
            yield port, proc
        finally:
            proc.terminate()
            try:
                proc.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert proc.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, f"streamlit did not become healthy in {timeout_s:g} s"
        time.sleep(0.3)
