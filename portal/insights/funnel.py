"""The donor journey as a funnel for one cohort: how many reached each step, the conversion from the
step before, the median time it took, and who dropped out where. Read from the journey milestones."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterator

from sqlalchemy import Select, and_, case, func, not_, or_, select
from sqlalchemy.sql.expression import ColumnElement

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.services import add_months
from portal.insights import milestones
from portal.insights.filters import DateRange, ReportParams
from portal.insights.models import DonorMilestones
from portal.insights.retention_report import money_cell, percent, rate_cell
from portal.sql import median, without_jit
from portal.timeutil import utcnow

M = DonorMilestones
MAX_YEARS = 30
DEFAULT_YEARS = 3  # financial years, the current one so far included


@dataclass(frozen=True)
class StepInfo:
    key: str
    label: str
    definition: str
    dropped_label: str  # who is on the list of donors who stopped before this step


MAIN_STEPS = [
    StepInfo("entered", "Inquiry or prospect",
             "Everyone in the cohort: added to the file, made an inquiry or gave, whichever came first.", ""),
    StepInfo("first_gift", "First gift", "Made a first gift (received gifts only; pledges and refunds don't count).",
             "Never gave"),
    StepInfo("second_gift", "Second gift", "Gave a second time.", "Gave once and not again"),
    StepInfo("regular", "Regular giver",
             "Reached three gifts, or started a recurring gift, sponsorship or membership, counted from their second gift.",
             "Gave twice but didn't become regular"),
    StepInfo("renewed", "Renewed",
             "Still giving a year after becoming regular: a gift 12 months or more later (a sponsorship or recurring gift that carried on, or the next year's gift).",
             "Regular but not renewed a year on"),
]
LAPSE_STEPS = [
    StepInfo("lapsed", "Lapsed",
             "Went 18 months without a gift: a gap between two gifts, or since the last gift with no active regular gift.",
             "Lapsed"),
    StepInfo("reactivated", "Reactivated", "Gave again after lapsing.", "Lapsed and not back"),
]
STEPS = {step.key: step for step in MAIN_STEPS + LAPSE_STEPS}
DROP_KEYS = [step.key for step in MAIN_STEPS[1:] + LAPSE_STEPS]


@dataclass
class FunnelStep:
    key: str
    count: int
    conversion: float | None  # percent of the step before (lapse path: of first-time donors, then of lapsed)
    share: float | None  # percent of the cohort
    median_days: float | None  # from reaching the step before
    dropped: int  # reached the step before but not this one (lapse path: see DROP conditions)

    @property
    def info(self) -> StepInfo:
        return STEPS[self.key]


@dataclass
class FunnelReport:
    start: date
    end: date
    as_of: datetime
    cohort: int
    inquiries: int
    steps: list[FunnelStep]
    lapse_steps: list[FunnelStep]
    biggest_drop: str | None  # the main step that loses the largest share of the step before

    @property
    def biggest_drop_step(self) -> FunnelStep | None:
        return next((s for s in self.steps if s.key == self.biggest_drop), None)


def currently_lapsed(as_of: datetime) -> ColumnElement:
    """No gift for 18 months up to `as_of` and no active plan, without a long gap between two gifts."""
    return and_(M.lapsed_at.is_(None), M.last_gift_at < as_of - timedelta(days=milestones.LAPSE_DAYS), not_(M.has_active_plan))


def reached(key: str, as_of: datetime) -> ColumnElement:
    """A condition on a donor's milestones row: they reached step `key` (lapsing: as of `as_of`)."""
    return {
        "first_gift": M.first_gift_at.is_not(None),
        "second_gift": M.second_gift_at.is_not(None),
        "regular": M.regular_at.is_not(None),
        "renewed": M.renewed_at.is_not(None),
        "lapsed": or_(M.lapsed_at.is_not(None), currently_lapsed(as_of)),
        "reactivated": M.reactivated_at.is_not(None),
    }[key]


def previous_step(key: str) -> str | None:
    """The step a donor on the list for `key` has reached (None: only being in the cohort)."""
    if key == "reactivated":
        return "lapsed"
    if key == "lapsed":
        return None
    index = [step.key for step in MAIN_STEPS].index(key)
    return MAIN_STEPS[index - 1].key if index > 1 else None


