"""`make loadtest`: 200 donor sessions and 20 staff sessions against gunicorn on PostgreSQL.

Prepares a database of its own (LOADTEST_DATABASE_URL, created and loaded with demo data on the first
run), gives 200 donors and 20 staff members a login, starts gunicorn on a free port, runs locust
headless for LOADTEST_SECONDS and prints p50/p95/p99 and errors for each page. Not part of `make test`."""
from __future__ import annotations

import csv
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DATABASE_URL = os.environ.get("LOADTEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/harbour_loadtest")
SECONDS = int(os.environ.get("LOADTEST_SECONDS", "90"))  # including the ramp-up of 44 s (5 sessions a second)
WEB_WORKERS = int(os.environ.get("LOADTEST_WEB_WORKERS", "4"))
WEB_THREADS = int(os.environ.get("LOADTEST_WEB_THREADS", "4"))
DONOR_SESSIONS, STAFF_SESSIONS = 200, 20
PASSWORD = "harbour-load-2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_database(env: dict) -> None:
    import psycopg

    server, name = DATABASE_URL.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True)
    subprocess.run([*flask, "kb", "sync"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def prepare_accounts(env: dict) -> dict:
    """Demo data on first use, and the donor and staff logins the sessions sign in with."""
    os.environ.update(env)
    from sqlalchemy import select

    from portal import create_app, demo
    from portal.auth.models import User
    from portal.auth.services import create_user
    from portal.donors.models import Donor
    from portal.extensions import db

    app = create_app({"PASSWORD_HASH_FAST": True})
    with app.app_context():
        if db.session.scalar(select(Donor.id).limit(1)) is None:
            demo.load_demo(donors=5000)
        donors = db.session.execute(select(Donor.id, Donor.email).where(Donor.email.like("%_@_%.__%"), Donor.email.not_like("%,%"))
                                    .order_by(Donor.id).limit(DONOR_SESSIONS)).all()
        have = set(db.session.scalars(select(User.email)))
        for donor_id, email in donors:
            if email.lower() not in have:
                create_user(email, PASSWORD, "donor", donor_id=donor_id)
        staff = [f"load-staff-{n}@harbourtrust.example" for n in range(STAFF_SESSIONS)]
        for email in staff:
            if email not in have:
                create_user(email, PASSWORD, "fundraiser", name="Load Test")
        db.session.commit()
        sample = list(db.session.scalars(select(Donor.id).order_by(Donor.id).limit(2000)))
        db.engine.dispose()
    accounts = Path(env["PORTAL_INSTANCE_DIR"]) / "loadtest-accounts.json"
    accounts.write_text(json.dumps({"donors": [email.lower() for _, email in donors], "staff": staff,
                                    "donor_ids": sample, "password": PASSWORD}))
    return {"LOADTEST_ACCOUNTS": str(accounts)}


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def report(stats_csv: Path) -> int:
    rows = list(csv.DictReader(stats_csv.open()))
    print(f"\n{'page':26} {'requests':>9} {'errors':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'req/s':>7}")
    errors = 0
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "all pages"
        errors += int(row["Failure Count"]) if row["Name"] != "Aggregated" else 0
        print(f"{name:26} {row['Request Count']:>9} {row['Failure Count']:>7} {row['50%']:>7} {row['95%']:>7} "
              f"{row['99%']:>7} {float(row['Requests/s']):>7.1f}")
    return errors


def main() -> int:
    instance = Path(tempfile.mkdtemp(prefix="harbour-load-"))
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "PORTAL_INSTANCE_DIR": str(instance), "FLASK_APP": "wsgi",
           "KB_INDEX_DIR": str(instance / "kb-index"), "LOGIN_RATE_LIMIT": "100000 per minute",
           "SECRET_KEY": "load-test-only", "PYTHONPATH": str(ROOT)}
    ensure_database(env)
    env.update(prepare_accounts(env))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = subprocess.Popen([str(BIN / "gunicorn"), "-w", str(WEB_WORKERS), "--threads", str(WEB_THREADS),
                            "--keep-alive", "75", "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
                           cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_ready(url)
        stats = instance / "locust"
        subprocess.run([str(BIN / "locust"), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
                        "--host", url, "-u", str(DONOR_SESSIONS + STAFF_SESSIONS), "-r", "5", "-t", f"{SECONDS}s", "--reset-stats",
                        "--csv", str(stats), "--only-summary", "--loglevel", "WARNING"],
                       cwd=ROOT, env=env, check=False)
        load = os.getloadavg()
        errors = report(Path(f"{stats}_stats.csv"))
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=60)
    print(f"\n{DONOR_SESSIONS} donor + {STAFF_SESSIONS} staff sessions, measured once all had signed in, in a {SECONDS} s run; gunicorn {WEB_WORKERS} workers x "
          f"{WEB_THREADS} threads on PostgreSQL; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
          f"load average after the run {load[0]:.1f}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
