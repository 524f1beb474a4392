"""Email preferences: per-topic opt-outs on top of the global marketing consent.

Marketing email needs the donor's opt-in (on the Donor row, with date and source) and no opt-out from
the message's topic. Transactional mail (receipts, password resets, ticket replies) ignores both.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, and_, exists, select
from sqlalchemy.orm import Mapped, mapped_column

from portal.donors.models import Donor
from portal.donors.services import set_marketing_consent
from portal.extensions import db
from portal.journey import services as journey
from portal.timeutil import utcnow

TOPICS = {
    "news": ("News and updates", "What's happening at the harbour, a few times a year."),
    "appeals": ("Appeals", "When a crew or a family needs help quickly."),
    "events": ("Events", "Open days, the Harbour Run and supporter evenings near you."),
    "impact": ("Impact stories", "What your gifts made possible, told by the people involved."),
}
CAUSES = {
    "lifeboats": "Lifeboat crews",
    "education": "Coastal schools",
    "water": "Clean water",
    "emergencies": "Emergency relief",
    "environment": "The coast and its wildlife",
    "children": "Children and families",
    "community": "Harbour communities",
}


class PreferenceError(ValueError):
    pass


class TopicOptOut(db.Model):
    """A donor does not want marketing email on this topic. No row: the topic follows the global consent."""

    __tablename__ = "donor_topic_opt_outs"

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _check_topic(topic: str | None) -> None:
    if topic is not None and topic not in TOPICS:
        raise PreferenceError(f"Unknown email topic {topic!r}.")


def can_email(donor: Donor, topic: str | None = None) -> bool:
    """May this donor receive marketing email (on this topic)? Transactional mail never asks."""
    _check_topic(topic)
    if not donor.can_receive_marketing:
        return False
    if topic is None:
        return True
    return db.session.get(TopicOptOut, (donor.id, topic)) is None


def emailable_condition(topic: str | None = None):
    """can_email() as a WHERE clause over Donor, for sending to a whole segment in one query."""
    _check_topic(topic)
    condition = and_(Donor.email.is_not(None), Donor.marketing_opt_in.is_(True), Donor.unsubscribed_at.is_(None))
    if topic is None:
        return condition
    return and_(condition, ~exists().where(TopicOptOut.donor_id == Donor.id, TopicOptOut.topic == topic))


def opted_out_topics(donor_id: int) -> set[str]:
    return set(db.session.scalars(select(TopicOptOut.topic).where(TopicOptOut.donor_id == donor_id)))


def _set_topic(donor: Donor, topic: str, subscribed: bool, source: str) -> bool:
    row = db.session.get(TopicOptOut, (donor.id, topic))
    if subscribed and row is not None:
        db.session.delete(row)
        return True
    if not subscribed and row is None:
        db.session.add(TopicOptOut(donor_id=donor.id, topic=topic, source=source[:80]))
        return True
    return False


def save_preferences(donor: Donor, *, marketing: bool, topics: set[str], source: str, actor=None) -> bool:
    """The preference centre: global consent plus the topics wanted. Records what changed; commits."""
    for topic in topics:
        _check_topic(topic)
    changed_topics = {topic: topic in topics for topic in TOPICS if _set_topic(donor, topic, topic in topics, source)}
    consent_changed = marketing != donor.marketing_opt_in or (marketing and donor.unsubscribed_at is not None)
    if consent_changed:
        set_marketing_consent(donor, marketing, source=source, actor=actor)
    if changed_topics:
        wanted = [TOPICS[t][0] for t, on in changed_topics.items() if on]
        unwanted = [TOPICS[t][0] for t, on in changed_topics.items() if not on]
        parts = ([f"wants {', '.join(wanted)}"] if wanted else []) + ([f"no more {', '.join(unwanted)}"] if unwanted else [])
        journey.record(donor.id, "consent_changed", f"Email topics: {'; '.join(parts)} ({source})", actor=actor,
                       data={"topics": changed_topics, "source": source})
    db.session.commit()
    return consent_changed or bool(changed_topics)


def unsubscribe(donor: Donor, topic: str | None, *, source: str) -> bool:
    """One-click unsubscribe from a topic, or from all marketing email. False when nothing changed; commits."""
    _check_topic(topic)
    if topic is None:
        if not donor.marketing_opt_in and donor.unsubscribed_at is not None:
            return False
        set_marketing_consent(donor, False, source=source)
    else:
        if not _set_topic(donor, topic, False, source):
            return False
        journey.record(donor.id, "consent_changed", f"Unsubscribed from {TOPICS[topic][0]} ({source})",
                       data={"topics": {topic: False}, "source": source})
    db.session.commit()
    return True


def chosen_causes(donor: Donor) -> list[str]:
    return [tag.name for tag in donor.interests if tag.name in CAUSES]


def interests_with_causes(donor: Donor, causes: list[str]) -> list[str]:
    """The donor's interests after choosing causes: interests staff recorded outside the list are kept."""
    unknown = [cause for cause in causes if cause not in CAUSES]
    if unknown:
        raise PreferenceError("Choose causes from the list.")
    kept = [tag.name for tag in donor.interests if tag.name not in CAUSES]
    return sorted(set(kept) | set(causes))

