"""Accounts: password hashing (argon2), sign-in, and staff user management."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select

from portal.auth.models import ROLE_LABELS, ROLES, STAFF_ROLES, User
from portal.auth.passwords import password_problem
from portal.extensions import db
from portal.timeutil import utcnow

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
    from portal.audit.services import record
    from portal.auth import throttle
    from portal.auth.sessions import request_address

    address, ip_address = (email or "").strip().lower(), request_address()
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
    from flask import current_app

    from portal.audit.services import record
    from portal.settings.services import organisation

    limit = current_app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"]
    minutes = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"] // 60
    record("auth.sign_in_throttled", actor=user, summary=f"{limit} failed sign-ins: account paused for up to {minutes} minutes")
    _queue_account_email(user.email, "sign_in_failures", f"Failed sign-ins to your {organisation().name} account",
                         donor_id=user.donor_id, purpose="sign_in_failures", user=user, failures=limit, minutes=minutes,
                         link=_link("/password/forgot"))


def sign_in(user: User, *, remember: bool, second_factor: str | None = None) -> None:
    """Open a server-side session for a user who has proved who they are and record it; only a whole sign-in
    (password and any second step) clears the account's failure count. Commits; the view then calls
    Flask-Login's login_user(user)."""
    from portal.audit.services import record
    from portal.auth import sessions, throttle

    throttle.record_success(user.email)
    sessions.start(user, remember=remember)
    user.last_login_at = utcnow()
    record("auth.sign_in", actor=user, ip_address=sessions.request_address(), summary="Signed in",
           detail={"second_factor": second_factor} if second_factor else None)
    db.session.commit()


def awaiting_second_factor(pending) -> User | None:
    """The user whose password was right a moment ago (the login view's note in the session), while the few
    minutes for their code last."""
    import time

    from portal.auth import two_factor

    if not isinstance(pending, dict) or not isinstance(pending.get("u"), int):
        return None
    if time.time() - pending.get("t", 0) >= two_factor.PENDING_SIGN_IN_MINUTES * 60:
        return None
    user = db.session.get(User, pending["u"])
    return user if user is not None and user.active and two_factor.enabled(user) else None


def check_second_factor(user: User, code: str) -> str | None:
    """The second step of a sign-in: which factor `code` was ("totp", "recovery_code"), or None. Wrong codes
    count as failed sign-ins towards the account's throttle; past its limit SignInRefused is raised. Commits."""
    from portal.audit.services import record
    from portal.auth import throttle, two_factor
    from portal.auth.sessions import request_address

    refused = throttle.refusal(user.email, request_address())
    if refused is not None:
        raise SignInRefused(f"Too many failed attempts. Try again in {refused.minutes} minute{'s' if refused.minutes != 1 else ''}.")
    kind = two_factor.verify(user, code)
    if kind is None:
        record("auth.sign_in_failed", actor=user, ip_address=request_address(), summary="Wrong two-step sign-in code")
        if throttle.record_failure(user.email, request_address()):
            _tell_owner_about_failures(user)
    elif kind == "recovery_code":
        record("auth.recovery_code_used", actor=user, ip_address=request_address(),
               summary=f"Signed in with a recovery code ({two_factor.recovery_codes_left(user)} left)")
    db.session.commit()
    return kind


def sign_out(user: User) -> None:
    """End the session this request belongs to. Commits; the view then calls logout_user()."""
    from portal.audit.services import record
    from portal.auth import sessions

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
        from portal.audit.services import record
        from portal.auth.sessions import request_address

        db.session.flush()
        record("user.created", actor=acting_user, ip_address=request_address(), summary=f"Added {email} as {ROLE_LABELS[role]}",
               detail={"user_id": user.id, "role": role})
    db.session.commit()
    return user


