"""Staff pages for CSV imports: upload, match columns, see the check, confirm or cancel, follow progress."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf

from portal.auth.access import require_staff, roles_required
from portal.donors import imports
from portal.htmx import render
from portal.params import page_number

bp = Blueprint("imports", __name__, url_prefix="/staff/imports")
bp.before_request(require_staff)

KIND_CHOICES = [SelectChoice("donors", "Donors: people and organisations"),
                SelectChoice("gifts", "Gifts from donors already on file")]
DAY_FIRST_CHOICES = [SelectChoice("day", "Day first: 03/04/2025 is 3 April 2025"),
                     SelectChoice("month", "Month first: 03/04/2025 is March 4, 2025")]


class UploadForm(FlaskForm):
    kind = SelectField("What the file holds", choices=KIND_CHOICES, validate_choice=False,
                       validators=[AnyOf([choice.value for choice in KIND_CHOICES], message="Choose donors or gifts.")])
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")])


class ConfirmForm(FlaskForm):
    skip_invalid = BooleanField("Skip the rows with problems")
    include_on_file = BooleanField("Import the rows that match a gift already on file anyway")
    include_duplicates = BooleanField("Import the rows flagged as likely duplicates anyway")
    include_erased = BooleanField("They asked to be added again")


class CancelForm(FlaskForm):
    """Only the CSRF token."""


def mapping_form(batch, headers: list[str], formdata=None):
    """One select per column of the file, plus how to read dates such as 03/04/2025."""
    choices = [SelectChoice("", "Don't import")] + [SelectChoice(t.name, t.label) for t in imports.targets_for(batch.kind).values()]
    fields = {f"column_{index}": SelectField(header, choices=choices) for index, header in enumerate(headers)}
    fields["day_first"] = SelectField("Dates written with numbers only", choices=DAY_FIRST_CHOICES)
    if batch.kind == "gifts":
        fields["source_system"] = StringField("System the gift IDs come from")
    form_class = type("MappingForm", (FlaskForm,), fields)
    mapping = batch.mapping or {}
    defaults = {f"column_{index}": name for index, name in enumerate(mapping.get("columns", []))}
    defaults["day_first"] = "day" if mapping.get("day_first", True) else "month"
    defaults["source_system"] = batch.source_system
    return form_class(formdata=formdata, data=defaults)


def _batch_or_404(batch_id: int):
    batch = imports.get_batch(batch_id)
    if batch is None:
        abort(404)
    return batch


@bp.route("/", methods=["GET", "POST"])
@roles_required("fundraiser")
def index():
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read(imports.MAX_FILE_BYTES + 1)  # one byte more than allowed is enough to refuse it
        upload.close()
        try:
            batch = imports.create_batch(form.kind.data, upload.filename or "", data, actor=current_user)
        except imports.ImportProblem as exc:
            form.file.errors.append(str(exc))
        else:
            return redirect(url_for("imports.columns", batch_id=batch.id), code=303)
    status = 400 if form.errors else 200
    return render_template("donors/import_index.html", form=form, batches=imports.recent_batches(), statuses=imports.STATUSES,
                           size_limit=imports.size_limit()), status


@bp.route("/<int:batch_id>/columns", methods=["GET", "POST"])
@roles_required("fundraiser")
def columns(batch_id: int):
    batch = _batch_or_404(batch_id)
    if batch.status not in ("uploaded", "validated", "failed"):
        return redirect(url_for("imports.show", batch_id=batch.id), code=303)
    samples = imports.column_samples(batch)
    form = mapping_form(batch, [header for header, _ in samples], formdata=request.form if request.method == "POST" else None)
    problem = None
    if request.method == "POST" and form.validate():
        chosen = [form[f"column_{index}"].data for index in range(len(samples))]
        try:
            imports.save_mapping(batch, chosen, day_first=form.day_first.data == "day",
                                 source_system=form.source_system.data if batch.kind == "gifts" else "")
        except imports.MappingProblem as exc:
            problem = str(exc)
            for index, message in exc.columns.items():
                form[f"column_{index}"].errors.append(message)
        except imports.ImportProblem as exc:
            flash(str(exc), "error")
            return redirect(url_for("imports.show", batch_id=batch.id), code=303)
        else:
            return redirect(url_for("imports.show", batch_id=batch.id), code=303)
    status = 400 if (problem or form.errors) else 200
    return render_template("donors/import_columns.html", batch=batch, form=form, samples=samples, problem=problem,
                           cancel_form=CancelForm(), earlier=imports.earlier_import(batch)), status


def _render_batch(batch, *, confirm_form=None, status: int = 200):
    page = request.args.get("page", 1, type=page_number)
    problems, pages = imports.problems_page(batch, page)
    context = dict(batch=batch, confirm_form=confirm_form or ConfirmForm(), cancel_form=CancelForm(),
                   progress=imports.progress(batch) if batch.status in imports.RUNNING else None,
                   counts=imports.problem_counts(batch), problems=problems, page=min(max(1, page), pages), pages=pages,
                   preview_columns=imports.preview_columns(batch) if batch.mapping else [],
                   extra_summaries=imports.extra_summaries(batch) if batch.status == "validated" else [],
                   statuses=imports.STATUSES, kinds=imports.KINDS, earlier=imports.earlier_import(batch))
    return render("donors/import_batch.html", block="panel", **context), status


@bp.route("/<int:batch_id>")
@roles_required("fundraiser")
def show(batch_id: int):
    batch = _batch_or_404(batch_id)
    if batch.status == "uploaded":
        return redirect(url_for("imports.columns", batch_id=batch.id), code=303)
    return _render_batch(batch)


@bp.route("/<int:batch_id>/progress")
@roles_required("fundraiser")
def progress(batch_id: int):
    """Polled by the page every second while a job runs; the answer replaces the panel, and stops the
    polling once the job is done."""
    return _render_batch(_batch_or_404(batch_id))


@bp.route("/<int:batch_id>/confirm", methods=["POST"])
@roles_required("fundraiser")
def confirm(batch_id: int):
    batch = _batch_or_404(batch_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            imports.confirm(batch, skip_invalid=form.skip_invalid.data, include_on_file=form.include_on_file.data,
                            include_duplicates=form.include_duplicates.data, include_erased=form.include_erased.data)
        except imports.ImportProblem as exc:
            form.skip_invalid.errors.append(str(exc))
        else:
            return redirect(url_for("imports.show", batch_id=batch.id), code=303)
    return _render_batch(batch, confirm_form=form, status=400)


@bp.route("/<int:batch_id>/cancel", methods=["POST"])
@roles_required("fundraiser")
def cancel(batch_id: int):
    batch = _batch_or_404(batch_id)
    if CancelForm().validate_on_submit():
        try:
            imports.cancel(batch)
        except imports.ImportProblem as exc:
            flash(str(exc), "error")
        else:
            flash("Import cancelled: nothing was imported.", "info")
    return redirect(url_for("imports.show", batch_id=batch.id), code=303)


@bp.route("/<int:batch_id>/problems.csv")
@roles_required("fundraiser")
def problems_csv(batch_id: int):
    batch = _batch_or_404(batch_id)
    return Response(imports.problems_csv(batch), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="import-{batch.id}-problems.csv"'})
