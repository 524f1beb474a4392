"""The retention policy: anonymise donors with no gift or contact for N years (off unless an admin sets N).

"Contact" is any touchpoint except the emails we sent them: a gift, a call, a sign-in, a survey answer or a
ticket all keep a donor. Donors with an active regular gift are never included. Staff see who would be
affected before anything runs; the nightly job then erases them exactly as an erasure request would."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select

from portal import jobs
from portal.audit import services as audit
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import DonorStats
from portal.journey.models import Touchpoint
from portal.privacy.erasure import erase_donor
from portal.settings.services import SettingsError, organisation, set_retention_years
from portal.timeutil import utcnow

# Emails we sent are not the donor being in touch; they never keep a record alive.
NOT_CONTACT = ("email_sent",)


class RetentionError(ValueError):
    pass


def parse_years(text: str) -> int:
    text = (text or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise RetentionError("Enter a whole number of years from 1 to 100, such as 7.")
    return int(text)


def policy_years() -> int | None:
    return organisation().retention_years


def set_policy_years(years: int | None, *, actor) -> None:
    """Save the setting (None switches it off) with an audit entry. Commits."""
    previous = policy_years()
    try:
        set_retention_years(years)
    except SettingsError as exc:
        raise RetentionError(str(exc)) from exc
    audit.record("privacy.retention_policy", actor=actor,
                 summary=f"Retention policy {'set to ' + str(years) + ' years' if years else 'switched off'}",
                 detail={"from": previous, "to": years})
    db.session.commit()


def cutoff(years: int, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=round(365.25 * years))


def affected_ids(years: int, now: datetime | None = None):
    """SELECT of the donors the policy would anonymise today, in one statement."""
    before = cutoff(years, now)
    recent_contact = exists().where(Touchpoint.donor_id == Donor.id, Touchpoint.occurred_at >= before,
                                    Touchpoint.kind.not_in(NOT_CONTACT))
    return (select(Donor.id).outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
            .where(Donor.erased_at.is_(None), Donor.created_at < before,
                   or_(DonorStats.donor_id.is_(None), DonorStats.last_gift_at.is_(None), DonorStats.last_gift_at < before),
                   or_(DonorStats.donor_id.is_(None), DonorStats.has_active_plan.is_(False)),
                   ~recent_contact))


@dataclass
class Preview:
    years: int
    before: datetime
    count: int
    sample: list[Donor]


def preview(years: int, *, sample_size: int = 20) -> Preview:
    ids = affected_ids(years)
    count = db.session.scalar(select(func.count()).select_from(ids.subquery()))
    sample = list(db.session.scalars(select(Donor).where(Donor.id.in_(ids)).order_by(Donor.name_key, Donor.id).limit(sample_size)))
    return Preview(years, cutoff(years), count, sample)


def apply_policy(*, actor=None, batch: int = 200) -> int:
    """Anonymise everyone the policy covers now; one audit entry for the run with the count, and each
    donor's own request and completion entries. Commits a batch at a time."""
    years = policy_years()
    if not years:
        return 0
    ids = list(db.session.scalars(affected_ids(years)))
    for start in range(0, len(ids), batch):
        for donor_id in ids[start:start + batch]:
            erase_donor(donor_id, actor=actor, actor_label="" if actor else "retention policy", reason="retention", commit=False)
        db.session.commit()
        jobs.report_progress(min(start + batch, len(ids)), len(ids), "Anonymising")
    audit.record("privacy.retention_run", actor=actor, actor_label="" if actor else "retention policy",
                 summary=f"Retention policy ({years} years) anonymised {len(ids)} donors", detail={"count": len(ids), "years": years})
    db.session.commit()
    return len(ids)


@jobs.job
def apply_policy_job() -> int:
    return apply_policy()