def update_staff_user(user: User, *, name: str, role: str, active: bool, acting_user: User) -> User:
    """Change a staff user's name, role or access. A new role or deactivation ends all their sessions,
    so the change holds at once. Commits."""
    from portal.audit.services import record
    from portal.auth import sessions

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
    from portal.audit.services import record
    from portal.auth import sessions

    check_password_strength(password, user.email)
    user.password_hash = hash_password(password)
    ended = sessions.end_all(user.id, "password_changed")
    record("user.password_changed", actor=acting_user or user, ip_address=sessions.request_address(),
           summary=f"Password changed for {user.email}" + (" by reset link" if acting_user is None else ""),
           detail={"user_id": user.id, "sessions_ended": ended})
    db.session.commit()


def staff_users() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role.in_(STAFF_ROLES)).order_by(User.name, User.email)))


# ---------------------------------------------------------------- donor accounts: invitation, signup, reset

def user_for_donor(donor_id: int) -> User | None:
    return db.session.scalar(select(User).where(User.donor_id == donor_id))


def _user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def _link(path: str) -> str:
    """An absolute link for an email; built from the path, so it works outside a request (jobs, CLI)."""
    from portal.tokens import external_url

    return external_url(path)


def _queue_account_email(to: str, template: str, subject: str, *, donor_id: int | None, purpose: str,
                         sealed_link: dict | None = None, **context) -> None:
    """Queue an account email. A link into the account goes as `sealed_link`: the stored body says the link is
    hidden, and the outbox signs the real one only as it hands the message to the mail server."""
    from flask import render_template

    from portal.engagement.services import queue_email
    from portal.settings.services import organisation
    from portal.tokens import HIDDEN_LINK

    if sealed_link is not None:
        context["link"] = HIDDEN_LINK
    body = render_template(f"auth/emails/{template}.txt", organisation=organisation(), **context)
    queue_email(to, subject, body, donor_id=donor_id, category="transactional", purpose=purpose, sealed_link=sealed_link)


def invite_donor(donor, *, invited_by) -> None:
    """Email the donor a signed link (valid 14 days) to set a password. Commits."""
    from portal.journey import services as journey
    from portal.settings.services import organisation
    from portal.tokens import sealed_link

    if not donor.email:
        raise AccountError("Add an email address to this donor before inviting them.", "email")
    if user_for_donor(donor.id) is not None:
        raise AccountError("This donor already has a portal account.")
    if _user_by_email(donor.email) is not None:
        raise AccountError("A staff account uses this email address, so it can't also be a donor login.", "email")
    _queue_account_email(donor.email, "invitation", f"Your {organisation().name} supporter account", donor_id=donor.id,
                         purpose="portal_invitation", donor=donor, invited_by=invited_by,
                         sealed_link=sealed_link("invitation", {"d": donor.id, "e": donor.email}, "/invitation/{token}"))
    journey.record(donor.id, "portal_invited", f"Invitation sent to {donor.email}", actor=invited_by, channel="email")
    db.session.commit()


def donor_for_account_token(purpose: str, token: str):
    """The donor an invitation or signup link was made for. TokenError/AccountError carry a message for the page."""
    from portal.donors.services import get_donor
    from portal.tokens import read_token

    payload = read_token(purpose, token)
    donor = get_donor(int(payload.get("d") or 0)) if isinstance(payload, dict) else None
    if donor is None or not donor.email or donor.email != payload.get("e"):
        raise AccountError("This link was made for an email address that is no longer on our records.")
    if user_for_donor(donor.id) is not None:
        raise AccountError("You already have an account. Sign in with your email address and password.")
    return donor


def create_donor_account(purpose: str, token: str, password: str) -> User:
    """Finish an invitation or a signup: the donor chooses a password and gets a donor login. Commits."""
    from portal.journey import services as journey

    donor = donor_for_account_token(purpose, token)
    check_password_strength(password, donor.email)
    if _user_by_email(donor.email) is not None:
        raise AccountError("A staff account uses this email address. Please contact us.")
    user = User(email=donor.email, name=donor.display_name, role="donor", donor_id=donor.id,
                password_hash=hash_password(password))
    db.session.add(user)
    journey.record(donor.id, "portal_account_created", "Set up their portal account" + (" from an invitation" if purpose == "invitation" else ""),
                   channel="portal", data={"via": purpose})
    db.session.commit()
    return user


