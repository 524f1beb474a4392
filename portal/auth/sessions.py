"""Server-side sessions: every sign-in is a `user_sessions` row, and the cookies only name it.

Flask-Login keeps `User.get_id()` ("<user id>:<session key>") in the session cookie and the remember cookie;
`load()` accepts it only while the row is open. Sign-out ends that row; a password change or reset,
deactivation or a role change ends all of the user's rows; staff end their own from the sessions page and
administrators end another staff user's."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request
from flask_login.config import COOKIE_DURATION
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from portal.auth.models import User, UserSession
from portal.extensions import db
from portal.timeutil import utcnow

LAST_SEEN_PRECISION = timedelta(minutes=5)  # "last seen" is written at most this often per session
END_REASONS = {"signed_out": "Signed out", "ended_by_user": "Ended by its user", "ended_by_admin": "Ended by an administrator",
               "password_changed": "Password changed", "deactivated": "Account deactivated",
               "role_changed": "Role changed", "two_factor_changed": "Two-factor sign-in changed"}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def request_address() -> str:
    return (request.remote_addr or "")[:45] if has_request_context() else ""


def start(user: User, *, remember: bool) -> str:
    """Open a session for a sign-in in progress (the caller commits) and bind `user` to it for login_user()."""
    key = secrets.token_urlsafe(32)
    agent = request.headers.get("User-Agent", "")[:300] if has_request_context() else ""
    db.session.add(UserSession(user_id=user.id, key_hash=key_hash(key), user_agent=agent, ip_address=request_address(),
                               remember=remember))
    user.session_key = key
    return key


def parse_id(session_id: str | None) -> tuple[int, str] | None:
    """(user id, session key) from what Flask-Login stored, or None for anything else (an older plain id)."""
    if not isinstance(session_id, str):
        return None
    user_id, _, key = session_id.partition(":")
    if not user_id.isdigit() or len(user_id) > 18 or not key or len(key) > 100:
        return None
    return int(user_id), key


def _idle_limit(remember: bool) -> timedelta:
    """How long a session may go unused: a remembered one as long as its cookie lasts."""
    if remember:
        duration = current_app.config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION)
        return timedelta(seconds=duration) if isinstance(duration, int) else duration
    return current_app.config["SESSION_IDLE_TIMEOUT"]


def load(session_id: str) -> User | None:
    """Flask-Login's user loader: the user, if their session is open and has not been idle too long."""
    parsed = parse_id(session_id)
    if parsed is None:
        return None
    user_id, key = parsed
    row = db.session.execute(select(User, UserSession).join(UserSession, UserSession.user_id == User.id)
                             .where(User.id == user_id, UserSession.key_hash == key_hash(key),
                                    UserSession.ended_at.is_(None))).first()
    if row is None:
        return None
    user, open_session = row
    now = utcnow()
    if now - open_session.last_seen_at > _idle_limit(open_session.remember):
        return None
    if now - open_session.last_seen_at > LAST_SEEN_PRECISION:
        _touch(open_session.id, now)
    user.session_key = key
    return user


def _touch(session_row_id: int, now: datetime) -> None:
    # On a connection of its own, so the view's transaction is neither committed nor held up by it. Best
    # effort: if the database is busy, "last seen" waits for a later request.
    try:
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == session_row_id).values(last_seen_at=now))
    except OperationalError:
        pass


def current_row(user: User) -> UserSession | None:
    if not user.session_key:
        return None
    return db.session.scalar(select(UserSession).where(UserSession.key_hash == key_hash(user.session_key)))


def open_sessions(user_id: int) -> list[UserSession]:
    """A user's sessions still in use, most recently seen first."""
    now = utcnow()
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                              .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()))
    return [row for row in rows if now - row.last_seen_at <= _idle_limit(row.remember)]


def end(row: UserSession, reason: str) -> None:
    """End one session (the caller commits)."""
    if row.ended_at is None:
        row.ended_at, row.end_reason = utcnow(), reason


def end_all(user_id: int, reason: str, *, keep: UserSession | None = None) -> int:
    """End every open session of a user, except `keep` (the caller commits). Returns how many were ended."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    return db.session.execute(query.values(ended_at=utcnow(), end_reason=reason)
                              .execution_options(synchronize_session="fetch")).rowcount


@dataclass(frozen=True)
class Device:
    browser: str
    system: str

    def __str__(self) -> str:
        return f"{self.browser} on {self.system}" if self.system else self.browser


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device(user_agent: str) -> Device:
    """A person's name for the browser behind a User-Agent string ("Firefox on Windows")."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if not browser:
        browser = re.split(r"[/ ]", user_agent, maxsplit=1)[0][:40] or "Unknown browser"
    return Device(browser, system)
