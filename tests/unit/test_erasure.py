"""Erasing a donor: nothing of who they were is left anywhere in the database, and every total stays."""
import dataclasses
import os
import shutil
import sqlite3
import subprocess
from datetime import date

import pytest
from sqlalchemy import select

from portal.audit.services import events_for
from portal.auth.models import User
from portal.donors import services as donors
from portal.donors.models import Donor
from portal.extensions import db
from portal.insights.filters import DateRange, ReportParams
from portal.insights.services import REPORTS
from portal.privacy import erasure
from tests.conftest import make_donor, make_user, require_service
from tests.donor_history import add_history

pytestmark = pytest.mark.usefixtures("ctx")

NAME, SURNAME, EMAIL, PHONE = "Philippa", "Quennell", "philippa.quennell@example.org", "07700 911 482"


def database_dump() -> str:
    """Every row of every table as text: the SQLite file's own dump, or pg_dump of the PostgreSQL database."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        db.session.commit()
        with sqlite3.connect(url.database) as connection:
            return "\n".join(connection.iterdump())
    require_service("pg_dump", shutil.which("pg_dump") is not None)
    db.session.commit()
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    return subprocess.run(["pg_dump", "--data-only", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username, url.database],
                          check=True, capture_output=True, text=True, env=env).stdout


def report_totals() -> dict:
    """Every insight report's figures for a range covering the test data, names left out (a report may list
    donors by name; the erased one is then listed without it)."""
    params = ReportParams(DateRange(date(2024, 1, 1), date(2026, 12, 31)))
    out = {}
    for key, report in REPORTS.items():
        result = dataclasses.asdict(report.compute(params, tz_name="Europe/London"))
        out[key] = _without_names(result)
    return out


def _without_names(value):
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in ("name", "display_name", "computed_at", "as_of")}
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


@pytest.fixture
def erased_and_kept():
    staff = make_user("admin")
    donor = make_donor(first_name=NAME, last_name=SURNAME, email=EMAIL, phone=PHONE, address_line1="12 Tern Row",
                       postcode="YO21 3PU", birthday=date(1971, 4, 2), notes=f"Met {NAME} at the fair", marketing_opt_in=True,
                       tags=["volunteer"])
    add_history(donor, amount=2500, points=25, words=f"I am {NAME} {SURNAME}, reach me on {PHONE}", staff=staff, login_email=EMAIL)
    other = make_donor(first_name="Oliver", last_name="Hart", email="oliver@example.org")
    add_history(other, amount=1000, points=10, words="Thanks")
    return staff, donor.id, other.id


def test_nothing_of_the_donor_is_left_in_the_database_and_reports_add_up_the_same(erased_and_kept):
    staff, donor_id, other_id = erased_and_kept
    dump = database_dump().lower()
    assert NAME.lower() in dump and EMAIL in dump and PHONE in dump  # the dump does show them while they are there
    before = report_totals()

    erasure.erase_donor(donor_id, actor=staff)

    dump = database_dump().lower()
    for needle in (NAME.lower(), SURNAME.lower(), EMAIL, EMAIL.split("@")[0], PHONE, PHONE.replace(" ", ""), "tern row", "1971-04-02"):
        assert needle not in dump, needle
    assert "oliver" in dump  # the other donor is untouched
    assert report_totals() == before


def test_the_record_stays_anonymous_with_its_gifts_and_the_login_is_gone(erased_and_kept):
    staff, donor_id, _ = erased_and_kept
    erasure.erase_donor(donor_id, actor=staff)
    donor = db.session.get(Donor, donor_id)
    assert donor.erased_at is not None and donor.display_name == f"Erased donor #{donor_id}"
    assert (donor.email, donor.phone, donor.birthday, donor.marketing_opt_in, donor.tags) == (None, "", None, False, [])
    assert donor.stats.lifetime_minor == 2500 * 3
    assert db.session.scalar(select(User).where(User.donor_id == donor_id)) is None


def test_the_address_cannot_come_back_unless_staff_confirm(erased_and_kept):
    staff, donor_id, _ = erased_and_kept
    erasure.erase_donor(donor_id, actor=staff)
    assert donors.was_erased(EMAIL.upper())
    with pytest.raises(donors.DonorError) as refused:
        donors.create_donor({"kind": "individual", "first_name": "Pat", "last_name": "New", "email": EMAIL}, confirm_erased_email=False)
    assert refused.value.field_name == "email"
    db.session.rollback()
    again = donors.create_donor({"kind": "individual", "first_name": "Pat", "last_name": "New", "email": EMAIL}, confirm_erased_email=True)
    assert again.email == EMAIL


def test_request_and_completion_are_audited_without_the_data(erased_and_kept):
    staff, donor_id, _ = erased_and_kept
    erasure.erase_donor(donor_id, actor=staff)
    events = events_for(donor_id=donor_id)
    assert [e.action for e in events][::-1] == ["donor.erasure_requested", "donor.erased"]
    assert all(e.actor_user_id == staff.id for e in events)
    text = " ".join(f"{e.summary} {e.detail}" for e in events).lower()
    assert NAME.lower() not in text and EMAIL not in text


def test_nothing_waiting_is_sent_after_erasure(erased_and_kept):
    from portal.engagement.models import EmailMessage
    from portal.feedback.models import Survey, SurveyInvitation

    staff, donor_id, _ = erased_and_kept
    survey = db.session.scalar(select(Survey))
    waiting = SurveyInvitation(survey_id=survey.id, donor_id=donor_id, source_key="gift:99", status="scheduled")
    pending = EmailMessage(donor_id=donor_id, to_email=EMAIL, subject="Soon", text_body="Hello", idempotency_key="later",
                           message_id="<later@example.org>", status="pending")
    db.session.add_all([waiting, pending])
    db.session.commit()
    erasure.erase_donor(donor_id, actor=staff)
    assert (waiting.status, pending.status, pending.to_email) == ("cancelled", "skipped", "erased")


def test_erasing_twice_is_refused(erased_and_kept):
    staff, donor_id, _ = erased_and_kept
    erasure.erase_donor(donor_id, actor=staff)
    with pytest.raises(donors.DonorError):
        erasure.erase_donor(donor_id, actor=staff)
