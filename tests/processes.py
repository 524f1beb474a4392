"""Real `flask` subprocesses for tests (workers, the sweep): started with the test's database and Redis,
and never left behind: one that overruns its time is killed with its children and its output shown."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def flask_environment(app, redis_url: str, tmp_path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "JOBS_"))}
    env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=redis_url,
               SECRET_KEY=app.config["SECRET_KEY"], PORTAL_INSTANCE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def start_flask(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def kill_with_children(pid: int) -> None:
    """SIGKILL a process and everything it started (RQ starts a work-horse in a session of its own, so
    killing the process group is not enough): as if the machine running them had died."""
    family, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children_file = task / "children"
            children = [int(c) for c in children_file.read_text().split()] if children_file.exists() else []
            family += children
            frontier += children
    for member in reversed(family):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(process: subprocess.Popen, timeout: float = 60) -> str:
    """Wait for a process to exit successfully and return its output. One still running after `timeout`
    is killed (so it cannot disturb the next test) and the test fails with what it printed."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_with_children(process.pid)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(map(str, process.args[2:]))} still running after {timeout:g} s; killed. "
                    f"Its output:\n{output.decode(errors='replace')[-3000:]}")
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    return output.decode(errors="replace")
