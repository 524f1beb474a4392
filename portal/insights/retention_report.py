"""Donor retention year over year, with the Fundraising Effectiveness Project's definitions.

A period is 12 months; the report shows consecutive periods ending on the range's end date. Everything
comes from one pass over received gifts that pivots each donor's giving into the periods (amount given
since each period boundary), then one aggregate over those per-donor rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Iterator

from sqlalchemy import Select, and_, func, not_, select
from sqlalchemy.sql.expression import ColumnElement

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import DonorStats, Gift
from portal.giving.services import add_months
from portal.insights import periods
from portal.insights.filters import DateRange, ReportParams
from portal.insights.milestones import RECEIVED
from portal.sql import flag, if_else, no_index, without_jit
from portal.timeutil import local_midnight

MAX_PERIODS = 12
DEFINITIONS = {
    "retention_rate": "Donors who gave in both the previous and this period, as a share of everyone who gave in the previous period.",
    "new_retention_rate": "Of the donors whose first ever gift was in the previous period, the share who gave again this period.",
    "repeat_retention_rate": "Of the donors who gave in the previous period and had given before it, the share who gave again this period.",
    "dollar_retention_rate": "What the previous period's donors gave this period, as a share of everything given in the previous period.",
    "new_donors": "Donors whose first ever gift fell in this period.",
    "recaptured": "Donors who gave this period and some time before, but not in the previous period.",
    "lybunt": "LYBUNT: gave in the previous period (\"last year\") but not yet in the current one.",
    "sybunt": "SYBUNT: gave some time before the previous period, but in neither the previous nor the current one; totals are their lifetime giving.",
}


@dataclass
class RetentionPeriod:
    start: date
    end: date
    donors: int
    previous_donors: int
    retained: int
    new_previous: int
    new_retained: int
    repeat_previous: int
    repeat_retained: int
    new_donors: int
    recaptured: int
    amount_minor: int
    previous_amount_minor: int
    retained_amount_minor: int
    name: str = ""  # "FY 2025/26" when periods are financial years

    @property
    def label(self) -> str:
        return self.name or period_label(self.start, self.end)

    @property
    def retention_rate(self) -> float | None:
        return percent(self.retained, self.previous_donors)

    @property
    def new_retention_rate(self) -> float | None:
        return percent(self.new_retained, self.new_previous)

    @property
    def repeat_retention_rate(self) -> float | None:
        return percent(self.repeat_retained, self.repeat_previous)

    @property
    def dollar_retention_rate(self) -> float | None:
        return percent(self.retained_amount_minor, self.previous_amount_minor)


@dataclass
class GroupTotal:
    donors: int
    amount_minor: int


@dataclass
class RetentionReport:
    start: date
    end: date
    periods: list[RetentionPeriod]  # oldest first; the last is the current period
    lybunt: GroupTotal
    sybunt: GroupTotal
    notes: list[str] = field(default_factory=list)

    @property
    def current(self) -> RetentionPeriod:
        return self.periods[-1]

    @property
    def has_gifts(self) -> bool:
        return any(p.donors or p.previous_donors for p in self.periods) or bool(self.sybunt.donors)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def period_label(start: date, end: date) -> str:
    if start.month == 1 and start.day == 1 and end.month == 12 and end.day == 31 and start.year == end.year:
        return str(start.year)
    return f"{start:%b %Y}–{end:%b %Y}" if start.year != end.year or start.month != end.month else f"{start:%b %Y}"


# ---------------------------------------------------------------- periods and the per-donor pivot

def period_starts(range_: DateRange, fy_start_month: int = 0) -> tuple[list[date], list[str]]:
    """Start dates of the periods, newest first, back to the one that contains range_.start; then one more,
    for the period before the oldest shown (each period is compared with the one before it). The periods
    are financial years starting in `fy_start_month` (the latest one running to range_.end), or with 0,
    12-month periods ending on range_.end."""
    notes = []
    if fy_start_month:
        starts = periods.year_starts(range_.end, fy_start_month, range_.start, MAX_PERIODS)
        if starts[-1] > range_.start:
            notes.append(f"The range covers more than {MAX_PERIODS} years; showing the latest {MAX_PERIODS}.")
        starts.append(add_months(starts[-1], -12))
        return starts, notes
    end_exclusive = range_.end + timedelta(days=1)
    starts = [add_months(end_exclusive, -12)]
    while starts[-1] > range_.start and len(starts) < MAX_PERIODS:
        starts.append(add_months(end_exclusive, -12 * (len(starts) + 1)))
    if starts[-1] > range_.start:
        notes.append(f"The range covers more than {MAX_PERIODS} years; showing the latest {MAX_PERIODS}.")
    if range_.days < 365:
        notes.append(f"Retention compares whole years, so this shows the 12 months to {range_.end:%-d %b %Y}.")
    starts.append(add_months(end_exclusive, -12 * (len(starts) + 1)))
    return starts, notes


class Windows:
    """Each donor's giving per window between boundaries (newest first): window j is
    [boundaries[j+1], boundaries[j]).

    One pass over the received gifts inside the windows adds up, per donor, what they gave since each
    boundary; it is joined to the giving rollup for their first gift (did they give before a window?)
    and lifetime total, so history before the oldest window is never read.
    """

    def __init__(self, boundaries: list[datetime], donor_filter: Select | None = None):
        self.boundaries = boundaries
        last = len(boundaries) - 1
        # Every conditional sum costs a pass of work over each gift (SQLite: about 0.1 s per million), so
        # boundaries before the first gift on record get none: everything in the windows was given after them.
        first_gift = db.session.scalar(select(func.min(Gift.received_at)).where(RECEIVED))
        counted = [i for i in range(1, last) if first_gift is None or boundaries[i] > first_gift]
        since = [func.sum(if_else(Gift.received_at >= boundaries[i], Gift.amount_minor, 0)).label(f"since_{i}") for i in counted]
        since.append(func.sum(Gift.amount_minor).label(f"since_{last}"))
        # Read in donor order: SQLite would otherwise take the date index for the range and sort a million
        # rows for the GROUP BY, twice the work of skipping the gifts outside the windows.
        received_at = no_index(Gift.received_at)
        pivot = select(Gift.donor_id, *since).where(RECEIVED, received_at >= boundaries[last], received_at < boundaries[0])
        # Nearly every donor has given before the end: reading the rollup straight through beats its index.
        donors = select(DonorStats.donor_id, DonorStats.first_gift_at, DonorStats.lifetime_minor).where(
            no_index(DonorStats.first_gift_at) < boundaries[0])
        if donor_filter is not None:
            pivot = pivot.where(Gift.donor_id.in_(donor_filter))
            donors = donors.where(DonorStats.donor_id.in_(donor_filter))
        pivot = pivot.group_by(Gift.donor_id).subquery("pivot")
        self.rows = (donors.add_columns(*[func.coalesce(pivot.c[f"since_{i if i in counted else last}"], 0).label(f"since_{i}")
                                          for i in range(1, last + 1)])
                     .outerjoin(pivot, pivot.c.donor_id == DonorStats.donor_id).subquery("donor_windows"))

    def window(self, j: int) -> ColumnElement:
        """Amount given in window j."""
        since = self.rows.c
        return since.since_1 if j == 0 else since[f"since_{j + 1}"] - since[f"since_{j}"]

    def gave(self, j: int) -> ColumnElement:
        return self.window(j) > 0

    def gave_before(self, i: int) -> ColumnElement:
        """Gave at some time before boundary i."""
        return self.rows.c.first_gift_at < self.boundaries[i]


@dataclass
class DonorGroup:
    """The donors who share one giving pattern (the windows they gave in, the boundaries they had given
    before), how many they are, and what they gave per window and in their lifetime."""

    windows: int
    pattern: int
    donors: int
    amounts: list[int]
    lifetime_minor: int

    def gave(self, j: int) -> bool:
        return bool(self.pattern >> j & 1)

    def gave_before(self, i: int) -> bool:
        return bool(self.pattern >> (self.windows + i - 1) & 1)


def donor_groups(w: Windows) -> list[DonorGroup]:
    """One row per giving pattern: each donor's flags are packed into one integer and grouped on.

    A few hundred pattern rows at most, so every rate is a sum over them; on SQLite this is markedly
    cheaper than dozens of conditional aggregates over every donor.
    """
    windows = len(w.boundaries) - 1
    flags = [flag(w.gave(j), j) for j in range(windows)]
    flags += [flag(w.gave_before(i), windows + i - 1) for i in range(1, windows + 1)]
    pattern = sum(flags[1:], flags[0]).label("pattern")
    grouped = (select(pattern, func.count(), *[func.sum(w.window(j)) for j in range(windows)], func.sum(w.rows.c.lifetime_minor))
               .group_by(pattern))
    return [DonorGroup(windows, int(row[0]), int(row[1]), [int(v or 0) for v in row[2:2 + windows]], int(row[-1] or 0))
            for row in db.session.execute(grouped)]


def _donors(groups: list[DonorGroup], test: Callable[[DonorGroup], bool]) -> int:
    return sum(g.donors for g in groups if test(g))


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> RetentionReport:
    range_ = params.range
    starts, notes = period_starts(range_, params.fy_start_month)
    end_exclusive = range_.end + timedelta(days=1)
    boundary_dates = [end_exclusive] + starts
    boundaries = [local_midnight(day, tz_name) for day in boundary_dates]
    without_jit()
    progress(0, 2, "Adding up each donor's giving per period")
    groups = donor_groups(Windows(boundaries, donor_filter))
    progress(1, 2, "Working out the rates")
    rows = []
    for j in range(len(starts) - 1):
        def gave(g, j=j): return g.gave(j)
        def before(g, j=j): return g.gave(j + 1)  # gave in the previous period
        def prior(g, j=j): return g.gave_before(j + 2)  # had given before the previous period
        start, end = boundary_dates[j + 1], boundary_dates[j] - timedelta(days=1)
        rows.append(RetentionPeriod(
            start=start, end=end, name=periods.fy_name(start, end) if params.fy_start_month else "",
            donors=_donors(groups, gave),
            previous_donors=_donors(groups, before),
            retained=_donors(groups, lambda g: before(g) and gave(g)),
            new_previous=_donors(groups, lambda g: before(g) and not prior(g)),
            new_retained=_donors(groups, lambda g: before(g) and not prior(g) and gave(g)),
            repeat_previous=_donors(groups, lambda g: before(g) and prior(g)),
            repeat_retained=_donors(groups, lambda g: before(g) and prior(g) and gave(g)),
            new_donors=_donors(groups, lambda g, j=j: gave(g) and not g.gave_before(j + 1)),
            recaptured=_donors(groups, lambda g: gave(g) and not before(g) and prior(g)),
            amount_minor=sum(g.amounts[j] for g in groups),
            previous_amount_minor=sum(g.amounts[j + 1] for g in groups),
            retained_amount_minor=sum(g.amounts[j] for g in groups if before(g)),
        ))
    rows.reverse()
    lybunt = [g for g in groups if g.gave(1) and not g.gave(0)]
    sybunt = [g for g in groups if g.gave_before(2) and not g.gave(1) and not g.gave(0)]
    progress(2, 2, "Done")
    return RetentionReport(range_.start, range_.end, rows,
                           GroupTotal(sum(g.donors for g in lybunt), sum(g.amounts[1] for g in lybunt)),
                           GroupTotal(sum(g.donors for g in sybunt), sum(g.lifetime_minor for g in sybunt)), notes)


# ---------------------------------------------------------------- LYBUNT and SYBUNT lists

LISTS = {"lybunt": "LYBUNT donors", "sybunt": "SYBUNT donors"}


@dataclass
class ListedDonor:
    donor: Donor
    amount_minor: int  # LYBUNT: given in the previous period; SYBUNT: lifetime giving


@dataclass
class DonorListPage:
    rows: list[ListedDonor]
    total: int
    total_amount_minor: int
    page: int
    pages: int


def _list_query(kind: str, range_: DateRange, tz_name: str, donor_filter: Select | None, fy_start_month: int = 0):
    end_exclusive = range_.end + timedelta(days=1)
    current_start = periods.fy_start(range_.end, fy_start_month) if fy_start_month else add_months(end_exclusive, -12)
    boundaries = [local_midnight(day, tz_name) for day in (end_exclusive, current_start, add_months(current_start, -12))]
    latest_gift = db.session.scalar(select(func.max(DonorStats.last_gift_at)))
    if latest_gift is None or latest_gift < boundaries[0]:
        return _list_from_last_gift(kind, boundaries, donor_filter)
    w = Windows(boundaries, donor_filter)
    if kind == "lybunt":
        condition, amount = and_(w.gave(1), not_(w.gave(0))), w.window(1)
    else:
        condition, amount = and_(w.gave_before(2), not_(w.gave(1)), not_(w.gave(0))), w.rows.c.lifetime_minor
    return select(w.rows.c.donor_id, amount.label("amount")).where(condition).subquery("listed")


def _list_from_last_gift(kind: str, boundaries: list[datetime], donor_filter: Select | None):
    """When nobody has given after the current period (it ends today), each donor's last gift date says
    which list they are on, read through its index: LYBUNT = last gift in the previous period, SYBUNT =
    before it."""
    _, year_ago, two_years_ago = boundaries
    if kind == "lybunt":
        listed = select(DonorStats.donor_id).where(DonorStats.last_gift_at >= two_years_ago, DonorStats.last_gift_at < year_ago)
        if donor_filter is not None:
            listed = listed.where(DonorStats.donor_id.in_(donor_filter))
        return (select(Gift.donor_id, func.sum(Gift.amount_minor).label("amount"))
                .where(RECEIVED, Gift.donor_id.in_(listed), Gift.received_at >= two_years_ago, Gift.received_at < year_ago)
                .group_by(Gift.donor_id).subquery("listed"))
    listed = select(DonorStats.donor_id, DonorStats.lifetime_minor.label("amount")).where(DonorStats.last_gift_at < two_years_ago)
    if donor_filter is not None:
        listed = listed.where(DonorStats.donor_id.in_(donor_filter))
    return listed.subquery("listed")


def donor_list(kind: str, range_: DateRange, *, tz_name: str, donor_filter: Select | None = None,
               page: int = 1, per_page: int = 50, fy_start_month: int = 0) -> DonorListPage:
    """One page of the list, most valuable first, with the list's size and total from the same query
    (window functions), so the per-donor windows are worked out once."""
    without_jit()
    listed = _list_query(kind, range_, tz_name, donor_filter, fy_start_month)
    page = max(1, page)
    query = (select(Donor, listed.c.amount, func.count().over(), func.sum(listed.c.amount).over())
             .join(listed, listed.c.donor_id == Donor.id).order_by(listed.c.amount.desc(), Donor.id))
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    if not rows and page > 1:  # past the end: show the first page
        return donor_list(kind, range_, tz_name=tz_name, donor_filter=donor_filter, page=1, per_page=per_page,
                          fy_start_month=fy_start_month)
    total, amount = (int(rows[0][2]), int(rows[0][3])) if rows else (0, 0)
    return DonorListPage([ListedDonor(donor, int(value)) for donor, value, _, _ in rows], total, amount, page,
                         max(1, -(-total // per_page)))


def donor_list_csv(kind: str, range_: DateRange, *, tz_name: str, donor_filter: Select | None = None,
                   fy_start_month: int = 0) -> Iterator[list]:
    without_jit()
    listed = _list_query(kind, range_, tz_name, donor_filter, fy_start_month)
    amount_label = "given_previous_period" if kind == "lybunt" else "lifetime_total"
    yield ["donor_id", "first_name", "last_name", "organisation_name", "email", amount_label, "last_gift", "gifts"]
    query = (
        select(Donor.id, Donor.first_name, Donor.last_name, Donor.organisation_name, Donor.email, listed.c.amount,
               DonorStats.last_gift_at, DonorStats.gift_count)
        .join(listed, listed.c.donor_id == Donor.id).outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
        .order_by(listed.c.amount.desc(), Donor.id)
    )
    for row in db.session.execute(query.execution_options(yield_per=2000)):
        yield [row.id, row.first_name, row.last_name, row.organisation_name, row.email or "", money_cell(row.amount),
               row.last_gift_at.date().isoformat() if row.last_gift_at else "", row.gift_count]


def money_cell(minor: int) -> str:
    return f"{minor / 100:.2f}"


def csv_rows(report: RetentionReport) -> Iterator[list]:
    yield ["period", "period_start", "period_end", "donors", "previous_period_donors", "retained", "retention_rate",
           "new_in_previous", "new_retained", "new_retention_rate", "repeat_in_previous", "repeat_retained",
           "repeat_retention_rate", "new_donors", "recaptured", "given", "given_previous_period",
           "given_by_retained", "value_retention_rate"]
    for p in report.periods:
        yield [p.label, p.start.isoformat(), p.end.isoformat(), p.donors, p.previous_donors, p.retained, rate_cell(p.retention_rate),
               p.new_previous, p.new_retained, rate_cell(p.new_retention_rate), p.repeat_previous, p.repeat_retained,
               rate_cell(p.repeat_retention_rate), p.new_donors, p.recaptured, money_cell(p.amount_minor),
               money_cell(p.previous_amount_minor), money_cell(p.retained_amount_minor), rate_cell(p.dollar_retention_rate)]


def rate_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def default_range(today: date) -> DateRange:
    """The last four 12-month periods up to today."""
    return DateRange(add_months(today + timedelta(days=1), -48), today)
