"""Gift Aid claims: the eligible unclaimed gifts of a date range as HMRC schedule lines, at most 1,000 lines a
claim, with refunds of earlier claimed gifts as adjustments; exported as HMRC's Charities Online .ods."""
from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import delete, func, select, update

from portal import bulk_insert as bulk, jobs
from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import Gift
from portal.settings.services import organisation
from portal.taxrelief import rules
from portal.taxrelief.benefits import local_today
from portal.taxrelief.eligibility import assess, gifts_between
from portal.taxrelief.models import Adjustment, Claim, ClaimGift, ClaimLine, Declaration, MonthFigure
from portal.taxrelief.services import TaxReliefError
from portal.timeutil import local_midnight, utcnow

AGGREGATE_DESCRIPTION = "One-off gifts of 30 GBP or less"  # plain ASCII for HMRC's validator
SCHEDULE_COLUMNS = ("Item", "Title", "First name or initial", "Last name", "House name or number", "Postcode",
                    "Aggregated donations", "Sponsored event", "Donation date", "Donation amount")


@dataclass
class Line:
    donor_id: int | None
    title: str
    first_name: str
    last_name: str
    house: str
    postcode: str
    aggregated: str
    sponsored: bool
    donation_date: date
    amount_minor: int
    gift_ids: list[int]


@dataclass
class HeldBack:
    donor_id: int
    name: str
    problems: list[str]
    gift_count: int
    amount_minor: int


@dataclass
class ClaimPlan:
    start: date
    end: date
    lines: list[Line] = field(default_factory=list)
    held_back: list[HeldBack] = field(default_factory=list)
    ineligible: dict[str, int] = field(default_factory=dict)  # reason text -> gifts
    adjustments: list[int] = field(default_factory=list)  # adjustment ids to settle
    adjustment_minor: int = 0

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        return rules.gift_aid_on(self.total_minor)

    @property
    def gift_count(self) -> int:
        return sum(len(line.gift_ids) for line in self.lines)

    def schedules(self, per: int = rules.LINES_PER_SCHEDULE) -> list[list[Line]]:
        return [self.lines[i:i + per] for i in range(0, len(self.lines), per)] or []


def accounting_period(day: date, start_month: int = 4) -> int:
    """The accounting year a day is in, named by the year it starts (the charity's year starts in April)."""
    return day.year if day.month >= start_month else day.year - 1


def plan_claim(start: date, end: date) -> ClaimPlan:
    """What a claim for gifts received from `start` to `end` (inclusive) would hold, without writing anything.

    Per donor and accounting period, regular and repeated gifts share one line dated with the last of them; a
    donor's single gift of £30 or less goes into aggregated lines of at most £1,000 (which need no address);
    sponsored-event gifts keep a line each. Donors whose address can't go on a line are held back, with why."""
    if end < start:
        raise TaxReliefError("The end date must be on or after the start date.", "end")
    tz = organisation().timezone
    plan = ClaimPlan(start, end)
    period = gifts_between(local_midnight(start, tz), local_midnight(end + timedelta(days=1), tz))
    context = period.context
    groups: dict[tuple[int, int], list] = defaultdict(list)
    sponsored: list = []
    ineligible: dict[str, int] = defaultdict(int)
    for reason, count in period.undeclared.items():
        ineligible[rules.REASONS[reason]] += count
    for gift in sorted(period.facts, key=lambda g: (g.donor_id, g.received_on, g.id)):
        assessment = assess(gift, context)
        if not assessment.eligible:
            ineligible[rules.REASONS[assessment.reason]] += 1
        elif gift.campaign.lower().startswith("sponsored"):
            sponsored.append(gift)
        else:
            groups[(gift.donor_id, accounting_period(gift.received_on))].append(gift)
    plan.ineligible = dict(ineligible)

    small = sorted((gifts[0] for gifts in groups.values()
                    if len(gifts) == 1 and gifts[0].amount_minor <= rules.SMALL_DONATION_MAX_MINOR),
                   key=lambda g: (g.received_on, g.id))
    small_ids = {g.id for g in small}
    donors = _donor_details({gift.donor_id for gifts in groups.values() for gift in gifts if gift.id not in small_ids}
                            | {g.donor_id for g in sponsored})
    held: dict[int, HeldBack] = {}

    def donor_line(donor_id: int, gifts: list, is_sponsored: bool) -> None:
        donor = donors[donor_id]
        amount = sum(g.amount_minor for g in gifts)
        if donor["problems"]:
            entry = held.setdefault(donor_id, HeldBack(donor_id, donor["name"], donor["problems"], 0, 0))
            entry.gift_count += len(gifts)
            entry.amount_minor += amount
            return
        plan.lines.append(Line(donor_id, donor["title"], donor["first_name"], donor["last_name"], donor["house"],
                               donor["postcode"], "", is_sponsored, max(g.received_on for g in gifts), amount,
                               [g.id for g in gifts]))

    for (donor_id, _period), gifts in sorted(groups.items()):
        if not (len(gifts) == 1 and gifts[0].id in small_ids):
            donor_line(donor_id, gifts, False)
    for gift in sponsored:
        donor_line(gift.donor_id, [gift], True)
    plan.lines.extend(_aggregate(small))
    plan.held_back = sorted(held.values(), key=lambda h: h.name.lower())
    unsettled = db.session.execute(select(Adjustment.id, Adjustment.tax_minor)
                                   .where(Adjustment.settled_by_claim_id.is_(None))).all()
    plan.adjustments = [row.id for row in unsettled]
    plan.adjustment_minor = sum(row.tax_minor for row in unsettled)
    return plan


