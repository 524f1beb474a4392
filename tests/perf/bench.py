"""`make bench`: generate the benchmark data set, then run every tests/perf/bench_<area>.py against it.

    python -m tests.perf.bench [--donors 100000] [--db sqlite|postgresql|both] [--only area[,area]] [--keep]

For each database the harness builds the schema with the Alembic migrations, loads the data set with
`portal.demo.generate_bulk` (100k donors make about 1M gifts) and runs ANALYZE (VACUUM ANALYZE on
PostgreSQL). Then, in a fresh process so that its memory is that of a web worker and not that of the
generator, it creates the app bound to that database (jobs in "sync" mode) and calls `run(bench)` of each
benchmark module. A module uses:

    bench.app       the Flask app bound to the benchmark database
    bench.dialect   "sqlite" | "postgresql"
    bench.timeit(name, fn, repeat=N, target_ms=..., stat="p95")   time fn() N times (after one warm-up call)
    bench.client(role)   a test client signed in as a staff user (or a donor user) with that role
    bench.record(name, value, unit, target=None, ok=None, at_least=False)
                    a one-off figure; without ok, value <= target passes (value >= target with at_least)

Modules run inside an application context. Page figures are server time: the time around an in-process
`client.get(...)`, which covers routing, the queries and rendering but not a network or a WSGI server.

With --keep the data set is reused when it was generated with the same size and seed: SQLite keeps it in
instance/bench/bench-<N>.db, PostgreSQL in the database of --pg-url (created when missing).
The table for each database is printed and written as Markdown to bench-results/latest.md.
"""
from __future__ import annotations

import argparse
import contextvars
import hashlib
import importlib
import multiprocessing
import os
import platform
import sqlite3
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

ROOT = Path(__file__).resolve().parents[2]
PERF_DIR = Path(__file__).resolve().parent
RESULTS_DIR = ROOT / "bench-results"
DATA_DIR = ROOT / "instance" / "bench"
DEFAULT_PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench_data")
DIALECT_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
GENERATION_TARGET_S = 120
STAFF_PASSWORD = "bench-password-2026"
MARKER_TABLE = "bench_dataset"


def rss_mb() -> float:
    """Resident memory of this process (VmRSS), in MB."""
    return _proc_status("VmRSS")


def peak_rss_mb() -> float:
    """The most this process has ever held resident (VmHWM), in MB."""
    return _proc_status("VmHWM")


def _proc_status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def percentile(samples: list[float], pct: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


STATS: dict[str, Callable[[list[float]], float]] = {
    "p50": lambda s: percentile(s, 50),
    "p95": lambda s: percentile(s, 95),
    "p99": lambda s: percentile(s, 99),
    "max": max,
    "mean": lambda s: sum(s) / len(s),
}


@dataclass
class Result:
    area: str
    name: str
    unit: str
    p50: float | None = None
    p95: float | None = None  # for a one-off figure: its value
    target: float | None = None
    stat: str | None = None  # which statistic the target applies to; None for a one-off figure
    ok: bool | None = None
    samples: int = 0
    at_least: bool = False  # the target is a floor (a throughput), not a ceiling

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        bound = "≥" if self.at_least else "≤"
        return f"{self.stat + ' ' if self.stat else ''}{bound} {_number(self.target)} {self.unit}".strip()

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("✓" if self.ok else "✗")


def _number(value: float) -> str:
    if value == int(value):
        return f"{value:,.0f}"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _measure(value: float | None, unit: str) -> str:
    return "" if value is None else f"{_number(value)} {unit}".strip()


class CSRFClient(FlaskClient):
    """A test client whose every POST carries a valid CSRF token, as the pages and htmx send it."""

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", hashlib.sha1(os.urandom(64)).hexdigest())
        return URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)

    def open(self, *args, **kwargs):
        # Each request in a context of its own, as a server runs it. Inside the benchmark's app context Flask would
        # reuse that context and its database session: pages would be timed without their own transaction and with
        # every row already in the identity map. Buffered, so a streamed response (a CSV) is read inside it too.
        return contextvars.Context().run(super().open, *args, buffered=True, **kwargs)

    def post(self, *args, csrf: bool = True, **kwargs):
        if csrf:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "X-CSRFToken": self.csrf_token()}
        return super().post(*args, **kwargs)