class _Cohort:
    """Conditions over the milestones of the donors who entered in the range."""

    def __init__(self, range_: DateRange, tz_name: str, donor_filter: Select | None, as_of: datetime):
        low, high = range_.bounds(tz_name)
        self.as_of = as_of
        self.where = [M.entered_at >= low, M.entered_at < high]
        if donor_filter is not None:
            self.where.append(M.donor_id.in_(donor_filter))
        self.currently_lapsed = currently_lapsed(as_of)
        self.lapsed = reached("lapsed", as_of)

    def select(self, *columns) -> Select:
        return select(*columns).select_from(M).where(*self.where)

    def reached(self, key: str) -> ColumnElement:
        return reached(key, self.as_of)

    def dropped(self, key: str) -> ColumnElement:
        """Who the list for a step shows: stopped just before it (the lapse path: lapsed, or not back)."""
        if key == "lapsed":
            return self.lapsed
        previous = previous_step(key)
        before = self.reached(previous) if previous else M.donor_id.is_not(None)
        return and_(before, not_(self.reached(key)))

    def duration(self, key: str) -> ColumnElement:
        """Seconds from the step before to this one."""
        return {
            "first_gift": M.secs_to_first_gift,
            "second_gift": M.secs_to_second_gift,
            "regular": M.secs_to_regular,
            "renewed": M.secs_to_renewed,
            "lapsed": case(
                (M.lapsed_at.is_not(None), M.secs_first_gift_to_lapse),
                (self.currently_lapsed, M.secs_first_to_last_gift + milestones.LAPSE_DAYS * 86400)),
            "reactivated": M.secs_lapse_to_return,
        }[key]


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None, as_of: datetime | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> FunnelReport:
    as_of = as_of or utcnow()
    progress(0, 3, "Bringing journey milestones up to date")
    milestones.refresh()
    without_jit()
    cohort = _Cohort(params.range, tz_name, donor_filter, as_of)
    progress(1, 3, "Counting each step")
    keys = [step.key for step in MAIN_STEPS[1:] + LAPSE_STEPS]
    total, inquiries, *reached = db.session.execute(cohort.select(
        func.count(), func.count(M.first_inquiry_at),
        *[func.coalesce(func.sum(case((cohort.reached(key), 1), else_=0)), 0) for key in keys],
    )).one()
    counts = dict(zip(keys, (int(n) for n in reached)), entered=int(total))
    progress(2, 3, "Working out the median time between steps")
    medians = {key: median(cohort.select(cohort.duration(key)).where(cohort.reached(key)), counts[key]) for key in keys}

    def step(key: str, previous: str | None) -> FunnelStep:
        before = counts[previous] if previous else None
        seconds = medians.get(key)
        return FunnelStep(key, counts[key], percent(counts[key], before) if previous else None,
                          percent(counts[key], counts["entered"]),
                          round(seconds / 86400, 1) if seconds is not None else None,
                          before - counts[key] if previous else 0)

    main = [step(s.key, MAIN_STEPS[i - 1].key if i else None) for i, s in enumerate(MAIN_STEPS)]
    lapse = [step("lapsed", "first_gift"), step("reactivated", "lapsed")]
    lapse[0].dropped = counts["lapsed"]
    candidates = [s for s in main[1:] if s.conversion is not None]
    biggest = max(candidates, key=lambda s: (100 - s.conversion, s.dropped)).key if candidates else None
    progress(3, 3, "Done")
    return FunnelReport(params.range.start, params.range.end, as_of, counts["entered"], int(inquiries), main, lapse, biggest)


# ---------------------------------------------------------------- who dropped out at a step

@dataclass
class DroppedDonor:
    donor: Donor
    entered_at: datetime
    last_gift_at: datetime | None
    gift_count: int
    lifetime_minor: int


@dataclass
class DroppedPage:
    rows: list[DroppedDonor]
    total: int
    page: int
    pages: int


def dropped_donors(params: ReportParams, key: str, *, tz_name: str, donor_filter: Select | None = None,
                   as_of: datetime | None = None, page: int = 1, per_page: int = 50) -> DroppedPage:
    """Donors of the cohort who stopped before step `key`, most valuable first."""
    milestones.refresh()
    without_jit()
    cohort = _Cohort(params.range, tz_name, donor_filter, as_of or utcnow())
    condition = cohort.dropped(key)
    total = db.session.scalar(cohort.select(func.count()).where(condition))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(
        cohort.select(Donor, M.entered_at, M.last_gift_at, M.gift_count, M.lifetime_minor)
        .join(Donor, Donor.id == M.donor_id).where(condition)
        .order_by(M.lifetime_minor.desc(), M.donor_id).limit(per_page).offset((page - 1) * per_page)
    ).unique().all()
    return DroppedPage([DroppedDonor(*row) for row in rows], total, page, pages)


def dropped_csv(params: ReportParams, key: str, *, tz_name: str, donor_filter: Select | None = None,
                as_of: datetime | None = None) -> Iterator[list]:
    milestones.refresh()
    without_jit()
    cohort = _Cohort(params.range, tz_name, donor_filter, as_of or utcnow())
    yield ["donor_id", "first_name", "last_name", "organisation_name", "email", "entered", "first_gift", "last_gift",
           "gifts", "lifetime_total"]
    query = (cohort.select(Donor.id, Donor.first_name, Donor.last_name, Donor.organisation_name, Donor.email,
                           M.entered_at, M.first_gift_at, M.last_gift_at, M.gift_count, M.lifetime_minor)
             .join(Donor, Donor.id == M.donor_id).where(cohort.dropped(key)).order_by(M.lifetime_minor.desc(), M.donor_id))
    for row in db.session.execute(query.execution_options(yield_per=2000)):
        yield [row.id, row.first_name, row.last_name, row.organisation_name, row.email or "", _day(row.entered_at),
               _day(row.first_gift_at), _day(row.last_gift_at), row.gift_count, money_cell(row.lifetime_minor)]


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value else ""


def csv_rows(report: FunnelReport) -> Iterator[list]:
    yield ["step", "label", "donors", "conversion_from_previous_step", "share_of_cohort", "median_days_from_previous_step",
           "dropped_before_step"]
    for step in report.steps + report.lapse_steps:
        yield [step.key, step.info.label, step.count, rate_cell(step.conversion), rate_cell(step.share),
               "" if step.median_days is None else f"{step.median_days:.1f}", step.dropped]


def default_range(today: date) -> DateRange:
    """Rolling windows and custom ranges start from everyone who entered in the last three years: old enough
    for most of them to have had a chance to give again, renew or lapse."""
    return DateRange(add_months(today + timedelta(days=1), -36), today)
