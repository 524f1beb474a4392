"""Engagement from the touchpoint log, the outbox and the points ledger: emails sent, opened and clicked
by month and by workflow or send, gifts that followed an email within N days (attributed conversion),
help-centre self-service, and loyalty points earned and redeemed."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterator

from sqlalchemy import Select, and_, case, exists, func, literal, not_, or_, select
from sqlalchemy.orm import aliased

from portal.engagement.models import BulkSend, EmailMessage, Workflow
from portal.extensions import db
from portal.giving.models import Gift
from portal.giving.services import add_months
from portal.insights.cohorts import key_label
from portal.insights.filters import DateRange, ReportParams
from portal.insights.milestones import RECEIVED
from portal.insights.retention_report import money_cell, percent, rate_cell
from portal.sql import month_index, plus_days, plus_minutes, without_jit
from portal.journey.models import Touchpoint
from portal.loyalty.models import PointsEntry

MAX_YEARS = 5
ATTRIBUTION_DAYS = (7, 14, 30, 60)
DEFAULT_ATTRIBUTION_DAYS = 14
SESSION_MINUTES = 30  # searches this close together are one visit to the help centre
ESCALATION_HOURS = 24  # a ticket this soon after a search means the help centre didn't answer it
EMAIL_KINDS = ("email_sent", "email_opened", "email_clicked")
DEFINITIONS = {
    "sent": "Emails delivered to a donor (one email_sent touchpoint per message).",
    "open_rate": "Donors who opened at least one email, as a share of donors who were sent one.",
    "click_rate": "Donors who clicked a link in at least one email, as a share of donors who were sent one.",
    "conversion": "Donors who gave within the chosen number of days after an email sent in the range, as a share of donors emailed.",
    "attributed": "Gifts received within that many days after an email to the same donor, and their total.",
    "sessions": f"A help-centre visit: a search with no earlier search by the same donor in the {SESSION_MINUTES} minutes before it.",
    "self_service": f"Visits that led to reading an article within {SESSION_MINUTES} minutes and no support ticket within {ESCALATION_HOURS} hours, as a share of all visits.",
    "escalated": f"Visits followed by a support ticket within {ESCALATION_HOURS} hours.",
    "sources": ("Emails a workflow or a send to a segment delivered in the range. Opens and clicks are the messages opened "
                "or clicked at least once; they are recorded only while open and click tracking is switched on (Sending rules)."),
    "source_conversion": "Donors who gave within the chosen number of days after an email from that workflow or send; a gift after two of its emails counts once.",
    "points_earned": "Points awarded for gifts and bonuses in the range (by the gift's date for gift points).",
    "points_redeemed": "Points spent on rewards in the range; returned: points given back when a redemption was cancelled.",
    "points_other": "Reversed: points taken back for refunded gifts. Expired: points that lapsed unused. Adjusted: staff corrections (net).",
}
SOURCE_KINDS = {"workflow": "Workflow", "bulk": "Send to a segment"}
EARNED_KINDS = ("earn", "bonus")


@dataclass
class EmailMonth:
    key: int
    sent: int
    opened: int
    clicked: int

    @property
    def label(self) -> str:
        return key_label("month", self.key)


@dataclass
class OutboxPurpose:
    purpose: str
    category: str
    messages: int
    delivered: int
    failed: int


@dataclass
class SourceRow:
    """One workflow's or one send's emails in the range and the gifts that followed them."""

    kind: str  # workflow | bulk
    source_id: int
    name: str
    sent: int
    donors: int
    opened: int
    clicked: int
    converted_donors: int = 0
    attributed_gifts: int = 0
    attributed_minor: int = 0
    deleted: bool = False  # the workflow or send no longer exists; its emails still count

    @property
    def kind_label(self) -> str:
        return SOURCE_KINDS[self.kind]

    @property
    def open_rate(self) -> float | None:
        return percent(self.opened, self.sent)

    @property
    def click_rate(self) -> float | None:
        return percent(self.clicked, self.sent)

    @property
    def conversion_rate(self) -> float | None:
        return percent(self.converted_donors, self.donors)


@dataclass
class PointsMonth:
    key: int
    earned: int
    redeemed: int
    returned: int
    reversed: int
    expired: int
    adjusted: int

    @property
    def label(self) -> str:
        return key_label("month", self.key)


@dataclass
class EngagementReport:
    start: date
    end: date
    days: int
    months: list[EmailMonth]
    emailed_donors: int
    opened_donors: int
    clicked_donors: int
    converted_donors: int
    attributed_gifts: int
    attributed_minor: int
    purposes: list[OutboxPurpose]
    kb_sessions: int
    kb_self_served: int
    kb_escalated: int
    tickets_opened: int
    sources: list[SourceRow] = field(default_factory=list)
    points_months: list[PointsMonth] = field(default_factory=list)
    points_earners: int = 0
    points_redeemers: int = 0

    @property
    def points_earned(self) -> int:
        return sum(month.earned for month in self.points_months)

    @property
    def points_redeemed(self) -> int:
        return sum(month.redeemed - month.returned for month in self.points_months)

    @property
    def sent(self) -> int:
        return sum(month.sent for month in self.months)

    @property
    def opened(self) -> int:
        return sum(month.opened for month in self.months)

    @property
    def clicked(self) -> int:
        return sum(month.clicked for month in self.months)

    @property
    def open_rate(self) -> float | None:
        return percent(self.opened_donors, self.emailed_donors)

    @property
    def click_rate(self) -> float | None:
        return percent(self.clicked_donors, self.emailed_donors)

    @property
    def conversion_rate(self) -> float | None:
        return percent(self.converted_donors, self.emailed_donors)

    @property
    def self_service_rate(self) -> float | None:
        return percent(self.kb_self_served, self.kb_sessions)


def _kind(kind: str):
    return Touchpoint.kind == literal(kind, literal_execute=True)


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> EngagementReport:
    low, high = params.range.bounds(tz_name)
    days = params.days or DEFAULT_ATTRIBUTION_DAYS
    scoped = [Touchpoint.occurred_at >= low, Touchpoint.occurred_at < high]
    if donor_filter is not None:
        scoped.append(Touchpoint.donor_id.in_(donor_filter))

    without_jit()
    progress(0, 6, "Counting emails")
    month = month_index(Touchpoint.occurred_at)
    counts: dict[int, dict[str, int]] = {}
    for key, kind, count in db.session.execute(
        select(month, Touchpoint.kind, func.count()).where(Touchpoint.kind.in_(EMAIL_KINDS), *scoped).group_by(month, Touchpoint.kind)
    ):
        counts.setdefault(int(key), {})[kind] = int(count)
    months = [EmailMonth(key, c.get("email_sent", 0), c.get("email_opened", 0), c.get("email_clicked", 0))
              for key, c in sorted(counts.items())]
    reached = {kind: db.session.scalar(select(func.count(func.distinct(Touchpoint.donor_id))).where(_kind(kind), *scoped))
               for kind in EMAIL_KINDS}

    progress(1, 6, "Finding gifts that followed an email")
    # From each email to the gifts its donor made in the following days; a gift after two emails counts once.
    emails = select(Touchpoint.donor_id, Touchpoint.occurred_at).where(_kind("email_sent"), *scoped).subquery("emails")
    attributed = (select(Gift.id, Gift.donor_id, Gift.amount_minor)
                  .join(emails, and_(emails.c.donor_id == Gift.donor_id, Gift.received_at >= emails.c.occurred_at,
                                     Gift.received_at < plus_days(emails.c.occurred_at, days)))
                  .where(RECEIVED).distinct().subquery("attributed"))
    attributed_gifts, attributed_minor, converted = db.session.execute(
        select(func.count(), func.coalesce(func.sum(attributed.c.amount_minor), 0), func.count(func.distinct(attributed.c.donor_id)))
    ).one()

    progress(2, 6, "Reading the outbox")
    outbox = select(EmailMessage.purpose, EmailMessage.category, func.count(),
                    func.sum(case((EmailMessage.status.in_(("sent", "stored")), 1), else_=0)),
                    func.sum(case((EmailMessage.status == "failed", 1), else_=0))
                    ).where(EmailMessage.created_at >= low, EmailMessage.created_at < high)
    if donor_filter is not None:
        outbox = outbox.where(EmailMessage.donor_id.in_(donor_filter))
    purposes = [OutboxPurpose(purpose or "(none)", category, int(n), int(delivered or 0), int(failed or 0))
                for purpose, category, n, delivered, failed in db.session.execute(
                    outbox.group_by(EmailMessage.purpose, EmailMessage.category).order_by(func.count().desc()))]

    progress(3, 6, "Following help-centre visits")
    other = aliased(Touchpoint)
    session_start = and_(_kind("kb_search"), *scoped, not_(exists().where(
        other.donor_id == Touchpoint.donor_id, other.kind == literal("kb_search", literal_execute=True),
        other.occurred_at < Touchpoint.occurred_at,
        other.occurred_at >= plus_minutes(Touchpoint.occurred_at, -SESSION_MINUTES))))

    def followed_by(kind: str, minutes: int):
        return exists().where(
            other.donor_id == Touchpoint.donor_id, other.kind == literal(kind, literal_execute=True),
            other.occurred_at >= Touchpoint.occurred_at,
            other.occurred_at <= plus_minutes(Touchpoint.occurred_at, minutes))

    escalated = followed_by("ticket_opened", ESCALATION_HOURS * 60)
    read = followed_by("kb_article_viewed", SESSION_MINUTES)
    sessions, self_served, escalations = db.session.execute(select(
        func.count(), func.coalesce(func.sum(case((and_(read, not_(escalated)), 1), else_=0)), 0),
        func.coalesce(func.sum(case((escalated, 1), else_=0)), 0),
    ).where(session_start)).one()
    tickets = db.session.scalar(select(func.count()).where(_kind("ticket_opened"), *scoped))
    progress(4, 6, "Comparing workflows and sends")
    sources = _sources(low, high, days, donor_filter)
    progress(5, 6, "Adding up loyalty points")
    points_months, earners, redeemers = _points(low, high, donor_filter)
    progress(6, 6, "Done")
    return EngagementReport(params.range.start, params.range.end, days, months, reached["email_sent"],
                            reached["email_opened"], reached["email_clicked"], int(converted), int(attributed_gifts),
                            int(attributed_minor), purposes, int(sessions), int(self_served), int(escalations), int(tickets),
                            sources, points_months, earners, redeemers)


def _sources(low, high, days: int, donor_filter: Select | None) -> list[SourceRow]:
    """Per workflow and per send: messages delivered in the range, opened, clicked, and the gifts after them.
    The outbox's purpose names the source ("workflow:12", "bulk:3")."""
    delivered = [EmailMessage.status.in_(("sent", "stored")), EmailMessage.sent_at >= low, EmailMessage.sent_at < high,
                 or_(EmailMessage.purpose.like("workflow:%"), EmailMessage.purpose.like("bulk:%")),
                 EmailMessage.donor_id.is_not(None)]
    if donor_filter is not None:
        delivered.append(EmailMessage.donor_id.in_(donor_filter))
    counts = db.session.execute(
        select(EmailMessage.purpose, func.count(), func.count(func.distinct(EmailMessage.donor_id)),
               func.count(EmailMessage.opened_at), func.count(EmailMessage.clicked_at))
        .where(*delivered).group_by(EmailMessage.purpose)).all()
    if not counts:
        return []
    messages = select(EmailMessage.purpose, EmailMessage.donor_id, EmailMessage.sent_at).where(*delivered).subquery("messages")
    # A gift after two emails of the same source counts once for that source (and once for each source it followed).
    attributed = (select(messages.c.purpose, Gift.id, Gift.donor_id, Gift.amount_minor)
                  .join(messages, and_(messages.c.donor_id == Gift.donor_id, Gift.received_at >= messages.c.sent_at,
                                       Gift.received_at < plus_days(messages.c.sent_at, days)))
                  .where(RECEIVED).distinct().subquery("attributed"))
    gifts = {purpose: (int(n), int(total or 0), int(donors)) for purpose, n, total, donors in db.session.execute(
        select(attributed.c.purpose, func.count(), func.sum(attributed.c.amount_minor), func.count(func.distinct(attributed.c.donor_id)))
        .group_by(attributed.c.purpose))}
    parsed = {purpose: (kind, int(ident)) for purpose in (row[0] for row in counts)
              for kind, _, ident in [purpose.partition(":")] if ident.isdigit()}
    names = {("workflow", i): name for i, name in db.session.execute(select(Workflow.id, Workflow.name).where(
        Workflow.id.in_([i for kind, i in parsed.values() if kind == "workflow"])))}
    names.update({("bulk", i): name for i, name in db.session.execute(select(BulkSend.id, BulkSend.name).where(
        BulkSend.id.in_([i for kind, i in parsed.values() if kind == "bulk"])))})
    rows = []
    for purpose, sent, donors, opened, clicked in counts:
        if purpose not in parsed:
            continue
        kind, ident = parsed[purpose]
        gift_count, gift_minor, converted = gifts.get(purpose, (0, 0, 0))
        name = names.get((kind, ident))
        rows.append(SourceRow(kind, ident, name or f"{SOURCE_KINDS[kind]} {ident} (deleted)", int(sent), int(donors), int(opened),
                              int(clicked), converted, gift_count, gift_minor, deleted=name is None))
    return sorted(rows, key=lambda row: (-row.sent, row.name))


