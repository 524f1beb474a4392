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
from portal.engagement.delivery.outbox import queue_email
from portal.extensions import db
from portal.insights import engagement_report
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
    report = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert [(m.label, m.sent, m.opened, m.clicked) for m in report.months] == [("Feb 2024", 1, 1, 1), ("Mar 2024", 2, 1, 0)]
    assert (report.emailed_donors, report.opened_donors, report.clicked_donors) == (3, 2, 1)
    assert (report.open_rate, report.click_rate) == (round(200 / 3, 1), round(100 / 3, 1))


def test_gifts_within_n_days_of_an_email_are_attributed():
    _log()
    fortnight = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert (fortnight.converted_donors, fortnight.attributed_gifts, fortnight.attributed_minor) == (1, 1, 2500)
    assert fortnight.conversion_rate == round(100 / 3, 1)
    two_months = engagement_report.compute(ReportParams(RANGE, days=60), tz_name=TZ)
    assert (two_months.converted_donors, two_months.attributed_gifts, two_months.attributed_minor) == (2, 2, 6500)


def test_help_centre_self_service_rate():
    _log()
    report = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ)
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
    report = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert [(p.purpose, p.messages, p.delivered, p.failed) for p in report.purposes] == [
        ("workflow:3", 2, 2, 0), ("password_reset", 1, 0, 1)]
    only_e1 = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ,
                                 donor_filter=select(Donor.id).where(Donor.id == ids["E1"]))
    assert (only_e1.emailed_donors, only_e1.converted_donors, only_e1.kb_sessions, only_e1.purposes) == (1, 1, 0, [])
    rows = list(engagement_report.csv_rows(report))
    assert rows[0] == ["month", "emails_sent", "emails_opened", "links_clicked"]
    assert ["self_service_rate", "33.3"] in rows


def _outbox_history() -> dict[str, int]:
    """Emails from two workflows and one send to a segment, delivered in Feb-Mar 2024, and the gifts after them.

        D1  Welcome series 1 Mar (opened, clicked) and 5 Mar; Spring appeal 3 Mar; gave 30 on 8 Mar
            -> one gift for the welcome series (after two of its emails: counted once) and one for the send
        D2  Welcome series 2 Mar (opened), and 20 Jan (before the range); a failed one on 4 Mar; no gift
        D3  Lapsed appeal 10 Feb; gave 50 on 20 Feb (10 days after) and 20 on 10 Mar (29 days after: not at 14)
    """
    from portal.engagement.models import BulkSend, Workflow

    ids = {name: make_donor(first_name=name, email=f"{name.lower()}@example.org").id for name in ("D1", "D2", "D3")}
    welcome, lapsed = Workflow(name="Welcome series", trigger="gift_received"), Workflow(name="Lapsed appeal", trigger="inactive")
    spring = BulkSend(name="Spring appeal", category="marketing", subject="Spring", status="done")
    db.session.add_all([welcome, lapsed, spring])
    db.session.flush()
    messages = [
        ("D1", f"workflow:{welcome.id}", "sent", datetime(2024, 3, 1, 10), True, True),
        ("D1", f"workflow:{welcome.id}", "sent", datetime(2024, 3, 5, 10), False, False),
        ("D1", f"bulk:{spring.id}", "stored", datetime(2024, 3, 3, 10), False, False),
        ("D2", f"workflow:{welcome.id}", "sent", datetime(2024, 3, 2, 10), True, False),
        ("D2", f"workflow:{welcome.id}", "sent", datetime(2024, 1, 20, 10), True, False),
        ("D2", f"workflow:{welcome.id}", "failed", None, False, False),
        ("D3", f"workflow:{lapsed.id}", "sent", datetime(2024, 2, 10, 10), False, False),
    ]
    for number, (name, purpose, status, sent_at, opened, clicked) in enumerate(messages):
        db.session.add(EmailMessage(
            donor_id=ids[name], to_email=f"{name.lower()}@example.org", subject="Hello", text_body="Hi", purpose=purpose,
            idempotency_key=f"test:{number}", message_id=f"<test.{number}@example.org>", status=status, sent_at=sent_at,
            created_at=sent_at or datetime(2024, 3, 4, 10), opened_at=sent_at if opened else None,
            clicked_at=sent_at if clicked else None))
    db.session.commit()
    make_gift(ids["D1"], 3000, datetime(2024, 3, 8, 12))
    make_gift(ids["D3"], 5000, datetime(2024, 2, 20, 12))
    make_gift(ids["D3"], 2000, datetime(2024, 3, 10, 12))
    return {**ids, "welcome": welcome.id, "lapsed": lapsed.id, "spring": spring.id}


