"""Staff actions on a donor's giving: record or refund a gift, start and change regular gifts."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.auth.access import require_staff, roles_required
from portal.donors.models import Donor
from portal.giving import services
from portal.giving.forms import GiftForm, PlanAmountForm, PlanCancelForm, PlanChangeForm, PlanForm
from portal.giving.models import Gift, RecurringPlan
from portal.money import format_money
from portal.settings.services import organisation
from portal.timeutil import local_date_to_utc
from portal.web import get_or_404

bp = Blueprint("giving", __name__, url_prefix="/staff/donors/<int:donor_id>")
bp.before_request(require_staff)


@bp.route("/gifts", methods=["POST"])
@roles_required("fundraiser")
def record_gift(donor_id: int):
    donor = get_or_404(Donor, donor_id)
    form = GiftForm()
    if form.validate_on_submit():
        org = organisation()
        try:
            gift = services.record_gift(donor.id, services.GiftInput(
                amount_minor=form.amount.minor, received_at=local_date_to_utc(form.received_on.data, org.timezone),
                currency=org.currency, fund=form.fund.data or "", campaign=form.campaign.data or "",
                method=form.method.data, reference=form.reference.data or ""), actor=current_user, channel="staff")
        except services.GivingError as exc:
            form.amount.errors.append(str(exc))
        else:
            flash(f"Gift of {format_money(gift.amount_minor, gift.currency)} recorded.", "success")
            return redirect(url_for("donors.show", donor_id=donor.id), code=303)
    return render_template("giving/gift_form.html", donor=donor, form=form), 400


@bp.route("/gifts/<int:gift_id>/refund", methods=["POST"])
@roles_required("fundraiser")
def refund_gift(donor_id: int, gift_id: int):
    gift = get_or_404(Gift, gift_id, donor_id=donor_id)
    try:
        services.refund_gift(gift, actor=current_user)
    except services.GivingError as exc:
        flash(str(exc), "error")
    else:
        flash("Gift marked as refunded.", "success")
    return redirect(url_for("donors.show", donor_id=donor_id), code=303)


@bp.route("/plans", methods=["POST"])
@roles_required("fundraiser")
def start_plan(donor_id: int):
    donor = get_or_404(Donor, donor_id)
    form = PlanForm()
    if form.validate_on_submit():
        try:
            services.start_plan(donor.id, services.PlanInput(
                kind=form.kind.data, amount_minor=form.amount.minor, currency=organisation().currency,
                interval=form.interval.data, started_at=form.started_on.data, renews_on=form.renews_on.data,
                fund=form.fund.data or "", description=form.description.data or ""), actor=current_user)
        except services.GivingError as exc:
            form.amount.errors.append(str(exc))
        else:
            flash("Regular giving started.", "success")
            return redirect(url_for("donors.show", donor_id=donor.id), code=303)
    return render_template("giving/plan_form.html", donor=donor, form=form), 400


@bp.route("/plans/<int:plan_id>/status", methods=["POST"])
@roles_required("fundraiser")
def change_plan(donor_id: int, plan_id: int):
    plan = get_or_404(RecurringPlan, plan_id, donor_id=donor_id)
    form = PlanChangeForm()
    if form.validate_on_submit():
        try:
            services.change_plan_status(plan, form.action.data, actor=current_user, channel="staff")
        except services.GivingError as exc:
            flash(str(exc), "error")
        else:
            flash(f"{plan.kind_label} is now {plan.status}.", "success")
    else:
        flash("Choose pause or resume.", "error")
    return redirect(url_for("donors.show", donor_id=donor_id), code=303)


@bp.route("/plans/<int:plan_id>/cancel", methods=["GET", "POST"])
@roles_required("fundraiser")
def cancel_plan(donor_id: int, plan_id: int):
    """A page, not a dialog: the confirmation and the reason work the same with or without JavaScript."""
    donor = get_or_404(Donor, donor_id)
    plan = get_or_404(RecurringPlan, plan_id, donor_id=donor_id)
    if plan.status == "cancelled":
        return redirect(url_for("donors.show", donor_id=donor_id), code=303)
    form = PlanCancelForm()
    if form.validate_on_submit():
        try:
            services.change_plan_status(plan, "cancel", reason=form.reason.data, actor=current_user, channel="staff")
        except services.GivingError as exc:
            form.reason.errors.append(str(exc))
        else:
            flash(f"{plan.kind_label} cancelled.", "success")
            return redirect(url_for("donors.show", donor_id=donor_id), code=303)
    return render_template("giving/plan_cancel.html", donor=donor, plan=plan, form=form), (400 if form.errors else 200)


@bp.route("/plans/<int:plan_id>/amount", methods=["POST"])
@roles_required("fundraiser")
def change_amount(donor_id: int, plan_id: int):
    plan = get_or_404(RecurringPlan, plan_id, donor_id=donor_id)
    form = PlanAmountForm()
    if form.validate_on_submit():
        try:
            services.change_plan_amount(plan, form.amount.minor, actor=current_user, channel="staff")
        except services.GivingError as exc:
            flash(str(exc), "error")
        else:
            flash("Amount changed.", "success")
    else:
        flash(form.amount.errors[0] if form.amount.errors else "Enter an amount.", "error")
    return redirect(url_for("donors.show", donor_id=donor_id), code=303)