def _aggregate(small: list) -> list[Line]:
    """Small one-off gifts in date order, packed into lines of at most £1,000, each dated with its last gift."""
    lines: list[Line] = []
    current: list = []
    for gift in small:
        if current and sum(g.amount_minor for g in current) + gift.amount_minor > rules.AGGREGATE_LINE_MAX_MINOR:
            lines.append(_aggregate_line(current))
            current = []
        current.append(gift)
    if current:
        lines.append(_aggregate_line(current))
    return lines


def _aggregate_line(gifts: list) -> Line:
    return Line(None, "", "", "", "", "", AGGREGATE_DESCRIPTION, False, gifts[-1].received_on,
                sum(g.amount_minor for g in gifts), [g.id for g in gifts])


def _donor_details(donor_ids: set[int]) -> dict[int, dict]:
    """Schedule fields of these donors; all are declared donors, read with a semi-join rather than a list of ids."""
    details = {}
    for row in db.session.execute(select(Donor.id, Donor.title, Donor.first_name, Donor.last_name,
                                         Donor.address_line1, Donor.postcode, Donor.country)
                                  .where(Donor.id.in_(select(Declaration.donor_id)))):
        if row.id in donor_ids:
            details[row.id] = {
                "name": f"{row.first_name} {row.last_name}".strip() or f"Donor #{row.id}",
                "title": rules.schedule_title(row.title),
                "first_name": rules.schedule_name(row.first_name),
                "last_name": rules.schedule_name(row.last_name),
                "house": rules.house_name_or_number(row.address_line1),
                "postcode": rules.normalise_postcode(row.postcode) or "",
                "problems": rules.address_problems(address_line1=row.address_line1, postcode=row.postcode,
                                                   country=row.country)
                            + ([] if row.last_name.strip() else ["No last name"]),
            }
    return details


def build_claims(start: date, end: date, *, actor=None) -> list[Claim]:
    """Write the plan as draft claims of at most 1,000 lines each; the first settles open adjustments. Commits."""
    plan = plan_claim(start, end)
    schedules = plan.schedules()
    if not schedules and not plan.adjustments:
        raise TaxReliefError("No eligible unclaimed gifts in these dates.")
    schedules = schedules or [[]]
    claims = []
    for part, lines in enumerate(schedules, start=1):
        total = sum(line.amount_minor for line in lines)
        claim = Claim(period_start=start, period_end=end, part=part, parts=len(schedules), line_count=len(lines),
                      gift_count=sum(len(line.gift_ids) for line in lines), total_minor=total,
                      tax_minor=rules.gift_aid_on(total), adjustment_minor=plan.adjustment_minor if part == 1 else 0,
                      created_by_id=getattr(actor, "id", None))
        db.session.add(claim)
        db.session.flush()
        claims.append(claim)
        line_rows, gift_rows = [], []
        for line_no, line in enumerate(lines, start=1):
            line_rows.append(dict(claim_id=claim.id, line_no=line_no, donor_id=line.donor_id, title=line.title,
                                  first_name=line.first_name, last_name=line.last_name, house=line.house,
                                  postcode=line.postcode, aggregated=line.aggregated, sponsored=line.sponsored,
                                  donation_date=line.donation_date, amount_minor=line.amount_minor))
            gift_rows.extend(dict(gift_id=gift_id, claim_id=claim.id, line_no=line_no)
                             for gift_id in line.gift_ids)
        bulk.insert_rows(ClaimLine, line_rows)
        bulk.insert_rows(ClaimGift, gift_rows)
    if plan.adjustments:
        db.session.execute(update(Adjustment).where(Adjustment.id.in_(plan.adjustments))
                           .values(settled_by_claim_id=claims[0].id))
    db.session.commit()
    return claims


