"""Ranking help articles for each donor from what they have done lately.

Everything is read for a batch of donors at once (one query per kind of activity, whatever the batch
size), ranked in Python, and written back with one delete and one insert per batch. The nightly run walks
donor ids in ranges, so 100k donors take a few dozen batches, not 100k round trips.

Reasons finish the sentence "Because you …" or stand alone, and are shown to the donor as written.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterable

from sqlalchemy import and_, delete, func, insert, select

from portal.donors.models import Donor, Tag, donor_interests
from portal.extensions import db
from portal.giving.models import Gift, RecurringPlan
from portal.journey.models import Touchpoint
from portal.kb.models import DONOR_AUDIENCES, Article, ArticleSuggestion, ArticleView, SearchLog, SuggestionState
from portal.kb.search import ranking, storage
from portal.kb.text_sources import text_sources
from portal.money import format_money
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

KEEP = 5
BATCH = 2000
RENEWAL_NOTICE_DAYS = 45
RECENT_GIFT_DAYS = 30
NEW_SUPPORTER_DAYS = 30
ACTIVITY_DAYS = 90
TIER_DAYS = 60
# Touchpoint kinds that can change a donor's suggestions; one arriving queues a recomputation.
RELEVANT_KINDS = frozenset({
    "donor_created", "profile_updated", "gift_received", "plan_started", "plan_paused", "plan_resumed",
    "plan_cancelled", "plan_renewed", "plan_amount_changed", "tier_changed", "kb_search", "kb_article_viewed",
    "ticket_opened", "survey_answered",
})
# Topic (an article's first tag) each situation points to; see kb/staff-writing-help-articles.md.
TOPICS = {"renewal": "renewals", "paused": "pausing", "sponsor": "sponsorship", "recent_gift": "receipts",
          "new_supporter": "getting-started", "tier": "loyalty"}
WEIGHTS = {"renewal": 100.0, "new_supporter": 80.0, "recent_gift": 70.0, "tier": 65.0, "paused": 60.0,
           "text": 55.0, "search": 50.0, "related": 35.0, "sponsor": 25.0, "interest": 20.0}


def _day(value: date | datetime) -> str:
    return f"{value.day} {value:%B %Y}" if value.year != utcnow().year else f"{value.day} {value:%B}"


@dataclass
class Catalogue:
    """The donor-visible, published articles, looked up by topic, tag and slug."""

    by_topic: dict[str, int]
    by_tag: dict[str, list[int]]
    by_slug: dict[str, int]
    related: dict[int, list[int]]
    titles: dict[int, str]

    @classmethod
    def load(cls) -> "Catalogue":
        rows = db.session.execute(select(Article.id, Article.slug, Article.title, Article.tags, Article.related).where(
            Article.published.is_(True), Article.audience.in_(DONOR_AUDIENCES)).order_by(Article.id)).all()
        by_topic: dict[str, int] = {}
        by_tag: dict[str, list[int]] = defaultdict(list)
        by_slug = {slug: article_id for article_id, slug, _, _, _ in rows}
        for article_id, _, _, tags, _ in rows:
            tag_list = [t for t in tags.split(",") if t]
            if tag_list:
                by_topic.setdefault(tag_list[0], article_id)
            for tag in tag_list:
                by_tag[tag].append(article_id)
        for topic, ids in by_tag.items():
            by_topic.setdefault(topic, ids[0])
        related = {article_id: [by_slug[s] for s in rel.split(",") if s in by_slug] for article_id, _, _, _, rel in rows}
        return cls(by_topic, dict(by_tag), by_slug, related, {r[0]: r[2] for r in rows})


class Ranking:
    """Candidate articles for one donor: the best reason per article, with a small bonus for more reasons."""

    def __init__(self) -> None:
        self.best: dict[int, tuple[float, str]] = {}
        self.extra: dict[int, float] = defaultdict(float)

    def add(self, article_id: int | None, score: float, reason: str) -> None:
        if article_id is None or score <= 0:
            return
        current = self.best.get(article_id)
        if current is None or score > current[0]:
            if current is not None:
                self.extra[article_id] += current[0]
            self.best[article_id] = (score, reason[:200])
        else:
            self.extra[article_id] += score

    def top(self, exclude: set[int], keep: int = KEEP) -> list[tuple[int, float, str]]:
        scored = [(article_id, round(score + 0.1 * self.extra[article_id], 3), reason)
                  for article_id, (score, reason) in self.best.items() if article_id not in exclude]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:keep]


def _decay(age_days: float, half_life: float = 30.0) -> float:
    return 0.5 ** (max(age_days, 0.0) / half_life)


class TextMatcher:
    """Search results for free text, remembered for the run: many donors search for the same words."""

    def __init__(self, known: set[int]) -> None:
        self.cache: dict[str, list[int]] = {}
        self.known = known  # the index can briefly hold articles the database has just removed

    def __call__(self, text: str, limit: int = 2) -> list[int]:
        key = ranking.normalise_query(text).lower()
        if key not in self.cache:
            try:
                found = ranking.run_search(key, scope="donor", per_page=limit, facets=False)
                self.cache[key] = [hit.article_id for hit in found.hits if hit.article_id in self.known]
            except storage.IndexUnavailable:
                self.cache[key] = []
        return self.cache[key][:limit]


def _builtin_text(donor_filter, since: datetime) -> Iterable[tuple[int, str, str]]:
    """Ticket subjects and survey comments as the journey log records them, whoever builds those features."""
    rows = db.session.execute(select(Touchpoint.donor_id, Touchpoint.kind, Touchpoint.summary, Touchpoint.data).where(
        donor_filter(Touchpoint.donor_id), Touchpoint.kind.in_(("ticket_opened", "survey_answered")),
        Touchpoint.occurred_at >= since))
    for donor_id, kind, summary, data in rows:
        data = data if isinstance(data, dict) else {}
        if kind == "ticket_opened":
            text = str(data.get("subject") or summary or "").strip()
            if text:
                yield donor_id, text, f"asked us about “{text[:60]}”"
        else:
            text = str(data.get("comment") or "").strip()
            if text:
                yield donor_id, text, "told us in a survey: “" + text[:50] + ("…”" if len(text) > 50 else "”")


def tier_phrase(tier: str) -> str:
    """The tier as a noun phrase: a Champion supporter, an Ally supporter, but a Supporter (not a Supporter supporter)."""
    noun = tier if tier.strip().lower().endswith("supporter") else f"{tier} supporter"
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def compute(donor_filter: Callable, now: datetime | None = None) -> dict[int, list[tuple[int, float, str]]]:
    """Ranked (article_id, score, reason) for every donor matched by donor_filter(column) with any activity."""
    now = now or utcnow()
    today = now.date()
    catalogue = Catalogue.load()
    match_text = TextMatcher(set(catalogue.titles))
    rankings: dict[int, Ranking] = defaultdict(Ranking)
    since = now - timedelta(days=ACTIVITY_DAYS)

    # Recurring gifts and sponsorships: renewal due, paused, sponsoring.
    for donor_id, kind, status, renews_on, description in db.session.execute(
            select(RecurringPlan.donor_id, RecurringPlan.kind, RecurringPlan.status, RecurringPlan.renews_on,
                   RecurringPlan.description)
            .where(donor_filter(RecurringPlan.donor_id), RecurringPlan.status.in_(("active", "paused")))):
        label = {"sponsorship": "sponsorship", "membership": "membership"}.get(kind)
        if status == "active" and label and renews_on and today <= renews_on <= today + timedelta(days=RENEWAL_NOTICE_DAYS):
            days = (renews_on - today).days
            rankings[donor_id].add(catalogue.by_topic.get(TOPICS["renewal"]), WEIGHTS["renewal"] - days / 3,
                                   f"Because your {label} renews on {_day(renews_on)}")
        if status == "paused":
            what = "sponsorship" if kind == "sponsorship" else "regular gift"
            rankings[donor_id].add(catalogue.by_topic.get(TOPICS["paused"]), WEIGHTS["paused"],
                                   f"Because your {what} is paused")
        if kind == "sponsorship":
            reason = f"Because you sponsor: {description}" if description else "Because you are a sponsor"
            rankings[donor_id].add(catalogue.by_topic.get(TOPICS["sponsor"]), WEIGHTS["sponsor"], reason)

    # The latest gift in the last month, and whether it was the donor's first.
    latest = (select(Gift.donor_id, func.max(Gift.received_at).label("at"))
              .where(donor_filter(Gift.donor_id), Gift.status == "received", Gift.received_at >= now - timedelta(days=RECENT_GIFT_DAYS))
              .group_by(Gift.donor_id).subquery())
    for donor_id, received_at, amount, currency in db.session.execute(
            select(Gift.donor_id, Gift.received_at, Gift.amount_minor, Gift.currency)
            .join(latest, and_(latest.c.donor_id == Gift.donor_id, latest.c.at == Gift.received_at))
            .where(Gift.status == "received")):
        age = (now - received_at).total_seconds() / 86400
        rankings[donor_id].add(catalogue.by_topic.get(TOPICS["recent_gift"]), WEIGHTS["recent_gift"] * _decay(age, 20),
                               f"Because you gave {format_money(amount, currency)} on {_day(received_at)}: here is your receipt")

    # New supporters.
    for (donor_id,) in db.session.execute(select(Donor.id).where(
            donor_filter(Donor.id), Donor.created_at >= now - timedelta(days=NEW_SUPPORTER_DAYS))):
        rankings[donor_id].add(catalogue.by_topic.get(TOPICS["new_supporter"]), WEIGHTS["new_supporter"],
                               "Welcome! A good place to start")

    # Loyalty tier changes.
    for donor_id, occurred_at, summary, data in db.session.execute(
            select(Touchpoint.donor_id, Touchpoint.occurred_at, Touchpoint.summary, Touchpoint.data).where(
                donor_filter(Touchpoint.donor_id), Touchpoint.kind == "tier_changed",
                Touchpoint.occurred_at >= now - timedelta(days=TIER_DAYS))):
        tier = (data or {}).get("tier") or (data or {}).get("to") if isinstance(data, dict) else None
        reason = (f"Because you became {tier_phrase(tier)} on {_day(occurred_at)}" if tier
                  else f"Because your supporter tier changed on {_day(occurred_at)}")
        age = (now - occurred_at).total_seconds() / 86400
        rankings[donor_id].add(catalogue.by_topic.get(TOPICS["tier"]), WEIGHTS["tier"] * _decay(age), reason)

    # What they searched for.
    for donor_id, query, searched_at in db.session.execute(
            select(SearchLog.donor_id, SearchLog.query, SearchLog.searched_at).where(
                donor_filter(SearchLog.donor_id), SearchLog.searched_at >= since, SearchLog.result_count > 0)):
        weight = WEIGHTS["search"] * _decay((now - searched_at).total_seconds() / 86400)
        for position, article_id in enumerate(match_text(query)):
            rankings[donor_id].add(article_id, weight / (position + 1), f"Because you searched for “{query[:60]}”")

    # What they read: the related articles, and never the same article again soon.
    read: dict[int, set[int]] = defaultdict(set)
    for donor_id, article_id, viewed_at in db.session.execute(
            select(ArticleView.donor_id, ArticleView.article_id, func.max(ArticleView.viewed_at)).where(
                donor_filter(ArticleView.donor_id), ArticleView.viewed_at >= since)
            .group_by(ArticleView.donor_id, ArticleView.article_id)):
        read[donor_id].add(article_id)
        weight = WEIGHTS["related"] * _decay((now - viewed_at).total_seconds() / 86400)
        title = catalogue.titles.get(article_id)
        for related_id in catalogue.related.get(article_id, []):
            rankings[donor_id].add(related_id, weight, f"Related to “{title}”, which you read")

    # Their own words: ticket subjects, survey comments, and whatever other domains register.
    sources = [_builtin_text(donor_filter, since)]
    for name, source in text_sources().items():
        try:
            sources.append(list(source_rows(source, donor_filter, since)))
        except Exception:  # another domain's source must not stop everyone's suggestions
            log.exception("KB text source %s failed; suggestions computed without it", name)
    for rows in sources:
        for donor_id, text, reason in rows:
            for article_id in match_text(text, limit=1):
                rankings[donor_id].add(article_id, WEIGHTS["text"], reason if reason.startswith("Because") else f"Because you {reason}")

    # Interests: articles tagged with a cause the donor chose.
    for donor_id, interest in db.session.execute(
            select(donor_interests.c.donor_id, Tag.name).join(Tag, Tag.id == donor_interests.c.tag_id)
            .where(donor_filter(donor_interests.c.donor_id))):
        for article_id in catalogue.by_tag.get(interest, [])[:2]:
            rankings[donor_id].add(article_id, WEIGHTS["interest"], f"Because you're interested in {interest}")

    return {donor_id: ranking.top(read.get(donor_id, set())) for donor_id, ranking in rankings.items()}


def source_rows(source, donor_filter, since):
    """Registered sources take a list of donor ids; give them the ids this batch covers."""
    donor_ids = list(db.session.scalars(select(Donor.id).where(donor_filter(Donor.id))))
    return source(donor_ids, since) if donor_ids else []


def _store(ranked: dict[int, list[tuple[int, float, str]]], donor_filter: Callable, donor_ids: list[int],
           through_touchpoint_id: int, now: datetime) -> int:
    db.session.execute(delete(ArticleSuggestion).where(donor_filter(ArticleSuggestion.donor_id)))
    rows = [{"donor_id": donor_id, "article_id": article_id, "rank": rank, "score": score, "reason": reason, "computed_at": now}
            for donor_id, items in ranked.items() for rank, (article_id, score, reason) in enumerate(items, start=1)]
    if rows:
        db.session.execute(insert(ArticleSuggestion), rows)
    db.session.execute(delete(SuggestionState).where(donor_filter(SuggestionState.donor_id)))
    if donor_ids:
        db.session.execute(insert(SuggestionState), [
            {"donor_id": donor_id, "computed_at": now, "through_touchpoint_id": through_touchpoint_id} for donor_id in donor_ids])
    db.session.commit()
    return len(rows)


def recompute_donor(donor_id: int, now: datetime | None = None) -> list[tuple[int, float, str]]:
    if db.session.get(Donor, donor_id) is None:
        return []
    now = now or utcnow()
    through = db.session.scalar(select(func.max(Touchpoint.id)).where(Touchpoint.donor_id == donor_id)) or 0
    donor_filter = lambda column: column == donor_id  # noqa: E731
    ranked = compute(donor_filter, now)
    _store(ranked, donor_filter, [donor_id], through, now)
    return ranked.get(donor_id, [])


def recompute_all(*, batch: int = BATCH, now: datetime | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Every donor, in ranges of donor ids: the nightly run."""
    now = now or utcnow()
    through = db.session.scalar(select(func.max(Touchpoint.id))) or 0
    low, high = db.session.execute(select(func.min(Donor.id), func.max(Donor.id))).one()
    total = db.session.scalar(select(func.count()).select_from(Donor)) or 0
    done = suggestions = 0
    if low is None:
        return {"donors": 0, "suggestions": 0}
    start = low
    while start <= high:
        end = start + batch
        donor_filter = lambda column, a=start, b=end: and_(column >= a, column < b)  # noqa: E731
        donor_ids = list(db.session.scalars(select(Donor.id).where(donor_filter(Donor.id))))
        if donor_ids:
            suggestions += _store(compute(donor_filter, now), donor_filter, donor_ids, through, now)
            done += len(donor_ids)
        if progress:
            progress(done, total)
        start = end
    return {"donors": done, "suggestions": suggestions}


def donors_due(limit: int = 1000) -> list[int]:
    """Donors with a relevant touchpoint newer than their last computation: what the sweep re-queues."""
    floor = db.session.scalar(select(func.min(SuggestionState.through_touchpoint_id))) or 0
    query = (select(Touchpoint.donor_id)
             .outerjoin(SuggestionState, SuggestionState.donor_id == Touchpoint.donor_id)
             .where(Touchpoint.id > floor, Touchpoint.kind.in_(RELEVANT_KINDS),
                    Touchpoint.id > func.coalesce(SuggestionState.through_touchpoint_id, 0))
             .group_by(Touchpoint.donor_id).order_by(Touchpoint.donor_id).limit(limit))
    return list(db.session.scalars(query))
