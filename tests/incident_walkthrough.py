"""The lock incident of docs/incident.md, reproduced on a real server, printing the tool's real output.

billing-worker updates invoice 42 and leaves its transaction open; 95 s later reconcile-cron (two runs)
updates the same row and waits; 25 s after that (the blocker idle ~120 s) we look with
``sample --sessions``, are refused while acting is off, terminate the blocker with it on, and look again.

Run: ``python tests/incident_walkthrough.py postgresql+asyncpg://postgres@127.0.0.1:5432/test`` (about 2.5 min).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from incident_support import lock_chain, unique  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, allow: bool = False, data: str) -> None:
    env = {**os.environ, "POOL_PLANNER_DATA": data}
    env.pop("POOL_PLANNER_ALLOW_ACTIONS", None)
    if allow:
        env["POOL_PLANNER_ALLOW_ACTIONS"] = "1"
    shown = " ".join(("$URL" if a == args[args.index("--url") + 1] else a) for a in args)
    print(f"$ {'POOL_PLANNER_ALLOW_ACTIONS=1 ' if allow else ''}python -m dashboard.live {shown}", flush=True)
    done = subprocess.run([sys.executable, "-m", "dashboard.live", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    print(done.stdout + done.stderr + f"(exit {done.returncode})\n", flush=True)


def main(url: str, head_start_s: float = 95.0, wait_s: float = 25.0) -> None:
    with tempfile.TemporaryDirectory() as data, lock_chain(
            url, head_start_s=head_start_s, table="invoice_" + unique("demo")[-6:], role=unique("billing")) as chain:
        time.sleep(wait_s)
        run("sample", "--url", url, "--sessions", data=data)
        run("sample", "--url", url, "--sessions", "--json", data=data)
        run("terminate", "--url", url, "--pid", str(chain.blocker_pid), data=data)
        run("cancel", "--url", url, "--pid", str(chain.blocker_pid), "--json", allow=True, data=data)
        run("terminate", "--url", url, "--pid", str(chain.blocker_pid), allow=True, data=data)
        time.sleep(1)
        run("sample", "--url", url, "--sessions", data=data)
        print("waiters:", chain.errors)


if __name__ == "__main__":
    main(sys.argv[1])
