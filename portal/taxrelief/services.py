"""Gift Aid settings, declarations, benefits from rewards, and what segments and email templates read.

Per-gift eligibility is in eligibility.py and benefit years in benefits.py (both re-exported here); claims are
in claims.py; the rules in rules.py."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, exists, insert, select

from portal.donors.models import Donor
from portal.engagement.services import queue_email
from portal.extensions import db
from portal.giving.models import Gift
from portal.journey import services as journey
from portal.money import format_money
from portal.settings.services import organisation, settings_row
from portal.support.services import create_task
from portal.taxrelief import rules
from portal.taxrelief.benefits import (BenefitYear, benefit_warning, benefit_years, benefits_between, local_day_of,
                                       local_today)
from portal.taxrelief.eligibility import (Assessment, EligibilityContext, GiftFacts, PeriodGifts, assess, assess_gift,
                                          assess_gifts, gifts_between, load_context, load_context_between)
from portal.taxrelief.models import (METHODS, SCHEMES, SCOPES, Benefit, ClaimGift, Declaration, GiftExclusion, RewardValue,
                                     TaxReliefSettings)
from portal.timeutil import to_local, utcnow

__all__ = [
    "BenefitYear", "benefit_warning", "benefit_years", "benefits_between", "local_day_of", "local_today",
    "Assessment", "EligibilityContext", "GiftFacts", "PeriodGifts", "assess", "assess_gift", "assess_gifts", "gifts_between",
    "load_context", "load_context_between",
    "TaxReliefError", "settings", "scheme", "gift_aid_on", "update_settings", "wording", "terms_of", "declarations_for",
    "current_declaration", "make_declaration", "cancel_declaration", "get_declaration", "set_reward_value",
    "reward_values", "add_benefit", "on_redemption", "exclude_gift", "donor_address_problems",
    "has_declaration_expression", "unclaimed_eligible_expression", "template_tokens", "seed_demo_declarations",
]

WORDING_VERSION = "HMRC-2024"
_WORDING = {
    "this_gift": "I want to Gift Aid my donation of {amount} to {charity}.",
    "future": "I want to Gift Aid this donation and any donations I make in the future to {charity}.",
    "past_and_future": ("I want to Gift Aid this donation and any donations I make in the future or have made "
                        "in the past 4 years to {charity}."),
}
_TAXPAYER = ("I am a UK taxpayer and understand that if I pay less Income Tax and/or Capital Gains Tax in the current "
             "tax year than the amount of Gift Aid claimed on all my donations it is my responsibility to pay any "
             "difference.")


class TaxReliefError(ValueError):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field_name = field_name


# ---------------------------------------------------------------- settings

def settings() -> TaxReliefSettings:
    return settings_row(TaxReliefSettings)


def scheme() -> str:
    return settings().scheme


def gift_aid_on() -> bool:
    return scheme() == "uk_gift_aid"


def update_settings(*, scheme_key: str, hmrc_reference: str = "") -> TaxReliefSettings:
    if scheme_key not in SCHEMES:
        raise TaxReliefError("Choose a scheme from the list.", "scheme")
    row = settings()
    row.scheme = scheme_key
    row.hmrc_reference = hmrc_reference.strip().upper()[:20]
    db.session.commit()
    return row


# ---------------------------------------------------------------- declarations

def wording(scope: str, *, amount_minor: int | None = None) -> str:
    """HMRC's model declaration for a scope, with the charity's name."""
    if scope not in SCOPES:
        raise TaxReliefError("Choose what the declaration covers.", "scope")
    amount = format_money(amount_minor, "GBP") if amount_minor else "this gift"
    return _WORDING[scope].format(charity=organisation().name, amount=amount) + " " + _TAXPAYER


def terms_of(declaration: Declaration) -> rules.DeclarationTerms:
    sent = declaration.confirmation_sent_at.date() if declaration.confirmation_sent_at else None
    return rules.DeclarationTerms(declaration.scope, declaration.method, declaration.made_on, declaration.gift_id,
                                  declaration.cancelled_on, sent)


def declarations_for(donor_id: int) -> list[Declaration]:
    return list(db.session.scalars(select(Declaration).where(Declaration.donor_id == donor_id)
                                   .order_by(Declaration.made_on.desc(), Declaration.id.desc())))


def current_declaration(donor_id: int, *, today: date | None = None) -> Declaration | None:
    """The declaration that covers a gift made today, if any."""
    today = today or local_today()
    for declaration in declarations_for(donor_id):
        if declaration.scope != "this_gift" and rules.coverage(terms_of(declaration), 0, today) == "valid":
            return declaration
    return None


def make_declaration(donor_id: int, *, scope: str, method: str, made_on: date | None = None,
                     gift_id: int | None = None, actor=None) -> Declaration:
    """Record a declaration with the exact wording the donor agreed to. An oral one sends the donor its written
    confirmation with the 30-day right to cancel. Commits."""
    donor = db.session.get(Donor, donor_id)
    if donor is None:
        raise TaxReliefError("No such donor.")
    if scope not in SCOPES:
        raise TaxReliefError("Choose what the declaration covers.", "scope")
    if method not in METHODS:
        raise TaxReliefError("Choose how the declaration was made.", "method")
    if donor.kind != "individual":
        raise TaxReliefError("Only an individual UK taxpayer can make a Gift Aid declaration.")
    gift = None
    if scope == "this_gift":
        gift = db.session.get(Gift, gift_id) if gift_id else None
        if gift is None or gift.donor_id != donor_id:
            raise TaxReliefError("Choose the gift this declaration is for.", "gift_id")
    made_on = made_on or local_today()
    if made_on > local_today():
        raise TaxReliefError("The date can't be in the future.", "made_on")
    declaration = Declaration(
        donor_id=donor_id, scope=scope, method=method, made_on=made_on, gift_id=gift.id if gift else None,
        wording_version=WORDING_VERSION, wording=wording(scope, amount_minor=gift.amount_minor if gift else None),
        recorded_by_id=getattr(actor, "id", None) if getattr(actor, "is_staff", False) else None)
    db.session.add(declaration)
    db.session.flush()
    journey.record(donor_id, "gift_aid_declared", f"Gift Aid declaration: {declaration.scope_label.lower()}",
                   actor=actor, channel="portal" if method == "online" else "staff",
                   data={"declaration_id": declaration.id, "scope": scope, "method": method})
    if method == "oral":
        _send_oral_confirmation(donor, declaration)
    db.session.commit()
    return declaration


def _send_oral_confirmation(donor: Donor, declaration: Declaration) -> None:
    """HMRC needs the donor to get a written record of an oral declaration: by email when we have an address
    (sent now), else a staff task to post it (the 30 days then run from the declaration)."""
    org = organisation()
    body = (f"Dear {donor.salutation_name},\n\n"
            f"Thank you for telling us on {declaration.made_on:%-d %B %Y} that you would like {org.name} to claim "
            f"Gift Aid on your gifts. This is the written record of your declaration:\n\n"
            f"  {declaration.wording}\n\n"
            f"It covers: {declaration.scope_label.lower()}.\n\n"
            f"You can cancel it within {rules.ORAL_CANCEL_DAYS} days of this letter and it will be as if it had "
            f"never been made. You can cancel it at any time after that too, for gifts from then on: reply to this "
            f"email, contact {org.support_email}, or use \"Gift Aid\" in your online account.\n\n{org.name}\n")
    if not donor.email:
        create_task(f"Post the written Gift Aid confirmation to {donor.display_name}", donor_id=donor.id,
                    kind="follow_up", assignee_role="fundraiser", details=body,
                    source=f"gift-aid-confirmation:{declaration.id}", dedupe_key=f"gift-aid-confirmation:{declaration.id}")
        return
    declaration.confirmation_sent_at = utcnow()
    queue_email(donor.email, "Your Gift Aid declaration", body, donor_id=donor.id, purpose="gift_aid_confirmation",
                idempotency_key=f"gift-aid-confirmation:{declaration.id}")


def cancel_declaration(declaration: Declaration, *, on: date | None = None, reason: str = "", actor=None) -> Declaration:
    """Cancel from a date (today unless given). Gifts before it stay covered, unless an oral declaration is
    cancelled within its 30 days. Commits."""
    if declaration.cancelled_on is not None:
        raise TaxReliefError("This declaration is already cancelled.")
    on = on or local_today()
    if on < declaration.made_on:
        raise TaxReliefError("A declaration can't be cancelled before it was made.", "cancelled_on")
    declaration.cancelled_on = on
    declaration.cancel_reason = reason.strip()[:200]
    void = rules.void_from_start(terms_of(declaration))
    journey.record(declaration.donor_id, "gift_aid_cancelled",
                   "Gift Aid declaration cancelled" + (" within 30 days: as if never made" if void else ""),
                   actor=actor, data={"declaration_id": declaration.id})
    db.session.commit()
    return declaration


def get_declaration(declaration_id: int) -> Declaration | None:
    return db.session.get(Declaration, declaration_id)


# ---------------------------------------------------------------- benefits

def set_reward_value(reward_id: int, value_minor: int) -> None:
    row = db.session.get(RewardValue, reward_id)
    if row is None:
        row = RewardValue(reward_id=reward_id)
        db.session.add(row)
    row.value_minor = value_minor
    db.session.commit()


def reward_values() -> dict[int, int]:
    return dict(db.session.execute(select(RewardValue.reward_id, RewardValue.value_minor)).all())


def add_benefit(donor_id: int, *, received_on: date, value_minor: int, description: str,
                redemption_id: int | None = None) -> Benefit:
    """Add to the current transaction (no commit)."""
    benefit = Benefit(donor_id=donor_id, received_on=received_on, value_minor=value_minor,
                      description=description[:200], redemption_id=redemption_id)
    db.session.add(benefit)
    db.session.flush()
    return benefit


def on_redemption(touchpoint) -> None:
    """A redeemed reward with a value becomes a benefit; if it takes the donor over the limit for the tax year
    while they have Gift Aid, staff get a task (their gifts that year stop being claimable)."""
    if not gift_aid_on():
        return
    data = touchpoint.data or {}
    value = reward_values().get(data.get("reward_id"), 0)
    if not value or not data.get("redemption_id"):
        return
    if db.session.scalar(select(Benefit.id).where(Benefit.redemption_id == data["redemption_id"])):
        return
    on = to_local(touchpoint.occurred_at, organisation().timezone).date()
    add_benefit(touchpoint.donor_id, received_on=on, value_minor=value, description=f"Reward: {touchpoint.summary}",
                redemption_id=data["redemption_id"])
    over = benefit_warning(touchpoint.donor_id, on=on)
    if over is not None and db.session.scalar(select(exists().where(Declaration.donor_id == touchpoint.donor_id))):
        create_task(f"Gift Aid: benefits over HMRC's limit for donor #{touchpoint.donor_id}",
                    donor_id=touchpoint.donor_id, kind="follow_up", assignee_role="fundraiser",
                    details=(f"Benefits of {format_money(over.benefits_minor)} in tax year {over.label} are over the "
                             f"limit of {format_money(over.limit_minor)} for {format_money(over.donations_minor)} "
                             f"of donations, so that year's gifts can't be claimed. Consider reversing the reward."),
                    source=f"gift-aid-benefits:{touchpoint.donor_id}",
                    dedupe_key=f"gift-aid-benefits:{touchpoint.donor_id}:{over.tax_year}")


# ---------------------------------------------------------------- eligibility

def exclude_gift(gift: Gift, *, actor, excluded: bool = True) -> None:
    """Mark (or unmark) a gift as paid by a company. Commits."""
    row = db.session.get(GiftExclusion, gift.id)
    if excluded and row is None:
        db.session.add(GiftExclusion(gift_id=gift.id, noted_by_id=getattr(actor, "id", None)))
    elif not excluded and row is not None:
        db.session.delete(row)
    db.session.commit()


def donor_address_problems(donor: Donor) -> list[str]:
    return rules.address_problems(address_line1=donor.address_line1, postcode=donor.postcode, country=donor.country)


# ---------------------------------------------------------------- segments

def has_declaration_expression():
    """Whether a donor has a declaration in force (not cancelled, not "this gift only")."""
    return exists().where(Declaration.donor_id == Donor.id, Declaration.scope != "this_gift",
                          Declaration.cancelled_on.is_(None))


def unclaimed_eligible_expression():
    """A declaration in force and received pound gifts of the last 4 years (HMRC's time limit) on no claim:
    a fast, close approximation for segments; building a claim applies every rule."""
    since = rules.years_before(utcnow().date(), 4)
    return and_(has_declaration_expression(), exists().where(
        Gift.donor_id == Donor.id, Gift.status == "received", Gift.currency == "GBP", Donor.kind == "individual",
        Gift.received_at >= datetime(since.year, since.month, since.day), ~exists().where(ClaimGift.gift_id == Gift.id)))


def template_tokens(donor_ids: list[int]) -> dict[int, dict[str, str]]:
    declared = set(db.session.scalars(select(Declaration.donor_id).where(
        Declaration.donor_id.in_(donor_ids), Declaration.scope != "this_gift", Declaration.cancelled_on.is_(None))))
    return {donor_id: {"gift_aid_declared": "yes" if donor_id in declared else "no"} for donor_id in donor_ids}


def seed_demo_declarations(share_percent: int) -> int:
    """Demo data: UK Gift Aid on, and past-and-future paper declarations (made when each donor joined) for every
    donor whose id falls in the share; donors who already have one are left alone. Commits."""
    update_settings(scheme_key="uk_gift_aid", hmrc_reference=settings().hmrc_reference)
    text = wording("past_and_future")
    rows = [dict(donor_id=donor_id, scope="past_and_future", method="paper", wording_version=WORDING_VERSION,
                 wording=text, made_on=created_at.date(), cancel_reason="")
            for donor_id, created_at in db.session.execute(
                select(Donor.id, Donor.created_at).where(Donor.kind == "individual",
                                                         ~exists().where(Declaration.donor_id == Donor.id)))
            if donor_id % 100 < share_percent]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(Declaration), rows[start:start + 5000])
    db.session.commit()
    return len(rows)
