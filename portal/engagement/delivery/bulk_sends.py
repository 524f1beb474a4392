"""Sending one template to a whole segment.

Starting a send copies the template and commits; a job then writes every recipient's outbox row with
ONE `INSERT ... SELECT` (unrendered, `needs_render`) and hands the ids to delivery jobs of 500. Each
delivery job renders its batch (tokens loaded in a few queries for the whole batch) just before
sending. The database holds every row from the start, so progress is a count and nothing depends
on a queue surviving.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import Boolean, DateTime, Integer, String, and_, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal import jobs
from portal.donors.models import Donor
from portal.engagement.delivery import sending_rules as engagement_settings
from portal.engagement.templates import rendering as templating
from portal.engagement.delivery import tracking
from portal.engagement.models import BulkSend, EmailMessage, EmailTemplate, Segment
from portal.engagement.delivery.outbox import (BATCH_SIZE, JOB_TIMEOUT, SENDABLE, DeliveryHooks, Outgoing, deliver_messages,
                                      envelope_sender)
from portal.engagement.segments.services import members_select
from portal.extensions import db
from portal.timeutil import utcnow


class BulkSendError(ValueError):
    pass


def _can_receive_marketing():
    return and_(Donor.email.is_not(None), Donor.marketing_opt_in.is_(True), Donor.unsubscribed_at.is_(None))


def _under_weekly_cap(now):
    cap = engagement_settings.current().marketing_weekly_cap
    recent = (select(func.count()).select_from(EmailMessage)
              .where(EmailMessage.donor_id == Donor.id, EmailMessage.category == "marketing",
                     EmailMessage.created_at >= now - timedelta(days=7), EmailMessage.status.in_(SENDABLE))
              .scalar_subquery())
    return recent < cap


def audience(segment: Segment, category: str, *, now=None) -> dict[str, int]:
    """Who a send would reach and why the others are left out (shown before staff confirm)."""
    now = now or utcnow()
    members = members_select(segment, now=now)
    base = select(func.count()).select_from(Donor).where(Donor.id.in_(members))
    total = db.session.scalar(base) or 0
    with_email = db.session.scalar(base.where(Donor.email.is_not(None))) or 0
    result = {"members": total, "no email address": total - with_email}
    if category == "marketing":
        consenting = db.session.scalar(base.where(_can_receive_marketing())) or 0
        under_cap = db.session.scalar(base.where(_can_receive_marketing(), _under_weekly_cap(now))) or 0
        result.update({"no marketing consent": with_email - consenting, "weekly email limit reached": consenting - under_cap,
                       "recipients": under_cap})
    else:
        result["recipients"] = with_email
    return result


def chosen(template_id: int | None, segment_id: int | None) -> tuple[EmailTemplate | None, Segment | None]:
    """The template and segment a send form names, each None when not chosen or gone."""
    return (db.session.get(EmailTemplate, template_id) if template_id else None,
            db.session.get(Segment, segment_id) if segment_id else None)


def _check_sendable(template: EmailTemplate, segment: Segment) -> None:
    problems = templating.check(template.subject, template.html_body, template.text_body)
    if problems:
        raise BulkSendError("The template has errors; fix them before sending.")
    if not audience(segment, template.category)["recipients"]:
        raise BulkSendError("Nobody in this segment can receive this email.")


def start_bulk_send(template: EmailTemplate, segment: Segment, *, actor=None, name: str = "") -> BulkSend:
    """Copy the template, queue the send and commit; the recipients are written by a job after the commit.
    A BulkSendError (a template with errors, nobody to send to) rolls the transaction back."""
    try:
        _check_sendable(template, segment)
    except BulkSendError:
        db.session.rollback()
        raise
    send = BulkSend(template_id=template.id, segment_id=segment.id, name=(name.strip() or f"{template.name} → {segment.name}")[:200],
                    category=template.category, subject=template.subject, html_body=template.html_body,
                    text_body=template.text_body, created_by_id=getattr(actor, "id", None))
    db.session.add(send)
    db.session.flush()
    jobs.enqueue_after_commit("mail", prepare_bulk_send, send.id, job_timeout=JOB_TIMEOUT)
    db.session.commit()
    return send


def _write_recipients(send: BulkSend) -> None:
    """Every recipient's outbox row in one statement; a repeated run adds nothing (idempotency key)."""
    now = utcnow()
    segment = db.session.get(Segment, send.segment_id) if send.segment_id else None
    if segment is None:
        return
    domain = envelope_sender(current_app.config["MAIL_FROM"]).rsplit("@", 1)[-1] or "localhost"
    salt = uuid.uuid4().hex[:10]
    donor_key = cast(Donor.id, String)
    source = select(
        Donor.id, Donor.email, literal(send.subject[:300], String), literal("", String), literal(send.category, String),
        literal(f"bulk:{send.id}", String), literal(f"bulk:{send.id}:", String) + donor_key,
        literal(f"<bulk.{send.id}.{salt}.", String) + donor_key + literal(f"@{domain}>", String),
        literal("pending", String), literal(0, Integer), literal("", String), literal(now, DateTime), literal(now, DateTime),
        literal(send.id, Integer), literal(True, Boolean),
    ).where(Donor.id.in_(members_select(segment, now=now)), Donor.email.is_not(None))
    if send.category == "marketing":
        source = source.where(_can_receive_marketing(), _under_weekly_cap(now))
    columns = ["donor_id", "to_email", "subject", "text_body", "category", "purpose", "idempotency_key", "message_id",
               "status", "attempts", "last_error", "next_attempt_at", "created_at", "bulk_send_id", "needs_render"]
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(EmailMessage).from_select(columns, source).on_conflict_do_nothing())


