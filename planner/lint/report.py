"""Output formats: text (people), JSON (a list of findings), ``file:line:col: id message`` annotations (any
CI problem matcher), GitHub workflow commands, and the engine inventory."""

from __future__ import annotations

import json

from planner.lint.engines import POOL_KWARGS
from planner.lint.findings import CodeFinding, LintResult

FORMATS = ("text", "json", "annotations", "github")
_GITHUB_LEVEL = {"critical": "error", "warning": "warning", "info": "notice"}


def render(result: LintResult, fmt: str = "text") -> str:
    """The findings in one of ``FORMATS`` (JSON is always a list, empty when clean)."""
    if fmt == "json":
        return json.dumps([f.as_dict() for f in result.findings], indent=2)
    if fmt == "annotations":
        return "\n".join(f"{f.path}:{f.line}:{f.col}: {f.id} {f.message}" for f in result.findings)
    if fmt == "github":
        return "\n".join(_github(f) for f in result.findings)
    return render_text(result)


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _github(f: CodeFinding) -> str:
    props = f"file={_escape(f.path, prop=True)},line={f.line},col={f.col},title={_escape(f.id, prop=True)}"
    body = f.message.rstrip(".") + (f". Fix: {f.fix}" if f.fix else "")
    return f"::{_GITHUB_LEVEL[f.severity]} {props}::{_escape(body)}"


def render_text(result: LintResult) -> str:
    lines = []
    for f in result.findings:
        lines.append(f"{f.path}:{f.line}:{f.col}: {f.id} [{f.severity}] {f.message}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    for budget in result.budgets:
        lines.append(f"budget of server {budget.name}: verdict {budget.verdict}")
        lines += [f"    {line}" for line in budget.explanation]
    lines += [f"note: {note}" for note in result.notes]
    lines += [f"internal error: {line}" for line in result.internal_errors]
    lines.append(summary(result))
    return "\n".join(lines)


def summary(result: LintResult) -> str:
    files = f"{result.files} file{'s' if result.files != 1 else ''}"
    silenced = f"; {result.suppressed} silenced" if result.suppressed else ""
    if not result.findings:
        return f"no findings in {files}{silenced}"
    counts = {}
    for f in result.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    by = ", ".join(f"{n} {sev}" for sev, n in sorted(counts.items(), key=lambda kv: kv[0] != "critical"))
    n = len(result.findings)
    return f"{n} finding{'s' if n != 1 else ''} ({by}) in {files}{silenced}"


def render_inventory(result: LintResult, fmt: str = "text") -> str:
    """The engines found, with each pool setting as written (literal, constant, reference or default)."""
    if fmt == "json":
        return json.dumps([e.as_dict() for e in result.engines], indent=2)
    if not result.engines:
        return f"no create_async_engine/create_engine call in {result.files} files"
    lines = []
    for e in result.engines:
        flags = " [per request]" if e.per_request else ""
        lines.append(f"{e.path}:{e.line}: {e.name} = {e.factory}({e.url.show()}) at {e.scope}{flags}")
        shown = [f"{k}={e.setting(k).show()}" for k in POOL_KWARGS if k in e.settings or e.setting(k).value is not None]
        lines.append("    " + "  ".join(shown) + ("  **kwargs" if e.splat else ""))
    return "\n".join(lines)
