"""The package as a user installs it: ``pip install .`` (and ``-e .``) into a fresh venv, then ``pool-planner``
from an unrelated folder.

The fresh venv sees this interpreter's site-packages through a ``.pth`` file, for the dependencies only
(SQLAlchemy, Streamlit, ...: installing them again would take minutes and a network); pool-planner itself is
not installed there, and each test checks that the modules it runs come from the fresh venv (or, editable,
from this clone). The build runs in pip's isolated build environment, like a user's ``pip install .``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard import presets

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "examples" / "lesson.toml"

pytestmark = pytest.mark.slow


def make_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def pip_install(python: Path, *args: str, source: Path = ROOT) -> None:
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *args], cwd=source,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def run(venv: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with ``pip install .`` of this clone."""
    venv = tmp_path_factory.mktemp("venv-install")
    source = tmp_path_factory.mktemp("clone") / "pool-planner"  # setuptools builds in tree: keep this one clean
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "data", "*.egg-info",
                                                                 "__pycache__", ".*_cache", ".hypothesis"))
    pip_install(make_venv(venv), ".", source=source)
    return venv


def test_check_from_an_unrelated_folder_exits_1_naming_the_pitfall(installed, tmp_path):
    proc = run(installed, "pool-planner", "check", "--config", str(LESSON), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "overflow-exceeds-budget" in proc.stdout and proc.stderr == ""


def test_the_installed_copy_runs_with_its_data_files(installed, tmp_path):
    code = ("import planner, dashboard, pool_planner, importlib.resources as r, pathlib;"
            "print(pathlib.Path(planner.__file__).parent.parent);"
            "print(len(list(r.files('dashboard.live').joinpath('queries').glob('*.sql'))));"
            "print(len(list(r.files('dashboard').joinpath('demo_sql').glob('*.sql'))));"
            "print(sorted(p.name for p in r.files('planner.examples').iterdir() if p.name.endswith('.toml')));"
            "from dashboard import presets; print(sorted(presets.presets()))")
    proc = run(installed, "python", "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    site, queries, demo_sql, examples, preset_names = proc.stdout.splitlines()
    assert preset_names == repr(sorted(presets.presets()))  # read from the installed planner.examples
    assert Path(site).is_relative_to(installed), "planner was imported from outside the fresh venv"
    assert int(queries) == len(list((ROOT / "dashboard" / "live" / "queries").glob("*.sql")))
    assert int(demo_sql) == len(list((ROOT / "dashboard" / "demo_sql").glob("*.sql")))
    assert examples == repr(sorted(p.name for p in (ROOT / "examples").glob("*.toml")))


def test_every_command_is_on_path(installed, tmp_path):
    version = run(installed, "pool-planner", "--version", cwd=tmp_path)
    assert (version.returncode, version.stdout.strip()) == (0, "pool-planner 0.1.0")
    bare = run(installed, "pool-planner", cwd=tmp_path)
    assert bare.returncode == 2 and bare.stderr.startswith("usage: pool-planner")
    assert all(name in bare.stderr for name in ("plan", "recommend", "check", "export", "wait", "lint", "live",
                                                 "dashboard"))
    lint = run(installed, "pool-planner", "lint", str(ROOT / "tests" / "lint_corpus" / "lesson" / "app"),
               "--json", cwd=tmp_path)
    assert lint.returncode == 1 and "bind-in-literal" in lint.stdout
    live = run(installed, "pool-planner", "live", "sample", "--url", f"postgresql://nobody@127.0.0.1:{free_port()}/x",
               "--timeout", "2", cwd=tmp_path)
    assert live.returncode == 2 and len(live.stderr.splitlines()) == 1, live.stderr
    live_help = run(installed, "pool-planner", "live", "--help", cwd=tmp_path)
    assert live_help.returncode == 0 and live_help.stdout.startswith("usage: pool-planner live")


def test_editable_install_runs_this_clone(tmp_path):
    venv = tmp_path / "venv"
    pip_install(make_venv(venv), "-e", ".")
    where = run(venv, "python", "-c", "import planner; print(planner.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()) == ROOT / "planner" / "__init__.py"
    proc = run(venv, "pool-planner", "check", "--config", str(LESSON), cwd=tmp_path)
    assert proc.returncode == 1 and "overflow-exceeds-budget" in proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dashboard_starts_from_any_folder_on_localhost(installed, tmp_path):
    port = free_port()
    proc = subprocess.Popen([str(installed / "bin" / "pool-planner"), "dashboard", "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 60, ""
        while time.monotonic() < deadline and body != "ok":
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.3)
        assert body == "ok"
        with socket.socket() as sock:  # bound to loopback only: another local address of this host is refused
            sock.settimeout(2)
            other = socket.gethostbyname(socket.gethostname())
            if not other.startswith("127."):
                assert sock.connect_ex((other, port)) != 0
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "Traceback" not in output, output