def claims_list(limit: int = 100) -> list[Claim]:
    return list(db.session.scalars(select(Claim).order_by(Claim.created_at.desc(), Claim.id.desc()).limit(limit)))


def get_claim(claim_id: int) -> Claim | None:
    return db.session.get(Claim, claim_id)


def claim_lines(claim: Claim, *, limit: int | None = None) -> list[ClaimLine]:
    query = select(ClaimLine).where(ClaimLine.claim_id == claim.id).order_by(ClaimLine.line_no)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def settled_adjustments(claim: Claim) -> list[Adjustment]:
    return list(db.session.scalars(select(Adjustment).where(Adjustment.settled_by_claim_id == claim.id)
                                   .order_by(Adjustment.id)))


def submit_claim(claim: Claim, *, actor=None) -> Claim:
    """Mark a draft as sent to HMRC: its gifts are claimed from now on. Refused when a gift on it was refunded
    since it was built (the schedule would be wrong). Commits."""
    if claim.status != "draft":
        raise TaxReliefError("This claim has already been submitted.")
    refunded = db.session.scalar(select(func.count()).select_from(ClaimGift).join(Gift, Gift.id == ClaimGift.gift_id)
                                 .where(ClaimGift.claim_id == claim.id, Gift.status != "received"))
    if refunded:
        raise TaxReliefError(f"{refunded} gift(s) on this claim were refunded since it was built. "
                             "Delete the draft and build it again.")
    claim.status = "submitted"
    claim.submitted_at = utcnow()
    refresh_figures_soon()
    db.session.commit()
    return claim


def delete_draft(claim: Claim) -> None:
    """Throw a draft away: its gifts and adjustments are free for the next claim. Commits."""
    if claim.status != "draft":
        raise TaxReliefError("A submitted claim can't be deleted.")
    db.session.execute(update(Adjustment).where(Adjustment.settled_by_claim_id == claim.id)
                       .values(settled_by_claim_id=None))
    db.session.execute(delete(ClaimGift).where(ClaimGift.claim_id == claim.id))
    db.session.execute(delete(ClaimLine).where(ClaimLine.claim_id == claim.id))
    db.session.delete(claim)
    db.session.commit()


def on_refund(touchpoint) -> None:
    """A refunded gift that was on a submitted claim: the tax claimed on it is paid back in the next claim."""
    gift_id = (touchpoint.data or {}).get("gift_id")
    if not gift_id:
        return
    row = db.session.execute(select(ClaimGift.claim_id, Claim.status).join(Claim, Claim.id == ClaimGift.claim_id)
                             .where(ClaimGift.gift_id == gift_id)).first()
    if row is None or row.status != "submitted":
        return
    if db.session.scalar(select(Adjustment.id).where(Adjustment.gift_id == gift_id)):
        return
    gift = db.session.get(Gift, gift_id)
    db.session.add(Adjustment(gift_id=gift_id, donor_id=gift.donor_id, claim_id=row.claim_id,
                              amount_minor=gift.amount_minor, tax_minor=rules.gift_aid_on(gift.amount_minor)))


def open_adjustments() -> list[Adjustment]:
    return list(db.session.scalars(select(Adjustment).where(Adjustment.settled_by_claim_id.is_(None))
                                   .order_by(Adjustment.id)))


# ---------------------------------------------------------------- export

