"""Sessions end on the server: sign-out, password change or reset, deactivation and a role change stop
the old session cookie and the remember cookie; staff see and end their sessions; admins end another's."""
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.auth import services
from portal.auth.models import User, UserSession
from portal.extensions import db
from tests.conftest import PASSWORD, login, make_donor, make_user

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")


def signed_in_client(app, email, *, remember=False, agent=FIREFOX):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    data = {"email": email, "password": PASSWORD, **({"remember": "y"} if remember else {})}
    assert client.post("/login", data=data).status_code == 303
    return client


def replay(app, cookies: dict):
    """A fresh browser carrying copies of old cookies."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client


def is_signed_in(client, path="/staff/") -> bool:
    return client.get(path).status_code == 200


def actions(app):
    with app.app_context():
        return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_logout_ends_the_session_cookie_and_the_remember_cookie(app):
    with app.app_context():
        make_user("admin", "boss@example.org")
    client = signed_in_client(app, "boss@example.org", remember=True)
    session_cookie = client.get_cookie("session").value
    remember_cookie = client.get_cookie("remember_token").value
    assert is_signed_in(replay(app, {"session": session_cookie}))
    assert is_signed_in(replay(app, {"remember_token": remember_cookie}))

    assert client.post("/logout").status_code == 303
    assert not is_signed_in(client)
    assert not is_signed_in(replay(app, {"session": session_cookie}))
    assert not is_signed_in(replay(app, {"remember_token": remember_cookie}))
    assert not is_signed_in(replay(app, {"session": session_cookie, "remember_token": remember_cookie}))
    with app.app_context():
        row = db.session.scalar(select(UserSession))
        assert row.ended_at is not None and row.end_reason == "signed_out"
    assert actions(app) == ["auth.sign_in", "auth.sign_out"]


def test_a_donor_signing_out_is_not_served_a_stored_page(app):
    with app.app_context():
        donor = make_donor(first_name="Amelia", email="amelia@example.org")
        make_user("donor", "amelia@example.org", donor_id=donor.id)
    client = signed_in_client(app, "amelia@example.org")
    assert "Hello, Amelia" in client.get("/me").get_data(as_text=True)
    assert "Hello, Amelia" in client.get("/me").get_data(as_text=True)  # now answered from the page store
    cookie = client.get_cookie("session").value
    client.post("/logout")
    again = replay(app, {"session": cookie}).get("/me")
    assert again.status_code == 302 and "/login" in again.headers["Location"]


def test_a_password_reset_ends_every_session(app):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    laptop = signed_in_client(app, "fay@example.org", remember=True)
    phone = signed_in_client(app, "fay@example.org", agent=IPHONE)
    remember_cookie = laptop.get_cookie("remember_token").value
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "fay@example.org"))
        services.set_password(user, "a brand new harbour password")
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert not is_signed_in(replay(app, {"remember_token": remember_cookie}))
    with app.app_context():
        assert set(db.session.scalars(select(UserSession.end_reason))) == {"password_changed"}


def test_deactivating_or_changing_the_role_ends_their_sessions(app, staff_client):
    admin = staff_client("admin")
    with app.app_context():
        fay_id = make_user("fundraiser", "fay@example.org", name="Fay").id
        sam_id = make_user("support", "sam@example.org", name="Sam").id
    fay = signed_in_client(app, "fay@example.org")
    sam = signed_in_client(app, "sam@example.org")
    assert is_signed_in(fay) and is_signed_in(sam)

    admin.post(f"/staff/admin/users/{fay_id}", data={"name": "Fay", "role": "support", "active": "y"})
    assert not is_signed_in(fay) and is_signed_in(sam)
    admin.post(f"/staff/admin/users/{sam_id}", data={"name": "Sam", "role": "support"})
    assert not is_signed_in(sam)
    with app.app_context():
        changes = [e.detail["changes"] for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.updated")
                                                                   .order_by(AuditEvent.id))]
    assert changes == [{"role": ["fundraiser", "support"]}, {"active": [True, False]}]


def test_staff_see_their_sessions_and_end_one(app):
    with app.app_context():
        make_user("support", "sam@example.org")
    laptop = signed_in_client(app, "sam@example.org")
    phone = signed_in_client(app, "sam@example.org", agent=IPHONE)
    page = laptop.get("/staff/account/sessions").get_data(as_text=True)
    assert "Firefox on Windows" in page and "Safari on iPhone" in page and "This browser" in page
    with app.app_context():
        phone_session = db.session.scalar(select(UserSession).where(UserSession.user_agent == IPHONE))
    assert laptop.post(f"/staff/account/sessions/{phone_session.id}/end").status_code == 303
    assert not is_signed_in(phone) and is_signed_in(laptop)
    assert "Safari on iPhone" not in laptop.get("/staff/account/sessions").get_data(as_text=True)

    with app.app_context():
        laptop_session = db.session.scalar(select(UserSession).where(UserSession.user_agent == FIREFOX))
    ended_here = laptop.post(f"/staff/account/sessions/{laptop_session.id}/end")
    assert ended_here.headers["Location"] == "/login" and not is_signed_in(laptop)


def test_nobody_ends_someone_elses_session_from_their_own_page(app):
    with app.app_context():
        make_user("support", "sam@example.org")
        make_user("support", "sue@example.org")
    sam = signed_in_client(app, "sam@example.org")
    sue = signed_in_client(app, "sue@example.org")
    with app.app_context():
        sue_session = db.session.scalar(select(UserSession).join(User).where(User.email == "sue@example.org"))
    assert sam.post(f"/staff/account/sessions/{sue_session.id}/end").status_code == 404
    assert is_signed_in(sue)


def test_sign_out_everywhere_else_keeps_this_browser(app):
    with app.app_context():
        make_user("fundraiser", "fay@example.org")
    here = signed_in_client(app, "fay@example.org")
    elsewhere = [signed_in_client(app, "fay@example.org", agent=IPHONE) for _ in range(2)]
    assert here.post("/staff/account/sessions/end-others").status_code == 303
    assert is_signed_in(here) and not any(is_signed_in(c) for c in elsewhere)


def test_an_administrator_ends_another_staff_users_sessions(app, staff_client):
    admin = staff_client("admin")
    with app.app_context():
        fay_id = make_user("fundraiser", "fay@example.org", name="Fay").id
    fay = signed_in_client(app, "fay@example.org", remember=True)
    page = admin.get(f"/staff/admin/users/{fay_id}").get_data(as_text=True)
    assert "Firefox on Windows" in page and "End all sessions" in page
    assert staff_client("fundraiser").post(f"/staff/admin/users/{fay_id}/sessions/end").status_code == 403
    assert is_signed_in(fay)
    assert admin.post(f"/staff/admin/users/{fay_id}/sessions/end").status_code == 303
    assert not is_signed_in(fay)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.sessions_ended"))
        assert event.actor_user_id == admin.user_id and event.detail == {"user_id": fay_id, "ended": 1}


def test_sign_in_and_failed_sign_in_are_on_the_audit_trail(app, client):
    with app.app_context():
        user_id = make_user("admin", "boss@example.org").id
    assert login(client, "boss@example.org", "not the password").status_code == 400
    assert login(client, "nobody@example.org", "not the password").status_code == 400
    assert login(client, "boss@example.org").status_code == 303
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor_user_id, e.actor_label, e.ip_address) for e in events] == [
            ("auth.sign_in_failed", user_id, "boss@example.org", "127.0.0.1"),
            ("auth.sign_in_failed", None, "nobody@example.org", "127.0.0.1"),
            ("auth.sign_in", user_id, "boss@example.org", "127.0.0.1"),
        ]


def test_adding_a_staff_user_and_setting_their_password_are_on_the_audit_trail(app, staff_client):
    admin = staff_client("admin")
    assert admin.post("/staff/admin/users", data={"name": "Sam", "email": "sam@example.org", "role": "support",
                                                  "password": "a long harbour walk"}).status_code == 303
    with app.app_context():
        sam_id = db.session.scalar(select(User.id).where(User.email == "sam@example.org"))
    admin.post(f"/staff/admin/users/{sam_id}", data={"name": "Sam", "role": "support", "active": "y",
                                                    "password": "another long harbour walk"})
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("user.%")).order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor_user_id, e.summary) for e in events] == [
            ("user.created", admin.user_id, "Added sam@example.org as Support specialist"),
            ("user.password_changed", admin.user_id, "Password changed for sam@example.org"),
        ]
        assert "another long harbour walk" not in str(events[1].detail)
