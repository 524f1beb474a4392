"""Staff pages for donors: the list, a donor's page and timeline, create and edit, export."""
from datetime import datetime

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from portal.audit import services as audit
from portal.auth.access import require_staff, roles_required
from portal.donors import duplicates, merge, services
from portal.donors.forms import DonorForm, InteractionForm
from portal.giving import services as giving
from portal.giving.forms import GiftForm, PlanForm
from portal.htmx import is_htmx, render
from portal.journey import services as journey
from portal.params import page_number, query_id
from portal.settings.services import organisation
from portal.timeutil import local_date_to_utc

bp = Blueprint("donors", __name__, url_prefix="/staff/donors")
bp.before_request(require_staff)


def _donor_or_404(donor_id: int):
    donor = services.get_donor(donor_id)
    if donor is None:
        survivor_id = merge.resolve(donor_id)
        if survivor_id is None:
            abort(404)
        # A merged-away donor's links and bookmarks lead to the record it was merged into.
        abort(redirect(url_for(request.endpoint, **{**request.view_args, "donor_id": survivor_id}), code=301))
    return donor


@bp.route("/")
def index():
    filters = services.parse_filters(request.args)
    page = services.search_donors(filters, page=request.args.get("page", 1, type=page_number),
                                  per_page=current_app.config["PAGE_SIZE"])
    return render("donors/index.html", block="results", filters=filters, result=page, tags=services.all_tag_names())


@bp.route("/export.csv")
@roles_required("fundraiser")
def export():
    filters = services.parse_filters(request.args)
    audit.record_export("donor.export", "donors", services.export_row_count(filters), actor=current_user,
                        detail={"filters": request.args.to_dict()})
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(stream_with_context(services.export_csv(filters)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="donors-{stamp}.csv"'})


@bp.route("/check-email")
def check_email():
    """Inline validation while typing: format and uniqueness."""
    form = DonorForm(formdata=request.args, meta={"csrf": False})
    message = ""
    if form.email.data:
        form.email.validate(form)
        if form.email.errors:
            message = form.email.errors[0]
        elif services.email_taken(form.email.data, except_id=request.args.get("donor_id", type=query_id)):
            message = "Another donor already has this email address."
    return render_template("donors/_email_check.html", message=message, email=form.email.data)


def _form_values(form: DonorForm) -> dict:
    values = {name: getattr(form, name).data for name in services.PROFILE_FIELDS if hasattr(form, name)}
    values["tags"] = services.split_tags(form.tags.data)
    values["interests"] = services.split_tags(form.interests.data)
    values["marketing_opt_in"] = form.marketing_opt_in.data
    return values


@bp.route("/new", methods=["GET", "POST"])
@roles_required("fundraiser")
def create():
    form = DonorForm()
    candidates = []
    if form.validate_on_submit():
        try:
            donor = services.create_donor(_form_values(form), actor=current_user, allow_duplicates=form.create_anyway.data,
                                          confirm_erased_email=form.confirm_erased_email.data)
        except services.PossibleDuplicates as exc:
            candidates = exc.candidates
        except services.DonorError as exc:
            getattr(form, exc.field_name or "email").errors.append(str(exc))
        else:
            flash(f"{donor.display_name} added.", "success")
            return redirect(url_for("donors.show", donor_id=donor.id), code=303)
    erased_email = services.ERASED_EMAIL_MESSAGE in form.email.errors or form.confirm_erased_email.data
    return render_template("donors/form.html", form=form, donor=None, candidates=candidates, erased_email=erased_email), \
        (400 if form.errors else (409 if candidates else 200))


@bp.route("/check-duplicates")
@roles_required("fundraiser")
def check_duplicates():
    """While a new donor is typed in: the donors they may already be."""
    form = DonorForm(formdata=request.args, meta={"csrf": False})
    values = {name: getattr(form, name).data for name in ("kind", "first_name", "last_name", "organisation_name", "phone",
                                                          "address_line1", "city", "postcode")}
    values["birthday"] = form.birthday.data if form.birthday.validate(form) else None
    return render_template("donors/_duplicates.html", candidates=duplicates.candidates_for(values), inline=True)


@bp.route("/<int:donor_id>/edit", methods=["GET", "POST"])
@roles_required("fundraiser")
def edit(donor_id: int):
    donor = _donor_or_404(donor_id)
    # On POST the submitted form is the whole truth; obj would fill fields the browser left out.
    form = DonorForm(obj=donor if request.method == "GET" else None)
    if request.method == "GET":
        form.tags.data = ", ".join(t.name for t in donor.tags)
        form.interests.data = ", ".join(t.name for t in donor.interests)
    if form.validate_on_submit():
        try:
            services.update_donor(donor, _form_values(form), actor=current_user)
        except services.DonorError as exc:
            getattr(form, exc.field_name or "email").errors.append(str(exc))
        else:
            flash("Changes saved.", "success")
            return redirect(url_for("donors.show", donor_id=donor.id), code=303)
    return render_template("donors/form.html", form=form, donor=donor), (400 if form.errors else 200)


@bp.route("/<int:donor_id>")
def show(donor_id: int):
    donor = _donor_or_404(donor_id)
    group = request.args.get("group") or ""
    page = journey.timeline(donor.id, group=group, cursor=request.args.get("cursor"))
    if is_htmx() and request.args.get("cursor"):
        return render("donors/show.html", block="timeline_items", donor=donor, page=page, group=group)
    page_html = render(
        "donors/show.html", block="timeline", donor=donor, page=page, group=group,
        stats=donor.stats, stage=journey.STAGES[journey.journey_stage(donor.stats)],
        plans=giving.plans_for(donor.id), gifts=giving.gifts_for(donor.id, limit=10),
        gift_form=GiftForm(), plan_form=PlanForm(), interaction_form=InteractionForm(),
        groups=journey.TIMELINE_GROUPS,
    )
    if not is_htmx():  # the record opened, not its timeline redrawn by a filter
        # After rendering: the read log's commit would otherwise expire everything the page is about to read.
        services.record_view(donor, actor=current_user)
    return page_html


@bp.route("/<int:donor_id>/interactions", methods=["POST"])
@roles_required("fundraiser", "support")
def log_interaction(donor_id: int):
    donor = _donor_or_404(donor_id)
    form = InteractionForm()
    if not form.validate_on_submit():
        return render_template("donors/interaction_form.html", donor=donor, form=form), 400
    occurred = local_date_to_utc(form.occurred_on.data, organisation().timezone) if form.occurred_on.data else None
    journey.log_interaction(donor.id, form.kind.data, form.summary.data, details=form.details.data or "",
                            occurred_at=occurred, actor=current_user)
    flash(f"{journey.kind_label(form.kind.data)} logged.", "success")
    return redirect(url_for("donors.show", donor_id=donor.id), code=303)
