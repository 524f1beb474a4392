"""Staff pages for the loyalty programme: redemptions to fulfil, rewards, tiers, rules, adjustments."""
from datetime import datetime, time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.auth.access import require_staff, roles_required
from portal.donors.services import get_donor
from portal.loyalty import services
from portal.loyalty.forms import AdjustForm, PastGiftsForm, RedemptionActionForm, RewardForm, RulesForm, TierForm
from portal.loyalty.models import REDEMPTION_STATUSES

bp = Blueprint("loyalty", __name__, url_prefix="/staff/loyalty")
bp.before_request(require_staff)


@bp.route("/")
@roles_required("fundraiser", "support")
def index():
    status = request.args.get("status", "requested")
    if status not in REDEMPTION_STATUSES and status != "all":
        status = "requested"
    return render_template("loyalty/redemptions.html", redemptions=services.redemptions(None if status == "all" else status),
                           status=status, statuses=REDEMPTION_STATUSES, form=RedemptionActionForm())


def _redemption_or_404(redemption_id: int):
    redemption = services.get_redemption(redemption_id)
    if redemption is None:
        abort(404)
    return redemption


@bp.route("/redemptions/<int:redemption_id>/<any(fulfil, cancel):action>", methods=["POST"])
@roles_required("fundraiser", "support")
def handle_redemption(redemption_id: int, action: str):
    redemption = _redemption_or_404(redemption_id)
    form = RedemptionActionForm()
    if form.validate_on_submit():
        handler = services.fulfil_redemption if action == "fulfil" else services.cancel_redemption
        try:
            handler(redemption, actor=current_user, note=form.note.data or "")
        except services.LoyaltyError as exc:
            flash(str(exc), "error")
        else:
            flash("Marked fulfilled." if action == "fulfil" else "Cancelled; the points were returned.", "success")
    else:
        flash("The note is too long.", "error")
    return redirect(url_for("loyalty.index"), code=303)


@bp.route("/rewards", methods=["GET", "POST"])
@bp.route("/rewards/<int:reward_id>", methods=["GET", "POST"])
@roles_required("fundraiser")
def rewards(reward_id: int | None = None):
    reward = None
    if reward_id is not None:
        reward = services.get_reward(reward_id)
        if reward is None:
            abort(404)
    form = RewardForm(obj=reward)
    if request.method == "GET" and reward is not None and reward.donation_minor:
        form.donation_amount.data = f"{reward.donation_minor / 100:.2f}"
    if form.validate_on_submit():
        try:
            services.save_reward(reward, name=form.name.data, description=form.description.data or "", kind=form.kind.data,
                                 points_cost=form.points_cost.data, stock=form.stock.data,
                                 donation_minor=form.donation_amount.minor, funds=form.funds.data or "",
                                 active=form.active.data, position=form.position.data or 0)
        except services.LoyaltyError as exc:
            getattr(form, {"donation_minor": "donation_amount"}.get(exc.field_name, exc.field_name or "name")).errors.append(str(exc))
        else:
            flash("Reward saved.", "success")
            return redirect(url_for("loyalty.rewards"), code=303)
    return render_template("loyalty/rewards.html", form=form, reward=reward,
                           rewards=services.catalogue(include_inactive=True)), (400 if form.errors else 200)


@bp.route("/tiers", methods=["GET", "POST"])
@bp.route("/tiers/<int:tier_id>", methods=["GET", "POST"])
@roles_required("admin")
def tiers(tier_id: int | None = None):
    tier = None
    if tier_id is not None:
        tier = services.get_tier(tier_id)
        if tier is None:
            abort(404)
    form = TierForm(obj=tier)
    if form.validate_on_submit():
        try:
            services.save_tier(tier, name=form.name.data, min_points=form.min_points.data, benefits=form.benefits.data or "")
        except services.LoyaltyError as exc:
            getattr(form, exc.field_name or "name").errors.append(str(exc))
        else:
            flash("Tier saved. Donors' tiers are being recalculated.", "success")
            return redirect(url_for("loyalty.tiers"), code=303)
    return render_template("loyalty/tiers.html", form=form, tier=tier, tiers=services.tiers(),
                           rules=services.rules()), (400 if form.errors else 200)


@bp.route("/tiers/<int:tier_id>/delete", methods=["POST"])
@roles_required("admin")
def delete_tier(tier_id: int):
    tier = services.get_tier(tier_id)
    if tier is None:
        abort(404)
    form = RedemptionActionForm()
    if form.validate_on_submit():
        services.delete_tier(tier)
        flash(f"Tier {tier.name} removed.", "success")
    return redirect(url_for("loyalty.tiers"), code=303)


@bp.route("/rules", methods=["GET", "POST"])
@roles_required("admin")
def rules():
    current = services.rules()
    form = RulesForm(obj=current)
    if form.validate_on_submit():
        try:
            services.update_rules(
                points_per_unit=form.points_per_unit.data, recurring_multiplier_percent=form.recurring_multiplier_percent.data,
                first_gift_bonus=form.first_gift_bonus.data or 0, fifth_gift_bonus=form.fifth_gift_bonus.data or 0,
                anniversary_bonus=form.anniversary_bonus.data or 0, birthday_bonus=form.birthday_bonus.data or 0,
                tier_window_months=form.tier_window_months.data, expiry_months=form.expiry_months.data, actor=current_user)
        except services.LoyaltyError as exc:
            getattr(form, exc.field_name).errors.append(str(exc))
        else:
            flash("Earning rules saved.", "success")
            return redirect(url_for("loyalty.rules"), code=303)
    return render_template("loyalty/rules.html", form=form), (400 if form.errors else 200)


@bp.route("/past-gifts", methods=["GET", "POST"])
@roles_required("admin")
def past_gifts():
    """Launching after importing history: points for past gifts since a chosen date, previewed first."""
    form = PastGiftsForm(request.form if request.method == "POST" else request.args, meta={"csrf": request.method == "POST"})
    since = datetime.combine(form.since.data, time()) if form.validate() and form.since.data else None
    if request.method == "POST" and not form.errors:
        awarded = services.backfill_gift_points(since=since, actor=current_user)
        flash(f"{awarded:,} past gift{'s' if awarded != 1 else ''} earned points.", "success")
        return redirect(url_for("loyalty.past_gifts", since=form.since.data.isoformat() if since else None), code=303)
    preview = None if form.errors else services.backfill_preview(since=since)
    return render_template("loyalty/past_gifts.html", form=form, preview=preview), (400 if form.errors else 200)


@bp.route("/donors/<int:donor_id>/adjust", methods=["POST"])
@roles_required("fundraiser")
def adjust(donor_id: int):
    donor = get_donor(donor_id)
    if donor is None:
        abort(404)
    form = AdjustForm()
    if form.validate_on_submit():
        try:
            services.adjust(donor.id, form.points.data, reason=form.reason.data, actor=current_user)
        except services.LoyaltyError as exc:
            getattr(form, exc.field_name or "points").errors.append(str(exc))
        else:
            flash(f"Points adjusted by {form.points.data:+,}.", "success")
            return redirect(url_for("donors.show", donor_id=donor.id) + "#loyalty", code=303)
    return render_template("loyalty/adjust.html", donor=donor, form=form, summary=services.points_summary(donor.id)), 400


def donor_ledger_panel(donor) -> Markup:
    """The donor's points on their staff page (staff_donor_main slot); Markup, as the page prints it as is."""
    return Markup(render_template("loyalty/_donor_panel.html", donor=donor, summary=services.points_summary(donor.id),
                           page=services.ledger(donor.id, per_page=10), form=AdjustForm()))
