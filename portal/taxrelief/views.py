"""Gift Aid pages: staff overview, claims and the donor-page panel; the donor's own declarations at /me/gift-aid."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.auth.access import require_donor, require_staff, roles_required
from portal.donors.services import get_donor
from portal.giving import services as giving
from portal.giving.models import Gift
from portal.loyalty import services as loyalty
from portal.money import format_money
from portal.settings.services import organisation
from portal.taxrelief import claims, rules, services
from portal.taxrelief.forms import (CancelForm, ClaimRangeForm, DonorDeclarationForm, GiftDeclarationForm,
                                    RewardValueForm, SettingsForm, StaffDeclarationForm)
from portal.timeutil import to_local
from portal.web import get_or_404

staff_bp = Blueprint("giftaid", __name__, url_prefix="/staff/gift-aid")
staff_bp.before_request(require_staff)
me_bp = Blueprint("giftaid_me", __name__, url_prefix="/me/gift-aid")
me_bp.before_request(require_donor)

FINANCE = ("fundraiser",)


# ---------------------------------------------------------------- staff: overview, settings and claims

@staff_bp.route("/", methods=["GET", "POST"])
@roles_required(*FINANCE)
def index():
    form = ClaimRangeForm(request.args if "start" in request.args else None, meta={"csrf": False})
    plan = None
    if "start" in request.args and form.validate():
        plan = claims.plan_claim(form.start.data, form.end.data)
    return render_template("taxrelief/index.html", form=form, plan=plan, claims=claims.claims_list(),
                           adjustments=claims.open_adjustments(), months=claims.stored_month_figures(),
                           settings=services.settings(), build_form=ClaimRangeForm(formdata=None),
                           refresh_form=CancelForm()), (
        400 if form.errors else 200)


@staff_bp.route("/figures", methods=["POST"])
@roles_required(*FINANCE)
def refresh_figures():
    if not CancelForm().validate_on_submit():
        abort(400)
    claims.refresh_figures_now()
    flash("The monthly figures are being recalculated.", "info")
    return redirect(url_for("giftaid.index"), code=303)


@staff_bp.route("/claims", methods=["POST"])
@roles_required(*FINANCE)
def build():
    form = ClaimRangeForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return redirect(url_for("giftaid.index"), code=303)
    try:
        built = claims.build_claims(form.start.data, form.end.data, actor=current_user)
    except services.TaxReliefError as exc:
        flash(str(exc), "error")
        return redirect(url_for("giftaid.index", start=form.start.data, end=form.end.data), code=303)
    flash(f"{len(built)} draft claim{'s' if len(built) != 1 else ''} built." if len(built) > 1 else "Draft claim built.",
          "success")
    return redirect(url_for("giftaid.claim", claim_id=built[0].id), code=303)


def _claim_or_404(claim_id: int):
    claim = claims.get_claim(claim_id)
    if claim is None:
        abort(404)
    return claim


@staff_bp.route("/claims/<int:claim_id>")
@roles_required(*FINANCE)
def claim(claim_id: int):
    row = _claim_or_404(claim_id)
    return render_template("taxrelief/claim.html", claim=row, lines=claims.claim_lines(row, limit=200),
                           adjustments=claims.settled_adjustments(row), form=CancelForm())


@staff_bp.route("/claims/<int:claim_id>/schedule.ods")
@roles_required(*FINANCE)
def schedule(claim_id: int):
    row = _claim_or_404(claim_id)
    return Response(claims.schedule_ods(row), mimetype="application/vnd.oasis.opendocument.spreadsheet",
                    headers={"Content-Disposition": f'attachment; filename="{claims.schedule_filename(row)}"'})


@staff_bp.route("/claims/<int:claim_id>/<any(submit, delete):action>", methods=["POST"])
@roles_required(*FINANCE)
def claim_action(claim_id: int, action: str):
    row = _claim_or_404(claim_id)
    if not CancelForm().validate_on_submit():
        abort(400)
    try:
        if action == "submit":
            claims.submit_claim(row, actor=current_user)
            flash("Marked as submitted: its gifts are now claimed.", "success")
        else:
            claims.delete_draft(row)
            flash("Draft deleted; its gifts can go on the next claim.", "success")
            return redirect(url_for("giftaid.index"), code=303)
    except services.TaxReliefError as exc:
        flash(str(exc), "error")
    return redirect(url_for("giftaid.claim", claim_id=claim_id), code=303)


@staff_bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings():
    form = SettingsForm(obj=services.settings())
    if form.validate_on_submit():
        try:
            services.update_settings(scheme_key=form.scheme.data, hmrc_reference=form.hmrc_reference.data or "")
        except services.TaxReliefError as exc:
            form.scheme.errors.append(str(exc))
        else:
            flash("Tax relief settings saved.", "success")
            return redirect(url_for("giftaid.settings"), code=303)
    rewards = loyalty.catalogue(include_inactive=True)
    value_form = RewardValueForm(prefix="value")
    value_form.reward_id.choices = [(r.id, r.name) for r in rewards]
    return render_template("taxrelief/settings.html", form=form, value_form=value_form, rewards=rewards,
                           values=services.reward_values()), (400 if form.errors else 200)


@staff_bp.route("/settings/reward-values", methods=["POST"])
@roles_required("admin")
def reward_value():
    value_form = RewardValueForm(prefix="value")
    value_form.reward_id.choices = [(r.id, r.name) for r in loyalty.catalogue(include_inactive=True)]
    if value_form.validate_on_submit():
        services.set_reward_value(value_form.reward_id.data, value_form.value.minor)
        flash("Benefit value saved.", "success")
    else:
        flash(next(iter(value_form.errors.values()))[0], "error")
    return redirect(url_for("giftaid.settings"), code=303)


# ---------------------------------------------------------------- staff: one donor

def _donor_or_404(donor_id: int):
    donor = get_donor(donor_id)
    if donor is None:
        abort(404)
    return donor


@staff_bp.route("/donors/<int:donor_id>/declarations", methods=["POST"])
@roles_required("fundraiser", "support")
def record_declaration(donor_id: int):
    donor = _donor_or_404(donor_id)
    form = StaffDeclarationForm()
    if form.validate_on_submit():
        try:
            services.make_declaration(donor.id, scope=form.scope.data, method=form.method.data,
                                      made_on=form.made_on.data, actor=current_user)
        except services.TaxReliefError as exc:
            flash(str(exc), "error")
        else:
            flash("Gift Aid declaration recorded." + (" A written confirmation is on its way to the donor."
                                                      if form.method.data == "oral" and donor.email else ""), "success")
    else:
        flash(next(iter(form.errors.values()))[0], "error")
    return redirect(url_for("donors.show", donor_id=donor.id) + "#gift-aid", code=303)


@staff_bp.route("/declarations/<int:declaration_id>/cancel", methods=["POST"])
@roles_required("fundraiser", "support")
def cancel_declaration(declaration_id: int):
    declaration = services.get_declaration(declaration_id)
    if declaration is None:
        abort(404)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            services.cancel_declaration(declaration, reason=form.reason.data or "", actor=current_user)
        except services.TaxReliefError as exc:
            flash(str(exc), "error")
        else:
            flash("Declaration cancelled.", "success")
    return redirect(url_for("donors.show", donor_id=declaration.donor_id) + "#gift-aid", code=303)


@staff_bp.route("/gifts/<int:gift_id>/<any(company, personal):paid_by>", methods=["POST"])
@roles_required("fundraiser")
def mark_gift(gift_id: int, paid_by: str):
    gift = get_or_404(Gift, gift_id)
    if not CancelForm().validate_on_submit():
        abort(400)
    services.exclude_gift(gift, actor=current_user, excluded=paid_by == "company")
    return redirect(url_for("donors.show", donor_id=gift.donor_id) + "#gift-aid", code=303)


def donor_panel(donor) -> Markup | None:
    """Declarations, address checks and recent gifts' eligibility on the staff donor page."""
    if not services.gift_aid_on() or not current_user.has_role("fundraiser", "support"):
        return None
    gifts = giving.gifts_for(donor.id, limit=8)
    return Markup(render_template(
        "taxrelief/_donor_panel.html", donor=donor, declarations=services.declarations_for(donor.id),
        problems=services.donor_address_problems(donor) if donor.kind == "individual" else [],
        gifts=gifts, assessments=services.assess_gifts([g.id for g in gifts]), gift_aid=rules.gift_aid_on,
        warning=services.benefit_warning(donor.id), form=StaffDeclarationForm(), cancel_form=CancelForm()))


