"""Satisfaction: CSAT average and NPS by month and by survey, from survey responses, with the comments
donors wrote in the surveys' free-text questions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterator

from sqlalchemy import Select, and_, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import Text

from portal.donors.models import Donor
from portal.extensions import db
from portal.feedback.models import Survey, SurveyResponse
from portal.giving.services import add_months
from portal.insights.cohorts import key_label
from portal.insights.filters import DateRange, ReportParams
from portal.insights.retention_report import percent, rate_cell
from portal.sql import if_else, month_index, without_jit

MAX_YEARS = 5
COMMENTS_PER_PAGE = 20
PROMOTER_MIN, DETRACTOR_MAX = 9, 6  # NPS: 9-10 promoters, 0-6 detractors, 7-8 passives
SATISFIED_MIN = 4  # CSAT: 4 or 5 out of 5
DEFINITIONS = {
    "csat": "The mean of the 1–5 satisfaction ratings given in the period (5 is very satisfied).",
    "satisfied": f"The share of CSAT ratings of {SATISFIED_MIN} or 5.",
    "nps": (f"Net Promoter Score: % promoters ({PROMOTER_MIN}–10) − % detractors (0–{DETRACTOR_MAX}) of the 0–10 "
            "“would you recommend us” ratings, from −100 to +100; passives (7–8) count only in the total."),
    "responses": "Answers received in the period (by the time they were submitted); a survey without a rating counts here only.",
    "comments": "What donors wrote in the surveys' free-text questions (blank answers aside), newest first.",
}


class text_answers(FunctionElement):
    """The non-empty free-text answers of a response's `answers` JSON, joined by blank lines (NULL when
    there are none), read in the database for the comments shown or exported."""

    type = Text()
    inherit_cache = True


@compiles(text_answers, "sqlite")
def _text_answers_sqlite(element, compiler, **kw):
    answers = compiler.process(element.clauses, **kw)
    value = "json_extract(answer.value, '$.value')"
    return (f"(SELECT group_concat({value}, char(10) || char(10)) FROM json_each({answers}) AS answer "
            f"WHERE json_extract(answer.value, '$.kind') = 'text' AND trim(coalesce({value}, '')) <> '')")


@compiles(text_answers, "postgresql")
def _text_answers_pg(element, compiler, **kw):
    answers = compiler.process(element.clauses, **kw)
    return (f"(SELECT string_agg(answer.item ->> 'value', E'\\n\\n' ORDER BY answer.position) "
            f"FROM json_array_elements({answers}) WITH ORDINALITY AS answer(item, position) "
            f"WHERE answer.item ->> 'kind' = 'text' AND trim(coalesce(answer.item ->> 'value', '')) <> '')")


@dataclass
class Scores:
    """CSAT and NPS counts for a month, a survey or the whole range."""

    responses: int
    csat_ratings: int
    csat_total: int
    csat_satisfied: int
    nps_ratings: int
    promoters: int
    detractors: int

    @property
    def csat_average(self) -> float | None:
        return round(self.csat_total / self.csat_ratings, 2) if self.csat_ratings else None

    @property
    def satisfied_rate(self) -> float | None:
        return percent(self.csat_satisfied, self.csat_ratings)

    @property
    def passives(self) -> int:
        return self.nps_ratings - self.promoters - self.detractors

    @property
    def nps(self) -> float | None:
        if not self.nps_ratings:
            return None
        return round(100 * (self.promoters - self.detractors) / self.nps_ratings, 1)


@dataclass
class SatisfactionMonth:
    key: int
    scores: Scores

    @property
    def label(self) -> str:
        return key_label("month", self.key)


@dataclass
class SurveyScores:
    survey_id: int
    name: str
    kind: str
    scores: Scores
    comments: int


@dataclass
class SatisfactionReport:
    start: date
    end: date
    survey_id: int  # 0: every survey
    months: list[SatisfactionMonth]
    surveys: list[SurveyScores]
    total: Scores
    comments: int


def _scoped(params: ReportParams, tz_name: str, donor_filter: Select | None) -> list[ColumnElement]:
    low, high = params.range.bounds(tz_name)
    where = [SurveyResponse.created_at >= low, SurveyResponse.created_at < high]
    if params.survey:
        where.append(SurveyResponse.survey_id == params.survey)
    if donor_filter is not None:
        where.append(SurveyResponse.donor_id.in_(donor_filter))
    return where


def _score_columns() -> list[ColumnElement]:
    """Aggregates in Scores' field order (after `responses`): one pass over the responses."""
    score = SurveyResponse.score
    csat = and_(SurveyResponse.kind == literal("csat", literal_execute=True), score.is_not(None))
    nps = and_(SurveyResponse.kind == literal("nps", literal_execute=True), score.is_not(None))
    return [
        func.count(),
        func.sum(if_else(csat, literal(1), literal(0))),
        func.sum(if_else(csat, score, literal(0))),
        func.sum(if_else(and_(csat, score >= SATISFIED_MIN), literal(1), literal(0))),
        func.sum(if_else(nps, literal(1), literal(0))),
        func.sum(if_else(and_(nps, score >= PROMOTER_MIN), literal(1), literal(0))),
        func.sum(if_else(and_(nps, score <= DETRACTOR_MAX), literal(1), literal(0))),
    ]


def _scores(values) -> Scores:
    return Scores(*(int(value or 0) for value in values))


