"""Per-gift Gift Aid eligibility: the facts of each gift, everything assess() needs loaded in a few queries,
and the first reason a gift cannot be claimed."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, select

from portal.donors.models import Donor
from portal.extensions import db
from portal.giving.models import Gift
from portal.settings.services import organisation
from portal.taxrelief import rules
from portal.taxrelief.benefits import benefit_years, local_day_of
from portal.taxrelief.models import Claim, ClaimGift, Declaration, GiftExclusion


@dataclass(slots=True)
class GiftFacts:
    id: int
    donor_id: int
    amount_minor: int
    currency: str
    received_on: date
    status: str
    method: str
    campaign: str
    donor_kind: str


@dataclass(slots=True)
class Assessment:
    gift_id: int
    reason: str | None  # None: eligible
    claim_id: int | None = None

    @property
    def eligible(self) -> bool:
        return self.reason is None

    @property
    def reason_text(self) -> str:
        if self.reason is None:
            return "Eligible"
        text = rules.REASONS[self.reason]
        return f"{text} (claim #{self.claim_id})" if self.claim_id and self.reason in ("claimed", "in_draft") else text


@dataclass
class EligibilityContext:
    declarations: dict[int, list[rules.DeclarationTerms]] = field(default_factory=dict)
    excluded: set[int] = field(default_factory=set)
    claims: dict[int, tuple[int, str]] = field(default_factory=dict)  # gift id -> (claim id, status)
    over_limit: set[tuple[int, int]] = field(default_factory=set)  # (donor id, tax year)


def assess(gift: GiftFacts, context: EligibilityContext) -> Assessment:
    """Eligible, or the first reason it is not, in the order a finance officer checks."""
    if gift.status == "refunded":
        return Assessment(gift.id, "refunded")
    if gift.status != "received":
        return Assessment(gift.id, "not_received")
    if gift.currency != "GBP":
        return Assessment(gift.id, "currency")
    if gift.donor_kind != "individual":
        return Assessment(gift.id, "organisation")
    if gift.id in context.excluded:
        return Assessment(gift.id, "company")
    if gift.method == "payroll":
        return Assessment(gift.id, "payroll")
    if gift.id in context.claims:
        claim_id, status = context.claims[gift.id]
        return Assessment(gift.id, "claimed" if status == "submitted" else "in_draft", claim_id)
    reason = rules.declaration_reason(context.declarations.get(gift.donor_id, []), gift.id, gift.received_on)
    if reason:
        return Assessment(gift.id, reason)
    if (gift.donor_id, rules.tax_year(gift.received_on)) in context.over_limit:
        return Assessment(gift.id, "benefits")
    return Assessment(gift.id, None)


_DECLARATION_COLUMNS = (Declaration.donor_id, Declaration.scope, Declaration.method, Declaration.made_on,
                       Declaration.gift_id, Declaration.cancelled_on, Declaration.confirmation_sent_at)
_CLAIMED = select(ClaimGift.gift_id, Claim.id, Claim.status).join(Claim, Claim.id == ClaimGift.claim_id)


def _add_declarations(context: EligibilityContext, rows) -> None:
    for row in rows:
        sent = row.confirmation_sent_at.date() if row.confirmation_sent_at else None
        context.declarations.setdefault(row.donor_id, []).append(
            rules.DeclarationTerms(row.scope, row.method, row.made_on, row.gift_id, row.cancelled_on, sent))


def load_context(donor_ids: list[int], gift_ids: list[int], years: set[int]) -> EligibilityContext:
    """Everything assess() needs for a few gifts (a donor's page, a receipt)."""
    context = EligibilityContext()
    _add_declarations(context, db.session.execute(select(*_DECLARATION_COLUMNS).where(Declaration.donor_id.in_(donor_ids))))
    context.over_limit = {key for key, year in benefit_years(donor_ids, years).items() if year.over}
    context.claims = {g: (c, s) for g, c, s in db.session.execute(_CLAIMED.where(ClaimGift.gift_id.in_(gift_ids)))}
    context.excluded = set(db.session.scalars(select(GiftExclusion.gift_id).where(GiftExclusion.gift_id.in_(gift_ids))))
    return context


def load_context_between(received_from: datetime, received_before: datetime, years: set[int]) -> EligibilityContext:
    """Everything assess() needs for every gift received in a period (a claim, the monthly figures): whole
    tables or joins on the period, never long lists of ids."""
    context = EligibilityContext()
    _add_declarations(context, db.session.execute(select(*_DECLARATION_COLUMNS)))
    context.over_limit = {key for key, year in benefit_years(None, years).items() if year.over}
    in_period = and_(Gift.received_at >= received_from, Gift.received_at < received_before)
    context.claims = {g: (c, s) for g, c, s in db.session.execute(
        _CLAIMED.join(Gift, Gift.id == ClaimGift.gift_id).where(in_period))}
    context.excluded = set(db.session.scalars(
        select(GiftExclusion.gift_id).join(Gift, Gift.id == GiftExclusion.gift_id).where(in_period)))
    return context


def _facts_query():
    return select(Gift.id, Gift.donor_id, Gift.amount_minor, Gift.currency, Gift.received_at, Gift.status, Gift.method,
                  Gift.campaign, Donor.kind).join(Donor, Donor.id == Gift.donor_id)


def _facts(rows, tz: str) -> list[GiftFacts]:
    local_day = local_day_of(tz)
    return [GiftFacts(r[0], r[1], r[2], r[3], local_day(r[4]), r[5], r[6], r[7], r[8]) for r in rows]


@dataclass
class PeriodGifts:
    """The received gifts of a period from donors with a declaration, and how many others there were."""

    facts: list[GiftFacts]
    context: EligibilityContext
    undeclared: dict[str, int]  # reason key -> gifts of donors who never made a declaration


def gifts_between(received_from: datetime, received_before: datetime, *, currency: str | None = None) -> PeriodGifts:
    """Only donors with a declaration can have an eligible gift, so only their gifts are read one by one (a
    semi-join, no lists of ids); the rest are counted by SQL, as organisations' or undeclared gifts."""
    tz = organisation().timezone
    declared = select(Declaration.donor_id)
    in_period = [Gift.received_at >= received_from, Gift.received_at < received_before, Gift.status == "received"]
    if currency:
        in_period.append(Gift.currency == currency)
    rows = db.session.execute(select(Gift.id, Gift.donor_id, Gift.amount_minor, Gift.currency, Gift.received_at,
                                     Gift.status, Gift.method, Gift.campaign)
                              .where(*in_period, Gift.donor_id.in_(declared))).all()
    not_individual = set(db.session.scalars(select(Donor.id).where(Donor.kind != "individual",
                                                                   Donor.id.in_(declared))))
    local_day = local_day_of(tz)
    facts = [GiftFacts(r[0], r[1], r[2], r[3], local_day(r[4]), r[5], r[6], r[7],
                       "organisation" if r[1] in not_individual else "individual") for r in rows]
    count = select(func.count()).select_from(Gift).where(*in_period, ~Gift.donor_id.in_(declared))
    everyone = db.session.scalar(count)
    organisations = db.session.scalar(count.where(Gift.donor_id.in_(select(Donor.id).where(Donor.kind != "individual"))))
    undeclared = {key: n for key, n in (("organisation", organisations), ("no_declaration", everyone - organisations)) if n}
    context = load_context_between(received_from, received_before, {rules.tax_year(f.received_on) for f in facts})
    return PeriodGifts(facts, context, undeclared)


def assess_gifts(gift_ids: list[int]) -> dict[int, Assessment]:
    """Eligibility of some gifts (a donor's list, a receipt)."""
    if not gift_ids:
        return {}
    facts = _facts(db.session.execute(_facts_query().where(Gift.id.in_(gift_ids))).all(), organisation().timezone)
    context = load_context(sorted({f.donor_id for f in facts}), [f.id for f in facts],
                           {rules.tax_year(f.received_on) for f in facts})
    return {f.id: assess(f, context) for f in facts}


def assess_gift(gift: Gift) -> Assessment:
    return assess_gifts([gift.id])[gift.id]
