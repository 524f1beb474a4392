"""Accounts: password hashing (argon2), sign-in, and staff user management."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select

from portal.audit import services as audit
from portal.auth.models import ROLE_LABELS, ROLES, STAFF_ROLES, User
from portal.extensions import db
from portal.timeutil import utcnow

_hashers: dict[bool, PasswordHasher] = {}
MIN_PASSWORD_LENGTH = 10


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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Use at least {MIN_PASSWORD_LENGTH} characters.", "password")
    if email and password.lower() == email.lower():
        raise AccountError("Your password cannot be your email address.", "password")


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None or not user.password_hash:
        # Hash anyway so response time does not reveal whether the address exists.
        _hasher().hash(password or "x")
        return None
    try:
        _hasher().verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if not user.active:
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def create_user(email: str, password: str | None, role: str, *, name: str = "", donor_id: int | None = None,
                actor: User | None = None) -> User:
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
    if actor is not None:
        db.session.flush()
        audit.record("user.create", actor=actor, summary=f"Added {email} as {ROLE_LABELS[role]}",
                     detail={"user": user.id, "email": email, "role": role})
    db.session.commit()
    return user


def update_staff_user(user: User, *, name: str, role: str, active: bool, acting_user: User) -> User:
    if role not in STAFF_ROLES:
        raise AccountError("Choose a staff role.", "role")
    if user.id == acting_user.id and (role != "admin" or not active):
        raise AccountError("You cannot remove your own administrator access.", "role")
    before = audit.snapshot(user, ("name", "role", "active"))
    user.name, user.role, user.active = name.strip(), role, active
    changed = audit.changes(before, user)
    if changed:
        audit.record("user.update", actor=acting_user, summary=f"Changed {user.email}: {', '.join(sorted(changed))}",
                     detail={"user": user.id, "changes": changed})
    db.session.commit()
    return user


def set_password(user: User, password: str, *, actor: User | None = None) -> None:
    """`actor`: an administrator setting someone else's password, which the audit trail records."""
    check_password_strength(password, user.email)
    user.password_hash = hash_password(password)
    if actor is not None and actor.id != user.id:
        audit.record("user.password_set", actor=actor, summary=f"Set a new password for {user.email}", detail={"user": user.id})
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


def _queue_account_email(to: str, template: str, subject: str, *, donor_id: int | None, purpose: str, **context) -> None:
    from flask import render_template

    from portal.engagement.outbox import queue_email
    from portal.settings.services import organisation

    body = render_template(f"auth/emails/{template}.txt", organisation=organisation(), **context)
    queue_email(to, subject, body, donor_id=donor_id, category="transactional", purpose=purpose)


def invite_donor(donor, *, invited_by) -> None:
    """Email the donor a signed link (valid 14 days) to set a password. Commits."""
    from portal.journey import services as journey
    from portal.settings.services import organisation
    from portal.tokens import make_token

    if not donor.email:
        raise AccountError("Add an email address to this donor before inviting them.", "email")
    if user_for_donor(donor.id) is not None:
        raise AccountError("This donor already has a portal account.")
    if _user_by_email(donor.email) is not None:
        raise AccountError("A staff account uses this email address, so it can't also be a donor login.", "email")
    token = make_token("invitation", {"d": donor.id, "e": donor.email})
    _queue_account_email(donor.email, "invitation", f"Your {organisation().name} supporter account", donor_id=donor.id,
                         purpose="portal_invitation", donor=donor, link=_link(f"/invitation/{token}"),
                         invited_by=invited_by)
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
    from portal.tokens import make_token

    email = normalise_email(email)
    donor = db.session.scalar(select(Donor).where(Donor.email == email)) if email else None
    if donor is None or not gifts_for(donor.id, limit=1):
        return
    name = organisation().name
    if user_for_donor(donor.id) is not None:
        _queue_account_email(donor.email, "already_registered", f"Your {name} account", donor_id=donor.id,
                             purpose="portal_signup", donor=donor, link=_link("/password/forgot"))
    else:
        token = make_token("signup", {"d": donor.id, "e": donor.email})
        _queue_account_email(donor.email, "signup", f"Confirm your email to finish signing up with {name}", donor_id=donor.id,
                             purpose="portal_signup", donor=donor, link=_link(f"/signup/{token}"))
    db.session.commit()


def _password_fingerprint(user: User) -> str:
    # Part of a hash of the current password hash: the link stops working once the password changes.
    import hashlib

    return hashlib.sha256((user.password_hash or "unset").encode()).hexdigest()[:16]


def request_password_reset(email: str) -> None:
    """Email a reset link (valid 2 hours, single use) to an active account; silent otherwise. Commits."""
    from portal.settings.services import organisation
    from portal.tokens import make_token

    user = _user_by_email(email)
    if user is None or not user.active:
        return
    token = make_token("password_reset", {"u": user.id, "f": _password_fingerprint(user)})
    _queue_account_email(user.email, "password_reset", f"Reset your {organisation().name} password", donor_id=user.donor_id,
                         purpose="password_reset", user=user, link=_link(f"/password/reset/{token}"))
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
