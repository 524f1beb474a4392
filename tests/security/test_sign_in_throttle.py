"""Sign-in throttling counts failures per account and per address, never successes; a locked account's owner
is told; the counters work across processes on Redis and fall back to memory when Redis is down."""
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.auth import throttle
from portal.config import Config
from portal.engagement.models import EmailMessage
from portal.extensions import db, limiter
from portal.timeutil import utcnow
from tests.conftest import PASSWORD, make_user

WRONG = "not-the-password"


def attempt(app, email, password, address="203.0.113.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def production_limits(app):
    app.config["LOGIN_RATE_LIMIT"] = Config.LOGIN_RATE_LIMIT
    limiter.reset()
    yield
    app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    limiter.reset()


def test_an_office_behind_one_address_is_never_held_up_by_successful_sign_ins(app, production_limits):
    with app.app_context():
        emails = [make_user("support", f"staff{i}@example.org").email for i in range(15)]
    codes = [attempt(app, email, PASSWORD).status_code for email in emails]
    codes += [attempt(app, emails[0], WRONG).status_code, attempt(app, emails[0], PASSWORD).status_code]
    assert codes == [303] * 15 + [400, 303]


def test_one_account_guessed_from_many_addresses_is_paused_and_its_owner_told(app):
    with app.app_context():
        make_user("admin", "boss@example.org", name="Bea Boss")
    with time_machine.travel(utcnow(), tick=False) as clock:
        codes = [attempt(app, "boss@example.org", WRONG, f"198.51.100.{i}").status_code for i in range(5)]
        assert codes == [400] * 5
        refused = attempt(app, "boss@example.org", PASSWORD, "192.0.2.1")  # even the right password waits
        assert refused.status_code == 429
        assert "Too many failed sign-ins for this account. Try again in 15 minutes" in refused.get_data(as_text=True)
        assert attempt(app, "other@example.org", WRONG, "198.51.100.1").status_code == 400  # others unaffected
        clock.shift(timedelta(minutes=15, seconds=1))
        assert attempt(app, "boss@example.org", PASSWORD, "192.0.2.1").status_code == 303
    with app.app_context():
        emails = db.session.scalars(select(EmailMessage).where(EmailMessage.purpose == "sign_in_failures")).all()
        assert [(m.to_email, m.subject) for m in emails] == [("boss@example.org", "Failed sign-ins to your Harbour Trust account")]
        assert "failed 5 times in a row" in emails[0].text_body and "/password/forgot" in emails[0].text_body
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions == ["auth.sign_in_failed"] * 5 + ["auth.sign_in_throttled", "auth.sign_in_failed", "auth.sign_in"]


def test_a_success_resets_the_accounts_count(app):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    codes = [attempt(app, "fay@example.org", WRONG).status_code for _ in range(4)]
    codes.append(attempt(app, "fay@example.org", PASSWORD).status_code)
    codes += [attempt(app, "fay@example.org", WRONG).status_code for _ in range(4)]
    codes.append(attempt(app, "fay@example.org", PASSWORD).status_code)
    assert codes == [400] * 4 + [303] + [400] * 4 + [303]


def test_one_address_trying_many_accounts_is_paused(app):
    with app.app_context():
        make_user("support", "sam@example.org")
    codes = [attempt(app, f"guess{i}@example.org", WRONG).status_code for i in range(20)]
    assert codes == [400] * 20
    refused = attempt(app, "sam@example.org", PASSWORD)
    assert refused.status_code == 429 and "for this network address" in refused.get_data(as_text=True)
    assert attempt(app, "sam@example.org", PASSWORD, "192.0.2.55").status_code == 303


def test_when_redis_is_down_counting_goes_on_in_memory_and_nothing_fails(app):
    with app.app_context():
        make_user("admin", "boss@example.org")
    original = app.extensions["login_throttle"]
    app.extensions["login_throttle"] = throttle.Counters("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        codes = [attempt(app, "boss@example.org", WRONG).status_code for _ in range(5)]
        codes.append(attempt(app, "boss@example.org", PASSWORD).status_code)
    finally:
        app.extensions["login_throttle"] = original
    assert codes == [400] * 5 + [429]


@pytest.mark.redis
def test_on_redis_every_web_process_shares_the_counts(app, redis_url):
    with app.app_context():
        make_user("admin", "boss@example.org")
    original = app.extensions["login_throttle"]
    processes = [throttle.Counters(redis_url), throttle.Counters(redis_url)]
    try:
        for i in range(5):
            app.extensions["login_throttle"] = processes[i % 2]
            assert attempt(app, "boss@example.org", WRONG).status_code == 400
        app.extensions["login_throttle"] = processes[1]
        assert attempt(app, "boss@example.org", PASSWORD).status_code == 429
        assert not processes[0].memory._counts  # all in Redis
    finally:
        app.extensions["login_throttle"] = original
