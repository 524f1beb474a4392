"""Engagement from touchpoints and the outbox, on a hand-built log in February and March 2024.

    E1  email sent 1 Mar 10:00, opened 12:00; gave 25 on 10 Mar            (9 days after: attributed at 14)
    E2  email sent 5 Mar; gave 40 on 30 Apr                                (56 days after: only at 60)
    E3  email sent 20 Feb; clicked and opened 21 Feb; no gift
    E4  no email; gave 10 on 10 Mar
    K1  searched 2 Mar 10:00 and 10:10, read an article 10:15              (one visit, self-served)
        searched 3 Mar 09:00, opened a ticket 15:00                        (a visit that needed a ticket)
    K2  searched 4 Mar 11:00, nothing after                                (a visit with neither)
    K3  opened a ticket 10 Mar without searching
"""
from datetime import date, datetime

import pytest
from sqlalchemy import select, update

from portal.donors.models import Donor
from portal.engagement.models import EmailMessage
from portal.engagement.outbox import queue_email
from portal.extensions import db
from portal.insights import engagement
from portal.insights.filters import DateRange, ReportParams
from portal.journey import services as journey
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")
TZ = "Europe/London"
RANGE = DateRange(date(2024, 2, 1), date(2024, 3, 31))


def _log() -> dict[str, int]:
    ids = {name: make_donor(first_name=name, email=f"{name.lower()}@example.org").id
           for name in ("E1", "E2", "E3", "E4", "K1", "K2", "K3")}
    events = [
        ("E1", "email_sent", datetime(2024, 3, 1, 10)), ("E1", "email_opened", datetime(2024, 3, 1, 12)),
        ("E2", "email_sent", datetime(2024, 3, 5, 10)),
        ("E3", "email_sent", datetime(2024, 2, 20, 10)), ("E3", "email_clicked", datetime(2024, 2, 21, 9)),
        ("E3", "email_opened", datetime(2024, 2, 21, 9)),
        ("K1", "kb_search", datetime(2024, 3, 2, 10)), ("K1", "kb_search", datetime(2024, 3, 2, 10, 10)),
        ("K1", "kb_article_viewed", datetime(2024, 3, 2, 10, 15)),
        ("K1", "kb_search", datetime(2024, 3, 3, 9)), ("K1", "ticket_opened", datetime(2024, 3, 3, 15)),
        ("K2", "kb_search", datetime(2024, 3, 4, 11)),
        ("K3", "ticket_opened", datetime(2024, 3, 10, 9)),
    ]
    for name, kind, when in events:
        journey.record(ids[name], kind, kind.replace("_", " "), occurred_at=when)
    db.session.commit()
    make_gift(ids["E1"], 2500, datetime(2024, 3, 10, 12))
    make_gift(ids["E2"], 4000, datetime(2024, 4, 30, 12))
    make_gift(ids["E4"], 1000, datetime(2024, 3, 10, 12))
    return ids


def test_emails_by_month_and_reach():
    _log()
    report = engagement.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert [(m.label, m.sent, m.opened, m.clicked) for m in report.months] == [("Feb 2024", 1, 1, 1), ("Mar 2024", 2, 1, 0)]
    assert (report.emailed_donors, report.opened_donors, report.clicked_donors) == (3, 2, 1)
    assert (report.open_rate, report.click_rate) == (round(200 / 3, 1), round(100 / 3, 1))


def test_gifts_within_n_days_of_an_email_are_attributed():
    _log()
    fortnight = engagement.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert (fortnight.converted_donors, fortnight.attributed_gifts, fortnight.attributed_minor) == (1, 1, 2500)
    assert fortnight.conversion_rate == round(100 / 3, 1)
    two_months = engagement.compute(ReportParams(RANGE, days=60), tz_name=TZ)
    assert (two_months.converted_donors, two_months.attributed_gifts, two_months.attributed_minor) == (2, 2, 6500)


def test_help_centre_self_service_rate():
    _log()
    report = engagement.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert (report.kb_sessions, report.kb_self_served, report.kb_escalated, report.tickets_opened) == (3, 1, 1, 2)
    assert report.self_service_rate == round(100 / 3, 1)


def test_outbox_by_purpose_and_a_donor_filter():
    ids = _log()
    for purpose, count in (("workflow:3", 2), ("password_reset", 1)):
        for _ in range(count):
            queue_email("someone@example.org", "Hello", "Hi", donor_id=ids["E3"], purpose=purpose)
    db.session.commit()
    db.session.execute(update(EmailMessage).values(created_at=datetime(2024, 3, 15, 9)))
    db.session.execute(update(EmailMessage).where(EmailMessage.purpose == "password_reset").values(status="failed"))
    db.session.commit()
    report = engagement.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert [(p.purpose, p.messages, p.delivered, p.failed) for p in report.purposes] == [
        ("workflow:3", 2, 2, 0), ("password_reset", 1, 0, 1)]
    only_e1 = engagement.compute(ReportParams(RANGE, days=14), tz_name=TZ,
                                 donor_filter=select(Donor.id).where(Donor.id == ids["E1"]))
    assert (only_e1.emailed_donors, only_e1.converted_donors, only_e1.kb_sessions, only_e1.purposes) == (1, 1, 0, [])
    rows = list(engagement.csv_rows(report))
    assert rows[0] == ["month", "emails_sent", "emails_opened", "links_clicked"]
    assert ["self_service_rate", "33.3"] in rows
