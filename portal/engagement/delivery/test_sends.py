"""A template's test email, sent to the member of staff who is writing it."""
from __future__ import annotations

from portal.donors.models import Donor
from portal.engagement.delivery.outbox import queue_email
from portal.engagement.models import EmailTemplate
from portal.engagement.templates import rendering as templating
from portal.extensions import db


def send_test(template: EmailTemplate, to: str, donor: Donor | None) -> None:
    """Queue the template, personalised for `donor` or with example values, to `to`; commits.
    TemplateLimitError when it cannot be written, and nothing is queued."""
    rendered = templating.render_for_donor(templating.Content.of(template), donor.id if donor else None)
    queue_email(to, f"[Test] {rendered.subject}", rendered.text_body, html_body=rendered.html_body,
                category="transactional", purpose="test_send")
    db.session.commit()
