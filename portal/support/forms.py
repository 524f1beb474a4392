from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from portal.params import MAX_ID, parse_id
from portal.support.models import TICKET_CHANNELS
from portal.support.services import REPLY_NEXT_STATUS, TASK_OUTCOMES


class OptionsField(SelectField):
    """A select with fixed (value, label) options. They are assigned after construction, which works the same
    from WTForms 3.1 to 3.3 (3.3 deprecates tuples passed to the constructor)."""

    def __init__(self, label=None, validators=None, options=(), **kwargs):
        super().__init__(label, validators, **kwargs)
        self.choices = list(options)


DONOR_NUMBER = NumberRange(1, MAX_ID, "There is no donor with that number.")


def _optional_id(value):
    return parse_id(value)


class StaffChoiceField(SelectField):
    """A staff member, or nobody; choices are filled in by the view from the current staff list."""

    def __init__(self, label=None, blank="Unassigned", **kwargs):
        super().__init__(label, coerce=_optional_id, validate_choice=False, **kwargs)
        self.blank = blank

    def fill(self, users) -> None:
        self.choices = [("", self.blank)] + [(str(u.id), u.name or u.email) for u in users]
        self.known_ids = {u.id for u in users}

    def pre_validate(self, form):
        if self.data is not None and self.data not in getattr(self, "known_ids", set()):
            raise ValidationError("Choose someone from the list.")


class ReplyForm(FlaskForm):
    body = TextAreaField("Reply to the donor", validators=[DataRequired("Write a reply."), Length(max=20000)])
    next_status = OptionsField("Then", options=list(REPLY_NEXT_STATUS.items()), default="waiting")


class NoteForm(FlaskForm):
    body = TextAreaField("Internal note", validators=[DataRequired("Write a note."), Length(max=20000)],
                         description="Only staff see notes.")


class AssignForm(FlaskForm):
    assignee_id = StaffChoiceField("Assigned to")


class TicketStatusForm(FlaskForm):
    status = OptionsField("Status", options=[("open", "Open"), ("waiting", "Waiting on donor"), ("closed", "Closed")])


class NewTicketForm(FlaskForm):
    donor_id = IntegerField("Donor number", validators=[DataRequired("Choose the donor this ticket is for."), DONOR_NUMBER])
    channel = OptionsField("How they got in touch", options=[(k, v) for k, v in TICKET_CHANNELS.items() if k != "portal"],
                          default="phone")
    subject = StringField("Subject", validators=[DataRequired("Enter a subject."), Length(max=200)])
    body = TextAreaField("What they asked", validators=[DataRequired("Write down what they asked."), Length(max=20000)],
                         description="In their words where you can; the donor sees this in their portal.")
    assignee_id = StaffChoiceField("Assign to")


class SupportSettingsForm(FlaskForm):
    first_response_hours = IntegerField("First reply within (hours)", validators=[
        InputRequired("Enter a number of hours."), NumberRange(1, 720, "Enter between 1 and 720 hours.")])
    resolution_hours = IntegerField("Resolve within (hours)", validators=[
        InputRequired("Enter a number of hours."), NumberRange(1, 2160, "Enter between 1 and 2160 hours.")])


class CommentForm(FlaskForm):
    body = TextAreaField("Comment", validators=[DataRequired("Write a comment."), Length(max=5000)])


class CompleteForm(FlaskForm):
    outcome = OptionsField("Outcome", options=[("", "Choose an outcome…")] + list(TASK_OUTCOMES.items()),
                          validators=[DataRequired("Choose an outcome.")])
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class NewTaskForm(FlaskForm):
    title = StringField("Task", validators=[DataRequired("Say what needs doing."), Length(max=200)])
    details = TextAreaField("Details", validators=[Optional(), Length(max=5000)])
    donor_id = IntegerField("Donor number", validators=[Optional(), DONOR_NUMBER])
    assignee_id = StaffChoiceField("Assign to", blank="My team")
    due_on = DateField("Due", validators=[Optional()])
