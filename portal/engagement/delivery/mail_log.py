"""The back-office mail log: every outbox row with its status, errors and content."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import url_for
from sqlalchemy import Select, func, or_, select

from portal.donors.models import Donor
from portal.engagement.models import CATEGORIES, MESSAGE_STATUSES, BulkSend, EmailMessage, Workflow
from portal.extensions import db
from portal.params import parse_id

PER_PAGE = 50


@dataclass
class LogFilter:
    q: str = ""
    status: str = ""
    category: str = ""
    send: int | None = None
    donor: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.q or self.status or self.category or self.send or self.donor)


def parse_filters(args) -> LogFilter:
    filters = LogFilter(q=(args.get("q") or "").strip()[:100])
    if args.get("status") in MESSAGE_STATUSES:
        filters.status = args["status"]
    if args.get("category") in CATEGORIES:
        filters.category = args["category"]
    for name in ("send", "donor"):
        number = parse_id(args.get(name))
        if number is not None:
            setattr(filters, name, number)
    return filters


def _query(filters: LogFilter) -> Select:
    query = select(EmailMessage)
    if filters.q:
        text = filters.q.lower()
        query = query.where(or_(EmailMessage.to_email.startswith(text, autoescape=True),
                                func.lower(EmailMessage.subject).contains(text, autoescape=True)))
    if filters.status:
        query = query.where(EmailMessage.status == filters.status)
    if filters.category:
        query = query.where(EmailMessage.category == filters.category)
    if filters.send:
        query = query.where(EmailMessage.bulk_send_id == filters.send)
    if filters.donor:
        query = query.where(EmailMessage.donor_id == filters.donor)
    return query


@dataclass
class LogPage:
    messages: list[EmailMessage]
    total: int
    page: int
    pages: int


def search(filters: LogFilter, *, page: int = 1) -> LogPage:
    query = _query(filters)
    total = db.session.scalar(select(func.count()).select_from(query.with_only_columns(EmailMessage.id).subquery())) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(query.order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc())
                              .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return LogPage(list(rows), total, page, pages)


def status_counts() -> dict[str, int]:
    return dict(db.session.execute(select(EmailMessage.status, func.count()).group_by(EmailMessage.status)).all())


def source_of(message: EmailMessage) -> tuple[str, str | None]:
    """What sent a message, as (label, link) for the message page."""
    kind, _, ident = message.purpose.partition(":")
    if kind == "workflow" and ident.isdigit():
        workflow = db.session.get(Workflow, int(ident))
        if workflow is not None:
            return f"Workflow “{workflow.name}”", url_for("workflows.show", workflow_id=workflow.id, donor=message.donor_id)
    if message.bulk_send_id:
        send = db.session.get(BulkSend, message.bulk_send_id)
        if send is not None:
            return f"Send “{send.name}”", url_for("mail.send", send_id=send.id)
    return (message.purpose.replace("_", " ").capitalize() or "Sent by the portal"), None


def donor_of(message: EmailMessage) -> Donor | None:
    return db.session.get(Donor, message.donor_id) if message.donor_id else None


def sent_since(moment: datetime) -> int:
    """Messages handed to the mail server (or stored, without one) since `moment`."""
    return db.session.scalar(select(func.count()).select_from(EmailMessage)
                             .where(EmailMessage.sent_at >= moment, EmailMessage.status.in_(("sent", "stored")))) or 0