def test_emails_opens_clicks_and_gifts_per_workflow_and_send():
    ids = _outbox_history()
    report = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert [(r.kind, r.source_id, r.name, r.sent, r.donors, r.opened, r.clicked, r.converted_donors, r.attributed_gifts,
             r.attributed_minor) for r in report.sources] == [
        ("workflow", ids["welcome"], "Welcome series", 3, 2, 2, 1, 1, 1, 3000),
        ("workflow", ids["lapsed"], "Lapsed appeal", 1, 1, 0, 0, 1, 1, 5000),
        ("bulk", ids["spring"], "Spring appeal", 1, 1, 0, 0, 1, 1, 3000),
    ]
    welcome = report.sources[0]
    assert (welcome.open_rate, welcome.click_rate, welcome.conversion_rate) == (66.7, 33.3, 50.0)
    month_long = engagement_report.compute(ReportParams(RANGE, days=30), tz_name=TZ)
    assert [(r.name, r.attributed_gifts, r.attributed_minor) for r in month_long.sources][1] == ("Lapsed appeal", 2, 7000)
    only_d3 = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ,
                                 donor_filter=select(Donor.id).where(Donor.id == ids["D3"]))
    assert [r.name for r in only_d3.sources] == ["Lapsed appeal"]
    rows = list(engagement_report.csv_rows(report))
    assert ["workflow", "Welcome series", 3, 2, 2, 1, "66.7", "33.3", 1, "50.0", 1, "30.00"] in rows


def test_a_deleted_workflow_keeps_its_row():
    from portal.engagement.models import Workflow

    ids = _outbox_history()
    db.session.delete(db.session.get(Workflow, ids["lapsed"]))
    db.session.commit()
    report = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    deleted = [r for r in report.sources if r.source_id == ids["lapsed"]][0]
    assert (deleted.name, deleted.deleted, deleted.sent) == (f"Workflow {ids['lapsed']} (deleted)", True, 1)


def test_points_earned_and_redeemed_by_month():
    """Ledger entries written by hand (no gifts, so no points are earned automatically):

        Jan 10  D1 earn 100                       (before the range)
        Feb 20  D3 earn 50      Feb 28  D2 expire -5
        Mar 1   D2 adjust +10   Mar 8   D1 earn 30, bonus 50   Mar 12  D3 redeem -60
        Mar 14  D1 redeem -40   Mar 15  D1 refund +40 (cancelled), D3 reverse -20 (a refunded gift)
    """
    from portal.loyalty.models import PointsEntry

    ids = {name: make_donor(first_name=name).id for name in ("D1", "D2", "D3")}
    ledger = [("D1", "earn", 100, datetime(2024, 1, 10)), ("D3", "earn", 50, datetime(2024, 2, 20)),
              ("D2", "expire", -5, datetime(2024, 2, 28)), ("D2", "adjust", 10, datetime(2024, 3, 1)),
              ("D1", "earn", 30, datetime(2024, 3, 8)), ("D1", "bonus", 50, datetime(2024, 3, 8)),
              ("D3", "redeem", -60, datetime(2024, 3, 12)), ("D1", "redeem", -40, datetime(2024, 3, 14)),
              ("D1", "refund", 40, datetime(2024, 3, 15)), ("D3", "reverse", -20, datetime(2024, 3, 15))]
    for number, (name, kind, points, when) in enumerate(ledger):
        db.session.add(PointsEntry(donor_id=ids[name], kind=kind, points=points, reason=kind, source_key=f"test:{number}",
                                   occurred_at=when))
    db.session.commit()
    report = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ)
    assert [(m.label, m.earned, m.redeemed, m.returned, m.reversed, m.expired, m.adjusted) for m in report.points_months] == [
        ("Feb 2024", 50, 0, 0, 0, 5, 0), ("Mar 2024", 80, 100, 40, 20, 0, 10)]
    assert (report.points_earned, report.points_redeemed, report.points_earners, report.points_redeemers) == (130, 60, 2, 2)
    only_d1 = engagement_report.compute(ReportParams(RANGE, days=14), tz_name=TZ,
                                 donor_filter=select(Donor.id).where(Donor.id == ids["D1"]))
    assert (only_d1.points_earned, only_d1.points_redeemed, only_d1.points_redeemers) == (80, 0, 1)
    rows = list(engagement_report.csv_rows(report))
    assert ["points_earned", 130] in rows and ["Mar 2024", 80, 100, 40, 20, 0, 10] in rows