class Bench:
    """What a benchmark module sees. One instance per database."""

    def __init__(self, app, dialect: str):
        self.app = app
        self.app.test_client_class = CSRFClient
        self.dialect = dialect
        self.results: list[Result] = []
        self.area = ""
        self._clients: dict[str, CSRFClient] = {}

    def timeit(self, name: str, fn: Callable[[], Any], repeat: int = 20, target_ms: float | None = None,
               stat: str = "p95", warmup: int = 1) -> Result:
        if stat not in STATS:
            raise ValueError(f"stat must be one of {', '.join(STATS)}")
        for _ in range(warmup):
            fn()
        samples = []
        for _ in range(max(1, repeat)):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        measured = STATS[stat](samples)
        result = Result(self.area, name, "ms", p50=percentile(samples, 50), p95=percentile(samples, 95),
                        target=target_ms, stat=stat, ok=None if target_ms is None else measured <= target_ms,
                        samples=len(samples))
        if stat not in ("p50", "p95"):
            result.name += f" ({stat} {_number(measured)} ms)"
        return self._add(result)

    def record(self, name: str, value: float, unit: str, target: float | None = None, ok: bool | None = None,
               at_least: bool = False) -> Result:
        if ok is None and target is not None:
            ok = value >= target if at_least else value <= target
        return self._add(Result(self.area, name, unit, p95=float(value), target=target, ok=ok, at_least=at_least))

    def client(self, role: str) -> CSRFClient:
        if role not in self._clients:
            self._clients[role] = self._signed_in(role)
        return self._clients[role]

    def _signed_in(self, role: str) -> CSRFClient:
        from sqlalchemy import select

        from portal.auth.models import User
        from portal.auth.services import create_user
        from portal.donors.models import Donor
        from portal.extensions import db

        email = f"bench-{role}@bench.example"
        with self.app.app_context():
            if db.session.scalar(select(User.id).where(User.email == email)) is None:
                donor_id = None
                if role == "donor":
                    linked = select(User.donor_id).where(User.donor_id.is_not(None))
                    donor_id = db.session.scalar(
                        select(Donor.id).where(Donor.email.is_not(None), Donor.id.not_in(linked)).order_by(Donor.id).limit(1))
                create_user(email, STAFF_PASSWORD, role, name=f"Bench {role}", donor_id=donor_id)
            db.session.remove()
        client = self.app.test_client()
        response = client.post("/login", data={"email": email, "password": STAFF_PASSWORD})
        if response.status_code != 303:
            raise RuntimeError(f"signing in as {role} failed: HTTP {response.status_code}")
        return client

    def _add(self, result: Result) -> Result:
        self.results.append(result)
        shown = f"p50 {_measure(result.p50, result.unit)}  p95 {_measure(result.p95, result.unit)}" if result.stat \
            else _measure(result.p95, result.unit)
        print(f"    {result.verdict or '·'} {result.name}: {shown}" + (f"  (target {result.target_text})" if result.target is not None else ""),
              flush=True)
        return result


# ---------------------------------------------------------------- databases and the data set

def sqlite_url(donors: int) -> str:
    return f"sqlite:///{DATA_DIR / f'bench-{donors}.db'}"


def _app(url: str, dialect: str, donors: int):
    from portal import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "JOBS_MODE": "sync",
        "REDIS_URL": None,
        "MAIL_URL": None,
        "KB_INDEX_DIR": str(DATA_DIR / f"kb-index-{dialect}-{donors}"),
        "RATELIMIT_STORAGE_URI": "memory://",
    })


