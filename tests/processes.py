"""Real `flask` subprocesses for tests (workers, the sweep): started with the test's database and Redis,
and never left behind: one that overruns its time is killed with its children and its output shown."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


class PrivateRedis:
    """A redis-server of the test's own on a spare loopback port, without persistence, that the test can
    stop (an outage) and start again on the same port (the recovery)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        if not self.port:
            from tests.conftest import free_port

            self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll `condition()` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
