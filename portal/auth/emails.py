"""Account emails (sign-in warnings, reset and invitation links), queued through engagement's outbox."""
from __future__ import annotations

from flask import render_template

from portal.engagement.services import queue_email
from portal.tokens import HIDDEN_LINK, external_url
from portal.web import current_organisation


def link(path: str) -> str:
    """An absolute link for an email; built from the path, so it works outside a request (jobs, CLI)."""
    return external_url(path)


def queue_account_email(to: str, template: str, subject: str, *, donor_id: int | None, purpose: str,
                        sealed_link: dict | None = None, **context) -> None:
    """Queue an account email. A link into the account goes as `sealed_link`: the stored body says the link is
    hidden, and the outbox signs the real one only as it hands the message to the mail server."""
    if sealed_link is not None:
        context["link"] = HIDDEN_LINK
    body = render_template(f"auth/emails/{template}.txt", organisation=current_organisation(), **context)
    queue_email(to, subject, body, donor_id=donor_id, category="transactional", purpose=purpose, sealed_link=sealed_link)