def ensure_pg_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    maintenance = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{parsed.database}"')
            print(f"  created database {parsed.database}")


def _read_marker(db) -> dict | None:
    from sqlalchemy import inspect, text

    if not inspect(db.engine).has_table(MARKER_TABLE):
        return None
    row = db.session.execute(text(f"SELECT donors, seed, generated_at, seconds FROM {MARKER_TABLE}")).mappings().first()
    return dict(row) if row else None


def _write_marker(db, donors: int, seed: int, seconds: float) -> None:
    from sqlalchemy import text

    db.session.execute(text(f"CREATE TABLE {MARKER_TABLE} (donors INTEGER, seed INTEGER, generated_at VARCHAR(40), seconds FLOAT)"))
    db.session.execute(text(f"INSERT INTO {MARKER_TABLE} VALUES (:donors, :seed, :at, :seconds)"),
                       {"donors": donors, "seed": seed, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "seconds": seconds})
    db.session.commit()


def _wipe(db, dialect: str, url: str) -> None:
    """Empty the benchmark database; refuses a PostgreSQL database that the harness did not fill."""
    from sqlalchemy import inspect, text

    db.session.remove()
    if dialect == "sqlite":
        db.engine.dispose()
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    tables = inspect(db.engine).get_table_names()
    if tables and MARKER_TABLE not in tables:
        raise SystemExit(f"{db.engine.url.render_as_string()} has tables but no {MARKER_TABLE} table: it is not a "
                         "benchmark database, so it is left alone. Point --pg-url at an empty or benchmark database.")
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    db.engine.dispose()


def _analyze(db) -> str:
    """Planner statistics. On PostgreSQL also VACUUM: autovacuum would have run after a bulk load on a live
    database, and without the visibility map it sets, counts cannot use index-only scans."""
    from sqlalchemy import text

    db.session.commit()
    statement = "VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(statement))
    return statement


def _counts(db) -> dict[str, int]:
    from sqlalchemy import func, select

    from portal.donors.models import Donor
    from portal.giving.models import Gift, RecurringPlan
    from portal.journey.models import Touchpoint

    return {name: db.session.scalar(select(func.count()).select_from(model))
            for name, model in (("donors", Donor), ("gifts", Gift), ("plans", RecurringPlan), ("touchpoints", Touchpoint))}


def prepare(dialect: str, url: str, donors: int, seed: int, keep: bool) -> list[Result]:
    """Schema by migrations, the data set, planner statistics. Returns the figures of the data set."""
    from flask_migrate import upgrade

    from portal.demo import generate_bulk
    from portal.extensions import db

    if dialect == "postgresql":
        ensure_pg_database(url)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    app = _app(url, dialect, donors)
    figures = []
    with app.app_context():
        marker = _read_marker(db)
        reusable = keep and marker and marker["donors"] == donors and marker["seed"] == seed
        if reusable:
            started = time.perf_counter()
            upgrade()  # a kept data set still gets the newest migrations (new indexes, new tables)
            _analyze(db)
            print(f"  reusing the data set generated {marker['generated_at']} ({time.perf_counter() - started:.1f}s to upgrade and analyse)")
            figures.append(Result("data set", f"reused, generated {marker['generated_at']}", ""))
            figures.append(Result("data set", f"generation of {donors:,} donors with their histories", "s",
                                  p95=marker["seconds"], target=GENERATION_TARGET_S, ok=marker["seconds"] <= GENERATION_TARGET_S))
        else:
            if keep and marker:
                print(f"  the kept data set has {marker['donors']:,} donors with seed {marker['seed']}: generating a new one")
            _wipe(db, dialect, url)
            started = time.perf_counter()
            upgrade()
            figures.append(Result("data set", "schema from migrations", "s", p95=time.perf_counter() - started))
            print(f"  generating {donors:,} donors (seed {seed})", flush=True)
            started = time.perf_counter()
            generate_bulk(donors, seed=seed, echo=lambda line: print(line, flush=True))
            seconds = time.perf_counter() - started
            figures.append(Result("data set", f"generation of {donors:,} donors with their histories", "s",
                                  p95=seconds, target=GENERATION_TARGET_S, ok=seconds <= GENERATION_TARGET_S))
            started = time.perf_counter()
            statement = _analyze(db)
            figures.append(Result("data set", statement, "s", p95=time.perf_counter() - started))
            _write_marker(db, donors, seed, seconds)
        for name, count in _counts(db).items():
            figures.append(Result("data set", name, "", p95=count))
        db.session.remove()
        db.engine.dispose()
    return figures


