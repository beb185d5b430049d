"""The repository stands on its own and says one thing: no pointer outside it, no test counts in prose, the
README's test command is the one CI runs, and every --help reads without Markdown and describes every flag."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

from dashboard import launch
from dashboard.live import cli as live_cli
from planner import cli
from pool_planner.cli import DELEGATES

ROOT = Path(__file__).resolve().parent.parent


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / n for n in names if n.endswith((".md", ".py", ".toml", ".txt", ".sql", ".ini")) or "/" not in n]


def test_nothing_points_outside_the_repository():
    outside = re.compile(r"DESIGN\.md|FACTS\.md|\.\./shared|/work/shared")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in tracked_text_files() if p.is_file() and p != Path(__file__)
            for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if outside.search(line)]
    assert hits == []


def test_no_test_counts_in_prose():
    count = re.compile(r"\b\d+ (tests?|test cases)\b|\b\d+ passed\b|\bhas \d+ tests\b")
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert [(p.name, m.group(0)) for p in docs for m in count.finditer(p.read_text())] == []


def test_ci_runs_the_readmes_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.+?)\n```", readme, re.S)
    install, tests = blocks[0], blocks[1]
    assert install.endswith("pool-planner dashboard") and "pip install -r requirements.txt ." in install
    assert tests.endswith("python -m pytest -q") and tests in (ROOT / ".ci" / "run").read_text().splitlines()


def parsers():
    yield "pool-planner", cli.build_parser("pool-planner", DELEGATES)
    yield "pool-planner live", live_cli.build_parser("pool-planner live")
    yield "pool-planner dashboard", launch.build_parser("pool-planner dashboard")


def walk(name: str, parser: argparse.ArgumentParser):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                if child._actions:  # the delegated commands are listed here with their own parser elsewhere
                    yield from walk(f"{name} {sub}", child)


def test_every_help_reads_as_plain_text_and_describes_every_flag():
    for top, parser in parsers():
        for name, each in walk(top, parser):
            text = each.format_help()
            assert "``" not in text and "**" not in text, name
            undocumented = [a.option_strings or a.dest for a in each._actions
                            if not a.help and not isinstance(a, argparse._SubParsersAction)]
            assert undocumented == [], name
            if name.count(" ") <= 1 and name not in ("pool-planner",):
                assert "example" in (each.epilog or ""), name
            if name != "pool-planner live record" and name != "pool-planner live sample":
                assert "exit codes:" in (each.epilog or ""), name
