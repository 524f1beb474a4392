"""Queueing and delivering email through the outbox.

queue_email() adds a row to the caller's transaction; one delivery job per transaction (per 500
messages) is enqueued only after that commit. The row's idempotency key makes queueing the same
message twice a no-op, and its Message-ID stays the same across retries, so a receiver can
recognise a resend.

Delivery (deliver_messages) is safe against a worker dying at any point:
- A batch is claimed with ONE UPDATE that stamps a claim token and time on every due row. The claim
  is a lease: the worker renews it while it works, and a row whose lease ran out (its worker died) is
  claimable again, by the sweep or the next batch.
- For each message, the "sent" outcome (status, touchpoint) is written first, inside an open
  transaction guarded by the claim token; the message then goes to the SMTP server, and the
  transaction commits the moment the server accepts it. A failure rolls the outcome back and
  records the failure instead. A worker that lost its lease finds out before sending, not after.
- What remains is one unavoidable window per worker: killed after the server's 250 reply and
  before the COMMIT returns. That one message is sent again after the lease runs out, with the same
  Message-ID, which receiving systems use to drop the duplicate.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import DateTime, bindparam, event, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portal import jobs
from portal.email_address import email_problem
from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.journey.services import TouchpointWriter
from portal.mail import (HEADER_NAME, ConnectionLost, PermanentDeliveryError, SmtpConnection, TemporaryDeliveryError,
                         build_message, envelope_sender, parse_mail_url)
from portal.timeutil import utcnow
from portal.tokens import HIDDEN_LINK, open_sealed_link, unsubscribe_url

log = logging.getLogger(__name__)

BATCH_SIZE = 500  # messages per delivery job, all over one SMTP connection
MAX_ATTEMPTS = 8  # temporary failures back off 2, 4, 8 ... 128 minutes: about four hours in all
CLAIM_TIMEOUT = timedelta(minutes=10)  # a claim not renewed for this long belonged to a dead worker
RENEW_EVERY = timedelta(minutes=2)
BATCH_TIME_LIMIT = timedelta(minutes=5)  # then the rest of the batch is handed back to a fresh job
JOB_TIMEOUT = 15 * 60  # RQ's limit for one delivery job, well above the batch time limit
SENDABLE = ("pending", "sending", "sent", "stored")
CLAIM_RETRY_PAUSES = (0.5, 1, 2, 4, 8, None)  # seconds between attempts to claim while the database is busy  # what counts towards the marketing frequency cap


def marketing_headers(donor_id: int) -> dict[str, str]:
    """RFC 2369 + RFC 8058: mail clients show an unsubscribe button that POSTs to our signed link."""
    return {"List-Unsubscribe": f"<{unsubscribe_url(donor_id)}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def new_message_id() -> str:
    domain = envelope_sender(current_app.config["MAIL_FROM"]).rsplit("@", 1)[-1] or "localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


def queue_email(to_email: str, subject: str, text_body: str, *, html_body: str | None = None, donor_id: int | None = None,
                category: str = "transactional", purpose: str = "", idempotency_key: str | None = None,
                headers: dict | None = None, sealed_link: dict | None = None) -> EmailMessage:
    """Add a message to the outbox in the current transaction (no commit). Same key, same message.

    An account email passes its link as `sealed_link` and HIDDEN_LINK in the body where the link goes: staff
    reading the mail log see that it was sent, never a link into someone's account.

    A message to an unusable address is kept with status "skipped" and the reason, never sent or retried.
    Marketing mail to a donor gets the one-click unsubscribe headers."""
    if category not in ("transactional", "marketing"):
        raise ValueError(f"unknown category {category!r}")
    key = idempotency_key or f"adhoc:{uuid.uuid4().hex}"
    existing = db.session.scalar(select(EmailMessage).where(EmailMessage.idempotency_key == key))
    if existing is not None:
        return existing
    headers = dict(headers or {})
    if any(not HEADER_NAME.match(name) for name in headers):
        raise ValueError("header names may contain only letters, digits and hyphens")
    if category == "marketing" and donor_id:
        headers = {**marketing_headers(donor_id), **headers}
    problem = email_problem((to_email or "").strip())
    message = EmailMessage(to_email=(to_email or "").strip()[:254], subject=subject[:300], text_body=text_body,
                           html_body=html_body, donor_id=donor_id, category=category, purpose=purpose[:60],
                           idempotency_key=key, message_id=new_message_id(), headers=headers, sealed_link=sealed_link,
                           status="skipped" if problem else "pending", last_error=problem or "")
    db.session.add(message)
    db.session.flush()
    if not problem:
        _delivery_batch().append(message.id)
    return message


def _delivery_batch() -> list[int]:
    """The ids the current transaction will hand to one delivery job after it commits."""
    batch = db.session.info.get("outbox_batch")
    if batch is None or len(batch) >= BATCH_SIZE:
        batch = []
        db.session.info["outbox_batch"] = batch
        jobs.enqueue_after_commit("mail", deliver_messages, batch, job_timeout=JOB_TIMEOUT)
    return batch


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_delivery_batch(session: Session) -> None:
    session.info.pop("outbox_batch", None)


# ---------------------------------------------------------------- delivery

@dataclass
class Outgoing:
    """A claimed message as plain data: per-message commits never reload ORM objects."""

    id: int
    donor_id: int | None
    to_email: str
    subject: str
    text_body: str
    html_body: str | None
    category: str
    purpose: str
    message_id: str
    headers: dict
    bulk_send_id: int | None
    needs_render: bool
    attempts: int
    sealed_link: dict | None = None
    problem: str | None = None  # set when rendering found it cannot be sent


def _claimable(now: datetime):
    return or_((EmailMessage.status == "pending") & (EmailMessage.next_attempt_at <= now),
               (EmailMessage.status == "sending") & (EmailMessage.claimed_at < now - CLAIM_TIMEOUT))


_CLAIMED_COLUMNS = (EmailMessage.id, EmailMessage.donor_id, EmailMessage.to_email, EmailMessage.subject,
                    EmailMessage.text_body, EmailMessage.html_body, EmailMessage.category, EmailMessage.purpose,
                    EmailMessage.message_id, EmailMessage.headers, EmailMessage.bulk_send_id, EmailMessage.needs_render,
                    EmailMessage.attempts, EmailMessage.sealed_link)


def claim(message_ids: list[int], token: str) -> list[Outgoing]:
    """Claim every due message of the batch with one UPDATE ... RETURNING; returns what this worker now holds."""
    for pause in CLAIM_RETRY_PAUSES:
        now = utcnow()
        try:
            rows = db.session.execute(
                update(EmailMessage).where(EmailMessage.id.in_(message_ids), _claimable(now))
                .values(status="sending", claimed_at=now, claim_token=token, attempts=EmailMessage.attempts + 1)
                .returning(*_CLAIMED_COLUMNS).execution_options(synchronize_session=False)
            ).all()
            db.session.commit()
            break
        except OperationalError:  # e.g. SQLite busy with another process's writes: the claim is safe to retry
            db.session.rollback()
            if pause is None:
                raise
            time.sleep(pause)
    return [Outgoing(*row[:9], headers=row.headers or {}, bulk_send_id=row.bulk_send_id, needs_render=row.needs_render,
                     attempts=row.attempts, sealed_link=row.sealed_link) for row in sorted(rows, key=lambda row: row.id)]


def bodies_for_recipient(message: Outgoing | EmailMessage) -> tuple[str, str | None]:
    """The text and HTML bodies as the recipient gets them: an account email's link is signed and put in
    place of HIDDEN_LINK here, on the way to the mail server, and never written back."""
    if not message.sealed_link:
        return message.text_body, message.html_body
    link = open_sealed_link(message.sealed_link)
    html = message.html_body.replace(HIDDEN_LINK, link) if message.html_body else message.html_body
    return message.text_body.replace(HIDDEN_LINK, link), html


def _renew(token: str) -> None:
    db.session.execute(update(EmailMessage).where(EmailMessage.claim_token == token, EmailMessage.status == "sending")
                       .values(claimed_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()


def _release(token: str) -> list[int]:
    """Hand the unattempted rest of a batch back (the attempt they were charged did not happen)."""
    ids = list(db.session.scalars(select(EmailMessage.id).where(EmailMessage.claim_token == token,
                                                                EmailMessage.status == "sending")))
    if ids:
        db.session.execute(update(EmailMessage).where(EmailMessage.id.in_(ids), EmailMessage.claim_token == token)
                           .values(status="pending", claim_token=None, claimed_at=None,
                                   attempts=EmailMessage.attempts - 1)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    return ids


def _outcome_statement(with_content: bool, dialect: str):
    """One UPDATE per shape, built once: per message only the parameters change. The rendered content
    is saved with the outcome of a bulk message, so the mail log shows what was sent.

    On PostgreSQL the statement also switches synchronous_commit off for its own transaction (set_config
    with is_local; one round trip fewer than a separate SET LOCAL): the COMMIT after the SMTP server's
    acceptance returns once the server holds it, which a worker dying afterwards cannot undo. Only a
    crash of the database server itself could lose the last fraction of a second of outcomes, and those
    messages would go again with their Message-ID. It saves a disk flush per message."""
    table = EmailMessage.__table__
    values = {"status": bindparam("o_status"), "last_error": bindparam("o_error"), "claim_token": None,
              "sent_at": bindparam("o_sent_at", type_=DateTime),
              "next_attempt_at": func.coalesce(bindparam("o_retry_at", type_=DateTime), table.c.next_attempt_at)}
    if with_content:
        values.update(subject=bindparam("o_subject"), text_body=bindparam("o_text"), html_body=bindparam("o_html"),
                      headers=bindparam("o_headers", type_=table.c.headers.type), needs_render=False)
    conditions = [table.c.id == bindparam("o_id"), table.c.claim_token == bindparam("o_token")]
    if dialect == "postgresql":
        conditions.append(func.set_config("synchronous_commit", "off", True).is_not(None))
    return update(table).where(*conditions).values(values)


_OUTCOME: dict[tuple[bool, str], object] = {}


class Outcomes:
    """Writes the outcome of each message of a batch, in a transaction of its own, on a database
    connection of its own: plain prepared statements, no ORM unit of work per message. The worker
    holds the "sent" outcome open while the SMTP server takes the message and commits it the moment
    the server accepts; a failure rolls it back and writes the failure instead."""

    def __init__(self, token: str):
        self.token = token
        self.connection = db.engine.connect()
        self.dialect = self.connection.dialect.name
        self.touchpoints = TouchpointWriter(self.connection)
        self.retries: dict[int, tuple[datetime, list[int]]] = {}  # attempts -> (latest due time, message ids)

    def write(self, item: Outgoing, *, status: str, error: str = "", retry_at: datetime | None = None) -> bool:
        """Add one message's outcome to the open transaction; False if this worker no longer holds it."""
        sent = status in ("sent", "stored")
        now = utcnow()
        params = {"o_id": item.id, "o_token": self.token, "o_status": status, "o_error": error[:2000],
                  "o_sent_at": now if sent else None, "o_retry_at": retry_at}
        if item.needs_render:
            params.update(o_subject=item.subject[:300], o_text=item.text_body, o_html=item.html_body, o_headers=item.headers)
        shape = (item.needs_render, self.dialect)
        if shape not in _OUTCOME:
            _OUTCOME[shape] = _outcome_statement(*shape)
        if not self.connection.execute(_OUTCOME[shape], params).rowcount:
            return False
        if status == "pending" and retry_at is not None:
            due, ids = self.retries.get(item.attempts, (retry_at, []))
            self.retries[item.attempts] = (max(due, retry_at), [*ids, item.id])
        if sent and item.donor_id:
            self.touchpoints.record(item.donor_id, "email_sent", item.subject, channel="email", occurred_at=now,
                                    data={"message_id": item.id, "category": item.category, "purpose": item.purpose})
        return True

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()

    def schedule_retries(self) -> None:
        """One delivery job per attempt level, at the time its messages fall due: a message the server
        deferred for two minutes goes again after two minutes, not at the next sweep."""
        for due, ids in self.retries.values():
            jobs.enqueue_at(due, "mail", deliver_messages, ids, job_timeout=JOB_TIMEOUT)
        self.retries = {}

    def close(self) -> None:
        self.connection.close()
        self.touchpoints.process_written()