@jobs.job
def prepare_bulk_send(send_id: int) -> int:
    """Write the recipients (once) and hand every waiting row to delivery jobs. Safe to run again."""
    send = db.session.get(BulkSend, send_id)
    if send is None or send.status == "done":
        return 0
    if send.status == "queued":
        segment = db.session.get(Segment, send.segment_id) if send.segment_id else None
        send.excluded = {k: v for k, v in audience(segment, send.category).items()
                         if k not in ("members", "recipients") and v} if segment else {}
        _write_recipients(send)
        send.total = db.session.scalar(select(func.count()).select_from(EmailMessage)
                                       .where(EmailMessage.bulk_send_id == send.id)) or 0
        send.status = "sending"
        db.session.commit()
    waiting = list(db.session.scalars(select(EmailMessage.id).where(EmailMessage.bulk_send_id == send_id,
                                                                     EmailMessage.status == "pending")
                                      .order_by(EmailMessage.id)))
    db.session.commit()
    for start in range(0, len(waiting), BATCH_SIZE):
        jobs.enqueue_now("mail", deliver_messages, waiting[start:start + BATCH_SIZE], job_timeout=JOB_TIMEOUT)
    finish_completed({send_id})
    return len(waiting)


def render_claimed(batch: list[Outgoing]) -> None:
    """Personalise the claimed rows of bulk sends in place (a few queries for the whole batch).
    Consent is checked again here: someone who unsubscribed after the send started is not mailed."""
    waiting = [item for item in batch if item.needs_render]
    if not waiting:
        return
    settings = engagement_settings.current()
    sends = {send.id: send for send in db.session.scalars(
        select(BulkSend).where(BulkSend.id.in_({item.bulk_send_id for item in waiting if item.bulk_send_id})))}
    donor_ids = [item.donor_id for item in waiting if item.donor_id]
    # The signed unsubscribe link costs a signature per donor: only made when a message carries it.
    needs_link = any(send.category == "marketing" or "unsubscribe_url" in send.subject + send.html_body + send.text_body
                     for send in sends.values())
    contexts = templating.contexts_for(donor_ids, with_unsubscribe=needs_link)
    marketing_ok = set(db.session.scalars(select(Donor.id).where(Donor.id.in_(donor_ids), _can_receive_marketing())))
    existing = set(db.session.scalars(select(Donor.id).where(Donor.id.in_(donor_ids))))
    db.session.commit()
    for item in waiting:
        send = sends.get(item.bulk_send_id)
        if send is None or item.donor_id not in existing:
            item.problem = "The send or the donor was deleted before this message went out."
            continue
        if send.category == "marketing" and item.donor_id not in marketing_ok:
            item.problem = "The donor withdrew marketing consent before this message went out."
            continue
        context = contexts[item.donor_id]
        try:
            rendered = templating.render(templating.Content(send.subject, send.html_body, send.text_body, send.category),
                                         context)
        except Exception as exc:  # personalisation must not stop the rest of the batch
            item.problem = f"Could not be personalised: {exc}"
            continue
        item.subject, item.text_body = rendered.subject, rendered.text_body
        item.html_body = tracking.instrument(rendered.html_body, item.id, opens=settings.track_opens,
                                             clicks=settings.track_clicks)
        if send.category == "marketing":
            item.headers = {"List-Unsubscribe": f"<{context['unsubscribe_url']}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def finish_delivered(batch: list[Outgoing]) -> None:
    finish_completed({item.bulk_send_id for item in batch if item.bulk_send_id})


DELIVERY_HOOKS = DeliveryHooks(before_sending=render_claimed, after_sending=finish_delivered)


def finish_completed(send_ids: set[int]) -> None:
    """A send is done when none of its messages waits any more."""
    for send_id in send_ids:
        waiting = db.session.scalar(select(func.count()).select_from(EmailMessage).where(
            EmailMessage.bulk_send_id == send_id, EmailMessage.status.in_(("pending", "sending"))))
        if not waiting:
            db.session.execute(update(BulkSend).where(BulkSend.id == send_id, BulkSend.status == "sending")
                               .values(status="done", finished_at=utcnow()))
    db.session.commit()


def progress(send: BulkSend) -> dict:
    counts = dict(db.session.execute(select(EmailMessage.status, func.count()).where(EmailMessage.bulk_send_id == send.id)
                                     .group_by(EmailMessage.status)).all())
    total = send.total or sum(counts.values())
    finished = sum(counts.get(s, 0) for s in ("sent", "stored", "failed", "skipped"))
    return {"total": total, "sent": counts.get("sent", 0) + counts.get("stored", 0), "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0), "waiting": counts.get("pending", 0) + counts.get("sending", 0),
            "done": finished, "percent": int(100 * finished / total) if total else (100 if send.status == "done" else 0),
            "finished": send.status == "done"}


def cancel(send: BulkSend) -> int:
    """Stop a send: messages not yet handed to the mail server are skipped."""
    result = db.session.execute(update(EmailMessage).where(EmailMessage.bulk_send_id == send.id, EmailMessage.status == "pending")
                                .values(status="skipped", last_error="The send was stopped by staff.")
                                .execution_options(synchronize_session=False))
    if send.status == "queued":
        send.status = "done"
        send.finished_at = utcnow()
    db.session.commit()
    finish_completed({send.id})
    return result.rowcount or 0


def recent_sends(limit: int = 20) -> list[BulkSend]:
    return list(db.session.scalars(select(BulkSend).order_by(BulkSend.created_at.desc(), BulkSend.id.desc()).limit(limit)))


def stuck_sends() -> int:
    """Sweep: a send whose preparing job was lost (Redis down, worker killed) is prepared again."""
    stale = utcnow() - timedelta(minutes=2)
    ids = list(db.session.scalars(select(BulkSend.id).where(BulkSend.status == "queued", BulkSend.created_at < stale)))
    for send_id in ids:
        jobs.enqueue_now("mail", prepare_bulk_send, send_id, job_timeout=JOB_TIMEOUT)
    return len(ids)
