"""Engagement's part in merging, erasing and exporting a donor (see portal.record_keepers)."""
from __future__ import annotations

from sqlalchemy import select, update

from portal import record_keepers as records
from portal.engagement.models import EmailMessage, WorkflowRun
from portal.extensions import db
from portal.timeutil import utcnow


def move(from_id: int, to_id: int) -> None:
    records.reassign(EmailMessage, from_id, to_id)
    records.reassign(WorkflowRun, from_id, to_id)


def erase(donor_id: int) -> None:
    """The mail log keeps that a message went (counts, opens, clicks) but not to whom or what it said;
    anything still waiting is not sent, and the donor's workflows stop."""
    db.session.execute(update(EmailMessage).where(EmailMessage.donor_id == donor_id, EmailMessage.status.in_(("pending", "sending")))
                       .values(status="skipped", last_error="Donor erased", claim_token=None))
    db.session.execute(update(EmailMessage).where(EmailMessage.donor_id == donor_id)
                       .values(to_email="erased", subject="(erased)", text_body="", html_body=None, headers=None))
    db.session.execute(update(WorkflowRun).where(WorkflowRun.donor_id == donor_id, WorkflowRun.status == "active")
                       .values(status="completed", completed_at=utcnow(), next_due_at=None))


def export(donor_id: int) -> dict[str, list[dict]]:
    sent = db.session.scalars(select(EmailMessage).where(EmailMessage.donor_id == donor_id).order_by(EmailMessage.created_at, EmailMessage.id))
    return {"emails": records.rows(sent, ("created_at", "sent_at", "to_email", "subject", "text_body", "category"),
                                   status=lambda m: m.status_label)}


def register() -> None:
    records.register("engagement", move=move, erase=erase, export=export)
