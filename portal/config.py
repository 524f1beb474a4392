"""Configuration from environment variables, with defaults that run anywhere."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("PORTAL_INSTANCE_DIR", ROOT / "instance"))


def _development_secret() -> str:
    """A key generated once into instance/ so sessions survive restarts in development."""
    INSTANCE.mkdir(parents=True, exist_ok=True)
    key_file = INSTANCE / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _database_url(url: str) -> str:
    # Heroku-style URLs and bare "postgresql://" should use the psycopg 3 driver we ship.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    ENV_NAME = os.environ.get("PORTAL_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = _database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'portal.db'}")
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # A pooled PostgreSQL connection idle for longer than this is pinged before reuse (see portal/__init__.py).
    DB_PING_AFTER_IDLE_SECONDS = float(os.environ.get("DB_PING_AFTER_IDLE_SECONDS", "10"))
    # Seconds to wait for a new PostgreSQL connection before the request gets the "back shortly" page.
    DB_CONNECT_TIMEOUT_SECONDS = int(os.environ.get("DB_CONNECT_TIMEOUT_SECONDS", "5"))
    # Shown on the page answered while the database is unreachable (the settings page's name needs it).
    ORGANISATION_NAME = os.environ.get("ORGANISATION_NAME", "Harbour Trust")
    UNAVAILABLE_RETRY_AFTER_SECONDS = 30
    REDIS_URL = os.environ.get("REDIS_URL") or None
    # "thread": jobs run in a background thread of the web process (no Redis needed);
    # "sync": run right after commit and wait (tests); "rq": real Redis queues.
    JOBS_MODE = os.environ.get("JOBS_MODE") or ("rq" if os.environ.get("REDIS_URL") else "thread")
    # A job's PostgreSQL session gives up waiting for a lock after this long (see jobs.configure_job_engine).
    JOB_LOCK_TIMEOUT_SECONDS = float(os.environ.get("JOB_LOCK_TIMEOUT_SECONDS", "30"))
    MAIL_URL = os.environ.get("MAIL_URL") or None
    MAIL_FROM = os.environ.get("MAIL_FROM", "Friends of the Harbour Trust <hello@harbourtrust.example>")
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
    KB_INDEX_DIR = os.environ.get("KB_INDEX_DIR", str(INSTANCE / "kb-index"))
    KB_SEARCH_FLUSH_SECONDS = 5  # how often each web process writes its settled help-centre searches
    # How often each web process brings its node's search index up to date with articles edited elsewhere.
    KB_INDEX_SYNC_SECONDS = float(os.environ.get("KB_INDEX_SYNC_SECONDS", "10"))
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("REDIS_URL") or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")
    # Failed sign-ins (portal.auth.throttle): per account and per address, within one window.
    LOGIN_ACCOUNT_FAILURE_LIMIT = int(os.environ.get("LOGIN_ACCOUNT_FAILURE_LIMIT", "5"))
    LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "20"))
    LOGIN_FAILURE_WINDOW_SECONDS = int(float(os.environ.get("LOGIN_FAILURE_WINDOW_MINUTES", "15")) * 60)
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    # A session without "keep me signed in" ends on the server after this long unused.
    SESSION_IDLE_TIMEOUT = timedelta(hours=float(os.environ.get("SESSION_IDLE_HOURS", "12")))
    # Whether the organisation's two-step sign-in requirement is enforced (it always is outside the test suite).
    TWO_FACTOR_ENFORCED = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # "Keep me signed in" lasts this many days (Flask-Login's own default is a year).
    REMEMBER_COOKIE_DURATION = timedelta(days=int(os.environ.get("REMEMBER_COOKIE_DAYS", "30")))
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    PAGE_SIZE = 25
    # The read log (who opened which donor's record) is purged after this many days; other events are kept.
    AUDIT_READ_LOG_DAYS = int(os.environ.get("AUDIT_READ_LOG_DAYS", "90"))
    IMPORT_PREVIEW_ROWS = 10

    @classmethod
    def finalise(cls, config: dict) -> None:
        if not config.get("SECRET_KEY"):
            if config["ENV_NAME"] == "production":
                raise RuntimeError("SECRET_KEY must be set in production")
            config["SECRET_KEY"] = _development_secret()
        if config["ENV_NAME"] == "production":
            config["SESSION_COOKIE_SECURE"] = True
            config["REMEMBER_COOKIE_SECURE"] = True


class TestConfig(Config):
    TESTING = True
    # Tests never need a commit to survive a power cut; skipping the flush makes PostgreSQL runs quicker.
    SQLALCHEMY_ENGINE_OPTIONS = (
        {"connect_args": {"options": "-c synchronous_commit=off"}}
        if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") else {}
    )
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = _database_url(
        os.environ.get("TEST_DATABASE_URL", "sqlite:///" + str(INSTANCE / "test.db"))
    )
    REDIS_URL = None
    JOBS_MODE = "sync"
    MAIL_URL = None
    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATE_LIMIT = "1000 per minute"  # the rate-limit tests set the production limits
    KB_VOTE_RATE_LIMIT = "1000 per minute"
    KB_SEARCH_FLUSH_SECONDS = 0  # no background writer: a test flushes the search log when it means to
    KB_INDEX_SYNC_SECONDS = 0  # no index follower unless a test starts one
    PASSWORD_HASH_FAST = True
    # The suite's fixtures sign staff in with a password alone; tests/security/test_two_factor.py turns it on.
    TWO_FACTOR_ENFORCED = False
