"""A hand-built set of survey answers for the satisfaction report's tests (January to March 2024).

    After a gift (CSAT)  Jan: 5, 4, 2 ("Receipt came late")   Feb: 3, 5
    Yearly (NPS)         Jan: 10, 9, 8, 6, 0                   Feb: 10, 9, 9 ("Love the newsletter"), 7, 3
    Ideas (custom)       Mar: no rating ("More photos please"), and one blank comment
    Outside the range    NPS 0 on 31 Mar 23:30 UTC, which is 1 April in London (summer time began that day)

Expected, by hand:
    CSAT  Jan 11/3 = 3.67 (2 of 3 satisfied: 66.7%)   Feb 8/2 = 4.00 (50.0%)   all 19/5 = 3.80 (60.0%)
    NPS   Jan (2 - 2)/5 = 0   Feb (3 - 1)/5 = +40   all (5 - 3)/10 = +20
    Responses Jan 8, Feb 7, Mar 2 (17); comments 3 (a blank answer is not a comment)
"""
from __future__ import annotations

from datetime import datetime

from portal.extensions import db
from portal.feedback.models import Survey, SurveyInvitation, SurveyResponse
from tests.conftest import make_donor

COUNTS = {"Jan 2024": 8, "Feb 2024": 7, "Mar 2024": 2}


def _answers(kind: str, score: int | None, comment: str | None) -> list[dict]:
    answers = []
    if score is not None:
        answers.append({"question_id": 1, "prompt": "Your rating", "kind": "scale", "value": score})
    answers.append({"question_id": 2, "prompt": "Anything else?", "kind": "text", "value": comment})
    return answers


def build() -> dict:
    """Surveys and responses as above; returns the survey ids and the donor ids who answered each."""
    surveys = {kind: Survey(name=name, kind=kind, title=name) for kind, name in
               (("csat", "After a gift"), ("nps", "Yearly"), ("custom", "Ideas"))}
    db.session.add_all(surveys.values())
    db.session.flush()
    plan = [
        ("csat", 5, None, datetime(2024, 1, 5, 10)), ("csat", 4, None, datetime(2024, 1, 9, 10)),
        ("csat", 2, "Receipt came late", datetime(2024, 1, 20, 10)),
        ("csat", 3, None, datetime(2024, 2, 2, 10)), ("csat", 5, None, datetime(2024, 2, 12, 10)),
        ("nps", 10, None, datetime(2024, 1, 3, 9)), ("nps", 9, None, datetime(2024, 1, 4, 9)),
        ("nps", 8, None, datetime(2024, 1, 6, 9)), ("nps", 6, None, datetime(2024, 1, 7, 9)),
        ("nps", 0, None, datetime(2024, 1, 8, 9)),
        ("nps", 10, None, datetime(2024, 2, 3, 9)), ("nps", 9, None, datetime(2024, 2, 4, 9)),
        ("nps", 9, "Love the newsletter", datetime(2024, 2, 5, 9)), ("nps", 7, None, datetime(2024, 2, 6, 9)),
        ("nps", 3, None, datetime(2024, 2, 7, 9)),
        ("custom", None, "More photos please", datetime(2024, 3, 10, 9)),
        ("custom", None, "   ", datetime(2024, 3, 11, 9)),
        ("nps", 0, "Outside the range", datetime(2024, 3, 31, 23, 30)),
    ]
    donors: dict[str, list[int]] = {kind: [] for kind in surveys}
    for number, (kind, score, comment, when) in enumerate(plan):
        donor = make_donor(first_name=f"Rater{number}", last_name="Survey", email=f"rater{number}@example.org")
        invitation = SurveyInvitation(survey_id=surveys[kind].id, donor_id=donor.id, source_key=f"test:{number}",
                                      status="answered", answered_at=when)
        db.session.add(invitation)
        db.session.flush()
        db.session.add(SurveyResponse(invitation_id=invitation.id, survey_id=surveys[kind].id, donor_id=donor.id, kind=kind,
                                      score=score, answers=_answers(kind, score, comment),
                                      has_comment=bool(comment and comment.strip()), created_at=when))
        donors[kind].append(donor.id)
    db.session.commit()
    return {"surveys": {kind: survey.id for kind, survey in surveys.items()}, "donors": donors}