def _retry_outcome(item: Outgoing) -> tuple[str, datetime | None]:
    if item.attempts >= MAX_ATTEMPTS:
        return "failed", None
    return "pending", utcnow() + timedelta(minutes=min(2 ** item.attempts, 240))


def _defer(item: Outgoing, outcomes: Outcomes, error: str) -> str:
    """Write a temporary failure: retried later with backoff, or failed after the last attempt. The error
    says which attempt this was, so the mail log shows how far along its retries a message is."""
    status, retry_at = _retry_outcome(item)
    note = "will retry" if status == "pending" else "giving up"
    outcomes.write(item, status=status, error=f"{error} (attempt {item.attempts} of {MAX_ATTEMPTS}; {note})",
                   retry_at=retry_at)
    return "retry" if status == "pending" else "failed"


def _fail_or_retry(item: Outgoing, outcomes: Outcomes, error: str, *, permanent: bool) -> str:
    outcomes.rollback()
    if permanent:
        outcomes.write(item, status="failed", error=error)
        result = "failed"
    else:
        result = _defer(item, outcomes, error)
    outcomes.commit()
    return result


@dataclass(frozen=True)
class DeliveryHooks:
    """What a sender of many messages (bulk sends) does around each delivery batch it is part of."""
    before_sending: Callable[[list[Outgoing]], None]  # fill in the claimed messages that were queued unrendered
    after_sending: Callable[[list[Outgoing]], None]  # e.g. mark a send done once none of its messages waits


