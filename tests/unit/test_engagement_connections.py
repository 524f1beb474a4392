"""Loyalty and feedback plug into the engagement engine: segment fields, template tokens, workflow steps."""
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from portal.donors.models import Donor
from portal.engagement.segments import services as segments
from portal.engagement.templates import rendering as templating
from portal.engagement.workflows import services as workflows
from portal.extensions import db
from portal.feedback import services as feedback
from portal.feedback.models import Survey, SurveyInvitation
from portal.loyalty import services as loyalty
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def rules(field, op, value):
    return {"match": "all", "conditions": [{"field": field, "op": op, "value": value}]}


def test_points_and_tier_are_segment_fields_and_template_tokens():
    rich, poor = make_donor(email="rich@example.org"), make_donor(email="poor@example.org", first_name="Grace")
    make_gift(rich.id, 30000, utcnow() - timedelta(days=10))
    make_gift(poor.id, 1000, utcnow() - timedelta(days=10))
    members = set(db.session.scalars(select(Donor.id).where(Donor.id.in_(segments.members_select(rules("loyalty_points", "gte", 300))))))
    assert members == {rich.id}
    assert segments.count_members(rules("loyalty_tier", "eq", "Supporter")) == 1
    content = templating.Content(subject="Hello", html_body="", text_body="You have {{ points_balance }} points ({{ tier }}).",
                                 category="transactional")
    text = templating.render_for_donor(content, rich.id).text_body
    assert text.startswith(f"You have {loyalty.balance(rich.id):,} points (Supporter)")


def test_award_points_step_awards_once_per_run_and_step():
    donor = make_donor()
    context = SimpleNamespace(donor=donor, workflow=SimpleNamespace(name="Loyal donors offer"), config={"points": 50},
                              key="workflow:7:3")
    assert workflows.STEPS["award_points"].handler(context).outcome == "done"
    assert workflows.STEPS["award_points"].handler(context).outcome == "skipped"
    db.session.commit()
    assert loyalty.balance(donor.id) == 50


def test_send_survey_step_invites_once_and_last_score_is_a_segment_field():
    donor = make_donor(email="nps@example.org")
    survey = Survey(name="After your gift", kind="nps", title="How likely are you to recommend us?", active=True)
    db.session.add(survey)
    db.session.commit()
    context = SimpleNamespace(donor=donor, config={"survey_id": survey.id}, key="workflow:1:1")
    assert workflows.STEPS["send_survey"].handler(context).outcome == "done"
    workflows.STEPS["send_survey"].handler(context)
    db.session.commit()
    assert db.session.query(SurveyInvitation).filter_by(donor_id=donor.id).count() == 1
    assert segments.count_members(rules("last_nps", "lte", 6)) == 0
    assert "last_csat" in segments.FIELDS and feedback.last_score_expression("nps") is not None