def insights_panel(**_context) -> Markup | None:
    if not services.gift_aid_on():
        return None
    return Markup(render_template("taxrelief/_insights.html", months=claims.stored_month_figures(),
                                  claimed=claims.claimed_tax_total()))


def describe_declaration(declaration_id: int) -> tuple[str, str | None] | None:
    """A task's cause, for the task page."""
    declaration = services.get_declaration(declaration_id)
    if declaration is None:
        return None
    return (f"{declaration.method_label} declaration of {declaration.made_on:%-d %b %Y}",
            url_for("donors.show", donor_id=declaration.donor_id) + "#gift-aid")


def describe_benefits(donor_id: int) -> tuple[str, str | None]:
    return "Benefits over HMRC's limit", url_for("donors.show", donor_id=donor_id) + "#gift-aid"


def home_tiles() -> list[dict]:
    if not services.gift_aid_on() or not current_user.has_role("fundraiser"):
        return []
    return [{"label": "Gift Aid reclaimed", "value": format_money(claims.claimed_tax_total(), "GBP", whole=True),
             "hint": "Tax reclaimed from HMRC on submitted claims, after adjustments"}]


# ---------------------------------------------------------------- donor portal

def _own_donor():
    donor = get_donor(current_user.donor_id)
    if donor is None:
        abort(404)
    return donor