def request_signup(email: str) -> None:
    """Email a sign-up link if a gift was recorded under this address. The caller shows the same page
    whatever happens here, so the page never reveals whether an address is known."""
    from portal.donors.services import normalise_email
    from portal.donors.models import Donor
    from portal.giving.services import gifts_for
    from portal.settings.services import organisation
    from portal.tokens import sealed_link

    email = normalise_email(email)
    donor = db.session.scalar(select(Donor).where(Donor.email == email)) if email else None
    if donor is None or not gifts_for(donor.id, limit=1):
        return
    name = organisation().name
    if user_for_donor(donor.id) is not None:
        _queue_account_email(donor.email, "already_registered", f"Your {name} account", donor_id=donor.id,
                             purpose="portal_signup", donor=donor, link=_link("/password/forgot"))
    else:
        _queue_account_email(donor.email, "signup", f"Confirm your email to finish signing up with {name}", donor_id=donor.id,
                             purpose="portal_signup", donor=donor,
                             sealed_link=sealed_link("signup", {"d": donor.id, "e": donor.email}, "/signup/{token}"))
    db.session.commit()


def _password_fingerprint(user: User) -> str:
    # Part of a hash of the current password hash: the link stops working once the password changes.
    import hashlib

    return hashlib.sha256((user.password_hash or "unset").encode()).hexdigest()[:16]


def request_password_reset(email: str) -> None:
    """Email a reset link (valid 2 hours, single use) to an active account; silent otherwise. Commits."""
    from portal.settings.services import organisation
    from portal.tokens import sealed_link

    user = _user_by_email(email)
    if user is None or not user.active:
        return
    _queue_account_email(user.email, "password_reset", f"Reset your {organisation().name} password", donor_id=user.donor_id,
                         purpose="password_reset", user=user,
                         sealed_link=sealed_link("password_reset", {"u": user.id, "f": _password_fingerprint(user)},
                                                 "/password/reset/{token}"))
    db.session.commit()


def user_for_reset_token(token: str) -> User:
    from portal.tokens import read_token

    payload = read_token("password_reset", token)
    user = db.session.get(User, int(payload.get("u") or 0)) if isinstance(payload, dict) else None
    if user is None or not user.active or payload.get("f") != _password_fingerprint(user):
        raise AccountError("This reset link has already been used. You can ask for a new one.")
    return user


def reset_password(token: str, password: str) -> User:
    user = user_for_reset_token(token)
    set_password(user, password)
    return user


def record_portal_login(sender, user: User) -> None:
    """Flask-Login's user_logged_in signal: a donor signing in is a touchpoint."""
    from portal.journey import services as journey

    if user.donor_id:
        journey.record(user.donor_id, "portal_login", "Signed in to the portal", channel="portal", actor=user)
        db.session.commit()


# ---------------------------------------------------------------- ending sessions

def end_own_session(user: User, session_id: int) -> bool | None:
    """A user ends one of their own sessions: None if it is not theirs or already over; True if it was the
    one this request belongs to (the view then signs them out). Commits."""
    from portal.audit.services import record
    from portal.auth import sessions

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
    from portal.audit.services import record
    from portal.auth import sessions

    ended = sessions.end_all(user.id, "ended_by_user", keep=sessions.current_row(user))
    record("auth.sessions_ended", actor=user, ip_address=sessions.request_address(),
           summary=f"Ended {ended} other session{'s' if ended != 1 else ''}", detail={"user_id": user.id, "ended": ended})
    db.session.commit()
    return ended


def end_sessions_of(user: User, *, acting_user: User) -> int:
    """An administrator signs another staff user out everywhere. Commits."""
    from portal.audit.services import record
    from portal.auth import sessions

    if user.id == acting_user.id:
        raise AccountError("Use your own sessions page to end your sessions.")
    ended = sessions.end_all(user.id, "ended_by_admin")
    record("auth.sessions_ended", actor=acting_user, ip_address=sessions.request_address(),
           summary=f"Ended {ended} session{'s' if ended != 1 else ''} of {user.email}", detail={"user_id": user.id, "ended": ended})
    db.session.commit()
    return ended
