"""Accounts: password hashing (argon2), sign-in and its second step, sessions, password resets and staff user
management. A donor's own account flows (invitation, sign-up) are in portal.auth.accounts."""
from __future__ import annotations

import hashlib
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select

from portal.audit.services import record
from portal.auth import sessions, throttle, two_factor
from portal.auth.emails import link, queue_account_email
from portal.auth.models import ROLE_LABELS, ROLES, STAFF_ROLES, User
from portal.auth.passwords import password_problem
from portal.extensions import db
from portal.timeutil import utcnow
from portal.tokens import read_token, sealed_link
from portal.web import current_organisation

_hashers: dict[bool, PasswordHasher] = {}


class AccountError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


def _hasher() -> PasswordHasher:
    # Tests use cheap parameters; production keeps argon2's recommended defaults.
    fast = bool(current_app.config.get("PASSWORD_HASH_FAST"))
    if fast not in _hashers:
        _hashers[fast] = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) if fast else PasswordHasher()
    return _hashers[fast]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_strength(password: str, email: str = "") -> None:
    problem = password_problem(password, email)
    if problem:
        raise AccountError(problem, "password")


class SignInRefused(AccountError):
    """Too many failed attempts on this account or from this address: try again later."""


def authenticate(email: str, password: str) -> User | None:
    """The active account these credentials open, or None. Failures are counted (portal.auth.throttle) and
    written to the audit trail; past the limit, SignInRefused is raised before the password is checked. Commits."""
    address, ip_address = (email or "").strip().lower(), sessions.request_address()
    refused = throttle.refusal(address, ip_address)
    if refused is not None:
        whose = "this account" if refused.reason == "account" else "this network address"
        raise SignInRefused(f"Too many failed sign-ins for {whose}. Try again in {refused.minutes} "
                            f"minute{'s' if refused.minutes != 1 else ''}, or reset your password.")
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None or not user.password_hash:
        # Hash anyway so response time does not reveal whether the address exists.
        _hasher().hash(password or "x")
        ok = False
    else:
        try:
            ok = _hasher().verify(user.password_hash, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok or not user.active:
        record("auth.sign_in_failed", actor=user, actor_label=address[:254], ip_address=ip_address,
               summary="Failed sign-in" + ("" if user is None or user.active else " (account deactivated)"))
        if throttle.record_failure(address, ip_address) and user is not None and user.active:
            _tell_owner_about_failures(user)
        db.session.commit()
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def _tell_owner_about_failures(user: User) -> None:
    """Once per window: email the owner that someone keeps failing to sign in as them, and record it."""
    limit = current_app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"]
    minutes = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"] // 60
    record("auth.sign_in_throttled", actor=user, summary=f"{limit} failed sign-ins: account paused for up to {minutes} minutes")
    queue_account_email(user.email, "sign_in_failures", f"Failed sign-ins to your {current_organisation().name} account",
                        donor_id=user.donor_id, purpose="sign_in_failures", user=user, failures=limit, minutes=minutes,
                        link=link("/password/forgot"))


def sign_in(user: User, *, remember: bool, second_factor: str | None = None) -> None:
    """Open a server-side session for a user who has proved who they are and record it; only a whole sign-in
    (password and any second step) clears the account's failure count. Commits; the view then calls
    Flask-Login's login_user(user)."""
    throttle.record_success(user.email)
    sessions.start(user, remember=remember)
    user.last_login_at = utcnow()
    record("auth.sign_in", actor=user, ip_address=sessions.request_address(), summary="Signed in",
           detail={"second_factor": second_factor} if second_factor else None)
    db.session.commit()


def awaiting_second_factor(pending) -> User | None:
    """The user whose password was right a moment ago (the login view's note in the session), while the few
    minutes for their code last."""
    if not isinstance(pending, dict) or not isinstance(pending.get("u"), int):
        return None
    if time.time() - pending.get("t", 0) >= two_factor.PENDING_SIGN_IN_MINUTES * 60:
        return None
    user = db.session.get(User, pending["u"])
    return user if user is not None and user.active and two_factor.enabled(user) else None


def check_second_factor(user: User, code: str) -> str | None:
    """The second step of a sign-in: which factor `code` was ("totp", "recovery_code"), or None. Wrong codes
    count as failed sign-ins towards the account's throttle; past its limit SignInRefused is raised. Commits."""
    refused = throttle.refusal(user.email, sessions.request_address())
    if refused is not None:
        raise SignInRefused(f"Too many failed attempts. Try again in {refused.minutes} minute{'s' if refused.minutes != 1 else ''}.")
    kind = two_factor.verify(user, code)
    if kind is None:
        record("auth.sign_in_failed", actor=user, ip_address=sessions.request_address(), summary="Wrong two-step sign-in code")
        if throttle.record_failure(user.email, sessions.request_address()):
            _tell_owner_about_failures(user)
    elif kind == "recovery_code":
        record("auth.recovery_code_used", actor=user, ip_address=sessions.request_address(),
               summary=f"Signed in with a recovery code ({two_factor.recovery_codes_left(user)} left)")
    db.session.commit()
    return kind


def sign_out(user: User) -> None:
    """End the session this request belongs to. Commits; the view then calls logout_user()."""
    row = sessions.current_row(user)
    if row is not None:
        sessions.end(row, "signed_out")
    record("auth.sign_out", actor=user, ip_address=sessions.request_address(), summary="Signed out")
    db.session.commit()


def create_user(email: str, password: str | None, role: str, *, name: str = "", donor_id: int | None = None,
                acting_user: User | None = None) -> User:
    """Add an account. One added by a staff member (`acting_user`) goes on the audit trail. Commits."""
    email = (email or "").strip().lower()
    if role not in ROLES:
        raise AccountError("Choose a role.", "role")
    if not email or "@" not in email:
        raise AccountError("Enter an email address.", "email")
    if db.session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise AccountError("A user with this email address already exists.", "email")
    if password is not None:
        check_password_strength(password, email)
    user = User(email=email, name=name.strip(), role=role, donor_id=donor_id,
                password_hash=hash_password(password) if password else None)
    db.session.add(user)
    if acting_user is not None:
        db.session.flush()
        record("user.created", actor=acting_user, ip_address=sessions.request_address(), summary=f"Added {email} as {ROLE_LABELS[role]}",
               detail={"user_id": user.id, "role": role})
    db.session.commit()
    return user


def update_staff_user(user: User, *, name: str, role: str, active: bool, acting_user: User) -> User:
    """Change a staff user's name, role or access. A new role or deactivation ends all their sessions,
    so the change holds at once. Commits."""
    if role not in STAFF_ROLES:
        raise AccountError("Choose a staff role.", "role")
    if user.id == acting_user.id and (role != "admin" or not active):
        raise AccountError("You cannot remove your own administrator access.", "role")
    changes = {field: [before, after] for field, before, after in
               (("name", user.name, name.strip()), ("role", user.role, role), ("active", user.active, active))
               if before != after}
    user.name, user.role, user.active = name.strip(), role, active
    if changes:
        ended = 0
        if "active" in changes and not active:
            ended = sessions.end_all(user.id, "deactivated")
        elif "role" in changes:
            ended = sessions.end_all(user.id, "role_changed")
        record("user.updated", actor=acting_user, ip_address=sessions.request_address(),
               summary=f"Changed {user.email}: " + ", ".join(f"{field} {before} → {after}" for field, (before, after) in changes.items()),
               detail={"user_id": user.id, "changes": changes, "sessions_ended": ended})
    db.session.commit()
    return user


def set_password(user: User, password: str, *, acting_user: User | None = None) -> None:
    """Set a new password and end every session of the account (a reset, or an administrator). Commits."""
    check_password_strength(password, user.email)
    user.password_hash = hash_password(password)
    ended = sessions.end_all(user.id, "password_changed")
    record("user.password_changed", actor=acting_user or user, ip_address=sessions.request_address(),
           summary=f"Password changed for {user.email}" + (" by reset link" if acting_user is None else ""),
           detail={"user_id": user.id, "sessions_ended": ended})
    db.session.commit()


def staff_users() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role.in_(STAFF_ROLES)).order_by(User.name, User.email)))


