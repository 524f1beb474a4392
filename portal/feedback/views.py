"""Surveys: the staff builder and results, the public answer page behind a signed link, and /me/surveys."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.auth.access import require_staff, roles_required
from portal.extensions import login_manager
from portal.feedback import services
from portal.feedback.forms import AnswerForm, FeedbackSettingsForm, QuestionForm, SurveyForm
from portal.feedback.models import QUESTION_KINDS, SURVEY_KINDS
from portal.htmx import is_htmx, redirect_to, render

bp = Blueprint("surveys", __name__, url_prefix="/staff/surveys")
bp.before_request(require_staff)
public_bp = Blueprint("survey", __name__)
me_bp = Blueprint("me_surveys", __name__, url_prefix="/me/surveys")

STAFF_ROLES = ("fundraiser", "support")


# ---------------------------------------------------------------- staff: building and results

def _survey_or_404(survey_id: int):
    survey = services.get_survey(survey_id)
    if survey is None:
        abort(404)
    return survey


def _question_or_404(survey, question_id: int):
    question = next((q for q in survey.questions if q.id == question_id), None)
    if question is None:
        abort(404)
    return question


@bp.route("/")
@roles_required(*STAFF_ROLES)
def index():
    surveys = services.all_surveys()
    return render_template("feedback/surveys.html", surveys=surveys, summaries={s.id: services.results(s) for s in surveys},
                           kinds=SURVEY_KINDS)


def _values(form: SurveyForm) -> services.SurveyValues:
    return services.SurveyValues(
        name=form.name.data or "", title=form.title.data or "", intro=form.intro.data or "", active=form.active.data,
        on_gift=form.on_gift.data, on_ticket_closed=form.on_ticket_closed.data, on_plan_end=form.on_plan_end.data,
        delay_days=form.delay_days.data or 0, periodic_months=form.periodic_months.data or 0)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF_ROLES)
def create():
    form = SurveyForm()
    if request.method == "GET":
        form.title.data = "How are we doing?"
    if form.validate_on_submit():
        try:
            survey = services.create_survey(form.kind.data, _values(form))
        except services.FeedbackError as exc:
            getattr(form, exc.field_name or "name").errors.append(str(exc))
        else:
            flash("Survey created. Check the questions, then switch it on.", "success")
            return redirect(url_for("surveys.show", survey_id=survey.id), code=303)
    return render_template("feedback/survey_form.html", form=form, survey=None), (400 if form.errors else 200)


@bp.route("/<int:survey_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF_ROLES)
def edit(survey_id: int):
    survey = _survey_or_404(survey_id)
    form = SurveyForm(obj=survey)
    form.kind.data = survey.kind
    if form.validate_on_submit():
        try:
            services.update_survey(survey, _values(form))
        except services.FeedbackError as exc:
            getattr(form, exc.field_name or "name").errors.append(str(exc))
        else:
            flash("Survey saved.", "success")
            return redirect(url_for("surveys.show", survey_id=survey.id), code=303)
    return render_template("feedback/survey_form.html", form=form, survey=survey), (400 if form.errors else 200)


def _survey_page(survey, *, question_form=None, status: int = 200):
    return render_template("feedback/survey.html", survey=survey, summary=services.results(survey),
                           responses=services.recent_responses(survey.id, limit=20),
                           question_form=question_form or QuestionForm(), question_kinds=QUESTION_KINDS,
                           categories=services.NPS_CATEGORIES), status


@bp.route("/<int:survey_id>")
@roles_required(*STAFF_ROLES)
def show(survey_id: int):
    return _survey_page(_survey_or_404(survey_id))


def _question_values(form: QuestionForm) -> services.QuestionValues:
    return services.QuestionValues(
        kind=form.kind.data, prompt=form.prompt.data or "", required=form.required.data,
        options_text=form.options_text.data or "", scale_min=form.scale_min.data or 0,
        scale_max=form.scale_max.data or 5, low_label=form.low_label.data or "", high_label=form.high_label.data or "")


@bp.route("/<int:survey_id>/questions", methods=["POST"])
@roles_required(*STAFF_ROLES)
def add_question(survey_id: int):
    survey = _survey_or_404(survey_id)
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            services.add_question(survey, _question_values(form))
        except services.FeedbackError as exc:
            getattr(form, exc.field_name or "prompt").errors.append(str(exc))
        else:
            flash("Question added.", "success")
            return redirect(url_for("surveys.show", survey_id=survey.id) + "#questions", code=303)
    return _survey_page(survey, question_form=form, status=400)


@bp.route("/<int:survey_id>/questions/<int:question_id>", methods=["GET", "POST"])
@roles_required(*STAFF_ROLES)
def edit_question(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    question = _question_or_404(survey, question_id)
    form = QuestionForm(obj=question)
    if request.method == "GET":
        form.options_text.data = "\n".join(question.options or [])
    if form.validate_on_submit():
        try:
            services.update_question(question, _question_values(form))
        except services.FeedbackError as exc:
            getattr(form, exc.field_name or "prompt").errors.append(str(exc))
        else:
            flash("Question saved.", "success")
            return redirect(url_for("surveys.show", survey_id=survey.id) + "#questions", code=303)
    return render_template("feedback/question_form.html", survey=survey, question=question, form=form), (400 if form.errors else 200)


@bp.route("/<int:survey_id>/questions/<int:question_id>/delete", methods=["POST"])
@roles_required(*STAFF_ROLES)
def delete_question(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    question = _question_or_404(survey, question_id)
    try:
        services.remove_question(question)
    except services.FeedbackError as exc:
        flash(str(exc), "error")
    else:
        flash("Question removed. Answers already given keep it.", "success")
    return redirect(url_for("surveys.show", survey_id=survey.id) + "#questions", code=303)


@bp.route("/<int:survey_id>/questions/<int:question_id>/move", methods=["POST"])
@roles_required(*STAFF_ROLES)
def move_question(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    question = _question_or_404(survey, question_id)
    services.move_question(question, 1 if request.form.get("direction") == "down" else -1)
    return redirect(url_for("surveys.show", survey_id=survey.id) + "#questions", code=303)


@bp.route("/responses/<int:response_id>")
@roles_required(*STAFF_ROLES)
def response(response_id: int):
    found = services.get_response(response_id)
    if found is None:
        abort(404)
    return render_template("feedback/response.html", response=found, categories=services.NPS_CATEGORIES,
                           category=services.nps_category(found.score) if found.kind == "nps" and found.score is not None else None)


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings():
    form = FeedbackSettingsForm(obj=services.settings())
    if form.validate_on_submit():
        try:
            services.update_settings(csat_low_max=form.csat_low_max.data, nps_low_max=form.nps_low_max.data,
                                     follow_up_hours=form.follow_up_hours.data, follow_up_team=form.follow_up_team.data,
                                     cap_surveys=form.cap_surveys.data, cap_days=form.cap_days.data, actor=current_user)
        except services.FeedbackError as exc:
            getattr(form, exc.field_name).errors.append(str(exc))
        else:
            flash("Feedback rules saved.", "success")
            return redirect(url_for("surveys.index"), code=303)
    return render_template("feedback/settings.html", form=form), (400 if form.errors else 200)


# ---------------------------------------------------------------- answering (public link and /me)

def _answer_page(template: str, invitation, action: str, **context):
    return render(template, block="survey", invitation=invitation, survey=invitation.survey if invitation else None,
                  action=action, form=AnswerForm(), field_name=services.field_name,
                  follow_up_hours=services.settings().follow_up_hours, **context)


def _preset(invitation) -> dict:
    """A score chosen in the email (…?score=9) is preselected; answering still takes a press of Send."""
    question = invitation.survey.score_question
    raw = request.args.get("score", "")
    if question is not None and raw.isdigit() and question.scale_min <= int(raw) <= question.scale_max:
        return {services.field_name(question): raw}
    return {}


def _answer(template: str, invitation, action: str, channel: str):
    if invitation.status == "answered":
        if request.method == "POST":  # a second submission: say so, record nothing
            return _answer_page(template, invitation, action, response=invitation.response,
                                error="You had already answered this survey; we kept your first answer."), 409
        return _answer_page(template, invitation, action, response=invitation.response)
    try:
        services.check_open(invitation)
    except services.FeedbackError as exc:
        return _answer_page(template, invitation, action, error=str(exc)), 410
    if request.method == "GET":
        return _answer_page(template, invitation, action, values=_preset(invitation), errors={})
    try:  # the CSRF token was checked before the view ran
        response = services.submit_response(invitation, request.form, channel=channel)
    except services.FeedbackError as exc:
        if exc.field_name == "answers":
            return _answer_page(template, invitation, action, values=request.form, errors=exc.submission.errors,
                                error_summary=str(exc)), 400
        invitation = services.get_invitation(invitation.id)
        return _answer_page(template, invitation, action, response=invitation.response, error=str(exc)), 409
    if is_htmx():
        return _answer_page(template, invitation, action, response=response, just_answered=True)
    return redirect_to(action)


@public_bp.route("/survey/<token>", methods=["GET", "POST"])
def answer(token: str):
    try:
        invitation = services.invitation_from_token(token)
    except services.FeedbackError as exc:
        return render_template("feedback/answer.html", invitation=None, survey=None, error=str(exc)), (410 if exc.expired else 404)
    return _answer("feedback/answer.html", invitation, url_for("survey.answer", token=token), "link")


@me_bp.before_request
def _donors_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.donor_id:
        abort(403)
    return None


@me_bp.route("/", endpoint="index")
def me_index():
    return render_template("me/surveys.html", open_invitations=services.open_invitations(current_user.donor_id),
                           answered=services.answered_invitations(current_user.donor_id))


@me_bp.route("/<int:invitation_id>", methods=["GET", "POST"])
def answer_in_portal(invitation_id: int):
    invitation = services.get_invitation(invitation_id)
    if invitation is None or invitation.donor_id != current_user.donor_id or invitation.status in ("scheduled", "cancelled"):
        abort(404)
    return _answer("me/survey.html", invitation, url_for("me_surveys.answer_in_portal", invitation_id=invitation.id), "portal")


# ---------------------------------------------------------------- extension points

def me_home_panel(**_):
    if not current_user.is_authenticated or not current_user.donor_id:
        return None
    invitations = services.open_invitations(current_user.donor_id)
    if not invitations:
        return None
    return Markup(render_template("feedback/_me_panel.html", invitations=invitations))


def donor_panel(donor, **_):
    if not current_user.has_role(*STAFF_ROLES):
        return None
    responses = services.responses_for_donor(donor.id)
    if not responses:
        return None
    return Markup(render_template("feedback/_donor_panel.html", responses=responses, categories=services.NPS_CATEGORIES,
                                  nps_category=services.nps_category))


def describe_response(response_id: int):
    found = services.get_response(response_id)
    if found is None:
        return None
    rating = f" — rated {found.score}" if found.score is not None else ""
    return f"{found.survey.name}{rating}", url_for("surveys.response", response_id=found.id)
