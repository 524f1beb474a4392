"""The segment pages: the list, the condition builder with its live count, members and the CSV export."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from portal.audit import services as audit
from portal.auth.access import require_staff, roles_required
from portal.engagement.models import Segment
from portal.engagement.segments import builder, services as segments
from portal.engagement.segments.forms import SegmentForm
from portal.htmx import redirect_to, render, render_fragment
from portal.params import page_number
from portal.settings.services import organisation
from portal.web import get_or_404

segments_bp = Blueprint("segments", __name__, url_prefix="/staff/segments")
segments_bp.before_request(require_staff)


@segments_bp.route("/", endpoint="index")
@roles_required("fundraiser")
def segment_index():
    return render_template("engagement/segments.html", segments=segments.all_segments(), describe=segments.describe)


@segments_bp.route("/<int:segment_id>/count", endpoint="count")
@roles_required("fundraiser")
def segment_count(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    return render_template("engagement/_count.html", total=segments.count_members(segment))


def _builder_context(rules: dict, errors: dict[str, str] | None = None) -> dict:
    return {"rows": builder.rows(rules), "match": rules.get("match", "all"), "fields": segments.fields_by_group(),
            "field_specs": segments.FIELDS, "rule_errors": errors or {}, "no_value": segments.NO_VALUE,
            "days_ops": segments.DAYS_OPERATORS}


def _live_count(rules: dict) -> dict:
    try:
        tree = segments.parse_rules(rules)
    except segments.RuleError as exc:
        return {"total": None, "problems": [(builder.path_label(rules, path), message) for path, message in exc.errors.items()]}
    return {"total": segments.count_members(tree), "problems": []}


def _segment_editor(segment: Segment | None):
    form = SegmentForm(obj=segment)
    rules = segment.rules if segment and request.method == "GET" else builder.from_form(request.form)
    if request.method == "GET" and segment is None:
        rules = {"match": "all", "conditions": [dict(builder.EMPTY_CONDITION)]}
    action = request.form.get("action", "")
    errors: dict[str, str] = {}
    if request.method == "POST" and action:
        builder.apply(rules, action)
    elif form.validate_on_submit():
        try:
            saved = segments.save_segment(segment, name=form.name.data, description=form.description.data or "",
                                          rules=rules, actor=current_user)
        except segments.SegmentError as exc:
            errors = exc.rule_errors
            if exc.field_name:
                getattr(form, exc.field_name).errors.append(str(exc))
            elif not errors:
                flash(str(exc), "error")
        else:
            flash(f"Segment “{saved.name}” saved.", "success")
            return redirect(url_for("segments.show", segment_id=saved.id), code=303)
    status = 400 if request.method == "POST" and not action and (form.errors or errors) else 200
    return render_template("engagement/segment_form.html", form=form, segment=segment, live=_live_count(rules),
                           **_builder_context(rules, errors)), status


@segments_bp.route("/new", methods=["GET", "POST"], endpoint="create")
@roles_required("fundraiser")
def segment_create():
    return _segment_editor(None)


@segments_bp.route("/<int:segment_id>/edit", methods=["GET", "POST"], endpoint="edit")
@roles_required("fundraiser")
def segment_edit(segment_id: int):
    return _segment_editor(get_or_404(Segment, segment_id))


@segments_bp.route("/builder", methods=["POST"])
@roles_required("fundraiser")
def builder_fragment():
    """htmx: re-draw the conditions after adding, removing or changing a field, with the count."""
    rules = builder.apply(builder.from_form(request.form), request.form.get("action", ""))
    return render_fragment("engagement/segment_form.html", "builder", live=_live_count(rules), **_builder_context(rules))


@segments_bp.route("/count", methods=["POST"])
@roles_required("fundraiser")
def live_count():
    """htmx: the member count for the conditions as they are typed (not saved)."""
    return render_template("engagement/_live_count.html", live=_live_count(builder.from_form(request.form)))


@segments_bp.route("/<int:segment_id>", endpoint="show")
@roles_required("fundraiser")
def segment_show(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    page = segments.members_page(segment, page=request.args.get("page", 1, type=page_number), per_page=current_app.config["PAGE_SIZE"])
    return render("engagement/segment.html", block="members", segment=segment, result=page,
                  conditions=segments.describe(segment), used_by=segments.workflows_using(segment))


@segments_bp.route("/<int:segment_id>/export.csv")
@roles_required("fundraiser")
def export(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    slug = "".join(c if c.isalnum() else "-" for c in segment.name.lower()).strip("-")[:40] or "segment"
    # The rules, not the row: the stream outlives this request's session, which may expire the segment.
    rules = segment.rules
    audit.record_export("segment.export", f"segment “{segment.name}”", segments.count_members(rules), actor=current_user,
                        detail={"segment": segment.id})
    return Response(stream_with_context(segments.export_csv(rules, currency=organisation().currency)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{slug}-{stamp}.csv"'})


@segments_bp.route("/<int:segment_id>/delete", methods=["POST"], endpoint="delete")
@roles_required("fundraiser")
def segment_delete(segment_id: int):
    segment = get_or_404(Segment, segment_id)
    name = segment.name
    segments.delete_segment(segment)
    flash(f"Segment “{name}” deleted.", "success")
    return redirect_to(url_for("segments.index"))
