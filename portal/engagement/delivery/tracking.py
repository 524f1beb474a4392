"""Optional open pixel and click redirect (Engagement settings), recorded as touchpoints.

Links carry a signed token naming the message (and, for clicks, the destination), so the redirect
can never be used to send people to a site we did not write into the email. The tokens do not
expire: an email opened a year later still works. They use their own signing salt, separate from
the purpose-bound tokens in portal.tokens, because they are not tied to a donor's action.
"""
from __future__ import annotations

import html
import re

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update

from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.journey import services as journey
from portal.timeutil import utcnow
from portal.tokens import external_url

_LINK = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)
PIXEL_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
             b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="portal-email-tracking")


def open_url(message_id: int) -> str:
    return external_url(f"/t/o/{_signer().dumps(message_id)}.gif")


def click_url(message_id: int, target: str) -> str:
    return external_url(f"/t/c/{_signer().dumps([message_id, target])}")


def instrument(html_body: str | None, message_id: int, *, opens: bool, clicks: bool) -> str | None:
    """Rewrite http(s) links through the click redirect and add the open pixel, as the settings say."""
    if not html_body or not (opens or clicks):
        return html_body
    if clicks:
        def rewrite(match: re.Match) -> str:
            target = html.unescape(match.group(1))
            if "/unsubscribe/" in target:  # one-click unsubscribe must go straight to the page
                return match.group(0)
            return f'href="{html.escape(click_url(message_id, target))}"'
        html_body = _LINK.sub(rewrite, html_body)
    if opens:
        pixel = f'<img src="{html.escape(open_url(message_id))}" width="1" height="1" alt="" style="display:block;border:0">'
        html_body = html_body.replace("</body>", pixel + "</body>", 1) if "</body>" in html_body else html_body + pixel
    return html_body


def read_open(token: str) -> int | None:
    try:
        value = _signer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def read_click(token: str) -> tuple[int, str] | None:
    try:
        value = _signer().loads(token)
    except BadSignature:
        return None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str) \
            and value[1].startswith(("http://", "https://")):
        return value[0], value[1]
    return None


def _first(message_id: int, column) -> EmailMessage | None:
    """Stamp the first open or click; None when it was already recorded (or the message is gone)."""
    stamped = db.session.execute(
        update(EmailMessage).where(EmailMessage.id == message_id, column.is_(None)).values({column: utcnow()})
        .execution_options(synchronize_session=False)
    ).rowcount
    return db.session.get(EmailMessage, message_id) if stamped else None


def record_open(message_id: int) -> None:
    """The first open is a touchpoint; image reloads and forwards do not add more."""
    message = _first(message_id, EmailMessage.opened_at)
    if message is not None and message.donor_id:
        journey.record(message.donor_id, "email_opened", message.subject, channel="email", data={"message_id": message_id})
    db.session.commit()


def record_click(message_id: int, target: str) -> None:
    """Every click is a touchpoint (each says which link); a click also counts as an open."""
    message = db.session.get(EmailMessage, message_id)
    if message is None:
        return
    now = utcnow()
    if message.clicked_at is None:
        message.clicked_at = now
    if message.opened_at is None:  # images were blocked, but the click proves the email was read
        message.opened_at = now
        if message.donor_id:
            journey.record(message.donor_id, "email_opened", message.subject, channel="email", data={"message_id": message_id})
    if message.donor_id:
        journey.record(message.donor_id, "email_clicked", f"{message.subject}: {target}"[:300], channel="email",
                       data={"message_id": message_id, "url": target})
    db.session.commit()
