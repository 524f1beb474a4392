"""Shared fixtures: the app on SQLite or PostgreSQL (TEST_DATABASE_URL), clean tables per test,
signed-in clients for each role, and the real services (Redis, SMTP, Chromium) with CI=true
turning a missing service into a failure instead of a skip."""
from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import socket
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from email import message_from_bytes

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from werkzeug.serving import make_server

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.kb import content as kb_content

IN_CI = os.environ.get("CI") == "true"
ON_POSTGRESQL = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
PASSWORD = "correct-horse-battery"


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres only make sense on PostgreSQL: leave them out of the SQLite pass
    (deselected, not skipped, so a CI run shows no skips)."""
    if ON_POSTGRESQL:
        return
    selected = [item for item in items if item.get_closest_marker("postgres") is None]
    deselected = [item for item in items if item.get_closest_marker("postgres") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def require_service(name: str, reachable: bool, why: str = "") -> None:
    """Skip locally when a service is missing; under CI=true, fail."""
    if reachable:
        return
    message = f"{name} is not available{': ' + why if why else ''}"
    if IN_CI:
        pytest.fail(message + " (CI=true: services are required)")
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token with every POST, as the pages and htmx do.
    Pass csrf=False to send none (to prove the check is enforced)."""

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", hashlib.sha1(os.urandom(64)).hexdigest())
        return URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)

    def post(self, *args, csrf: bool = True, **kwargs):
        if csrf:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "X-CSRFToken": self.csrf_token()}
        return super().post(*args, **kwargs)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    overrides = {"KB_INDEX_DIR": str(instance / "kb-index")}
    if not os.environ.get("TEST_DATABASE_URL"):
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'test.db'}"
    application = create_app(type("SessionTestConfig", (TestConfig,), overrides))
    application.test_client_class = CSRFClient
    with application.app_context():
        db.drop_all()
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _render_each_help_article_once():
    """Tables are emptied after every test, so each test that loads the shipped help articles renders them all
    again (3% of a PostgreSQL pass); the same Markdown gives the same HTML. The app itself renders an article
    only when its file or text changes, so the cache belongs here, not in the app."""
    original = kb_content.render_markdown
    kb_content.render_markdown = functools.lru_cache(maxsize=512)(original)
    yield
    kb_content.render_markdown = original


@pytest.fixture(autouse=True)
def _clean_tables(app):
    yield
    app.extensions["me_page_store"].clear()
    app.extensions["kb_search_recorder"].discard()
    app.extensions["login_throttle"].memory.clear_all()  # every test signs in from 127.0.0.1
    with app.app_context():
        db.session.remove()
        deletes = [f'DELETE FROM "{t.name}"' for t in reversed(db.metadata.sorted_tables)]
        # DELETE is much cheaper than TRUNCATE on PostgreSQL for the handful of rows a test leaves, and
        # psycopg sends statements without parameters as one round trip; sqlite3 runs one at a time.
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("; ".join(deletes))
            else:
                for delete in deletes:
                    connection.exec_driver_sql(delete)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


def make_user(role: str, email: str | None = None, donor_id: int | None = None, name: str | None = None):
    from portal.auth.services import create_user

    return create_user(email or f"{role}@example.org", PASSWORD, role, name=name or role.title(), donor_id=donor_id)


def sign_in_staff(page, live_server: str, email: str, lands_on: str = "**/staff/**") -> None:
    """Sign a staff member in through the login form in the browser, as a person would."""
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lands_on)