# ---------------------------------------------------------------- running the modules

def discover(only: list[str] | None) -> list[str]:
    areas = sorted(path.stem.removeprefix("bench_") for path in PERF_DIR.glob("bench_*.py"))
    if only:
        unknown = sorted(set(only) - set(areas))
        if unknown:
            raise SystemExit(f"unknown benchmark area(s): {', '.join(unknown)}; available: {', '.join(areas)}")
        areas = [area for area in areas if area in only]
    return areas


def run_modules(dialect: str, url: str, donors: int, areas: list[str], connection) -> None:
    """Child process: the app, the modules, the process's memory. Sends its results back over the pipe."""
    from portal.extensions import db

    app = _app(url, dialect, donors)
    bench = Bench(app, dialect)
    load_at_start = os.getloadavg()[0]
    crashed = []
    for area in areas:
        bench.area = area
        print(f"  {area}", flush=True)
        try:
            module = importlib.import_module(f"tests.perf.bench_{area}")
            with app.app_context():
                module.run(bench)
                db.session.remove()
        except Exception:
            traceback.print_exc()
            crashed.append(area)
            bench.results.append(Result(area, "crashed (see the traceback above)", "", ok=False))
    bench.area = "process"
    # Figures are wall-clock times: on a shared machine they grow with the load, so it goes in the table too.
    bench.record("machine load (1-minute average) at the start", load_at_start, "")
    bench.record("machine load (1-minute average) at the end", os.getloadavg()[0], "")
    bench.record("web process RSS at the end", rss_mb(), "MB")
    bench.record("web process peak RSS (VmHWM)", peak_rss_mb(), "MB")
    connection.send(([asdict(result) for result in bench.results], crashed))
    connection.close()


def run_database(dialect: str, url: str, donors: int, areas: list[str]) -> tuple[list[Result], list[str]]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=run_modules, args=(dialect, url, donors, areas, sender))
    child.start()
    sender.close()
    try:
        rows, crashed = receiver.recv()
    except EOFError:
        rows, crashed = [], ["the benchmark process died"]
    child.join()
    return [Result(**row) for row in rows], crashed


# ---------------------------------------------------------------- reporting

COLUMNS = ("Benchmark", "p50", "p95 / value", "Target", "")


def _rows(results: list[Result]) -> list[tuple[str, ...]]:
    rows = []
    for result in results:
        name = f"{result.area}: {result.name}"
        value = _measure(result.p95, result.unit)
        rows.append((name, _measure(result.p50, result.unit), value, result.target_text, result.verdict))
    return rows


def text_table(results: list[Result]) -> str:
    rows = _rows(results)
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in rows)) for i in range(len(COLUMNS))]
    line = lambda cells: "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) if i < 3 else cell.ljust(widths[i])
                                   for i, cell in enumerate(cells)).rstrip()
    return "\n".join([line(COLUMNS), line(tuple("-" * w for w in widths))] + [line(row) for row in rows])


def markdown_table(results: list[Result]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|---|---:|---:|---|:-:|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in _rows(results)]
    return "\n".join(out)


