"""Feedback's part in merging, erasing and exporting a donor (see portal.record_keepers)."""
from __future__ import annotations

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import aliased

from portal import record_keepers as records
from portal.extensions import db
from portal.feedback.models import SurveyInvitation, SurveyResponse


def move(from_id: int, to_id: int) -> None:
    """Both donors may have been invited to the same survey for the same reason (one invitation each is
    unique): the merged-away one's keeps its answer under a reason marked with its old donor id."""
    survivor = aliased(SurveyInvitation)
    clash = exists().where(survivor.donor_id == to_id, survivor.survey_id == SurveyInvitation.survey_id,
                           survivor.source_key == SurveyInvitation.source_key)
    db.session.execute(update(SurveyInvitation).where(SurveyInvitation.donor_id == from_id, clash)
                       .values(source_key=func.substr(SurveyInvitation.source_key, 1, 60) + f"~merged:{from_id}")
                       .execution_options(synchronize_session=False))
    records.reassign(SurveyInvitation, from_id, to_id)
    records.reassign(SurveyResponse, from_id, to_id)


def _without_free_text(answers: list | None) -> list:
    return [{**answer, "value": "(erased)"} if answer.get("kind") == "text" and answer.get("value") else answer
            for answer in answers or []]


def erase(donor_id: int) -> None:
    """Scores stay in the satisfaction figures; what the donor wrote in their own words goes, and no
    invitation still waiting is sent."""
    db.session.execute(update(SurveyInvitation).where(SurveyInvitation.donor_id == donor_id, SurveyInvitation.status == "scheduled")
                       .values(status="cancelled"))
    for response in db.session.scalars(select(SurveyResponse).where(SurveyResponse.donor_id == donor_id, SurveyResponse.has_comment.is_(True))):
        response.answers = _without_free_text(response.answers)


def export(donor_id: int) -> dict[str, list[dict]]:
    responses = db.session.scalars(select(SurveyResponse).where(SurveyResponse.donor_id == donor_id).order_by(SurveyResponse.created_at))
    out = []
    for response in responses:
        for answer in response.answers or []:
            out.append({"answered_at": response.created_at, "survey": response.survey.title,
                        "question": answer.get("prompt", ""), "answer": answer.get("value", "")})
    return {"survey_answers": out}


def register() -> None:
    records.register("feedback", move=move, erase=erase, export=export)