_HOOKS: list[DeliveryHooks] = []


def add_delivery_hooks(hooks: DeliveryHooks) -> None:
    if hooks not in _HOOKS:
        _HOOKS.append(hooks)


@jobs.job
def deliver_messages(message_ids: list[int]) -> dict[str, int]:
    """Send a batch over one SMTP connection; each message's outcome is committed as soon as it is known."""
    token = uuid.uuid4().hex
    batch = claim(list(message_ids), token)
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0, "released": 0}
    if not batch:
        return counts
    for hooks in _HOOKS:
        hooks.before_sending(batch)
    outcomes = Outcomes(token)
    try:
        if current_app.config.get("MAIL_URL"):
            _send_over_smtp(batch, outcomes, counts)
        else:
            _store_without_server(batch, outcomes, counts)
    finally:
        outcomes.rollback()
        outcomes.schedule_retries()
        outcomes.close()
    released = _release(token)
    if released:
        counts["released"] = len(released)
        jobs.enqueue_now("mail", deliver_messages, released, job_timeout=JOB_TIMEOUT)
    for hooks in _HOOKS:
        hooks.after_sending(batch)
    return counts


def _store_without_server(batch: list[Outgoing], outcomes: Outcomes, counts: dict) -> None:
    """Development without MAIL_URL: the message is kept for the mail log, as if sent."""
    for item in batch:
        problem = item.problem or email_problem(item.to_email)
        if problem:
            outcomes.write(item, status="skipped", error=problem)
            counts["skipped"] += 1
        elif outcomes.write(item, status="stored"):
            counts["sent"] += 1
    outcomes.commit()


