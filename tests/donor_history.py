"""A donor with a row in every table that keeps something about a donor, for merge and erasure tests."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from portal.auth.services import create_user
from portal.donors.preferences import TopicOptOut
from portal.engagement.models import EmailMessage, Workflow, WorkflowRun
from portal.extensions import db
from portal.feedback.models import Survey, SurveyInvitation, SurveyResponse
from portal.giving.models import Gift, RecurringPlan
from portal.giving.services import refresh_stats
from portal.journey.models import Touchpoint
from portal.kb.models import Article, ArticleSuggestion, ArticleView, SearchLog
from portal.loyalty.models import LoyaltyAccount, PointsEntry, Redemption, Reward
from portal.retention.models import Alert, CheckIn, RelationshipManager, RiskHistory
from portal.support.models import Task, Ticket, TicketMessage

# Tables a merge folds into one row per donor (derived, or one-per-donor by design); every other table that
# points at donors must keep all of its rows.
ONE_PER_DONOR = {"donor_stats", "risk_scores", "donor_milestones", "kb_suggestions", "kb_suggestion_state",
                 "loyalty_accounts", "relationship_managers", "users"}


def _shared():
    survey = db.session.scalar(select(Survey).limit(1))
    if survey is None:
        survey = Survey(name="Gift NPS", kind="nps", title="Would you recommend us?")
        article = Article(slug="gift-aid", title="Gift Aid explained", published=True)
        workflow = Workflow(name="Welcome", trigger="gift_received")
        reward = Reward(name="Tote bag", points_cost=100)
        db.session.add_all([survey, article, workflow, reward])
        db.session.flush()
    return (survey, db.session.scalar(select(Article).limit(1)), db.session.scalar(select(Workflow).limit(1)),
            db.session.scalar(select(Reward).limit(1)))


def add_history(donor, *, amount: int, points: int, words: str, staff=None, login_email: str | None = None):
    """Gifts, a plan, touchpoints, points, a redemption, a ticket, a task, a survey answer, email, workflow
    run, help-centre activity, risk history, an alert, a check-in and a portal login, all about `donor`.
    `words` is free text the donor wrote (it lands in the ticket, the survey comment and the plan's end reason)."""
    survey, article, workflow, reward = _shared()
    when = datetime(2025, 6, 1, 12)
    plan = RecurringPlan(donor_id=donor.id, kind="recurring_gift", amount_minor=amount, currency="GBP", interval="monthly",
                         started_at=date(2025, 1, 1), status="cancelled", end_reason=words)
    db.session.add(plan)
    db.session.flush()
    db.session.add_all([
        Gift(donor_id=donor.id, amount_minor=amount, currency="GBP", received_at=when, fund="Lifeboats", plan_id=plan.id),
        Gift(donor_id=donor.id, amount_minor=amount * 2, currency="GBP", received_at=datetime(2026, 2, 1), fund="General"),
        Touchpoint(donor_id=donor.id, kind="inquiry", occurred_at=when, summary=f"{donor.first_name} asked: {words}",
                   data={"email": donor.email}),
        Touchpoint(donor_id=donor.id, kind="portal_login", occurred_at=when, channel="portal", actor_label=donor.display_name),
        PointsEntry(donor_id=donor.id, kind="earn", points=points, reason="gift", source_key=f"test:{donor.id}:earn", occurred_at=when),
        LoyaltyAccount(donor_id=donor.id),
        EmailMessage(donor_id=donor.id, to_email=donor.email or "x@example.org", subject=f"Thank you, {donor.first_name}",
                     text_body=f"Dear {donor.first_name} {donor.last_name}, call us on {donor.phone}",
                     idempotency_key=f"test:{donor.id}", message_id=f"<test{donor.id}@example.org>", status="sent", sent_at=when),
        WorkflowRun(workflow_id=workflow.id, donor_id=donor.id, occurrence_key=f"gift:{donor.id}"),
        ArticleView(article_id=article.id, donor_id=donor.id),
        SearchLog(query=f"{donor.last_name} gift aid", donor_id=donor.id),
        ArticleSuggestion(donor_id=donor.id, article_id=article.id, reason="Because you gave"),
        RiskHistory(donor_id=donor.id, score=40),
        Alert(kind="risk", donor_id=donor.id, score=70, summary=f"{donor.first_name} {donor.last_name} may lapse", open_key=f"risk:{donor.id}"),
        CheckIn(donor_id=donor.id, reason="birthday", key=f"birthday:{donor.id}", due_on=date(2026, 3, 21), detail=f"Birthday of {donor.first_name}"),
        TopicOptOut(donor_id=donor.id, topic="events"),
    ])
    redemption = Redemption(donor_id=donor.id, reward_id=reward.id, points=100, note=words)
    ticket = Ticket(donor_id=donor.id, subject=f"Question from {donor.first_name}")
    db.session.add_all([redemption, ticket])
    db.session.flush()
    db.session.add_all([
        TicketMessage(ticket_id=ticket.id, from_donor=True, body=words),
        TicketMessage(ticket_id=ticket.id, body=f"Hi {donor.first_name}, thanks for writing."),
        Task(title=f"Call {donor.first_name} {donor.last_name}", donor_id=donor.id, details=f"Phone {donor.phone}"),
    ])
    invitation = SurveyInvitation(survey_id=survey.id, donor_id=donor.id, source_key="periodic:2026-01", status="answered")
    db.session.add(invitation)
    db.session.flush()
    db.session.add(SurveyResponse(invitation_id=invitation.id, survey_id=survey.id, donor_id=donor.id, kind="nps", score=9,
                                  has_comment=True, answers=[{"question_id": 0, "prompt": "Score", "kind": "nps", "value": "9"},
                                                             {"question_id": 1, "prompt": "Why?", "kind": "text", "value": words}]))
    if staff is not None:
        db.session.add(RelationshipManager(donor_id=donor.id, user_id=staff.id))
    refresh_stats(donor.id)
    db.session.commit()
    if login_email:
        create_user(login_email, "correct-horse-battery", "donor", name=donor.display_name, donor_id=donor.id)


def donor_tables():
    """(table, donor-id column) for every table with a foreign key to donors.id."""
    out = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "donors" for fk in column.foreign_keys) and table.name != "donors":
                out.append((table, column))
    return out


def row_counts() -> dict[str, int]:
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table, _ in donor_tables() if table.name not in ONE_PER_DONOR}


def pointing_at(donor_id: int) -> dict[str, int]:
    found = {}
    for table, column in donor_tables():
        count = db.session.scalar(select(func.count()).select_from(table).where(column == donor_id))
        if count:
            found[f"{table.name}.{column.name}"] = count
    return found
