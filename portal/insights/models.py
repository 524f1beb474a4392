from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.feedback.models import SurveyResponse
from portal.giving.models import DonorStats, Gift
from portal.timeutil import utcnow

# The reports read received gifts per donor in date order, and per date across donors. Both indexes
# lead with the status and carry the amount, so a query for `status = 'received'` is answered from the
# index alone on both databases. (Partial indexes on received gifts did that on PostgreSQL only: SQLite
# doesn't treat a partial index as covering when the query names the status, and preferred the plain
# indexes, reading the table for every gift.)
Index("ix_gifts_status_donor", Gift.status, Gift.donor_id, Gift.received_at, Gift.amount_minor)
Index("ix_gifts_status_time", Gift.status, Gift.received_at, Gift.donor_id, Gift.amount_minor)
# The satisfaction report reads ratings and comment flags by date, survey and donor from this index alone
# (the table's rows carry every answers document, which a scan would read too).
Index("ix_survey_responses_reporting", SurveyResponse.created_at, SurveyResponse.survey_id, SurveyResponse.kind,
      SurveyResponse.score, SurveyResponse.has_comment, SurveyResponse.donor_id)
# The latest rollup change tells the milestones check whether anything happened since it last ran.
Index("ix_donor_stats_updated_at", DonorStats.updated_at)

class ReportSnapshot(db.Model):
    """A report computed by a job for one set of filters, kept with the time it was computed."""

    __tablename__ = "report_snapshots"
    __table_args__ = (
        UniqueConstraint("report", "params_key", name="uq_report_snapshots_report_params"),
        Index("ix_report_snapshots_status_requested", "status", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(40))
    params_key: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical parameters
    params: Mapped[dict] = mapped_column(db.JSON)
    scope: Mapped[str] = mapped_column(String(80), default="all")  # which donors: "all" or a plugged-in scope
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued | running | done | failed
    result: Mapped[dict | None] = mapped_column(db.JSON)
    error: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    computed_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]


class DonorMilestones(db.Model):
    """When each donor reached each step of the giving journey, derived from their gifts, plans and
    inquiries. Rebuilt with set-based SQL for the donors whose history changed (see milestones.py):
    finding gaps between consecutive gifts needs a window over every gift, which is too slow to
    repeat on every report over a million gifts."""

    __tablename__ = "donor_milestones"

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True)
    # Earliest of joining, first inquiry, first gift. Not indexed on purpose: cohorts are a large share
    # of the table, and a full scan beats an index walk with a row lookup per donor.
    entered_at: Mapped[datetime]
    first_inquiry_at: Mapped[datetime | None]
    first_gift_at: Mapped[datetime | None]
    second_gift_at: Mapped[datetime | None]
    third_gift_at: Mapped[datetime | None]
    first_plan_at: Mapped[datetime | None]
    regular_at: Mapped[datetime | None]
    renewed_at: Mapped[datetime | None]
    lapsed_at: Mapped[datetime | None]  # start of the first 18-month gap between two gifts
    reactivated_at: Mapped[datetime | None]  # the gift that ended that gap
    last_gift_at: Mapped[datetime | None]
    has_active_plan: Mapped[bool] = mapped_column(default=False)
    # Seconds between consecutive steps, stored so medians are a sort of integers.
    secs_to_first_gift: Mapped[int | None] = mapped_column(BigInteger)
    secs_to_second_gift: Mapped[int | None] = mapped_column(BigInteger)
    secs_to_regular: Mapped[int | None] = mapped_column(BigInteger)
    secs_to_renewed: Mapped[int | None] = mapped_column(BigInteger)
    secs_first_to_last_gift: Mapped[int | None] = mapped_column(BigInteger)
    secs_first_gift_to_lapse: Mapped[int | None] = mapped_column(BigInteger)
    secs_lapse_to_return: Mapped[int | None] = mapped_column(BigInteger)
    # Acquisition period and activity since: bit p is set when the donor gave p months (or calendar
    # years) after the month (year) of their first gift, for p up to 62.
    first_month: Mapped[int | None]  # year * 12 + month - 1
    first_year: Mapped[int | None]
    months_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    years_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the row was computed from; a difference from the donor's current history marks it stale.
    gift_count: Mapped[int] = mapped_column(default=0)
    # Set when a new plan or inquiry (which the giving rollup doesn't show) moved the donor's journey.
    stale: Mapped[bool] = mapped_column(default=False, index=True)
    lifetime_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