def _send_over_smtp(batch: list[Outgoing], outcomes: Outcomes, counts: dict) -> None:
    sender = current_app.config["MAIL_FROM"]
    envelope_from = envelope_sender(sender)
    started = renewed = time.monotonic()
    connection = SmtpConnection(parse_mail_url(current_app.config["MAIL_URL"]))
    try:
        for done, item in enumerate(batch):
            now = time.monotonic()
            if now - started > BATCH_TIME_LIMIT.total_seconds():
                break
            if now - renewed > RENEW_EVERY.total_seconds():
                _renew(outcomes.token)
                renewed = now
            if done and done % 100 == 0:
                jobs.report_progress(done, len(batch), "Sending")
            problem = item.problem or email_problem(item.to_email)
            if problem:
                outcomes.write(item, status="skipped", error=problem)
                outcomes.commit()
                counts["skipped"] += 1
                continue
            text_body, html_body = bodies_for_recipient(item)
            data = build_message(sender=sender, to=item.to_email, subject=item.subject, message_id=item.message_id,
                                 text_body=text_body, html_body=html_body, headers=item.headers)
            if not outcomes.write(item, status="sent"):
                outcomes.rollback()
                log.warning("message %s: claim lost before sending; left to its new owner", item.id)
                continue
            try:
                connection.send(envelope_from, item.to_email, data)
            except PermanentDeliveryError as exc:
                counts[_fail_or_retry(item, outcomes, str(exc), permanent=True)] += 1
            except ConnectionLost as exc:
                # The server may or may not have taken it; a retry keeps the same Message-ID.
                counts[_fail_or_retry(item, outcomes, str(exc), permanent=False)] += 1
            except TemporaryDeliveryError as exc:
                counts[_fail_or_retry(item, outcomes, str(exc), permanent=False)] += 1
                if connection.client is None:  # the server cannot be reached: the rest of the batch waits too
                    for waiting in batch[done + 1:]:
                        counts[_defer(waiting, outcomes, str(exc))] += 1
                    outcomes.commit()
                    break
            else:
                outcomes.commit()
                counts["sent"] += 1
    finally:
        connection.close()