def compute(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None,
            progress: Callable[[int, int, str], None] = lambda *_: None) -> SatisfactionReport:
    where = _scoped(params, tz_name, donor_filter)
    without_jit()
    progress(0, 3, "Averaging ratings by month")
    month = month_index(SurveyResponse.created_at)
    months = [SatisfactionMonth(int(key), _scores(values)) for key, *values in db.session.execute(
        select(month, *_score_columns()).where(*where).group_by(month).order_by(month))]
    progress(1, 3, "Averaging ratings by survey")
    has_comment = if_else(SurveyResponse.has_comment, literal(1), literal(0))
    by_survey = (select(SurveyResponse.survey_id, *_score_columns(), func.sum(has_comment).label("comments"))
                 .where(*where).group_by(SurveyResponse.survey_id).subquery("by_survey"))
    surveys = []
    for row in db.session.execute(
        select(by_survey, Survey.name, Survey.kind).join(Survey, Survey.id == by_survey.c.survey_id).order_by(Survey.name, Survey.id)
    ):
        survey_id, *values, comments, name, kind = row
        surveys.append(SurveyScores(int(survey_id), name, kind, _scores(values), int(comments or 0)))
    progress(2, 3, "Adding up")
    total = Scores(*(sum(getattr(m.scores, f) for m in months) for f in
                     ("responses", "csat_ratings", "csat_total", "csat_satisfied", "nps_ratings", "promoters", "detractors")))
    progress(3, 3, "Done")
    return SatisfactionReport(params.range.start, params.range.end, params.survey, months, surveys, total,
                              sum(s.comments for s in surveys))


# ---------------------------------------------------------------- comments (read live, a page at a time)

@dataclass
class Comment:
    response_id: int
    created_at: datetime
    donor: Donor
    survey_name: str
    kind: str
    score: int | None
    text: str


@dataclass
class CommentPage:
    rows: list[Comment]
    total: int
    page: int
    pages: int


def _commented(params: ReportParams, tz_name: str, donor_filter: Select | None) -> Select:
    """Ids of the responses in the range with a comment, newest first (read from the reporting index)."""
    return (select(SurveyResponse.id).where(*_scoped(params, tz_name, donor_filter), SurveyResponse.has_comment)
            .order_by(SurveyResponse.created_at.desc(), SurveyResponse.id.desc()))


def _comment_rows(ids: Select, donor_columns) -> Select:
    """id, time, *donor_columns, survey name, kind, score and comment text of the responses `ids` selects."""
    chosen = ids.subquery("chosen")
    return (select(SurveyResponse.id, SurveyResponse.created_at, *donor_columns, Survey.name, SurveyResponse.kind,
                   SurveyResponse.score, text_answers(SurveyResponse.answers))
            .join(chosen, chosen.c.id == SurveyResponse.id)
            .join(Donor, Donor.id == SurveyResponse.donor_id).join(Survey, Survey.id == SurveyResponse.survey_id)
            .order_by(SurveyResponse.created_at.desc(), SurveyResponse.id.desc()))


def comments(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None, page: int = 1,
             per_page: int = COMMENTS_PER_PAGE) -> CommentPage:
    """The comments written in the range, newest first, one page of them: the page's ids come from the
    index, and only those twenty answers documents are read for their text."""
    without_jit()
    commented = _commented(params, tz_name, donor_filter)
    total = db.session.scalar(select(func.count()).select_from(commented.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    page_ids = commented.limit(per_page).offset((page - 1) * per_page)
    rows = db.session.execute(_comment_rows(page_ids, [Donor])).unique().all()
    return CommentPage([Comment(*row) for row in rows], total, page, pages)


def comments_csv(params: ReportParams, *, tz_name: str, donor_filter: Select | None = None) -> Iterator[list]:
    without_jit()
    query = _comment_rows(_commented(params, tz_name, donor_filter).order_by(None),
                          [Donor.id, Donor.first_name, Donor.last_name, Donor.organisation_name])
    yield ["response_id", "answered_at", "donor_id", "first_name", "last_name", "organisation_name", "survey", "kind", "score",
           "comment"]
    for row in db.session.execute(query.execution_options(yield_per=1000)):
        yield [row[0], row[1].isoformat(sep=" ", timespec="seconds"), row[2], row[3] or "", row[4] or "", row[5] or "",
               row[6], row[7], "" if row[8] is None else row[8], row[9]]


# ---------------------------------------------------------------- export and defaults

def _score_cells(scores: Scores) -> list:
    return [scores.responses, scores.csat_ratings, "" if scores.csat_average is None else f"{scores.csat_average:.2f}",
            rate_cell(scores.satisfied_rate), scores.nps_ratings, scores.promoters, scores.passives, scores.detractors,
            rate_cell(scores.nps)]


SCORE_HEADERS = ["responses", "csat_ratings", "csat_average", "csat_satisfied_pct", "nps_ratings", "promoters", "passives",
                 "detractors", "nps"]


def csv_rows(report: SatisfactionReport) -> Iterator[list]:
    yield ["month", *SCORE_HEADERS]
    for month in report.months:
        yield [month.label, *_score_cells(month.scores)]
    yield ["all", *_score_cells(report.total)]
    yield []
    yield ["survey", "kind", *SCORE_HEADERS, "comments"]
    for survey in report.surveys:
        yield [survey.name, survey.kind, *_score_cells(survey.scores), survey.comments]


def default_range(today: date) -> DateRange:
    return DateRange(add_months(today.replace(day=1), -11), today)


def survey_choices() -> list[tuple[int, str]]:
    """Surveys for the filter, with a rating first (custom surveys only bring comments)."""
    return [(survey_id, name) for survey_id, name in db.session.execute(
        select(Survey.id, Survey.name).order_by(Survey.name, Survey.id))]
