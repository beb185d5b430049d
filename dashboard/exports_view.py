"""The export tabs: ``planner.export``'s text per format, and how each download is named.

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner.export import FORMATS, export
from planner.model import Finding, InputError, Plan


@dataclass(frozen=True)
class ExportFile:
    """One export tab: the planner's snippet and how the download button names it."""

    format: str
    title: str
    file_name: str
    language: str
    mime: str
    text: str


EXPORT_FILES: dict[str, tuple[str, str, str, str]] = {
    "python": ("Python engines", "db.py", "python", "text/x-python"),
    "env": (".env", "pool.env", "bash", "text/plain"),
    "uvicorn": ("Uvicorn", "uvicorn.sh", "bash", "text/x-sh"),
    "gunicorn": ("Gunicorn", "gunicorn.sh", "bash", "text/x-sh"),
    "pgbouncer": ("pgbouncer.ini", "pgbouncer.ini", "ini", "text/plain"),
    "postgresql": ("postgresql.conf", "postgresql.conf", "ini", "text/plain"),
    "json": ("JSON", "plan.json", "json", "application/json"),
    "prometheus-rules": ("Prometheus alerts", "pool-planner-rules.yml", "yaml", "text/plain"),
    "grafana": ("Grafana", "pool-planner-dashboard.json", "json", "application/json"),
}


def export_files(plan: Plan, findings: Sequence[Finding] | None = None) -> list[ExportFile]:
    """Every format ``planner.export`` knows, with the exact text ``python -m planner export`` prints.

    A format that does not apply to the plan (pgbouncer.ini without PgBouncer) is left out. ``findings``: the
    plan's static findings when the caller has them (None: the JSON export computes them).
    """
    files = []
    for fmt in FORMATS:
        title, file_name, language, mime = EXPORT_FILES.get(fmt, (fmt, f"{fmt}.txt", "text", "text/plain"))
        try:
            text = export(plan, fmt, findings=findings)
        except InputError:
            continue
        files.append(ExportFile(fmt, title, file_name, language, mime, text))
    return files
