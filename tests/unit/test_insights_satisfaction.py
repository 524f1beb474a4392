"""The satisfaction report on the hand-built answers in tests/satisfaction_data.py."""
from datetime import date

import pytest
from sqlalchemy import select

from portal.donors.models import Donor
from portal.insights import satisfaction
from portal.insights.filters import DateRange, ReportParams
from tests import satisfaction_data

pytestmark = pytest.mark.usefixtures("ctx")
TZ = "Europe/London"
RANGE = DateRange(date(2024, 1, 1), date(2024, 3, 31))


def test_csat_average_and_nps_by_month():
    satisfaction_data.build()
    report = satisfaction.compute(ReportParams(RANGE), tz_name=TZ)
    by_month = {m.label: m.scores for m in report.months}
    assert {label: s.responses for label, s in by_month.items()} == satisfaction_data.COUNTS
    jan, feb, mar = by_month["Jan 2024"], by_month["Feb 2024"], by_month["Mar 2024"]
    assert (jan.csat_ratings, jan.csat_average, jan.satisfied_rate) == (3, 3.67, 66.7)
    assert (feb.csat_ratings, feb.csat_average, feb.satisfied_rate) == (2, 4.0, 50.0)
    assert (jan.nps_ratings, jan.promoters, jan.passives, jan.detractors, jan.nps) == (5, 2, 1, 2, 0.0)
    assert (feb.nps_ratings, feb.promoters, feb.passives, feb.detractors, feb.nps) == (5, 3, 1, 1, 40.0)
    assert (mar.csat_average, mar.nps) == (None, None)
    total = report.total
    assert (total.responses, total.csat_average, total.satisfied_rate, total.nps) == (17, 3.8, 60.0, 20.0)
    assert report.comments == 3


def test_by_survey_with_comment_counts():
    data = satisfaction_data.build()
    report = satisfaction.compute(ReportParams(RANGE), tz_name=TZ)
    rows = {row.name: row for row in report.surveys}
    assert [row.name for row in report.surveys] == ["After a gift", "Ideas", "Yearly"]
    assert (rows["After a gift"].scores.csat_average, rows["After a gift"].comments) == (3.8, 1)
    assert (rows["Yearly"].scores.nps, rows["Yearly"].scores.responses, rows["Yearly"].comments) == (20.0, 10, 1)
    assert (rows["Ideas"].scores.responses, rows["Ideas"].comments, rows["Ideas"].survey_id) == (2, 1, data["surveys"]["custom"])


def test_one_survey_and_one_segment():
    data = satisfaction_data.build()
    only_nps = satisfaction.compute(ReportParams(RANGE, survey=data["surveys"]["nps"]), tz_name=TZ)
    assert (only_nps.total.responses, only_nps.total.csat_ratings, only_nps.total.nps) == (10, 0, 20.0)
    # The February NPS raters only: 10, 9, 9, 7, 3 -> (3 - 1) / 5
    february = data["donors"]["nps"][5:10]
    scoped = satisfaction.compute(ReportParams(RANGE), tz_name=TZ, donor_filter=select(Donor.id).where(Donor.id.in_(february)))
    assert [m.label for m in scoped.months] == ["Feb 2024"]
    assert (scoped.total.nps, scoped.total.responses, scoped.comments) == (40.0, 5, 1)


def test_comments_newest_first_paged_and_exported():
    satisfaction_data.build()
    first = satisfaction.comments(ReportParams(RANGE), tz_name=TZ, per_page=2)
    assert (first.total, first.pages) == (3, 2)
    assert [(c.survey_name, c.score, c.text) for c in first.rows] == [("Ideas", None, "More photos please"),
                                                                        ("Yearly", 9, "Love the newsletter")]
    second = satisfaction.comments(ReportParams(RANGE), tz_name=TZ, per_page=2, page=2)
    assert [(c.text, c.donor.first_name) for c in second.rows] == [("Receipt came late", "Rater2")]
    rows = list(satisfaction.comments_csv(ReportParams(RANGE), tz_name=TZ))
    assert rows[0][-1] == "comment" and [row[-1] for row in rows[1:]] == ["More photos please", "Love the newsletter",
                                                                           "Receipt came late"]


def test_an_empty_range_and_the_csv():
    satisfaction_data.build()
    empty = satisfaction.compute(ReportParams(DateRange(date(2023, 1, 1), date(2023, 6, 30))), tz_name=TZ)
    assert (empty.months, empty.surveys, empty.total.responses, empty.total.nps) == ([], [], 0, None)
    rows = list(satisfaction.csv_rows(satisfaction.compute(ReportParams(RANGE), tz_name=TZ)))
    assert rows[0][:4] == ["month", "responses", "csat_ratings", "csat_average"]
    assert rows[1] == ["Jan 2024", 8, 3, "3.67", "66.7", 5, 2, 1, 2, "0.0"]
    assert rows[4] == ["all", 17, 5, "3.80", "60.0", 10, 5, 2, 3, "20.0"]