# ---------------------------------------------------------------- the sweep and the mail log's actions

def due_message_ids(limit: int = 20 * BATCH_SIZE) -> list[int]:
    now = utcnow()
    return list(db.session.scalars(
        select(EmailMessage.id).where(_claimable(now)).order_by(EmailMessage.id).limit(limit)
    ))


def sweep_due_messages() -> int:
    """Re-enqueue every message the database says is due, in batches."""
    ids = due_message_ids()
    for start in range(0, len(ids), BATCH_SIZE):
        jobs.enqueue_now("mail", deliver_messages, ids[start:start + BATCH_SIZE], job_timeout=JOB_TIMEOUT)
    return len(ids)


def retry_now(message: EmailMessage) -> bool:
    """Staff ask for a failed or waiting message to be tried again now (a skipped one cannot be)."""
    if message.status not in ("failed", "pending"):
        return False
    if message.status == "failed":
        message.attempts = 0
    message.status, message.next_attempt_at = "pending", utcnow()
    db.session.flush()
    jobs.enqueue_after_commit("mail", deliver_messages, [message.id], job_timeout=JOB_TIMEOUT)
    db.session.commit()
    return True


def marketing_sent_since(donor_id: int, since: datetime) -> int:
    """Marketing messages a donor was sent (or is about to be) since a time: the frequency cap's measure."""
    return db.session.scalar(
        select(func.count()).select_from(EmailMessage).where(
            EmailMessage.donor_id == donor_id, EmailMessage.category == "marketing",
            EmailMessage.created_at >= since, EmailMessage.status.in_(SENDABLE))
    ) or 0