def staff_user(user_id: int) -> User | None:
    """The staff account with this id, or None (also for a donor's login)."""
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_staff else None


def user_for_donor(donor_id: int) -> User | None:
    return db.session.scalar(select(User).where(User.donor_id == donor_id))


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))


# ---------------------------------------------------------------- password reset links

def _password_fingerprint(user: User) -> str:
    # Part of a hash of the current password hash: the link stops working once the password changes.
    return hashlib.sha256((user.password_hash or "unset").encode()).hexdigest()[:16]


def request_password_reset(email: str) -> None:
    """Email a reset link (valid 2 hours, single use) to an active account; silent otherwise. Commits."""
    user = user_by_email(email)
    if user is None or not user.active:
        return
    queue_account_email(user.email, "password_reset", f"Reset your {current_organisation().name} password", donor_id=user.donor_id,
                        purpose="password_reset", user=user,
                        sealed_link=sealed_link("password_reset", {"u": user.id, "f": _password_fingerprint(user)},
                                                "/password/reset/{token}"))
    db.session.commit()


def user_for_reset_token(token: str) -> User:
    payload = read_token("password_reset", token)
    user = db.session.get(User, int(payload.get("u") or 0)) if isinstance(payload, dict) else None
    if user is None or not user.active or payload.get("f") != _password_fingerprint(user):
        raise AccountError("This reset link has already been used. You can ask for a new one.")
    return user


def reset_password(token: str, password: str) -> User:
    user = user_for_reset_token(token)
    set_password(user, password)
    return user


# ---------------------------------------------------------------- ending sessions

def end_own_session(user: User, session_id: int) -> bool | None:
    """A user ends one of their own sessions: None if it is not theirs or already over; True if it was the
    one this request belongs to (the view then signs them out). Commits."""
    row = next((s for s in sessions.open_sessions(user.id) if s.id == session_id), None)
    if row is None:
        return None
    current = sessions.current_row(user)
    sessions.end(row, "signed_out" if current is not None and current.id == row.id else "ended_by_user")
    record("auth.session_ended", actor=user, ip_address=sessions.request_address(),
           summary=f"Ended a session ({sessions.device(row.user_agent)})", detail={"session_id": row.id})
    db.session.commit()
    return current is not None and current.id == row.id


def end_other_sessions(user: User) -> int:
    """A user signs out everywhere but here. Commits."""
    ended = sessions.end_all(user.id, "ended_by_user", keep=sessions.current_row(user))
    record("auth.sessions_ended", actor=user, ip_address=sessions.request_address(),
           summary=f"Ended {ended} other session{'s' if ended != 1 else ''}", detail={"user_id": user.id, "ended": ended})
    db.session.commit()
    return ended


def end_sessions_of(user: User, *, acting_user: User) -> int:
    """An administrator signs another staff user out everywhere. Commits."""
    if user.id == acting_user.id:
        raise AccountError("Use your own sessions page to end your sessions.")
    ended = sessions.end_all(user.id, "ended_by_admin")
    record("auth.sessions_ended", actor=acting_user, ip_address=sessions.request_address(),
           summary=f"Ended {ended} session{'s' if ended != 1 else ''} of {user.email}", detail={"user_id": user.id, "ended": ended})
    db.session.commit()
    return ended
