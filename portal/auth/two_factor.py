"""Two-step sign-in with an authenticator app (TOTP, RFC 6238, via pyotp).

Enrolment shows a QR code drawn as SVG on the server (segno), so the secret never leaves the app; the first
code proves the app holds it. Ten recovery codes are shown once and only their SHA-256 is kept (they are
random, so a slow hash adds nothing). A code is accepted once: the time step it matched is stored. "Remember
this device" is a signed cookie for 30 days, tied to the secret and the password hash, so re-enrolling or a
new password forgets every remembered device. The organisation decides who must use it: administrators (the
default) or all staff; donors may turn it on for themselves."""
from __future__ import annotations

import hashlib
import secrets
import time

import pyotp
import segno
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import delete, select

from portal.audit.services import record
from portal.auth import sessions
from portal.auth.models import RecoveryCode, User
from portal.extensions import db
from portal.timeutil import utcnow
from portal.web import current_organisation

RECOVERY_CODE_COUNT = 10
TRUSTED_DEVICE_COOKIE = "trusted_device"
TRUSTED_DEVICE_DAYS = 30
PENDING_SIGN_IN_MINUTES = 5  # between the password and the code
REQUIREMENTS = {"admins": "Administrators", "staff": "All staff"}


class TwoFactorError(ValueError):
    pass


def required_for(user: User) -> bool:
    """Whether the organisation makes this user use two-step sign-in."""
    if not current_app.config.get("TWO_FACTOR_ENFORCED", True) or not user.is_staff:
        return False
    return user.role == "admin" or current_organisation().two_factor_required_for == "staff"


def enabled(user: User) -> bool:
    return bool(user.totp_secret and user.totp_enabled_at)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=current_organisation().name)


def qr_svg(uri: str) -> Markup:
    """The QR code as inline SVG (drawn here: no image service sees the secret)."""
    return Markup(segno.make(uri, error="m").svg_inline(scale=5, dark="#17202a", light="#ffffff", title="QR code"))


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step `code` belongs to at Unix time `now` (this step or a neighbour, for clock drift), or None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    for drift in (0, -1, 1):
        moment = now + drift * totp.interval
        if secrets.compare_digest(totp.at(moment), code):
            return totp.timecode(moment)
    return None


def _hash_code(code: str) -> str:
    return hashlib.sha256("".join(code.lower().split()).replace("-", "").encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(raw)))
    return codes


def pending_secret(user: User) -> str:
    """The secret being enrolled, kept on the account (never in a cookie) until a code confirms it. Commits."""
    if enabled(user):
        raise TwoFactorError("Two-step sign-in is already on.")
    if not user.totp_secret:
        user.totp_secret = new_secret()
        db.session.commit()
    return user.totp_secret


def enable(user: User, code: str) -> list[str]:
    """Turn two-step sign-in on once `code` shows the app holds the pending secret; returns the recovery codes
    to show once. Ends the user's other sessions. Commits."""
    step = _matching_step(user.totp_secret, code or "", time.time()) if user.totp_secret and not enabled(user) else None
    if step is None:
        raise TwoFactorError("That code doesn't match. Check the time on your phone and type the newest code.")
    user.totp_enabled_at, user.totp_last_step = utcnow(), step
    codes = _new_recovery_codes(user)
    sessions.end_all(user.id, "two_factor_changed", keep=sessions.current_row(user))
    record("auth.two_factor_enabled", actor=user, ip_address=sessions.request_address(), summary="Turned on two-step sign-in")
    db.session.commit()
    return codes


def regenerate_recovery_codes(user: User, code: str) -> list[str]:
    if not verify(user, code, allow_recovery=False):
        raise TwoFactorError("That code doesn't match. Type the newest code from your authenticator app.")
    codes = _new_recovery_codes(user)
    record("auth.recovery_codes_replaced", actor=user, ip_address=sessions.request_address(), summary="Made new recovery codes")
    db.session.commit()
    return codes


def disable(user: User, code: str) -> None:
    if required_for(user):
        raise TwoFactorError("Your organisation requires two-step sign-in for your account, so it stays on.")
    if not verify(user, code):
        raise TwoFactorError("That code doesn't match. Type the newest code from your authenticator app, or a recovery code.")
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    record("auth.two_factor_disabled", actor=user, ip_address=sessions.request_address(), summary="Turned off two-step sign-in")
    db.session.commit()


def verify(user: User, code: str, *, allow_recovery: bool = True) -> str | None:
    """Check a second factor: "totp" or "recovery_code" for which it was, or None. A code is good once
    (the caller commits)."""
    if not enabled(user) or not code:
        return None
    step = _matching_step(user.totp_secret, code, time.time())
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return None
        user.totp_last_step = step
        return "totp"
    if not allow_recovery:
        return None
    found = db.session.scalar(select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
                                                         RecoveryCode.code_hash == _hash_code(code)))
    if found is None:
        return None
    found.used_at = utcnow()
    return "recovery_code"


def recovery_codes_left(user: User) -> int:
    return len(db.session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id,
                                                                RecoveryCode.used_at.is_(None))).all())


# ---------------------------------------------------------------- remembered devices

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="portal-trusted-device")


def _device_fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.totp_secret}|{user.password_hash}".encode()).hexdigest()[:24]


def trusted_device_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "f": _device_fingerprint(user)})


def is_trusted_device(user: User, token: str | None) -> bool:
    if not token or not enabled(user):
        return False
    try:
        payload = _serializer().loads(token, max_age=TRUSTED_DEVICE_DAYS * 24 * 3600)
    except BadSignature:
        return False
    return isinstance(payload, dict) and payload.get("u") == user.id and payload.get("f") == _device_fingerprint(user)
