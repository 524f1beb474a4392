"""Journey milestones per donor: when they entered, gave their first, second and third gift, became a
regular giver, renewed, lapsed and came back, plus their month-by-month activity since their first gift.

All of it is derived from gifts, plans, inquiries and the donor record with set-based SQL. A row is
rebuilt whenever what it was computed from no longer matches the donor's current history (gift count,
lifetime total, first and last gift, first plan, first inquiry), so reports that call `refresh()` first
read exactly what the gift table says.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Select, and_, case, delete, func, insert, literal, or_, select, text, union, update
from sqlalchemy.exc import IntegrityError

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import DonorStats, Gift, RecurringPlan
from portal.insights.models import DonorMilestones, ReportSnapshot
from portal.sql import as_timestamp, bit, greatest_of, least_of, month_index, plus_days, seconds_between, without_jit
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

LAPSE_DAYS = 548  # 18 months without a gift, as the journey stages define "lapsed"
RENEWAL_DAYS = 365  # still giving a year after becoming a regular giver
MASK_BITS = 63  # positions 0..62 fit a signed 64-bit integer on both databases
# A rollup updated this long before a check started may still have been uncommitted when it ran.
CHANGE_MARGIN = timedelta(minutes=2)

RECEIVED = Gift.status == literal("received", literal_execute=True)


def _materialized(query: Select, name: str):
    """A CTE computed once: without MATERIALIZED, SQLite inlines it and repeats correlated subqueries."""
    return query.cte(name).prefix_with("MATERIALIZED")


def stale_donor_ids(changed_since: datetime | None = None) -> Select:
    """Donors with no milestones row, or one computed from a different gift history than today's.

    Without `changed_since` every donor is compared. With it, only rollups updated since then (read
    through their index), rows marked stale, and donors newer than every row. A new plan or inquiry
    doesn't change the rollup; the touchpoint reactor in tasks.py marks the donor's row stale for those.
    """
    m = DonorMilestones
    if changed_since is None:
        return (select(Donor.id).outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
                .outerjoin(m, m.donor_id == Donor.id).where(or_(
                    m.donor_id.is_(None),
                    m.stale == literal(True),
                    m.gift_count != func.coalesce(DonorStats.gift_count, 0),
                    m.lifetime_minor != func.coalesce(DonorStats.lifetime_minor, 0),
                    m.first_gift_at.is_distinct_from(DonorStats.first_gift_at),
                    m.last_gift_at.is_distinct_from(DonorStats.last_gift_at),
                    m.has_active_plan != func.coalesce(DonorStats.has_active_plan, False))))
    changed = (select(DonorStats.donor_id.label("id")).outerjoin(m, m.donor_id == DonorStats.donor_id)
               .where(DonorStats.updated_at >= changed_since, or_(
                   m.donor_id.is_(None),
                   m.gift_count != DonorStats.gift_count,
                   m.lifetime_minor != DonorStats.lifetime_minor,
                   m.first_gift_at.is_distinct_from(DonorStats.first_gift_at),
                   m.last_gift_at.is_distinct_from(DonorStats.last_gift_at),
                   m.has_active_plan != DonorStats.has_active_plan)))
    marked = select(m.donor_id.label("id")).where(m.stale == literal(True))
    # Donor ids only grow, so donors without a row are those above the largest id that has one.
    newer = select(Donor.id).where(Donor.id > select(func.coalesce(func.max(m.donor_id), 0)).scalar_subquery())
    return select(union(changed, marked, newer).subquery().c.id)


def _milestones_select(targets: Select | None) -> Select:
    """One row per target donor (None: every donor), in DonorMilestones' column order.

    The target donors' received gifts are read once, numbered in date order with the gap since the one
    before; totals, the second and third gift, the first long gap and the months with a gift come from that.
    """
    target_ids = _materialized(targets if targets is not None else select(Donor.id), "targets")
    # Building everyone reads whole tables; a filter by a hundred thousand ids would only slow the plan down.
    in_targets = Gift.donor_id.in_(select(target_ids.c.id)) if targets is not None else literal(True)
    order = {"partition_by": Gift.donor_id, "order_by": (Gift.received_at, Gift.id)}
    ordered = _materialized(
        select(Gift.donor_id, Gift.received_at, Gift.amount_minor, func.row_number().over(**order).label("n"),
               func.lag(Gift.received_at).over(**order).label("previous_at"), month_index(Gift.received_at).label("month"))
        .where(RECEIVED, in_targets), "ordered")
    totals = _materialized(
        select(ordered.c.donor_id, func.count().label("gift_count"), func.sum(ordered.c.amount_minor).label("lifetime_minor"),
               func.min(ordered.c.received_at).label("first_gift_at"), func.max(ordered.c.received_at).label("last_gift_at"),
               func.min(case((ordered.c.n == 2, ordered.c.received_at))).label("second_gift_at"),
               func.min(case((ordered.c.n == 3, ordered.c.received_at))).label("third_gift_at"))
        .group_by(ordered.c.donor_id), "totals")
    # Gaps never overlap, so the earliest long gap has both the smallest start and the smallest end.
    gaps = _materialized(
        select(ordered.c.donor_id, func.min(ordered.c.previous_at).label("gap_from"), func.min(ordered.c.received_at).label("gap_to"))
        .where(seconds_between(ordered.c.received_at, ordered.c.previous_at) > LAPSE_DAYS * 86400)
        .group_by(ordered.c.donor_id), "gaps")
    months = _materialized(
        select(ordered.c.donor_id, ordered.c.month).group_by(ordered.c.donor_id, ordered.c.month), "months")
    first_month = _materialized(
        select(months.c.donor_id, func.min(months.c.month).label("first")).group_by(months.c.donor_id), "first_month")
    month_offset = months.c.month - first_month.c.first
    year_offset = months.c.month // 12 - first_month.c.first // 12
    month_masks = _materialized(
        select(months.c.donor_id, func.sum(case((month_offset < MASK_BITS, bit(month_offset)), else_=0)).label("mask"))
        .join(first_month, first_month.c.donor_id == months.c.donor_id).group_by(months.c.donor_id), "month_masks")
    years = (select(months.c.donor_id, year_offset.label("offset"))
             .join(first_month, first_month.c.donor_id == months.c.donor_id)
             .group_by(months.c.donor_id, year_offset).subquery("years"))
    year_masks = _materialized(
        select(years.c.donor_id, func.sum(case((years.c.offset < MASK_BITS, bit(years.c.offset)), else_=0)).label("mask"))
        .group_by(years.c.donor_id), "year_masks")
    plans = (select(RecurringPlan.donor_id, as_timestamp(func.min(RecurringPlan.started_at)).label("first_plan_at"))
             .where(RecurringPlan.donor_id.in_(select(target_ids.c.id)) if targets is not None else literal(True))
             .group_by(RecurringPlan.donor_id).subquery("first_plans"))
    inquiries = (select(Touchpoint.donor_id, func.min(Touchpoint.occurred_at).label("first_inquiry_at"))
                 .where(Touchpoint.kind == literal("inquiry", literal_execute=True),
                        Touchpoint.donor_id.in_(select(target_ids.c.id)) if targets is not None else literal(True))
                 .group_by(Touchpoint.donor_id).subquery("first_inquiries"))

    base = _materialized(
        select(
            Donor.id.label("donor_id"),
            least_of(least_of(func.coalesce(Donor.supporter_since, Donor.created_at), inquiries.c.first_inquiry_at), totals.c.first_gift_at).label("entered_at"),
            inquiries.c.first_inquiry_at,
            totals.c.first_gift_at,
            totals.c.second_gift_at,
            totals.c.third_gift_at,
            plans.c.first_plan_at,
            gaps.c.gap_from,
            gaps.c.gap_to,
            totals.c.last_gift_at,
            first_month.c.first.label("first_month"),
            func.coalesce(month_masks.c.mask, 0).label("months_mask"),
            func.coalesce(year_masks.c.mask, 0).label("years_mask"),
            func.coalesce(totals.c.gift_count, 0).label("gift_count"),
            func.coalesce(totals.c.lifetime_minor, 0).label("lifetime_minor"),
            func.coalesce(DonorStats.has_active_plan, False).label("has_active_plan"),
        )
        .join(target_ids, target_ids.c.id == Donor.id)
        .outerjoin(DonorStats, DonorStats.donor_id == Donor.id)
        .outerjoin(totals, totals.c.donor_id == Donor.id)
        .outerjoin(gaps, gaps.c.donor_id == Donor.id)
        .outerjoin(first_month, first_month.c.donor_id == Donor.id)
        .outerjoin(month_masks, month_masks.c.donor_id == Donor.id)
        .outerjoin(year_masks, year_masks.c.donor_id == Donor.id)
        .outerjoin(plans, plans.c.donor_id == Donor.id)
        .outerjoin(inquiries, inquiries.c.donor_id == Donor.id), "base")
    # Regular: a third gift or a regular-giving plan, counted from the second gift at the earliest.
    regular_at = case(
        (and_(base.c.second_gift_at.is_not(None), or_(base.c.third_gift_at.is_not(None), base.c.first_plan_at.is_not(None))),
         greatest_of(base.c.second_gift_at, least_of(base.c.third_gift_at, base.c.first_plan_at))),
    )
    with_regular = _materialized(select(base, regular_at.label("regular_at")), "with_regular")
    renewal = (select(func.min(Gift.received_at)).where(
        Gift.donor_id == with_regular.c.donor_id, RECEIVED,
        Gift.received_at >= plus_days(with_regular.c.regular_at, RENEWAL_DAYS)).scalar_subquery())
    steps = _materialized(
        select(with_regular, case((with_regular.c.regular_at.is_not(None), renewal)).label("renewed_at")), "steps")
    lapsed_at = case((steps.c.gap_from.is_not(None), plus_days(steps.c.gap_from, LAPSE_DAYS)))
    return select(
        steps.c.donor_id,
        steps.c.entered_at,
        steps.c.first_inquiry_at,
        steps.c.first_gift_at,
        steps.c.second_gift_at,
        steps.c.third_gift_at,
        steps.c.first_plan_at,
        steps.c.regular_at,
        steps.c.renewed_at,
        lapsed_at,
        steps.c.gap_to,
        steps.c.last_gift_at,
        steps.c.has_active_plan,
        seconds_between(steps.c.first_gift_at, steps.c.entered_at),
        seconds_between(steps.c.second_gift_at, steps.c.first_gift_at),
        seconds_between(steps.c.regular_at, steps.c.second_gift_at),
        seconds_between(steps.c.renewed_at, steps.c.regular_at),
        seconds_between(steps.c.last_gift_at, steps.c.first_gift_at),
        case((steps.c.gap_from.is_not(None),
              seconds_between(steps.c.gap_from, steps.c.first_gift_at) + literal(LAPSE_DAYS * 86400, BigInteger))),
        case((steps.c.gap_from.is_not(None),
              seconds_between(steps.c.gap_to, steps.c.gap_from) - literal(LAPSE_DAYS * 86400, BigInteger))),
        steps.c.first_month,
        steps.c.first_month // 12,
        steps.c.months_mask,
        steps.c.years_mask,
        steps.c.gift_count,
        steps.c.lifetime_minor,
        literal(utcnow()),
    )


COLUMNS = ["donor_id", "entered_at", "first_inquiry_at", "first_gift_at", "second_gift_at", "third_gift_at",
           "first_plan_at", "regular_at", "renewed_at", "lapsed_at", "reactivated_at", "last_gift_at", "has_active_plan",
           "secs_to_first_gift", "secs_to_second_gift", "secs_to_regular", "secs_to_renewed", "secs_first_to_last_gift",
           "secs_first_gift_to_lapse", "secs_lapse_to_return", "first_month", "first_year", "months_mask", "years_mask",
           "gift_count", "lifetime_minor", "computed_at"]


MARKER = ("milestones", "all")  # (report, params_key) of the snapshot row recording the last check


def _last_checked_at() -> datetime | None:
    return db.session.scalar(select(ReportSnapshot.computed_at).where(
        ReportSnapshot.report == MARKER[0], ReportSnapshot.params_key == MARKER[1]))


def _mark_checked(started_at: datetime, duration_ms: int) -> None:
    marker = db.session.scalar(select(ReportSnapshot).where(
        ReportSnapshot.report == MARKER[0], ReportSnapshot.params_key == MARKER[1]))
    if marker is None:
        marker = ReportSnapshot(report=MARKER[0], params_key=MARKER[1], params={}, requested_at=started_at)
        db.session.add(marker)
    marker.status, marker.computed_at, marker.started_at, marker.duration_ms = "done", started_at, started_at, duration_ms


def refresh() -> int:
    """Rebuild the rows that are missing or out of date; returns how many donors were rebuilt.

    After the first full comparison, only rollups updated since the last check (less a margin for a
    gift committed while that check ran) are compared, so a refresh with little to do is a few
    small reads.
    """
    without_jit()
    started = utcnow()
    checked_at = _last_checked_at()
    since = checked_at - CHANGE_MARGIN if checked_at is not None else None
    count = db.session.scalar(select(func.count()).select_from(stale_donor_ids(since).subquery()))
    if count and since is None and not db.session.scalar(select(DonorMilestones.donor_id).limit(1)):
        db.session.execute(insert(DonorMilestones).from_select(COLUMNS, _milestones_select(None)))
        # Planner statistics for the new rows: without them PostgreSQL scans the table to find stale rows.
        db.session.execute(text("ANALYZE donor_milestones"))
    elif count:
        db.session.execute(delete(DonorMilestones).where(DonorMilestones.donor_id.in_(stale_donor_ids(since))))
        # Now exactly the donors to rebuild (and any added meanwhile) have no row.
        without_row = select(Donor.id).outerjoin(DonorMilestones, DonorMilestones.donor_id == Donor.id).where(
            DonorMilestones.donor_id.is_(None))
        db.session.execute(insert(DonorMilestones).from_select(COLUMNS, _milestones_select(without_row)))
    _mark_checked(started, int((utcnow() - started).total_seconds() * 1000))
    try:
        db.session.commit()
    except IntegrityError:
        # Another process rebuilt some of the same donors at the same moment; its rows are as good.
        db.session.rollback()
        log.info("milestones refreshed concurrently; keeping the other process's rows")
    return count


def mark_stale(donor_id: int) -> None:
    """Their plans or inquiries changed: the next refresh rebuilds the donor's row. No commit."""
    db.session.execute(update(DonorMilestones).where(DonorMilestones.donor_id == donor_id).values(stale=True))


def rebuild_all() -> int:
    """Recompute every donor's milestones from scratch (nightly, and after bulk loads)."""
    without_jit()
    db.session.execute(delete(DonorMilestones))
    db.session.execute(delete(ReportSnapshot).where(ReportSnapshot.report == MARKER[0], ReportSnapshot.params_key == MARKER[1]))
    db.session.flush()
    return refresh()
