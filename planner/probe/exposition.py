"""How the probe is read: Prometheus text, a JSON document, one directory shared by worker processes,
an ASGI app to mount in FastAPI, and a small standalone HTTP server.

Several worker processes behind one port (``uvicorn --workers N``, gunicorn): set ``POOL_PROBE_DIR`` to a
directory all workers share (empty at start, like ``PROMETHEUS_MULTIPROC_DIR``). Every instrumented process
then writes its snapshot to ``<dir>/probe-<pid>.json`` once a second (a daemon thread, atomic rename), and
whichever worker answers a scrape serves every live worker's figures, each with its ``pid`` label: its own
fresh, the others at most ``PUBLISH_INTERVAL_S`` old (``taken_at`` says how old). Files of dead processes
are skipped and removed. Without ``POOL_PROBE_DIR`` an endpoint serves the process that answers only.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from planner.probe.core import COUNTERS, probes
from planner.probe.histogram import BOUNDS_S

DIR_ENV = "POOL_PROBE_DIR"
PUBLISH_INTERVAL_S = 1.0
STALE_AFTER_S = 10.0
JSON_FORMAT = "pool-planner-probe/1"
PREFIX = "pool_probe_"
GAUGES = {
    "pool_size": "pool_size the pool was created with",
    "max_overflow": "max_overflow the pool was created with (-1 = unbounded)",
    "checked_out": "connections checked out of the pool now",
    "idle": "connections idle in the pool now",
    "overflow": "overflow connections open now (above pool_size)",
    "waiting": "requests blocked waiting for a connection now",
    "peak_checked_out": "most connections checked out at once since the probe started",
}
HISTOGRAMS = {
    "wait": ("checkout_wait_seconds", "seconds from asking the pool for a connection to having one "
                                      "(timeouts and failed connects included)"),
    "hold": ("hold_seconds", "seconds a connection was held, checkout to check-in"),
    "queue": ("queue_wait_seconds", "seconds blocked until a connection was returned (only when none was idle "
                                    "and the overflow was used up; part of the checkout wait)"),
}


# ------------------------------------------------------------------------------------------------ gather


def local_snapshots() -> list[dict[str, Any]]:
    """Snapshots of every probe in this process."""
    return [probe.snapshot() for probe in probes()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_published(directory: Path, skip_pid: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    now = time.time()
    for path in sorted(directory.glob("probe-*.json")):
        try:
            pid = int(path.stem.split("-", 1)[1])
            if pid == skip_pid:
                continue
            if not _alive(pid) or now - path.stat().st_mtime > STALE_AFTER_S:
                path.unlink(missing_ok=True)
                continue
            out.extend(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # being replaced, or not ours: skipped, never fatal
    return out


def gather(directory: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """This process's snapshots, plus every other live worker's when a shared directory is in use."""
    own = local_snapshots()
    folder = directory or os.environ.get(DIR_ENV)
    if not folder:
        return own
    return own + _read_published(Path(folder), os.getpid())


# --------------------------------------------------------------------------------------------- publisher

_publisher_lock = threading.Lock()
_publisher_pid: int | None = None


def publish_once(directory: str | os.PathLike) -> Path:
    """Write this process's snapshots to ``<directory>/probe-<pid>.json`` (atomically)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"probe-{os.getpid()}.json"
    tmp = folder / f".probe-{os.getpid()}.tmp"
    tmp.write_text(json.dumps(local_snapshots()), encoding="utf-8")
    os.replace(tmp, target)
    return target


def _publish_loop(directory: str) -> None:
    while True:
        with contextlib.suppress(OSError):
            publish_once(directory)
        time.sleep(PUBLISH_INTERVAL_S)


def start_publisher(directory: str | os.PathLike | None = None) -> bool:
    """Start this process's publishing thread (once per process, again after a fork); False without a dir."""
    global _publisher_pid
    folder = directory or os.environ.get(DIR_ENV)
    if not folder:
        return False
    with _publisher_lock:
        if _publisher_pid == os.getpid():
            return True
        if _publisher_pid is None:  # gunicorn --preload forks after import: each worker needs its own thread
            os.register_at_fork(after_in_child=lambda: start_publisher(folder))
        _publisher_pid = os.getpid()
        threading.Thread(target=_publish_loop, args=(str(folder),), name="pool-probe-publisher", daemon=True).start()
        atexit.register(_remove_own_file, str(folder))
    return True


def _remove_own_file(directory: str) -> None:
    with contextlib.suppress(OSError):
        (Path(directory) / f"probe-{os.getpid()}.json").unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- formats


