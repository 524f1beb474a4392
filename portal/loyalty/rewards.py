"""The rewards catalogue and redemptions: spending points, then fulfilling or cancelling."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from portal.extensions import db
from portal.journey import services as journey
from portal.loyalty.ledger import award_points, balance, lock_account
from portal.loyalty.models import REWARD_KINDS, Redemption, Reward
from portal.loyalty.programme import LoyaltyError
from portal.support.services import create_task
from portal.timeutil import utcnow


def catalogue(*, include_inactive: bool = False) -> list[Reward]:
    query = select(Reward).order_by(Reward.position, Reward.points_cost, Reward.id)
    if not include_inactive:
        query = query.where(Reward.active.is_(True))
    return list(db.session.scalars(query))


def get_reward(reward_id: int) -> Reward | None:
    return db.session.get(Reward, reward_id)


def save_reward(reward: Reward | None, *, name: str, description: str, kind: str, points_cost: int, stock: int | None,
                donation_minor: int | None, funds: str, active: bool, position: int = 0) -> Reward:
    if not name.strip():
        raise LoyaltyError("Give the reward a name.", "name")
    if kind not in REWARD_KINDS:
        raise LoyaltyError("Choose a kind of reward.", "kind")
    if points_cost <= 0:
        raise LoyaltyError("A reward costs at least one point.", "points_cost")
    if stock is not None and stock < 0:
        raise LoyaltyError("Stock can't be negative; leave it blank for unlimited.", "stock")
    fund_list = [part.strip() for part in funds.split(",") if part.strip()]
    if kind == "donation":
        if not donation_minor:
            raise LoyaltyError("Say how much the organisation gives when points become a donation.", "donation_minor")
        if not fund_list:
            raise LoyaltyError("List at least one fund the donor can choose.", "funds")
    if reward is None:
        reward = Reward()
        db.session.add(reward)
    reward.name, reward.description, reward.kind = name.strip()[:120], description.strip(), kind
    reward.points_cost, reward.stock, reward.active, reward.position = points_cost, stock, active, position
    reward.donation_minor = donation_minor if kind == "donation" else None
    reward.funds = ", ".join(fund_list)[:300] if kind == "donation" else ""
    db.session.commit()
    return reward


STARTER_REWARDS = (
    ("A thank-you call from the field team", "thank_you_call", 150, None, None, "",
     "Someone from a crew you support rings to tell you what your gifts made possible."),
    ("This year's impact report", "impact_report", 100, None, None, "",
     "A printed report with the stories and numbers behind a year at the harbour."),
    ("Harbour open day tickets", "event_ticket", 250, 40, None, "",
     "Two tickets to the summer open day: meet the crews and see the boats."),
    ("Points into a donation", "donation", 300, None, 500, "Lifeboat crews, Clean water, Coastal schools",
     "We give £5 to the fund you choose, on your behalf."),
)


def add_starter_rewards() -> int:
    """A first catalogue when the programme launches with none; staff edit it from there."""
    if catalogue(include_inactive=True):
        return 0
    for position, (name, kind, cost, stock, donation, funds, description) in enumerate(STARTER_REWARDS):
        save_reward(None, name=name, description=description, kind=kind, points_cost=cost, stock=stock,
                    donation_minor=donation, funds=funds, active=True, position=position)
    return len(STARTER_REWARDS)


def redeem(donor_id: int, reward_id: int, *, fund: str = "", actor=None) -> Redemption:
    """Spend points on a reward. Refuses (and changes nothing) when the balance or the stock is short. Commits."""
    reward = db.session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise LoyaltyError("This reward is no longer available.")
    if reward.kind == "donation" and fund not in reward.fund_choices:
        raise LoyaltyError("Choose the fund your donation should go to.", "fund")
    try:
        if not lock_account(donor_id):
            raise LoyaltyError(f"You need {reward.points_cost:,} points for this reward and you have 0.")
        available = balance(donor_id)
        if available < reward.points_cost:
            raise LoyaltyError(f"You need {reward.points_cost:,} points for this reward and you have {available:,}.")
        taken = db.session.execute(
            update(Reward).where(Reward.id == reward.id, Reward.active.is_(True),
                                 or_(Reward.stock.is_(None), Reward.stock > 0))
            .values(stock=Reward.stock - 1)
        ).rowcount
        if not taken:
            raise LoyaltyError("Sorry, this reward has just run out.")
    except LoyaltyError:
        db.session.rollback()
        raise
    redemption = Redemption(donor_id=donor_id, reward_id=reward.id, points=reward.points_cost, fund=fund)
    db.session.add(redemption)
    db.session.flush()
    what = reward.name + (f" ({fund})" if fund else "")
    award_points(donor_id, -reward.points_cost, kind="redeem", reason=f"Redeemed: {what}",
                 source_key=f"redemption:{redemption.id}", redemption_id=redemption.id, actor=actor)
    journey.record(donor_id, "points_redeemed", f"{reward.points_cost:,} points for {what}", actor=actor, channel="portal",
                   data={"redemption_id": redemption.id, "reward_id": reward.id, "points": reward.points_cost, "fund": fund})
    if reward.kind == "thank_you_call":
        create_task(f"Thank-you call (loyalty reward) to donor #{donor_id}", donor_id=donor_id, kind="follow_up",
                    assignee_role="fundraiser", due_at=utcnow() + timedelta(days=7),
                    source=f"redemption:{redemption.id}", dedupe_key=f"redemption:{redemption.id}")
    db.session.commit()
    db.session.refresh(reward)
    return redemption


def redemptions(status: str | None = "requested", *, limit: int = 200) -> list[Redemption]:
    query = select(Redemption).order_by(Redemption.created_at.desc(), Redemption.id.desc()).limit(limit)
    if status:
        query = query.where(Redemption.status == status)
    return list(db.session.scalars(query))


def redemptions_for(donor_id: int) -> list[Redemption]:
    return list(db.session.scalars(select(Redemption).where(Redemption.donor_id == donor_id)
                                   .order_by(Redemption.created_at.desc())))


def get_redemption(redemption_id: int) -> Redemption | None:
    return db.session.get(Redemption, redemption_id)


def fulfil_redemption(redemption: Redemption, *, actor, note: str = "") -> Redemption:
    if redemption.status != "requested":
        raise LoyaltyError("Only a redemption waiting to be fulfilled can be marked fulfilled.")
    redemption.status, redemption.fulfilled_at, redemption.handled_by_id = "fulfilled", utcnow(), actor.id
    redemption.note = note.strip()
    db.session.commit()
    return redemption


def cancel_redemption(redemption: Redemption, *, actor, note: str = "") -> Redemption:
    """Give the points (and the stock) back, e.g. when an event is cancelled. Commits."""
    if redemption.status != "requested":
        raise LoyaltyError("Only a redemption waiting to be fulfilled can be cancelled.")
    redemption.status, redemption.handled_by_id, redemption.note = "cancelled", actor.id, note.strip()
    award_points(redemption.donor_id, redemption.points, kind="refund", reason=f"Returned: {redemption.reward.name}",
                 source_key=f"redemption:{redemption.id}:refund", redemption_id=redemption.id, actor=actor)
    db.session.execute(update(Reward).where(Reward.id == redemption.reward_id, Reward.stock.is_not(None))
                       .values(stock=Reward.stock + 1))
    db.session.commit()
    return redemption
