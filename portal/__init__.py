"""Donor engagement and retention portal."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from flask import Flask
from sqlalchemy import event

from portal import htmx, jobs, params, schedule, web
from portal.config import ROOT, Config
from portal.extensions import csrf, db, limiter, login_manager, migrate, ping_after_idle
from portal.extensions import htmx as htmx_extension

log = logging.getLogger(__name__)


def create_app(config: type[Config] | dict | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(Path(ROOT / "instance")))
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    Config.finalise(app.config)
    for step in INIT_STEPS:
        step(app)
    return app


def _init_extensions(app: Flask) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _bound_connect_wait(app)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        else:
            ping_after_idle(db.engine, app.config["DB_PING_AFTER_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    _limiter_falls_back_to_memory(app)
    limiter.init_app(app)
    htmx_extension.init_app(app)
    login_manager.init_app(app)


def _limiter_falls_back_to_memory(app: Flask) -> None:
    """While the shared rate-limit storage (Redis) is down, each process counts in its own memory, so
    sign-in keeps working and keeps being limited; Flask-Limiter returns to Redis once it answers again."""
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})


def _bound_connect_wait(app: Flask) -> None:
    """An unreachable PostgreSQL host fails a request after DB_CONNECT_TIMEOUT_SECONDS instead of hanging it."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    options["connect_args"] = {"connect_timeout": app.config["DB_CONNECT_TIMEOUT_SECONDS"], **options.get("connect_args", {})}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Write-ahead log: pages keep reading while a gift is written or a job (such as a CSV import) runs, and a commit costs no
    fsync (synchronous=NORMAL syncs at checkpoints; a power cut may lose the last commits, never the file).
    Needs a local disk, as SQLite itself does."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _init_models(app: Flask) -> None:
    # Importing registers every table on the shared metadata (needed by migrations and create_all).
    from portal import models  # noqa: F401


def _init_auth(app: Flask) -> None:
    # Domains are imported when the app is built, not at the top: this module runs before any portal module
    # is imported, and a script that needs only portal.money or a test of one domain must not load them all.
    from portal.auth import sessions
    from portal.auth.models import User

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        return sessions.load(session_id)


def _init_jobs(app: Flask) -> None:
    jobs.init_app(app)
    schedule.init_app(app)


def _init_web(app: Flask) -> None:
    params.init_app(app)
    htmx.init_app(app)
    web.init_app(app)


def _init_blueprints(app: Flask) -> None:
    """Each domain registers its blueprints and extension points (nav, panels, tiles) in its init_app."""
    # Imported when the app is built, as in _init_auth.
    from portal import (audit, auth, bulk_actions, donors, engagement, feedback, giving, insights, journey, kb, loyalty,
                        ops, privacy, retention, selfservice, settings, staff, support, taxrelief)

    for domain in (auth, staff, donors, giving, journey, settings, engagement, support, feedback, retention, loyalty,
                   selfservice, kb, insights, taxrelief, ops, audit, privacy, bulk_actions):
        domain.init_app(app)


def _init_cli(app: Flask) -> None:
    # Imported when the app is built, as in _init_auth: the commands import the domains they run.
    from portal import cli

    cli.init_app(app)


INIT_STEPS: list[Callable[[Flask], None]] = [
    _init_extensions,
    _init_models,
    _init_auth,
    _init_jobs,
    _init_web,
    _init_blueprints,
    _init_cli,
]
# An RQ worker process imports this package before any job, so its jobs build their app from here.
jobs.set_app_factory(create_app)