def login(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def signed_in(app, role: str, name: str | None = None):
    """A test client signed in through the login form as a new user with this role; its `user_id` is set.
    Addresses use example.org: email-validator 2.x refuses the special-use .test domain at the login form."""
    with app.app_context():
        user = make_user(role, f"{role}-{os.urandom(3).hex()}@staff.example.org", name=name)
        email, user_id = user.email, user.id
    test_client = app.test_client()
    response = login(test_client, email)
    assert response.status_code == 303, response.data[:500]
    test_client.user_id = user_id
    return test_client


@pytest.fixture
def staff_client(app):
    """Returns a function role -> test client signed in as a new user with that role."""
    return lambda role="admin": signed_in(app, role)


def make_donor(**values):
    from portal.donors.services import create_donor

    defaults = {"kind": "individual", "first_name": "Ada", "last_name": "Lovelace", "email": None}
    defaults.update(values)
    return create_donor(defaults)


def make_gift(donor_id: int, amount_minor: int = 2500, received_at: datetime | None = None, **values):
    from portal.giving.services import GiftInput, record_gift

    return record_gift(donor_id, GiftInput(amount_minor=amount_minor, received_at=received_at or datetime(2026, 1, 15, 12),
                                           currency="GBP", **values))


# ---------------------------------------------------------------- live server for browser tests

def closing_body(app):
    """Wrap a WSGI app so its response body is closed however the request ends.

    Werkzeug's threaded server skips the body's close() when the browser resets the connection
    after the response went out (it drains the socket first, and that read raises). A static
    file's handle was then left to the garbage collector, whose ResourceWarning failed whichever
    test happened to be running. Closing the body in the generator's own `finally` makes the close
    independent of the server: it runs when iteration ends, or when the abandoned generator is freed."""
    def wrapped(environ, start_response):
        body = app(environ, start_response)

        def chunks():
            try:
                yield from body
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        return chunks()
    return wrapped


@contextmanager
def serving(app):
    """The app on a threaded server on a free loopback port, for Chromium to browse; yields its URL."""
    server = make_server("127.0.0.1", free_port(), closing_body(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def live_server(app):
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    chromium = "/usr/bin/chromium"
    require_service("Chromium", os.path.exists(chromium), "install Debian's chromium package")
    return {**browser_type_launch_args, "executable_path": chromium, "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-quic"]}


# ---------------------------------------------------------------- real SMTP server on loopback

class SmtpSink:
    """What a real aiosmtpd server on loopback receives: the one SMTP sink of the tests.

    `reply` answers RCPT for an address with an error code ("451 try later"); `delay` slows every RCPT,
    so a worker spends its time waiting there; when the `signal_at`-th RCPT arrives `reached` is set and
    that message is held until `released` is set, so a test can kill a worker mid-send however slowly it
    reacts. `sessions` counts SMTP sessions (one EHLO each)."""

    def __init__(self):
        self.messages = []
        self.reply: dict[str, str] = {}  # recipient -> SMTP reply such as "451 try later"
        self.delay = 0.0
        self.signal_at: int | None = None
        self.reached = threading.Event()
        self.released = threading.Event()
        self.rcpts = 0
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts += 1
        if self.rcpts == self.signal_at:
            self.reached.set()
            while not self.released.is_set():
                await asyncio.sleep(0.01)
        await asyncio.sleep(self.delay)
        if address in self.reply:
            return self.reply[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]

    def counts(self) -> Counter:
        return Counter(self.message_ids())


@pytest.fixture
def smtp_server(app):
    """A real SMTP server on a free loopback port; MAIL_URL points at it for the test."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    try:
        controller.start()
    except Exception as exc:  # the port raced away or aiosmtpd could not bind
        require_service("aiosmtpd SMTP server", False, str(exc))
    previous = app.config.get("MAIL_URL")
    sink.port, sink.url = port, f"smtp://127.0.0.1:{port}"
    app.config["MAIL_URL"] = sink.url
    yield sink
    sink.released.set()
    app.config["MAIL_URL"] = previous
    controller.stop()


@pytest.fixture
def redis_url():
    """A real Redis database for this run, flushed before and after (only that db number)."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
    try:
        connection = redis.Redis.from_url(url, socket_connect_timeout=2)
        connection.ping()
    except redis.exceptions.RedisError as exc:
        require_service("Redis", False, str(exc))
    connection.flushdb()
    yield url
    connection.flushdb()