def json_document(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": JSON_FORMAT, "taken_at": time.time(), "probes": snapshots}


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(snapshot: dict[str, Any], extra: dict[str, object] | None = None) -> str:
    labels = {"service": snapshot["service"], "engine": snapshot["engine"], "pid": snapshot["pid"], **(extra or {})}
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _number(value: object) -> str:
    if value is None:
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(int(value))  # type: ignore[call-overload]


def _histogram_lines(name: str, snapshots: list[dict[str, Any]], key: str) -> list[str]:
    lines = []
    for snap in snapshots:
        hist = snap["histograms"][key]
        running = 0
        for bound, count in zip([*BOUNDS_S, None], hist["counts"], strict=True):
            running += count
            le = "+Inf" if bound is None else repr(bound)
            lines.append(f"{name}_bucket{_labels(snap, {'le': le})} {running}")
        lines.append(f"{name}_sum{_labels(snap)} {hist['sum_s']!r}")
        lines.append(f"{name}_count{_labels(snap)} {hist['count']}")
    return lines


def prometheus_text(snapshots: list[dict[str, Any]]) -> str:
    """The Prometheus text exposition format (0.0.4) of the snapshots; names and units in docs/probe.md."""
    lines: list[str] = [f"# HELP {PREFIX}info pool settings of one engine in one process (value 1)",
                        f"# TYPE {PREFIX}info gauge"]
    for snap in snapshots:
        info = {"pool_class": snap["pool_class"], "pool_size": snap["pool_size"],
                "max_overflow": snap["max_overflow"], "pool_timeout_s": snap["pool_timeout_s"],
                "pre_ping": str(snap["pre_ping"]).lower()}
        lines.append(f"{PREFIX}info{_labels(snap, info)} 1")
    for key, help_text in GAUGES.items():
        lines += [f"# HELP {PREFIX}{key} {help_text}", f"# TYPE {PREFIX}{key} gauge"]
        lines += [f"{PREFIX}{key}{_labels(snap)} {_number(snap[key])}" for snap in snapshots]
    for key in COUNTERS:
        lines += [f"# HELP {PREFIX}{key} {key.replace('_', ' ')} since the process started",
                  f"# TYPE {PREFIX}{key} counter"]
        lines += [f"{PREFIX}{key}_total{_labels(snap)} {snap[key]}" for snap in snapshots]
    for key, (suffix, help_text) in HISTOGRAMS.items():
        name = PREFIX + suffix
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        lines += _histogram_lines(name, snapshots, key)
    return "\n".join(lines) + "\n"


PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(path: str, directory: str | os.PathLike | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) for a request path ending in ``/metrics`` or ``/json``."""
    path = path.rstrip("/") or "/"
    if path.endswith("/metrics") or path == "/":
        return 200, PROMETHEUS_CONTENT_TYPE, prometheus_text(gather(directory)).encode()
    if path.endswith("/json"):
        body = json.dumps(json_document(gather(directory)), separators=(",", ":"))
        return 200, "application/json", body.encode()
    return 404, "text/plain; charset=utf-8", b"not found: use /metrics or /json\n"


# ------------------------------------------------------------------------------------------------ serving


class ProbeApp:
    """A plain ASGI app (no framework needed): ``app.mount("/probe", ProbeApp())`` in FastAPI serves
    ``/probe/metrics`` (Prometheus) and ``/probe/json``."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = directory
        start_publisher(directory)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status, content_type, body = render(scope.get("path", "/"), self.directory)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _Handler(BaseHTTPRequestHandler):
    directory: str | None = None

    def do_GET(self) -> None:
        status, content_type, body = render(self.path.split("?", 1)[0], self.directory)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(host: str = "127.0.0.1", port: int = 0, directory: str | None = None) -> ThreadingHTTPServer:
    """A standalone probe endpoint in a daemon thread (for processes without an ASGI app); port 0 picks a
    free port: ``server.server_address[1]``."""
    handler = type("ProbeHandler", (_Handler,), {"directory": directory})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="pool-probe-http", daemon=True).start()
    return server


# ------------------------------------------------------------------------------------ prometheus_client


def register_prometheus(registry: Any = None, directory: str | None = None) -> Any:
    """Expose the probes through ``prometheus_client`` (imported here, only when called): registers a
    collector yielding the same families as ``prometheus_text`` on ``registry`` (default: the global one)."""
    from prometheus_client import REGISTRY

    class _Collector:
        def collect(self):
            return _families(gather(directory))

    collector = _Collector()
    (registry or REGISTRY).register(collector)
    return collector


def _families(snapshots: list[dict[str, Any]]) -> list[Any]:
    """``prometheus_client`` metric families of the snapshots (the names and help texts of ``prometheus_text``)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    names = ["service", "engine", "pid"]
    families: list[Any] = []
    for key, help_text in GAUGES.items():
        gauge = GaugeMetricFamily(PREFIX + key, help_text, labels=names)
        for snap in snapshots:
            gauge.add_metric(_label_values(snap), float("nan") if snap[key] is None else snap[key])
        families.append(gauge)
    for key in COUNTERS:
        counter = CounterMetricFamily(PREFIX + key, f"{key.replace('_', ' ')} since the process started", labels=names)
        for snap in snapshots:
            counter.add_metric(_label_values(snap), snap[key])
        families.append(counter)
    for key, (suffix, help_text) in HISTOGRAMS.items():
        histogram = HistogramMetricFamily(PREFIX + suffix, help_text, labels=names)
        for snap in snapshots:
            hist = snap["histograms"][key]
            cumulative = itertools.accumulate(hist["counts"])
            buckets = [(repr(bound), n) for bound, n in zip(BOUNDS_S, cumulative, strict=False)]
            histogram.add_metric(_label_values(snap), [*buckets, ("+Inf", hist["count"])], hist["sum_s"])
        families.append(histogram)
    return families


def _label_values(snapshot: dict[str, Any]) -> list[str]:
    return [str(snapshot["service"]), str(snapshot["engine"]), str(snapshot["pid"])]
