"""Benefits against Gift Aid: per donor and tax year, donations and the value of benefits received, which
HMRC's limit compares."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.giving.models import Gift
from portal.settings.services import organisation
from portal.taxrelief import rules
from portal.taxrelief.models import Benefit
from portal.timeutil import local_midnight, to_local, utcnow


def local_today() -> date:
    """Today in the organisation's time zone: declarations, tax years and months are counted in it."""
    return to_local(utcnow(), organisation().timezone).date()


@dataclass
class BenefitYear:
    tax_year: int
    donations_minor: int
    benefits_minor: int

    @property
    def limit_minor(self) -> int:
        return rules.benefit_limit(self.donations_minor)

    @property
    def over(self) -> bool:
        return self.benefits_minor > self.limit_minor

    @property
    def label(self) -> str:
        return f"{self.tax_year}–{str(self.tax_year + 1)[-2:]}"


def benefit_years(donor_ids: list[int] | None, years: set[int] | None = None) -> dict[tuple[int, int], BenefitYear]:
    """Donations and benefits per (donor, tax year) for donors who received any benefit (others can't be over);
    donor_ids None: every such donor."""
    benefits = select(Benefit.donor_id, Benefit.received_on, Benefit.value_minor)
    if donor_ids is not None:
        if not donor_ids:
            return {}
        benefits = benefits.where(Benefit.donor_id.in_(donor_ids))
    found: dict[tuple[int, int], BenefitYear] = {}
    for donor_id, received_on, value in db.session.execute(benefits):
        year = rules.tax_year(received_on)
        if years is not None and year not in years:
            continue
        found.setdefault((donor_id, year), BenefitYear(year, 0, 0)).benefits_minor += value
    if not found:
        return found
    tz = organisation().timezone
    first = min(year for _, year in found)
    last = max(year for _, year in found)
    donors = (Gift.donor_id.in_(select(Benefit.donor_id)) if donor_ids is None
              else Gift.donor_id.in_({donor_id for donor_id, _ in found}))
    gifts = db.session.execute(
        select(Gift.donor_id, Gift.received_at, Gift.amount_minor)
        .where(donors, Gift.status == "received", Gift.currency == "GBP",
               Gift.received_at >= local_midnight(date(first, 4, 6), tz),
               Gift.received_at < local_midnight(date(last + 1, 4, 6), tz))).all()
    local_day = local_day_of(tz)
    for donor_id, received_at, amount in gifts:
        key = (donor_id, rules.tax_year(local_day(received_at)))
        if key in found:
            found[key].donations_minor += amount
    return found


def local_day_of(tz: str):
    """A fast received_at -> local date for many gifts: every UTC offset is a whole number of quarter hours,
    so the answer for each quarter hour is worked out once."""
    cache: dict[datetime, date] = {}

    def local_day(moment: datetime) -> date:
        quarter = moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)
        day = cache.get(quarter)
        if day is None:
            day = cache[quarter] = to_local(quarter, tz).date()
        return day

    return local_day


def benefit_warning(donor_id: int, *, extra_minor: int = 0, on: date | None = None) -> BenefitYear | None:
    """This tax year's figures when benefits (plus `extra_minor` more) are over the limit, else None."""
    year = rules.tax_year(on or local_today())
    row = benefit_years([donor_id], {year}).get((donor_id, year))
    if row is None:
        if not extra_minor:
            return None
        row = BenefitYear(year, _donations_in_year(donor_id, year), 0)
    row = BenefitYear(row.tax_year, row.donations_minor, row.benefits_minor + extra_minor)
    return row if row.over else None


def _donations_in_year(donor_id: int, year: int) -> int:
    tz = organisation().timezone
    start, end = rules.tax_year_bounds(year)
    return db.session.scalar(select(func.coalesce(func.sum(Gift.amount_minor), 0)).where(
        Gift.donor_id == donor_id, Gift.status == "received", Gift.currency == "GBP",
        Gift.received_at >= local_midnight(start, tz), Gift.received_at < local_midnight(end + timedelta(days=1), tz)))


def benefits_between(donor_id: int, start: date, end: date) -> int:
    """The value of benefits a donor received from `start` to `end` inclusive."""
    return db.session.scalar(select(func.coalesce(func.sum(Benefit.value_minor), 0)).where(
        Benefit.donor_id == donor_id, Benefit.received_on >= start, Benefit.received_on <= end))
