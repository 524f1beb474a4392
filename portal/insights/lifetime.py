"""Customer lifetime value: what each donor has given (historical CLV) and is expected to give (predicted).

The prediction is a small state model rather than one retention rate for everyone (see README):

- a donor's yearly value is their average gift times their gifts per year, i.e. lifetime giving divided
  by the years between their first and last gift (at least one);
- each donor is in one of four states today: new (first gift in the last 12 months), repeat (gave in the
  last 12 months and before), lapsing (last gift 12-24 months ago) or lapsed (longer ago);
- the chance of giving next year from each state is measured on this organisation's own data, with the
  Fundraising Effectiveness Project's definitions, over the last two years, and pulled towards the
  overall rate when a state has few donors (see shrunk_rates);
- expected giving years ahead = the sum over the next ten years of the chance of being a giver that year,
  discounted by 10% a year; the predicted future value is yearly value times that.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterator

from sqlalchemy import Float, Select, and_, case, func, literal, not_, select

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.services import add_months
from portal.insights import milestones
from portal.insights.filters import DateRange, ReportParams
from portal.giving.models import DonorStats
from portal.insights.models import DonorMilestones
from portal.insights.retention_report import Windows, donor_groups, money_cell
from portal.sql import greatest_of, without_jit
from portal.timeutil import utcnow

M = DonorMilestones
DISCOUNT_RATE = 0.10
HORIZON_YEARS = 10
PRIOR_WEIGHT = 20  # imaginary donors at the overall rate added to each state's measurement
TOP = 10
DEFAULT_YEARS = 10  # financial years of acquisition, the current one so far included
SECONDS_PER_YEAR = 365.25 * 86400
STATES = {
    "new": ("New", "First gift in the last 12 months."),
    "repeat": ("Repeat", "Gave in the last 12 months and before that."),
    "lapsing": ("Lapsing", "Last gift 12 to 24 months ago."),
    "lapsed": ("Lapsed", "Last gift more than 24 months ago."),
}
DEFINITIONS = {
    "historical": "Historical CLV: everything a donor has given (received gifts, refunds excluded).",
    "annual": "Yearly value: average gift times gifts per year, i.e. lifetime giving over the years from first to last gift (at least one).",
    "predicted": "Predicted CLV: historical CLV plus yearly value times the expected giving years ahead for the donor's state.",
    "expected_years": "Expected giving years ahead: the chance of giving in each of the next ten years, from the measured rates below (pulled towards the overall rate when a state has few donors), discounted by 10% a year.",
    "at_risk": "At risk: the most valuable lapsing donors (last gift 12 to 24 months ago) with no active regular gift.",
}


@dataclass
class ValueModel:
    new_retention: float  # chance that a new donor gives again next year
    repeat_retention: float
    lapsing_return: float  # chance that a donor whose last gift was 12-24 months ago gives next year
    lapsed_return: float
    measured: dict[str, int]  # how many donors each rate was measured on
    discount_rate: float
    horizon_years: int
    expected_years: dict[str, float]  # expected discounted giving years ahead, by state


@dataclass
class StateValue:
    state: str
    donors: int
    historical_minor: int  # averages per donor
    annual_minor: int
    future_minor: int
    predicted_minor: int

    @property
    def label(self) -> str:
        return STATES[self.state][0]


@dataclass
class ValuedDonor:
    donor_id: int
    name: str
    state: str
    historical_minor: int
    annual_minor: int
    predicted_minor: int
    last_gift_at: datetime | None


@dataclass
class LifetimeReport:
    start: date
    end: date
    as_of: datetime
    donors: int
    average_historical_minor: int
    average_predicted_minor: int
    total_future_minor: int
    model: ValueModel
    by_state: list[StateValue]
    top: list[ValuedDonor]
    at_risk: list[ValuedDonor]


def expected_years(first_year: dict[str, float], repeat: float, lapsing: float, lapsed: float,
                   discount_rate: float = DISCOUNT_RATE, horizon: int = HORIZON_YEARS) -> dict[str, float]:
    """Discounted expected number of years a donor in each state gives over the horizon.

    Year one uses the state's own chance; after that a donor is a giver (who gives again with the repeat
    rate), one year lapsed (returns with the lapsing rate) or longer lapsed (the lapsed rate).
    """
    result = {}
    for state, chance in first_year.items():
        fell_away = 1 - chance
        active, lapsing_share, lapsed_share = chance, (fell_away if state in ("new", "repeat") else 0.0), (
            fell_away if state in ("lapsing", "lapsed") else 0.0)
        total = active / (1 + discount_rate)
        for year in range(2, horizon + 1):
            active, lapsing_share, lapsed_share = (
                active * repeat + lapsing_share * lapsing + lapsed_share * lapsed,
                active * (1 - repeat),
                lapsing_share * (1 - lapsing) + lapsed_share * (1 - lapsed),
            )
            total += active / (1 + discount_rate) ** year
        result[state] = round(total, 4)
    return result


def shrunk_rates(measured: dict[str, int], came_back: dict[str, int], weight: int = PRIOR_WEIGHT) -> dict[str, float]:
    """Each state's chance of giving next year, pulled towards its family's overall rate by `weight`
    imaginary donors: (came back + weight x overall) / (measured + weight).

    Givers (new, repeat) lean on the overall retention rate and lapsed donors (lapsing, lapsed) on the
    overall recapture rate, so a state seen on a handful of donors (a young organisation, a short history,
    a narrow segment) gets a sensible rate instead of 0% or 100%, while thousands of donors barely move.
    """
    rates = {}
    for family in (("new", "repeat"), ("lapsing", "lapsed")):
        base = sum(measured[state] for state in family)
        overall = sum(came_back[state] for state in family) / base if base else 0.0
        for state in family:
            rates[state] = (came_back[state] + weight * overall) / (measured[state] + weight)
    return rates


def measure_model(as_of: datetime, donor_filter: Select | None = None) -> ValueModel:
    """The year-on chances of giving from each state, measured from one year ago to now."""
    boundaries = [as_of, *(datetime.combine(add_months(as_of.date(), -12 * k), as_of.time()) for k in (1, 2, 3))]
    groups = donor_groups(Windows(boundaries, donor_filter))
    # As of a year ago: who was new, repeat, lapsing or lapsed then; then, who of them gave since.
    then = {
        "new": lambda g: g.gave(1) and not g.gave_before(2),
        "repeat": lambda g: g.gave(1) and g.gave_before(2),
        "lapsing": lambda g: g.gave(2) and not g.gave(1),
        "lapsed": lambda g: g.gave_before(3) and not g.gave(2) and not g.gave(1),
    }
    measured = {state: sum(g.donors for g in groups if test(g)) for state, test in then.items()}
    came_back = {state: sum(g.donors for g in groups if test(g) and g.gave(0)) for state, test in then.items()}
    rates = shrunk_rates(measured, came_back)
    years = expected_years(rates, rates["repeat"], rates["lapsing"], rates["lapsed"])
    return ValueModel(round(rates["new"], 4), round(rates["repeat"], 4), round(rates["lapsing"], 4),
                      round(rates["lapsed"], 4), measured, DISCOUNT_RATE, HORIZON_YEARS, years)


class _Values:
    """Per-donor expressions over the milestones: state today, yearly value and predicted values."""

    def __init__(self, as_of: datetime, model: ValueModel):
        self.year_ago = year_ago = datetime.combine(add_months(as_of.date(), -12), as_of.time())
        self.two_years_ago = two_years_ago = datetime.combine(add_months(as_of.date(), -24), as_of.time())
        self.state = case(
            (M.first_gift_at >= year_ago, "new"),
            (M.last_gift_at >= year_ago, "repeat"),
            (M.last_gift_at >= two_years_ago, "lapsing"),
            else_="lapsed",
        )
        years = greatest_of(literal(1.0, Float), M.secs_first_to_last_gift / literal(SECONDS_PER_YEAR, Float))
        self.annual = M.lifetime_minor / years
        self.future = self.annual * case(*[(self.state == state, literal(model.expected_years[state], Float))
                                           for state in STATES], else_=literal(0.0, Float))
        self.predicted = M.lifetime_minor + self.future


def _where(range_: DateRange, tz_name: str, donor_filter: Select | None) -> list:
    low, high = range_.bounds(tz_name)
    conditions = [M.gift_count > 0, M.first_gift_at >= low, M.first_gift_at < high]
    if donor_filter is not None:
        conditions.append(M.donor_id.in_(donor_filter))
    return conditions


def _valued(query) -> list[ValuedDonor]:
    return [ValuedDonor(donor.id, donor.display_name, state, int(historical), int(round(annual)), int(round(predicted)), last)
            for donor, state, historical, annual, predicted, last in db.session.execute(query).unique()]


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None, as_of: datetime | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> LifetimeReport:
    as_of = as_of or utcnow()
    progress(0, 4, "Bringing journey milestones up to date")
    milestones.refresh()
    without_jit()
    progress(1, 4, "Measuring how often donors give again")
    model = measure_model(as_of, donor_filter)
    values = _Values(as_of, model)
    where = _where(params.range, tz_name, donor_filter)
    progress(2, 4, "Valuing every donor")
    grouped = db.session.execute(
        select(values.state, func.count(), func.sum(M.lifetime_minor), func.sum(values.annual), func.sum(values.future))
        .where(*where).group_by(values.state)
    ).all()
    by_state, donors, historical, future = [], 0, 0, 0.0
    found = {state: (n, int(h), float(a), float(f)) for state, n, h, a, f in grouped}
    for state in STATES:
        if state not in found:
            continue
        n, h, a, f = found[state]
        donors, historical, future = donors + n, historical + h, future + f
        by_state.append(StateValue(state, n, round(h / n), round(a / n), round(f / n), round((h + f) / n)))
    progress(3, 4, "Finding the most valuable donors")
    columns = (Donor, values.state, M.lifetime_minor, values.annual, values.predicted, M.last_gift_at)
    # Both lists start from the giving rollup's indexes (lifetime total; last gift date) so only the
    # donors they need are valued.
    top = _valued(select(*columns).select_from(DonorStats).join(M, M.donor_id == DonorStats.donor_id)
                  .join(Donor, Donor.id == M.donor_id).where(*where)
                  .order_by(DonorStats.lifetime_minor.desc(), DonorStats.donor_id).limit(TOP))
    lapsing = and_(DonorStats.last_gift_at >= values.two_years_ago, DonorStats.last_gift_at < values.year_ago,
                   M.first_gift_at < values.year_ago, not_(M.has_active_plan))
    at_risk = _valued(select(*columns).select_from(DonorStats).join(M, M.donor_id == DonorStats.donor_id)
                      .join(Donor, Donor.id == M.donor_id).where(*where, lapsing)
                      .order_by(values.predicted.desc(), M.donor_id).limit(TOP))
    progress(4, 4, "Done")
    return LifetimeReport(params.range.start, params.range.end, as_of, donors,
                          round(historical / donors) if donors else 0, round((historical + future) / donors) if donors else 0,
                          round(future), model, by_state, top, at_risk)


@dataclass
class DonorValue:
    state: str
    historical_minor: int
    annual_minor: int
    predicted_minor: int

    @property
    def label(self) -> str:
        return STATES[self.state][0]


def donor_value(first_gift_at: datetime | None, last_gift_at: datetime | None, lifetime_minor: int,
                model: ValueModel, as_of: datetime) -> DonorValue | None:
    """One donor's value by the report's rules (_Values), from their giving rollup: state, yearly value,
    and given so far plus the expected discounted giving years of their state."""
    if first_gift_at is None or last_gift_at is None:
        return None
    year_ago = datetime.combine(add_months(as_of.date(), -12), as_of.time())
    two_years_ago = datetime.combine(add_months(as_of.date(), -24), as_of.time())
    state = ("new" if first_gift_at >= year_ago else "repeat" if last_gift_at >= year_ago
             else "lapsing" if last_gift_at >= two_years_ago else "lapsed")
    years = max(1.0, (last_gift_at - first_gift_at).total_seconds() / SECONDS_PER_YEAR)
    annual = lifetime_minor / years
    return DonorValue(state, lifetime_minor, round(annual), round(lifetime_minor + annual * model.expected_years[state]))


def donors_csv(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None,
               as_of: datetime | None = None) -> Iterator[list]:
    """Every donor of the range with their historical, yearly and predicted value."""
    as_of = as_of or utcnow()
    milestones.refresh()
    without_jit()
    values = _Values(as_of, measure_model(as_of, donor_filter))
    yield ["donor_id", "first_name", "last_name", "organisation_name", "email", "first_gift", "last_gift", "gifts",
           "state", "historical_clv", "yearly_value", "predicted_future_value", "predicted_clv"]
    query = (select(Donor.id, Donor.first_name, Donor.last_name, Donor.organisation_name, Donor.email, M.first_gift_at,
                    M.last_gift_at, M.gift_count, values.state, M.lifetime_minor, values.annual, values.future, values.predicted)
             .join(Donor, Donor.id == M.donor_id).where(*_where(params.range, tz_name, donor_filter))
             .order_by(M.lifetime_minor.desc(), M.donor_id))
    for row in db.session.execute(query.execution_options(yield_per=2000)):
        (donor_id, first, last, organisation, email, first_gift, last_gift, gifts, state, historical, annual, future,
         predicted) = row
        yield [donor_id, first, last, organisation, email or "", first_gift.date().isoformat(), last_gift.date().isoformat(),
               gifts, state, money_cell(historical), money_cell(round(annual)), money_cell(round(future)),
               money_cell(round(predicted))]


def csv_rows(report: LifetimeReport) -> Iterator[list]:
    yield ["state", "donors", "average_historical_clv", "average_yearly_value", "average_predicted_future_value",
           "average_predicted_clv", "expected_giving_years_ahead"]
    for row in report.by_state:
        yield [row.label, row.donors, money_cell(row.historical_minor), money_cell(row.annual_minor),
               money_cell(row.future_minor), money_cell(row.predicted_minor), f"{report.model.expected_years[row.state]:.2f}"]
    yield ["All donors", report.donors, money_cell(report.average_historical_minor), "", "",
           money_cell(report.average_predicted_minor), ""]


def default_range(today: date) -> DateRange:
    """Rolling windows and custom ranges start from every donor acquired in the last ten years."""
    return DateRange(add_months(today + timedelta(days=1), -120), today)
