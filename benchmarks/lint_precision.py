"""Precision and recall of ``python -m planner lint`` on the project's own precision corpus, and its speed and
peak memory on a large tree next to the linter before issue #21 (same run, same machine).

The corpus (tests/lint_precision/, see its README.md) was written for this project: modules reproducing each
false-positive pattern seen on real code (must stay silent) and modules with each kind of true finding, every
expected finding labelled by hand with a ``# expect: <rule-id>`` comment on its line. ``limits/`` is linted
with ``--max-connections 100 --workers 4`` as its own repository root; the rest as one tree without limits.

Run: python benchmarks/lint_precision.py [TREE]   (TREE defaults to the installed SQLAlchemy package)
Speed is CPU time (user + system) of a fresh ``python -m planner lint`` process, since wall time on a shared
machine mostly measures the neighbours; peak memory is that process's maximum RSS.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.lint import lint_paths  # noqa: E402 - after the path insert, like the other benchmarks
from planner.model import Deployment, Plan, Server  # noqa: E402

CORPUS = ROOT / "tests" / "lint_precision"
LIMITS = Plan(servers=(Server(max_connections=100),), deployment=Deployment(workers=4))
BASELINE_COMMIT = "cbf0467"
"""The branch point of issue #21: the linter measured at 25% precision on real code."""
_EXPECT = re.compile(r"#\s*expect:\s*([\w\-, ]+)")

Key = tuple[str, int, str]


def expected(root: Path = CORPUS) -> set[Key]:
    """(path relative to the corpus, line, rule id) for every ``# expect:`` comment."""
    found: set[Key] = set()
    for path in sorted(root.rglob("*.py")):
        with tokenize.open(path) as handle:
            source = handle.read()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            match = _EXPECT.search(tok.string) if tok.type == tokenize.COMMENT else None
            if match:
                rel = path.relative_to(root).as_posix()
                found |= {(rel, tok.start[0], rule.strip()) for rule in match.group(1).split(",") if rule.strip()}
    return found


def reported(root: Path = CORPUS) -> tuple[set[Key], list]:
    """What the linter reports on the corpus (two runs: the tree, and ``limits/`` with limits)."""
    tree = lint_paths([root], exclude=["limits"])
    limits = lint_paths([root / "limits"], plan=LIMITS)
    findings = [*tree.findings, *limits.findings]
    return {(Path(f.path).relative_to(root).as_posix(), f.line, f.id) for f in findings}, findings


def score(root: Path = CORPUS) -> dict[str, object]:
    want = expected(root)
    got, findings = reported(root)
    tp, fp, fn = got & want, got - want, want - got
    return {
        "true": len(tp), "false": sorted(fp), "missed": sorted(fn),
        "precision": len(tp) / len(got) if got else 1.0,
        "recall": len(tp) / len(want) if want else 1.0,
        "by_rule": Counter(rule for _, _, rule in want),
        "critical_identifiers": [f for f in findings if f.id == "sql-identifier-building" and f.severity == "critical"],
    }


def _run(argv: list[str], cwd: Path) -> tuple[float, int, int]:
    """CPU seconds, peak RSS in MB and exit code of one child process. ``python -m planner`` imports the
    ``planner`` package of ``cwd`` (the current directory comes first on ``sys.path``)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, proc.returncode


def _baseline(tmp: Path) -> Path | None:
    """The linter at ``BASELINE_COMMIT``, extracted with git archive (None outside a git checkout)."""
    try:
        archive = subprocess.run(["git", "archive", BASELINE_COMMIT, "planner"], cwd=ROOT, capture_output=True,
                                 check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    return tmp


def speed(tree: Path) -> None:
    files = [p for p in tree.rglob("*.py")]
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"\nspeed on {tree} ({len(files)} files, {lines:,} lines); CPU time, peak RSS of the process")
    floor = f"import ast, pathlib\nfor p in pathlib.Path({str(tree)!r}).rglob('*.py'): ast.parse(p.read_bytes())"
    with tempfile.TemporaryDirectory() as tmp:
        base = _baseline(Path(tmp))
        lint = [sys.executable, "-m", "planner", "lint", str(tree)]
        rows = [("this linter", lint, ROOT)]
        if base is not None:
            rows.append((f"before #21 ({BASELINE_COMMIT})", lint, base))
        rows.append(("floor: ast.parse of every file", [sys.executable, "-c", floor], ROOT))
        for label, argv, cwd in rows:
            cpu, rss, code = _run(argv, cwd)
            print(f"  {label:34} {cpu:6.2f} s  {lines / cpu / 1000:6.0f} k lines/s  {rss:5d} MB  (exit {code})")


def main() -> int:
    result = score()
    print(f"precision corpus: {CORPUS.relative_to(ROOT)} ({sum(result['by_rule'].values())} labelled findings)")
    print(f"  precision {result['precision']:.1%}  recall {result['recall']:.1%}  "
          f"({result['true']} true, {len(result['false'])} false, {len(result['missed'])} missed)")
    for key in result["false"]:
        print(f"  false positive: {key}")
    for key in result["missed"]:
        print(f"  missed: {key}")
    print("  labelled per rule: " + ", ".join(f"{rule} {n}" for rule, n in sorted(result["by_rule"].items())))
    print(f"  identifier findings at critical: {len(result['critical_identifiers'])}")
    tree = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__import__("sqlalchemy").__file__).parent
    speed(tree)
    return 0


if __name__ == "__main__":
    sys.exit(main())
