"""Staff pages for support tickets and the task inbox."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.auth.access import require_staff, roles_required
from portal.donors.services import get_donor
from portal.htmx import render
from portal.params import page_number, parse_id, query_id
from portal.settings.services import organisation
from portal.support import services
from portal.support.forms import (AssignForm, CommentForm, CompleteForm, NewTaskForm, NewTicketForm, NoteForm, ReplyForm,
                                  SupportSettingsForm, TicketStatusForm)
from portal.support.models import TASK_KINDS, TASK_STATUSES, TICKET_CHANNELS, TICKET_STATUSES
from portal.timeutil import local_date_to_utc, utcnow

tickets_bp = Blueprint("tickets", __name__, url_prefix="/staff/tickets")
tickets_bp.before_request(require_staff)
tasks_bp = Blueprint("tasks", __name__, url_prefix="/staff/tasks")
tasks_bp.before_request(require_staff)

TICKET_ROLES = ("support", "fundraiser")


# ---------------------------------------------------------------- tickets

def _ticket_or_404(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    if ticket is None:
        abort(404)
    return ticket


@tickets_bp.route("/")
@roles_required(*TICKET_ROLES)
def index():
    filters = services.TicketFilter(status=request.args.get("status") or "active",
                                    assignee=request.args.get("assignee") or "", q=(request.args.get("q") or "")[:100])
    if filters.status not in services.TICKET_STATUS_FILTERS:
        filters.status = "active"
    result = services.ticket_queue(filters, user=current_user, page=request.args.get("page", 1, type=page_number))
    levels = services.settings()
    now = utcnow()
    timers = {t.id: services.sla_timers(t, now=now, levels=levels) for t in result.tickets}
    return render("support/tickets.html", block="results", filters=filters, result=result, timers=timers,
                  counts=services.ticket_counts(), status_filters=services.TICKET_STATUS_FILTERS,
                  statuses=TICKET_STATUSES, channels=TICKET_CHANNELS)


def _ticket_page(ticket, *, reply_form=None, note_form=None, status: int = 200):
    assign_form = AssignForm(assignee_id=ticket.assignee_id)
    assign_form.assignee_id.fill(services.assignable_staff())
    first, resolution = services.sla_timers(ticket)
    return render_template(
        "support/ticket.html", ticket=ticket, statuses=TICKET_STATUSES, channels=TICKET_CHANNELS,
        reply_form=reply_form or ReplyForm(), note_form=note_form or NoteForm(), assign_form=assign_form,
        status_form=TicketStatusForm(status=ticket.status if ticket.status != "new" else "open"),
        first_timer=first, resolution_timer=resolution,
        other_tickets=[t for t in services.tickets_for_donor(ticket.donor_id) if t.id != ticket.id][:5],
    ), status


@tickets_bp.route("/<int:ticket_id>")
@roles_required(*TICKET_ROLES)
def show(ticket_id: int):
    return _ticket_page(_ticket_or_404(ticket_id))


@tickets_bp.route("/<int:ticket_id>/reply", methods=["POST"])
@roles_required(*TICKET_ROLES)
def reply(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            services.staff_reply(ticket, form.body.data, actor=current_user, next_status=form.next_status.data)
        except services.SupportError as exc:
            getattr(form, exc.field_name or "body").errors.append(str(exc))
        else:
            flash("Reply sent to the donor." if ticket.donor.email else
                  "Reply saved. This donor has no email address, so they'll only see it in their portal.", "success")
            return redirect(url_for("tickets.show", ticket_id=ticket.id), code=303)
    return _ticket_page(ticket, reply_form=form, status=400)


@tickets_bp.route("/<int:ticket_id>/note", methods=["POST"])
@roles_required(*TICKET_ROLES)
def note(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = NoteForm()
    if form.validate_on_submit():
        services.add_internal_note(ticket, form.body.data, actor=current_user)
        flash("Note added.", "success")
        return redirect(url_for("tickets.show", ticket_id=ticket.id), code=303)
    return _ticket_page(ticket, note_form=form, status=400)


@tickets_bp.route("/<int:ticket_id>/assign", methods=["POST"])
@roles_required(*TICKET_ROLES)
def assign(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = AssignForm()
    form.assignee_id.fill(services.assignable_staff())
    if form.validate_on_submit():
        services.assign_ticket(ticket, form.assignee_id.data, actor=current_user)
        flash("Ticket assigned." if ticket.assignee_id else "Ticket unassigned.", "success")
    else:
        flash("Choose someone from the list.", "error")
    return redirect(url_for("tickets.show", ticket_id=ticket.id), code=303)


@tickets_bp.route("/<int:ticket_id>/status", methods=["POST"])
@roles_required(*TICKET_ROLES)
def change_status(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = TicketStatusForm()
    if form.validate_on_submit():
        services.change_ticket_status(ticket, form.status.data, actor=current_user)
        flash(f"Ticket is now {TICKET_STATUSES[ticket.status].lower()}.", "success")
    else:
        flash("Choose open, waiting on donor or closed.", "error")
    return redirect(url_for("tickets.show", ticket_id=ticket.id), code=303)


@tickets_bp.route("/new", methods=["GET", "POST"])
@roles_required(*TICKET_ROLES)
def create():
    form = NewTicketForm()
    if request.method == "GET" and request.args.get("donor_id", type=query_id):
        form.donor_id.data = request.args.get("donor_id", type=query_id)
    form.assignee_id.fill(services.assignable_staff())
    if request.method == "GET" and form.assignee_id.data is None:
        form.assignee_id.data = current_user.id
    donor = get_donor(form.donor_id.data) if parse_id(form.donor_id.data) else None
    if form.validate_on_submit():
        if donor is None:
            form.donor_id.errors.append("There is no donor with that number.")
        else:
            try:
                ticket = services.open_ticket(donor.id, form.subject.data, form.body.data, channel=form.channel.data,
                                              opened_by_staff=current_user, assignee_id=form.assignee_id.data)
            except services.SupportError as exc:
                getattr(form, exc.field_name or "subject").errors.append(str(exc))
            else:
                flash(f"Ticket #{ticket.id} opened for {donor.display_name}.", "success")
                return redirect(url_for("tickets.show", ticket_id=ticket.id), code=303)
    return render_template("support/ticket_new.html", form=form, donor=donor), (400 if form.errors else 200)


@tickets_bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings():
    levels = services.settings()
    form = SupportSettingsForm(obj=levels)
    if form.validate_on_submit():
        try:
            services.update_settings(first_response_hours=form.first_response_hours.data,
                                     resolution_hours=form.resolution_hours.data, actor=current_user)
        except services.SupportError as exc:
            getattr(form, exc.field_name).errors.append(str(exc))
        else:
            flash("Service levels saved.", "success")
            return redirect(url_for("tickets.index"), code=303)
    return render_template("support/settings.html", form=form), (400 if form.errors else 200)


# ---------------------------------------------------------------- tasks

def _task_or_404(task_id: int):
    task = services.get_task(task_id)
    if task is None:
        abort(404)
    return task


@tasks_bp.route("/", endpoint="index")
def task_index():
    view = request.args.get("view") or "mine"
    view = view if view in services.TASK_VIEWS else "mine"
    status = request.args.get("status") or "open"
    status = status if status in TASK_STATUSES else "open"
    result = services.task_inbox(current_user, view=view, status=status, page=request.args.get("page", 1, type=page_number))
    return render("support/tasks.html", block="results", result=result, view=view, status=status, views=services.TASK_VIEWS,
                  statuses=TASK_STATUSES, kinds=TASK_KINDS, now=utcnow(), source_label=services.source_label)


def _task_page(task, *, comment_form=None, complete_form=None, status: int = 200):
    assign_form = AssignForm(assignee_id=task.assignee_id)
    assign_form.assignee_id.fill(services.assignable_staff())
    assign_form.assignee_id.choices[0] = ("", f"Back to the team ({task.assignee_role})" if task.assignee_role else "Nobody")
    return render_template("support/task.html", task=task, kinds=TASK_KINDS, statuses=TASK_STATUSES, now=utcnow(),
                           source=services.describe_source(task.source) if task.source else None,
                           assign_form=assign_form, comment_form=comment_form or CommentForm(),
                           complete_form=complete_form or CompleteForm()), status


@tasks_bp.route("/<int:task_id>", endpoint="show")
def task_show(task_id: int):
    return _task_page(_task_or_404(task_id))


@tasks_bp.route("/<int:task_id>/assign", methods=["POST"], endpoint="assign")
def task_assign(task_id: int):
    task = _task_or_404(task_id)
    form = AssignForm()
    form.assignee_id.fill(services.assignable_staff())
    if request.form.get("take"):
        form.assignee_id.data = current_user.id
    if form.validate_on_submit() or request.form.get("take"):
        try:
            services.assign_task(task, form.assignee_id.data, actor=current_user)
        except services.SupportError as exc:
            flash(str(exc), "error")
        else:
            flash("Task assigned to you." if task.assignee_id == current_user.id else "Task reassigned.", "success")
    else:
        flash("Choose someone from the list.", "error")
    return redirect(url_for("tasks.show", task_id=task.id), code=303)


@tasks_bp.route("/<int:task_id>/comments", methods=["POST"], endpoint="comment")
def task_comment(task_id: int):
    task = _task_or_404(task_id)
    form = CommentForm()
    if form.validate_on_submit():
        services.comment_on_task(task, form.body.data, actor=current_user)
        flash("Comment added.", "success")
        return redirect(url_for("tasks.show", task_id=task.id), code=303)
    return _task_page(task, comment_form=form, status=400)


@tasks_bp.route("/<int:task_id>/complete", methods=["POST"], endpoint="complete")
def task_complete(task_id: int):
    task = _task_or_404(task_id)
    form = CompleteForm()
    if form.validate_on_submit():
        try:
            services.complete_task(task, form.outcome.data, note=form.note.data or "", actor=current_user)
        except services.SupportError as exc:
            form.outcome.errors.append(str(exc))
        else:
            flash("Task completed.", "success")
            return redirect(url_for("tasks.index"), code=303)
    return _task_page(task, complete_form=form, status=400)


@tasks_bp.route("/<int:task_id>/reopen", methods=["POST"], endpoint="reopen")
def task_reopen(task_id: int):
    task = _task_or_404(task_id)
    try:
        services.reopen_task(task, actor=current_user)
    except services.SupportError as exc:
        flash(str(exc), "error")
    else:
        flash("Task reopened.", "success")
    return redirect(url_for("tasks.show", task_id=task.id), code=303)


@tasks_bp.route("/new", methods=["GET", "POST"], endpoint="create")
def task_create():
    form = NewTaskForm()
    form.assignee_id.fill(services.assignable_staff())
    if request.method == "GET" and request.args.get("donor_id", type=query_id):
        form.donor_id.data = request.args.get("donor_id", type=query_id)
    donor = get_donor(form.donor_id.data) if parse_id(form.donor_id.data) else None
    if form.validate_on_submit():
        if form.donor_id.data and donor is None:
            form.donor_id.errors.append("There is no donor with that number.")
        else:
            due = local_date_to_utc(form.due_on.data, organisation().timezone) if form.due_on.data else None
            task = services.add_task(form.title.data, donor_id=donor.id if donor else None, details=form.details.data or "",
                                     assignee_id=form.assignee_id.data, due_at=due, actor=current_user)
            flash("Task added.", "success")
            return redirect(url_for("tasks.show", task_id=task.id), code=303)
    return render_template("support/task_new.html", form=form, donor=donor), (400 if form.errors else 200)


# ---------------------------------------------------------------- extension points

def open_tasks_tile():
    if not current_user.is_authenticated or not current_user.is_staff:
        return []
    counts = services.open_task_counts(current_user)
    hint = f"{counts['overdue']} overdue" if counts["overdue"] else "none overdue"
    return [{"label": "Open tasks", "value": f"{counts['open']:,}", "hint": f"yours and your team's · {hint}"}]


def donor_panel(donor, **_):
    if not current_user.has_role(*TICKET_ROLES):
        return None
    tickets = [t for t in services.tickets_for_donor(donor.id) if t.status != "closed"][:5]
    return Markup(render_template("support/_donor_panel.html", donor=donor, tickets=tickets, statuses=TICKET_STATUSES,
                                  tasks=services.tasks_for_donor(donor.id), now=utcnow()))


def describe_ticket(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    if ticket is None:
        return None
    return f"Ticket #{ticket.id}: {ticket.subject}", url_for("tickets.show", ticket_id=ticket.id)