def schedule_ods(claim: Claim) -> bytes:
    """The claim's lines as HMRC's Charities Online schedule: one sheet, their columns in their order."""
    # odfpy adds a noticeable part of a second to every start; only exporting a claim needs it.
    from odf.number import Number, NumberStyle
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.style import Style, TableColumnProperties
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    money_format = NumberStyle(name="amount2dp")
    money_format.addElement(Number(decimalplaces="2", minintegerdigits="1", grouping="false"))
    document.styles.addElement(money_format)
    money_style = Style(name="amount", family="table-cell", datastylename="amount2dp")
    document.automaticstyles.addElement(money_style)
    wide = Style(name="wide", family="table-column")
    wide.addElement(TableColumnProperties(columnwidth="3.5cm"))
    document.automaticstyles.addElement(wide)

    def text_cell(value: str) -> TableCell:
        cell = TableCell(valuetype="string")
        cell.addElement(P(text=value))
        return cell

    table = Table(name="Schedule")
    table.addElement(TableColumn(numbercolumnsrepeated=len(SCHEDULE_COLUMNS), stylename=wide))
    header = TableRow()
    for title in SCHEDULE_COLUMNS:
        header.addElement(text_cell(title))
    table.addElement(header)
    for line in claim_lines(claim):
        row = TableRow()
        item = TableCell(valuetype="float", value=line.line_no)
        item.addElement(P(text=str(line.line_no)))
        row.addElement(item)
        for value in (line.title, line.first_name, line.last_name, line.house, line.postcode, line.aggregated,
                      "Yes" if line.sponsored else "", rules.schedule_date(line.donation_date)):
            row.addElement(text_cell(value))
        amount = TableCell(valuetype="float", value=rules.schedule_amount(line.amount_minor), stylename=money_style)
        amount.addElement(P(text=rules.schedule_amount(line.amount_minor)))
        row.addElement(amount)
        table.addElement(row)
    document.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def schedule_filename(claim: Claim) -> str:
    return f"gift-aid-claim-{claim.id}-{claim.period_start:%Y%m%d}-{claim.period_end:%Y%m%d}.ods"


# ---------------------------------------------------------------- figures

def claimed_tax_total() -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Claim.tax_minor - Claim.adjustment_minor), 0))
                             .where(Claim.status == "submitted"))


def refresh_month_figures(months: int = 12) -> int:
    """Recompute and keep the monthly figures (the job). Commits."""
    computed = monthly_figures(months)
    db.session.execute(delete(MonthFigure))
    now = utcnow()
    db.session.add_all(MonthFigure(month=m.month, claimed_minor=m.claimed_minor, unclaimed_minor=m.unclaimed_minor,
                                   computed_at=now) for m in computed)
    db.session.commit()
    return len(computed)


def stored_month_figures() -> list[MonthFigure]:
    return list(db.session.scalars(select(MonthFigure).order_by(MonthFigure.month)))


def refresh_figures_soon() -> None:
    """Queue a recalculation to run once the current transaction commits."""
    jobs.enqueue_after_commit("reports", "portal.taxrelief.tasks.refresh_figures_job")


def refresh_figures_now() -> None:
    """Queue a recalculation and commit, so it is handed to the queue at once (staff asked for it)."""
    refresh_figures_soon()
    db.session.commit()


@dataclass
class MonthFigures:
    month: date
    claimed_minor: int = 0  # tax on gifts of the month on submitted claims
    unclaimed_minor: int = 0  # tax on eligible gifts of the month on no claim


def monthly_figures(months: int = 12, *, today: date | None = None) -> list[MonthFigures]:
    """Gift Aid claimed and eligible-but-unclaimed, by the month the gifts were received."""
    today = today or local_today()
    first = date(today.year, today.month, 1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    figures = {}
    cursor = first
    while cursor <= today:
        figures[(cursor.year, cursor.month)] = MonthFigures(cursor)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    tz = organisation().timezone
    period = gifts_between(local_midnight(first, tz), local_midnight(today + timedelta(days=1), tz), currency="GBP")
    context = period.context
    for gift in period.facts:
        month = figures.get((gift.received_on.year, gift.received_on.month))
        if month is None:
            continue
        assessment = assess(gift, context)
        if assessment.reason == "claimed":
            month.claimed_minor += rules.gift_aid_on(gift.amount_minor)
        elif assessment.eligible or assessment.reason == "in_draft":
            month.unclaimed_minor += rules.gift_aid_on(gift.amount_minor)
    return list(figures.values())