@me_bp.route("", methods=["GET", "POST"])
def me_index():
    if not services.gift_aid_on():
        abort(404)
    donor = _own_donor()
    form = DonorDeclarationForm()
    if form.validate_on_submit():
        try:
            services.make_declaration(donor.id, scope=form.scope.data, method="online", actor=current_user)
        except services.TaxReliefError as exc:
            form.scope.errors.append(str(exc))
        else:
            flash("Thank you: Gift Aid will add 25p to every £1 you give.", "success")
            return redirect(url_for("giftaid_me.me_index"), code=303)
    return render_template("taxrelief/me.html", donor=donor, form=form, declarations=services.declarations_for(donor.id),
                           current=services.current_declaration(donor.id),
                           wordings={scope: services.wording(scope) for scope in ("future", "past_and_future")},
                           problems=services.donor_address_problems(donor), cancel_form=CancelForm()), (
        400 if form.errors else 200)


@me_bp.route("/gift", methods=["POST"])
def me_gift():
    """Gift Aid a pledge just made at "Give again"."""
    if not services.gift_aid_on():
        abort(404)
    donor = _own_donor()
    form = GiftDeclarationForm()
    gift = get_or_404(Gift, int(form.gift_id.data) if (form.gift_id.data or "").isdigit() else None, donor_id=donor.id)
    if form.validate_on_submit():
        try:
            services.make_declaration(donor.id, scope=form.scope.data, method="online", gift_id=gift.id,
                                      actor=current_user)
        except services.TaxReliefError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Thank you: Gift Aid adds {format_money(rules.gift_aid_on(gift.amount_minor), 'GBP')} to your gift "
                  "at no cost to you.", "success")
    else:
        flash("Choose what your declaration covers.", "error")
    return redirect(url_for("giftaid_me.me_index"), code=303)


@me_bp.route("/<int:declaration_id>/cancel", methods=["POST"])
def me_cancel(declaration_id: int):
    donor = _own_donor()
    declaration = services.get_declaration(declaration_id)
    if declaration is None or declaration.donor_id != donor.id:
        abort(404)
    if CancelForm().validate_on_submit():
        try:
            services.cancel_declaration(declaration, reason="Cancelled by the donor online", actor=current_user)
        except services.TaxReliefError as exc:
            flash(str(exc), "error")
        else:
            flash("Your declaration is cancelled. We won't claim Gift Aid on gifts from today.", "success")
    return redirect(url_for("giftaid_me.me_index"), code=303)


def me_home_panel(donor, **_) -> Markup | None:
    if not services.gift_aid_on() or donor.kind != "individual":
        return None
    return Markup(render_template("taxrelief/_me_home.html", current=services.current_declaration(donor.id)))


def me_give_panel(donor, gift=None, **_context) -> Markup | None:
    """On "Give again" (before) and its thank-you page (after, with the pledge to Gift Aid)."""
    if not services.gift_aid_on() or donor.kind != "individual":
        return None
    current = services.current_declaration(donor.id)
    return Markup(render_template("taxrelief/_me_give.html", current=current, gift=gift,
                                  form=GiftDeclarationForm(gift_id=gift.id if gift else None),
                                  gift_aid=rules.gift_aid_on(gift.amount_minor) if gift else None))


def receipt_panel(donor, gift=None, gifts=None, **_context) -> Markup:
    """The tax wording on a receipt (one gift) or an annual statement (several), for the organisation's scheme."""
    scheme = services.scheme()
    listed = [gift] if gift is not None else list(gifts or [])
    gift_aid = {}
    if scheme == "uk_gift_aid" and listed:
        found = services.assess_gifts([g.id for g in listed])
        gift_aid = {g.id: rules.gift_aid_on(g.amount_minor) for g in listed
                    if found[g.id].eligible or found[g.id].reason in ("claimed", "in_draft")}
    benefits = 0
    if scheme == "us_irs" and listed:
        days = [to_local(g.received_at, organisation().timezone).date() for g in listed]
        benefits = services.benefits_between(donor.id, min(days), max(days))
    return Markup(render_template("taxrelief/_receipt_wording.html", scheme=scheme, single=gift is not None,
                                  gift_aid_total=sum(gift_aid.values()), gift_aid=gift_aid, benefits=benefits))
