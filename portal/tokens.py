"""Signed, purpose-bound tokens for links in emails (unsubscribe, survey, invitation, password reset).

A link that lets its holder into an account (invitation, signup, password reset) is never stored: the outbox
keeps the message with HIDDEN_LINK in its place and a sealed link (the purpose, payload and path, useless
without the secret key), and the link is signed only as the message is handed to the mail server."""
from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

MAX_AGE = {
    "unsubscribe": None,  # one-click unsubscribe links must keep working
    "survey": 60 * 60 * 24 * 60,
    "invitation": 60 * 60 * 24 * 14,
    "signup": 60 * 60 * 24 * 2,
    "password_reset": 60 * 60 * 2,
    "data_export": 60 * 60 * 24 * 7,
}


class TokenError(ValueError):
    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"portal-{purpose}")


def make_token(purpose: str, payload: Any) -> str:
    if purpose not in MAX_AGE:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, *, max_age: int | None = None) -> Any:
    """The payload, or TokenError with a message fit to show a person."""
    try:
        return _serializer(purpose).loads(token, max_age=max_age or MAX_AGE[purpose])
    except SignatureExpired as exc:
        raise TokenError("This link has expired.", expired=True) from exc
    except BadSignature as exc:
        raise TokenError("This link is not valid. It may have been copied incompletely.") from exc


HIDDEN_LINK = "[link hidden: only the recipient can use it]"


def sealed_link(purpose: str, payload: Any, path: str) -> dict:
    """What an account email keeps instead of its link; `path` has a "{token}" placeholder."""
    if purpose not in MAX_AGE or "{token}" not in path:
        raise ValueError(f"cannot seal a {purpose!r} link to {path!r}")
    return {"purpose": purpose, "payload": payload, "path": path}


def open_sealed_link(sealed: dict) -> str:
    """The working link, signed now: valid for its purpose's lifetime from the moment the email goes."""
    return external_url(sealed["path"].replace("{token}", make_token(sealed["purpose"], sealed["payload"])))


def external_url(path: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + path


def unsubscribe_url(donor_id: int, topic: str | None = None) -> str:
    """The one-click unsubscribe link (GET shows a confirmation page; POST unsubscribes, RFC 8058)."""
    return external_url("/unsubscribe/" + make_token("unsubscribe", {"d": donor_id, "t": topic}))
