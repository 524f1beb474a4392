"""Two-step sign-in (TOTP): enrolment with a server-drawn QR code, codes good once, recovery codes shown once
and stored hashed, "remember this device" for 30 days, and the organisation's requirement."""
import re
import time
from datetime import timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.auth.models import RecoveryCode, User
from portal.extensions import db
from portal.settings.services import organisation
from tests.conftest import login, make_donor, make_user

STEP = timedelta(seconds=30)


@pytest.fixture
def clock():
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        yield traveller


@pytest.fixture
def enforced(app):
    app.config["TWO_FACTOR_ENFORCED"] = True
    yield
    app.config["TWO_FACTOR_ENFORCED"] = False


def code_now(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time())


def enrol(app, client, area="/staff/account"):
    """Turn two-step sign-in on through the pages; returns (secret, recovery codes)."""
    page = client.get(f"{area}/two-step").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    assert "<svg" in page and "otpauth" not in page  # the QR code is drawn here, and the URI is not printed
    done = client.post(f"{area}/two-step/enable", data={"code": code_now(secret)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", done.get_data(as_text=True))
    return secret, codes


def signed_in_with_password(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 303
    return client


def test_enrolment_shows_recovery_codes_once_and_stores_only_their_hashes(app, clock):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    client = signed_in_with_password(app, "fay@example.org")
    secret, codes = enrol(app, client)
    assert len(codes) == 10 and len(set(codes)) == 10
    after = client.get("/staff/account/two-step").get_data(as_text=True)
    assert "Two-step sign-in is on" in after and "10 recovery codes left" in after
    assert not any(code in after for code in codes) and secret not in after
    with app.app_context():
        hashes = db.session.scalars(select(RecoveryCode.code_hash)).all()
        assert len(hashes) == 10 and not any(code.replace("-", "") in h for h in hashes for code in codes)


def test_sign_in_asks_for_the_code_and_a_code_works_once(app, clock):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    secret, _codes = enrol(app, signed_in_with_password(app, "fay@example.org"))
    clock.shift(STEP)

    client = app.test_client()
    first = login(client, "fay@example.org")
    assert first.headers["Location"] == "/login/code"
    assert client.get("/staff/").status_code == 302  # the password alone does not sign in
    code = code_now(secret)
    assert client.post("/login/code", data={"code": "000000" if code != "000000" else "111111"}).status_code == 400
    assert client.post("/login/code", data={"code": code}).headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200

    again = app.test_client()
    login(again, "fay@example.org")
    replayed = again.post("/login/code", data={"code": code})
    assert replayed.status_code == 400 and "doesn&#39;t match" in replayed.get_data(as_text=True)
    with app.app_context():
        sign_in = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.sign_in").order_by(AuditEvent.id.desc()))
        assert sign_in.detail == {"second_factor": "totp"}


def test_a_recovery_code_signs_in_once(app, clock):
    with app.app_context():
        make_user("support", "sam@example.org")
    _secret, codes = enrol(app, signed_in_with_password(app, "sam@example.org"))
    client = app.test_client()
    login(client, "sam@example.org")
    assert client.post("/login/code", data={"code": codes[0].upper()}).headers["Location"] == "/staff/"
    reused = app.test_client()
    login(reused, "sam@example.org")
    assert reused.post("/login/code", data={"code": codes[0]}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.summary).where(AuditEvent.action == "auth.recovery_code_used")) == \
            "Signed in with a recovery code (9 left)"


def test_remember_this_device_skips_the_code_for_30_days_only(app, clock):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    secret, _codes = enrol(app, signed_in_with_password(app, "fay@example.org"))
    clock.shift(STEP)
    browser = app.test_client()
    login(browser, "fay@example.org")
    browser.post("/login/code", data={"code": code_now(secret), "remember_device": "y"})
    browser.post("/logout")
    assert login(browser, "fay@example.org").headers["Location"] == "/staff/"
    browser.post("/logout")
    clock.shift(timedelta(days=30, minutes=1))
    assert login(browser, "fay@example.org").headers["Location"] == "/login/code"


def test_the_code_step_expires_and_wrong_codes_count_towards_the_throttle(app, clock):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    secret, _codes = enrol(app, signed_in_with_password(app, "fay@example.org"))
    clock.shift(STEP)
    client = app.test_client()
    login(client, "fay@example.org")
    clock.shift(timedelta(minutes=6))
    expired = client.post("/login/code", data={"code": code_now(secret)})
    assert expired.headers["Location"] == "/login" and client.get("/staff/").status_code == 302

    login(client, "fay@example.org")
    wrong = "123456" if code_now(secret) != "123456" else "654321"
    codes = [client.post("/login/code", data={"code": wrong}).status_code for _ in range(5)]
    assert codes == [400] * 5
    assert client.post("/login/code", data={"code": code_now(secret)}).status_code == 429


def test_administrators_must_set_it_up_by_default_and_cannot_turn_it_off(app, clock, enforced):
    with app.app_context():
        make_user("admin", "boss@example.org")
        make_user("fundraiser", "fay@example.org")
    admin = signed_in_with_password(app, "boss@example.org")
    held = admin.get("/staff/donors/")
    assert held.status_code == 302 and held.headers["Location"] == "/staff/account/two-step"
    assert signed_in_with_password(app, "fay@example.org").get("/staff/donors/").status_code == 200

    secret, _codes = enrol(app, admin)
    assert admin.get("/staff/donors/").status_code == 200
    clock.shift(STEP)
    refused = admin.post("/staff/account/two-step/disable", data={"code": code_now(secret)})
    assert refused.status_code == 400 and "requires two-step sign-in" in refused.get_data(as_text=True)


def test_the_organisation_can_require_it_for_all_staff(app, clock, staff_client):
    admin = staff_client("admin")
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
        org = organisation()
        form = {"name": org.name, "currency": org.currency, "timezone": org.timezone, "support_email": org.support_email,
                "impact_line": org.impact_line, "two_factor_required_for": "staff"}
    assert 'value="staff">All staff</option>' in admin.get("/staff/admin/organisation").get_data(as_text=True)
    assert admin.post("/staff/admin/organisation", data=form).status_code == 303
    with app.app_context():
        assert organisation().two_factor_required_for == "staff"
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings.two_factor_requirement"))
        assert event.detail == {"from": "admins", "to": "staff"} and event.actor_user_id == admin.user_id
    app.config["TWO_FACTOR_ENFORCED"] = True
    try:
        held = signed_in_with_password(app, "fay@example.org").get("/staff/donors/")
    finally:
        app.config["TWO_FACTOR_ENFORCED"] = False
    assert held.headers["Location"] == "/staff/account/two-step"


def test_a_donor_may_turn_it_on_and_off(app, clock):
    with app.app_context():
        donor = make_donor(first_name="Amelia", email="amelia@example.org")
        make_user("donor", "amelia@example.org", donor_id=donor.id)
    client = signed_in_with_password(app, "amelia@example.org")
    assert "Two-step sign-in" in client.get("/me").get_data(as_text=True)
    secret, codes = enrol(app, client, area="/me/account")
    assert len(codes) == 10
    clock.shift(STEP)
    fresh = app.test_client()
    assert login(fresh, "amelia@example.org").headers["Location"] == "/login/code"
    assert fresh.post("/login/code", data={"code": code_now(secret)}).headers["Location"] == "/me"
    clock.shift(STEP)
    assert fresh.post("/me/account/two-step/disable", data={"code": code_now(secret)}).status_code == 303
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "amelia@example.org"))
        assert user.totp_secret is None and not db.session.scalars(select(RecoveryCode)).all()
    assert login(app.test_client(), "amelia@example.org").headers["Location"] == "/me"


def test_staff_pages_are_not_open_to_donors_and_the_reverse(app, staff_client):
    with app.app_context():
        donor = make_donor(first_name="Amelia", email="amelia@example.org")
        make_user("donor", "amelia@example.org", donor_id=donor.id)
    donor_client = signed_in_with_password(app, "amelia@example.org")
    assert donor_client.get("/staff/account/two-step").status_code == 403
    assert staff_client("support").get("/me/account/two-step").status_code == 403
    assert app.test_client().get("/me/account/two-step").status_code == 302


def test_the_right_password_again_does_not_reset_the_count_of_wrong_codes(app, clock):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    secret, _codes = enrol(app, signed_in_with_password(app, "fay@example.org"))
    clock.shift(STEP)
    wrong = "123456" if code_now(secret) != "123456" else "654321"
    client = app.test_client()
    login(client, "fay@example.org")
    codes = [client.post("/login/code", data={"code": wrong}).status_code for _ in range(4)]
    assert login(client, "fay@example.org").headers["Location"] == "/login/code"
    codes.append(client.post("/login/code", data={"code": wrong}).status_code)
    assert codes == [400] * 5
    assert client.post("/login/code", data={"code": code_now(secret)}).status_code == 429
