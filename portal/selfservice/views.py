"""The donor portal (/me): every page is scoped to the signed-in donor and composes the domain services.

Ids in URLs are looked up and then checked against the donor; another donor's id is a 404, never a 403,
so the portal doesn't confirm that a record exists.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.auth.access import require_donor
from portal.donors import preferences
from portal.donors.services import DonorError
from portal.giving import services as giving
from portal.giving.models import PLAN_INTERVALS, Gift
from portal.htmx import is_htmx, render
from portal.loyalty import services as loyalty
from portal.money import format_money
from portal.params import page_number, year_number
from portal.selfservice import documents, services
from portal.selfservice.cache import answer_from_store, cached_page
from portal.selfservice.forms import (GiveForm, PlanAmountForm, PlanCancelForm, PreferencesForm, ProfileForm, RedeemForm,
                                      ReplyForm, TicketForm)
from portal.settings.services import organisation
from portal.support import services as support
from portal.support.models import Ticket
from portal.timeutil import utcnow
from portal.web import get_or_404

bp = Blueprint("me", __name__, url_prefix="/me")
bp.before_request(answer_from_store)
bp.before_request(require_donor)


def _donor():
    donor = services.signed_in_donor(current_user.donor_id)
    if donor is None:
        abort(404)
    return donor


def _own_plan(donor, plan_id: int):
    plan = next((p for p in giving.plans_for(donor.id) if p.id == plan_id), None)
    if plan is None:
        abort(404)
    return plan


# ---------------------------------------------------------------- home

@bp.route("")
@bp.route("/")
@cached_page
def home():
    donor = _donor()
    plans = [p for p in giving.plans_for(donor.id) if p.status in ("active", "paused")]
    upcoming = sorted((p for p in plans if p.status == "active" and p.renews_on), key=lambda p: p.renews_on)
    tickets = [t for t in support.tickets_for_donor(donor.id) if t.status != "closed"]
    return render_template("me/home.html", donor=donor, stats=donor.stats, points=loyalty.points_summary(donor.id),
                           plans=plans, next_plan=upcoming[0] if upcoming else None, open_tickets=tickets,
                           recent=giving.gifts_for(donor.id, limit=3), this_year=utcnow().year)


# ---------------------------------------------------------------- giving

@bp.route("/giving")
@cached_page
def giving_history():
    donor = _donor()
    history = giving.giving_history(donor.id, request.args.get("year", type=year_number))
    return render("me/giving.html", block="gift_list", donor=donor, gifts=history.gifts, years=history.years,
                  year=history.year, totals=history.received_by_year, shown_total=history.received_shown)


@bp.route("/giving/<int:gift_id>/receipt")
def giving_receipt(gift_id: int):
    donor = _donor()
    gift = get_or_404(Gift, gift_id, donor_id=donor.id)
    if gift.status != "received":
        abort(404)
    return render_template("me/receipt.html", donor=donor, gift=gift, issued=utcnow())


def _statement_page(year: int) -> str:
    donor = _donor()
    statement = giving.annual_statement(donor.id, year)
    if statement is None:
        abort(404)
    return render_template("me/statement.html", donor=donor, year=year, gifts=statement.gifts, funds=statement.by_fund,
                           total=statement.total, issued=utcnow())


@bp.route("/giving/statement/<int:year>")
def giving_statement(year: int):
    return _statement_page(year)


@bp.route("/giving/statement/<int:year>.pdf")
def giving_statement_pdf(year: int):
    """The same statement as a PDF file, for donors who keep it with their tax papers."""
    response = make_response(documents.html_to_pdf(_statement_page(year), base_url=request.url_root))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="giving-statement-{year}.pdf"'
    return response


@bp.route("/giving/give", methods=["GET", "POST"])
def giving_give():
    donor = _donor()
    previous = giving.gifts_for(donor.id, limit=20)
    form = GiveForm()
    funds = [giving.GENERAL_FUND] + sorted({g.fund for g in previous if g.fund and g.fund != giving.GENERAL_FUND})
    form.fund.choices = [(f, "Wherever it's needed most" if f == giving.GENERAL_FUND else f) for f in funds]
    if request.method == "GET":
        form.fund.data = request.args.get("fund") if request.args.get("fund") in funds else giving.GENERAL_FUND
        if previous:
            form.amount.data = f"{previous[0].amount_minor / 100:.2f}".removesuffix(".00")
    if form.validate_on_submit():
        org = organisation()
        try:
            gift = giving.record_gift(donor.id, giving.GiftInput(
                amount_minor=form.amount.minor, received_at=utcnow(), currency=org.currency, fund=form.fund.data,
                method="online", status="pledged"), actor=current_user, channel="portal")
        except giving.GivingError as exc:
            form.amount.errors.append(str(exc))
        else:
            return render_template("me/give_thanks.html", donor=donor, gift=gift)
    return render_template("me/give.html", donor=donor, form=form), (400 if form.errors else 200)


# ---------------------------------------------------------------- recurring gifts and sponsorships

@bp.route("/regular-giving")
def plans():
    donor = _donor()
    return render_template("me/plans.html", donor=donor, plans=giving.plans_for(donor.id), amount_form=PlanAmountForm())


@bp.route("/regular-giving/<int:plan_id>/amount", methods=["POST"])
def plans_amount(plan_id: int):
    donor = _donor()
    plan = _own_plan(donor, plan_id)
    form = PlanAmountForm()
    if form.validate_on_submit():
        try:
            giving.change_plan_amount(plan, form.amount.minor, actor=current_user, channel="portal")
        except giving.GivingError as exc:
            form.amount.errors.append(str(exc))
        else:
            flash(f"Thank you. Your {plan.kind_label.lower()} is now {format_money(plan.amount_minor, plan.currency)} "
                  f"{PLAN_INTERVALS[plan.interval].lower()}.", "success")
            return redirect(url_for("me.plans"), code=303)
    return render_template("me/plans.html", donor=donor, plans=giving.plans_for(donor.id), amount_form=form,
                           failed_plan_id=plan.id), 400


@bp.route("/regular-giving/<int:plan_id>/<any(pause, resume):action>", methods=["POST"])
def plans_status(plan_id: int, action: str):
    donor = _donor()
    plan = _own_plan(donor, plan_id)
    if FlaskForm().validate_on_submit():
        try:
            giving.change_plan_status(plan, action, actor=current_user, channel="portal")
        except giving.GivingError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Your {plan.kind_label.lower()} is paused. Resume it whenever you like." if action == "pause"
                  else f"Your {plan.kind_label.lower()} is active again. Thank you!", "success")
    return redirect(url_for("me.plans"), code=303)


@bp.route("/regular-giving/<int:plan_id>/cancel", methods=["GET", "POST"])
def plans_cancel(plan_id: int):
    donor = _donor()
    plan = _own_plan(donor, plan_id)
    if plan.status == "cancelled":
        return redirect(url_for("me.plans"), code=303)
    form = PlanCancelForm()
    if form.validate_on_submit():
        try:
            giving.change_plan_status(plan, "cancel", reason=form.reason.data or "", actor=current_user, channel="portal")
        except giving.GivingError as exc:
            form.reason.errors.append(str(exc))
        else:
            flash(f"Your {plan.kind_label.lower()} is cancelled. Thank you for everything you've given.", "success")
            return redirect(url_for("me.plans"), code=303)
    return render_template("me/plan_cancel.html", donor=donor, plan=plan, form=form), (400 if form.errors else 200)


# ---------------------------------------------------------------- profile and preferences

PROFILE_FIELDS = ("title", "first_name", "last_name", "organisation_name", "phone", "address_line1", "address_line2",
                  "city", "region", "postcode", "country", "birthday", "preferred_channel")


@bp.route("/details", methods=["GET", "POST"])
def profile():
    donor = _donor()
    form = ProfileForm(obj=donor)
    if request.method == "GET":
        form.interests.data = preferences.chosen_causes(donor)
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in PROFILE_FIELDS}
        if donor.kind == "individual":
            values.pop("organisation_name")
        try:
            services.save_profile(donor, values, form.interests.data or [], actor=current_user)
        except (DonorError, preferences.PreferenceError) as exc:
            field_name = getattr(exc, "field_name", None) or "interests"
            getattr(form, field_name if hasattr(form, field_name) else "first_name").errors.append(str(exc))
        else:
            flash("Your details are saved.", "success")
            return redirect(url_for("me.profile"), code=303)
    return render_template("me/profile.html", donor=donor, form=form), (400 if form.errors else 200)


@bp.route("/details/email-preferences", methods=["GET", "POST"])
def profile_preferences():
    donor = _donor()
    form = PreferencesForm()
    if request.method == "GET":
        form.marketing.data = donor.can_receive_marketing
        opted_out = preferences.opted_out_topics(donor.id)
        form.topics.data = [topic for topic in preferences.TOPICS if topic not in opted_out]
    if form.validate_on_submit():
        preferences.save_preferences(donor, marketing=form.marketing.data, topics=set(form.topics.data or []),
                                     source="preference centre", actor=current_user)
        flash("Your email preferences are saved.", "success")
        return redirect(url_for("me.profile_preferences"), code=303)
    return render_template("me/preferences.html", donor=donor, form=form, topics=preferences.TOPICS), (400 if form.errors else 200)


# ---------------------------------------------------------------- loyalty

def _points_page(donor, *, message: str = "", error: str = "", status: int = 200):
    page = loyalty.ledger(donor.id, page=request.args.get("page", 1, type=page_number))
    return render("me/points.html", block="wallet", donor=donor, summary=loyalty.points_summary(donor.id),
                  rewards=loyalty.catalogue(), page=page, message=message, error=error), status


@bp.route("/points")
def points():
    return _points_page(_donor())


@bp.route("/points/rewards/<int:reward_id>", methods=["GET", "POST"])
def points_redeem(reward_id: int):
    donor = _donor()
    reward = loyalty.get_reward(reward_id)
    if reward is None or not reward.active:
        abort(404)
    form = RedeemForm()
    form.fund.choices = [(f, f) for f in reward.fund_choices]
    error = ""
    if form.validate_on_submit():
        try:
            redemption = loyalty.redeem(donor.id, reward.id, fund=form.fund.data or "", actor=current_user)
        except loyalty.LoyaltyError as exc:
            error = str(exc)
            if is_htmx():
                # htmx swaps only successful responses: the message goes back into the wallet with a 200.
                return _points_page(donor, error=error)
        else:
            message = f"Thank you! You've redeemed {redemption.points:,} points for {reward.name}."
            if is_htmx():
                return _points_page(donor, message=message)
            flash(message, "success")
            return redirect(url_for("me.points"), code=303)
    summary = loyalty.points_summary(donor.id)
    return render("me/redeem.html", block="confirm", donor=donor, reward=reward, form=form, summary=summary,
                  error=error), (400 if error or form.errors else 200)


# ---------------------------------------------------------------- support

@bp.route("/support")
def support_index():
    donor = _donor()
    return render_template("me/support.html", donor=donor, tickets=support.tickets_for_donor(donor.id))


@bp.route("/support/new", methods=["GET", "POST"])
def support_new():
    donor = _donor()
    form = TicketForm()
    if request.method == "GET" and request.args.get("subject"):
        form.subject.data = request.args["subject"][:200]
    if form.validate_on_submit():
        try:
            ticket = support.open_ticket(donor.id, form.subject.data, form.body.data, channel="portal")
        except support.SupportError as exc:
            getattr(form, exc.field_name or "body").errors.append(str(exc))
        else:
            flash("Thanks for getting in touch. We've got your message and will reply here and by email.", "success")
            return redirect(url_for("me.support_ticket", ticket_id=ticket.id), code=303)
    return render_template("me/support_new.html", donor=donor, form=form), (400 if form.errors else 200)


@bp.route("/support/<int:ticket_id>", methods=["GET", "POST"])
def support_ticket(ticket_id: int):
    donor = _donor()
    ticket = get_or_404(Ticket, ticket_id, donor_id=donor.id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            support.add_donor_reply(ticket, form.body.data)
        except support.SupportError as exc:
            form.body.errors.append(str(exc))
        else:
            flash("Your reply has been sent.", "success")
            return redirect(url_for("me.support_ticket", ticket_id=ticket.id) + "#reply", code=303)
    # Internal notes are for staff only and never leave the back office.
    messages = [m for m in ticket.messages if not m.internal]
    return render_template("me/ticket.html", donor=donor, ticket=ticket, messages=messages, form=form), (400 if form.errors else 200)
