"""Fuzzing both CLIs (``python -m planner ...`` and ``python -m dashboard.live ...``) in-process with a seeded
generator: random subcommands, flags from the real parsers, hostile values (huge, negative, NaN, control
characters, unencoded URLs) and hostile files (a FIFO, /dev/zero, a directory, 5,000-deep TOML, binary, 2 MB).

Every run ends with an exit code, never a traceback, a hang or a crash: 0/1/2 (and 3, the internal-error code
another change introduces); a ``--config`` that is not a plan is always 2, never 1 ("unsafe").
The corpus in tests/fuzz_corpus/ keeps every input that once crashed or hung, replayed first.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shlex
from pathlib import Path

import pytest

from dashboard.live import cli as live_cli
from planner import cli as planner_cli

CORPUS = Path(__file__).parent / "fuzz_corpus"
SEED = 20261126
CASES = 250
ALLOWED = {0, 1, 2, 3}


def hostile_files(folder: Path) -> dict[str, str]:
    """name -> path of files that are not plans (and one that is)."""
    fifo = folder / "fifo.toml"
    os.mkfifo(fifo)
    (folder / "dir.toml").mkdir()
    big = folder / "big.toml"
    big.write_text("# padding\n" * 200_000)
    (folder / "binary.toml").write_bytes(bytes(range(256)) * 8)
    (folder / "big.py").write_text("x = 1\n" * 400_000)
    files = {
        "fifo": str(fifo), "dev-zero": "/dev/zero", "dev-null": "/dev/null", "directory": str(folder / "dir.toml"),
        "big": str(big), "binary": str(folder / "binary.toml"), "missing": str(folder / "missing.toml"),
        "big-py": str(folder / "big.py"),
    }
    for path in sorted((CORPUS / "files").iterdir()):
        files[path.stem] = str(path)
    return files


def flags_of(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """subcommand -> its option strings, read from the real parser."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [s for action in p._actions for s in action.option_strings if s not in ("-h", "--help")]
            for name, p in sub.choices.items()}


VALUES = ["0", "-1", "1", "3", "100", "99999999999999999999", "1e308", "-1e308", "nan", "inf", "-inf", "0.0001",
          "", " ", "abc", "5%", "200%", "\x1b[2J\x07", "1_000", "0x10", "exp", "const", "--json",
          "postgresql+asyncpg://u:p@ss:w/rd?#%@127.0.0.1:1/db", "postgresql://u@127.0.0.1:99999/db",
          "postgresql://u@127.0.0.1:1/db?sslmode=verify-full", "mysql://x", "host=x password='a b'", "a=b=c",
          "postgresql://u@[::1/db", "x" * 5000]


def random_argv(rng: random.Random, commands: dict[str, list[str]], files: dict[str, str]) -> list[str]:
    command = rng.choice([*commands, "nope", ""])
    argv = [command] if command else []
    for _ in range(rng.randint(0, 6)):
        flag = rng.choice(commands.get(command) or ["--config", "--url", "--x"])
        argv.append(flag)
        if flag in ("--config", "--data") or (command == "lint" and rng.random() < 0.3):
            argv.append(rng.choice(list(files.values())))
        elif rng.random() < 0.9:
            argv.append(rng.choice(VALUES))
    if command == "record":
        argv += ["--duration", "0.3", "--interval", "0.1"]
    if command == "sample":
        argv += ["--timeout", "0.5"]
    return argv


def run(main, argv: list[str], tmp_path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {"DATABASE_URL": "", "POOL_PLANNER_DATA": str(tmp_path / "data")}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _env(env):
        try:
            code = main(argv)
        except SystemExit as done:  # --help
            code = done.code or 0
    return int(code), out.getvalue(), err.getvalue()


@contextlib.contextmanager
def _env(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check(main, argv: list[str], tmp_path: Path, files: dict[str, str]) -> None:
    code, out, err = run(main, argv, tmp_path)  # an exception here fails the test with the argv shown
    assert code in ALLOWED, (argv, code, err)
    assert "Traceback" not in out + err, argv
    not_plans = {path for name, path in files.items() if name != "plan"}
    if code == 2 and argv:  # a bare command prints its usage on purpose (tests/test_exit_codes.py)
        assert err.strip() and len(err.strip().splitlines()) == 1, (argv, err)
    if any(argv[i] == "--config" and argv[i + 1] in not_plans for i in range(len(argv) - 1)):
        assert code in (2, 3), (argv, code, out, err)  # not a plan: never judged "unsafe"


def corpus_cases(files: dict[str, str]) -> list[tuple[str, list[str]]]:
    cases = []
    for line in (CORPUS / "argv.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            which, _, rest = line.partition(" ")
            cases.append((which, [arg.format(**files) for arg in shlex.split(rest)]))
    return cases


MAINS = {"planner": planner_cli.main, "live": live_cli.main}


def test_the_corpus_never_crashes(tmp_path):
    files = hostile_files(tmp_path)
    for which, argv in corpus_cases(files):
        check(MAINS[which], argv, tmp_path, files)


@pytest.mark.parametrize("which", ["planner", "live"])
def test_seeded_random_command_lines_never_crash(which, tmp_path):
    files = hostile_files(tmp_path)
    parser = planner_cli.build_parser() if which == "planner" else live_cli.build_parser()
    commands = flags_of(parser)
    rng = random.Random(f"{SEED}-{which}")
    for _ in range(CASES):
        check(MAINS[which], random_argv(rng, commands, files), tmp_path, files)


def test_a_deep_toml_is_refused_before_parsing(tmp_path):
    files = hostile_files(tmp_path)
    code, _, err = run(planner_cli.main, ["plan", "--config", files["deep_array"]], tmp_path)
    assert code == 2 and err == "error: config: arrays or inline tables nested 5000 deep (at most 32)\n"
    for name, words in [("fifo", "is a FIFO (named pipe), not a regular file"),
                        ("dev-zero", "is a character device, not a regular file"),
                        ("directory", "is a directory, not a regular file"),
                        ("big", "bytes, above the limit of 1,000,000"), ("binary", "is not UTF-8 text")]:
        code, _, err = run(planner_cli.main, ["check", "--config", files[name]], tmp_path)
        assert code == 2 and words in err and err.count("\n") == 1, (name, err)
    code, _, err = run(planner_cli.main, ["lint", files["big-py"]], tmp_path)
    assert code == 2 and "above lint's limit" in err