def summary_table(tables: dict[str, list[Result]]) -> str:
    """One row per benchmark with a target: each database's figure side by side (p95, or the value)."""
    dialects = list(tables)
    by_name = {d: {(r.area, r.name): r for r in results} for d, results in tables.items()}
    keys = [(r.area, r.name) for r in tables[dialects[0]] if r.target is not None]
    header = ["Benchmark", "Target"] + [DIALECT_NAMES[d] for d in dialects]
    out = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * len(dialects)]
    for key in keys:
        cells = [f"{key[0]}: {key[1]}", by_name[dialects[0]][key].target_text]
        for d in dialects:
            r = by_name[d].get(key)
            cells.append(f"{_measure(r.p95, r.unit)} {r.verdict}" if r else "")
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def environment(dialects: list[str], pg_url: str) -> str:
    parts = [f"Python {platform.python_version()}", f"{os.cpu_count()} CPUs"]
    if "sqlite" in dialects:
        parts.append(f"SQLite {sqlite3.sqlite_version}")
    if "postgresql" in dialects:
        try:
            import psycopg
            from sqlalchemy.engine import make_url

            plain = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(plain, connect_timeout=5) as connection:
                parts.append("PostgreSQL " + connection.execute("SHOW server_version").fetchone()[0].split()[0])
        except Exception:  # the version is decoration; the run itself reports a broken connection
            parts.append("PostgreSQL")
    return ", ".join(parts)


def write_markdown(path: Path, donors: int, seed: int, env: str, tables: dict[str, list[Result]]) -> None:
    lines = [
        f"# Benchmark results ({donors:,} donors)",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `python -m tests.perf.bench --donors {donors}` · seed {seed} · {env}.",
        "Page figures are server time: the time around an in-process `client.get(...)` (routing, queries, rendering; no network).",
        "",
    ]
    if len(tables) > 1:
        lines += ["## Summary", "", summary_table(tables), ""]
    for dialect, results in tables.items():
        lines += [f"## {DIALECT_NAMES[dialect]}", "", markdown_table(results), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--donors", type=int, default=100_000, help="size of the data set (default: 100000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--only", default="", help="comma-separated areas, e.g. foundation,imports")
    parser.add_argument("--keep", action="store_true", help="reuse a data set already generated with the same size and seed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL benchmark database (env BENCH_DATABASE_URL)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.md")
    args = parser.parse_args(argv)
    if args.donors < 100:
        parser.error("--donors must be at least 100")
    dialects = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    areas = discover([a.strip() for a in args.only.split(",") if a.strip()])
    env = environment(dialects, args.pg_url)
    print(f"Benchmarks: {', '.join(areas) or 'none'} on {', '.join(DIALECT_NAMES[d] for d in dialects)} · {env}", flush=True)
    print("Page figures are server time: the time around an in-process client.get(...), no network.", flush=True)
    tables: dict[str, list[Result]] = {}
    crashed: list[str] = []
    for dialect in dialects:
        url = sqlite_url(args.donors) if dialect == "sqlite" else args.pg_url
        print(f"\n{DIALECT_NAMES[dialect]}: {url}", flush=True)
        figures = prepare(dialect, url, args.donors, args.seed, args.keep)
        results, failed = run_database(dialect, url, args.donors, areas)
        tables[dialect] = figures + results
        crashed += [f"{DIALECT_NAMES[dialect]} {area}" for area in failed]
    for dialect, results in tables.items():
        print(f"\n{DIALECT_NAMES[dialect]}, {args.donors:,} donors\n" + text_table(results))
    write_markdown(args.out, args.donors, args.seed, env, tables)
    missed = [f"{DIALECT_NAMES[d]}: {r.name}" for d, results in tables.items() for r in results if r.ok is False]
    print(f"\nWritten to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if missed:
        print(f"{len(missed)} target(s) missed or benchmark(s) crashed:\n  " + "\n  ".join(missed))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