def _points(low, high, donor_filter: Select | None) -> tuple[list[PointsMonth], int, int]:
    """Points by month and kind from the ledger, and how many donors earned and redeemed in the range."""
    where = [PointsEntry.occurred_at >= low, PointsEntry.occurred_at < high]
    if donor_filter is not None:
        where.append(PointsEntry.donor_id.in_(donor_filter))
    month = month_index(PointsEntry.occurred_at)

    def total(kinds: tuple[str, ...], sign: int = 1):
        return func.coalesce(func.sum(case((PointsEntry.kind.in_(kinds), sign * PointsEntry.points), else_=0)), 0)

    months = [PointsMonth(int(key), *(int(value) for value in values)) for key, *values in db.session.execute(
        select(month, total(EARNED_KINDS), total(("redeem",), -1), total(("refund",)), total(("reverse",), -1),
               total(("expire",), -1), total(("adjust",))).where(*where).group_by(month).order_by(month))]
    earners, redeemers = db.session.execute(select(
        func.count(func.distinct(case((PointsEntry.kind.in_(EARNED_KINDS), PointsEntry.donor_id)))),
        func.count(func.distinct(case((PointsEntry.kind == "redeem", PointsEntry.donor_id))))).where(*where)).one()
    return months, int(earners), int(redeemers)


