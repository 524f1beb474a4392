"""Donor engagement and retention portal."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from flask import Flask
from sqlalchemy import event, exc

from portal.config import ROOT, Config

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
    from portal.extensions import csrf, db, htmx, limiter, login_manager, migrate

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        else:
            ping_after_idle(db.engine, app.config["DB_PING_AFTER_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)


def ping_after_idle(engine, seconds: float) -> None:
    """Ping a pooled connection before reuse only when it has sat idle for `seconds`.

    SQLAlchemy's pool_pre_ping pings on every checkout: two round trips (BEGIN, SELECT 1) on each request
    of a busy process. An idle connection is the one a database restart or a firewall timeout will have
    cut, so only that one is checked; a dead one is replaced before the request sees it. A connection cut
    while in steady use fails its request, and SQLAlchemy then replaces the whole pool."""

    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError("connection lost while idle") from error


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
    from portal.auth.models import User
    from portal.extensions import db, login_manager

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def _init_jobs(app: Flask) -> None:
    from portal import jobs

    jobs.init_app(app)


def _init_web(app: Flask) -> None:
    from portal import htmx, web

    htmx.init_app(app)
    web.init_app(app)


def _init_blueprints(app: Flask) -> None:
    """Each domain registers its blueprints and extension points (nav, panels, tiles) in its init_app."""
    from portal import (auth, donors, engagement, feedback, giving, insights, journey, kb, loyalty, retention,
                        selfservice, settings, staff, support, taxrelief)

    for domain in (auth, staff, donors, giving, journey, settings, engagement, support, feedback, retention, loyalty,
                   selfservice, kb, insights, taxrelief):
        domain.init_app(app)


def _init_cli(app: Flask) -> None:
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