def csv_rows(report: EngagementReport) -> Iterator[list]:
    yield ["month", "emails_sent", "emails_opened", "links_clicked"]
    for month in report.months:
        yield [month.label, month.sent, month.opened, month.clicked]
    yield []
    yield ["measure", "value"]
    yield ["donors_emailed", report.emailed_donors]
    yield ["donors_who_opened", report.opened_donors]
    yield ["open_rate", rate_cell(report.open_rate)]
    yield ["donors_who_clicked", report.clicked_donors]
    yield ["click_rate", rate_cell(report.click_rate)]
    yield [f"donors_who_gave_within_{report.days}_days", report.converted_donors]
    yield ["conversion_rate", rate_cell(report.conversion_rate)]
    yield ["attributed_gifts", report.attributed_gifts]
    yield ["attributed_total", money_cell(report.attributed_minor)]
    yield ["help_centre_visits", report.kb_sessions]
    yield ["self_served_visits", report.kb_self_served]
    yield ["self_service_rate", rate_cell(report.self_service_rate)]
    yield ["visits_followed_by_a_ticket", report.kb_escalated]
    yield ["tickets_opened", report.tickets_opened]
    yield ["points_earned", report.points_earned]
    yield ["points_redeemed_net_of_returns", report.points_redeemed]
    yield ["donors_who_earned_points", report.points_earners]
    yield ["donors_who_redeemed_points", report.points_redeemers]
    yield []
    yield ["source", "name", "emails_sent", "donors_emailed", "opened", "clicked", "open_rate", "click_rate",
           f"donors_who_gave_within_{report.days}_days", "conversion_rate", "attributed_gifts", "attributed_total"]
    for row in report.sources:
        yield [row.kind, row.name, row.sent, row.donors, row.opened, row.clicked, rate_cell(row.open_rate),
               rate_cell(row.click_rate), row.converted_donors, rate_cell(row.conversion_rate), row.attributed_gifts,
               money_cell(row.attributed_minor)]
    yield []
    yield ["month", "points_earned", "points_redeemed", "points_returned", "points_reversed", "points_expired", "points_adjusted"]
    for month in report.points_months:
        yield [month.label, month.earned, month.redeemed, month.returned, month.reversed, month.expired, month.adjusted]


def default_range(today: date) -> DateRange:
    return DateRange(add_months(today.replace(day=1), -5), today)
