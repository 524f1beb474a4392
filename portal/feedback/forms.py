from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.feedback.models import QUESTION_KINDS, SURVEY_KINDS
from portal.feedback.services import FOLLOW_UP_TEAMS
from portal.support.forms import OptionsField


class SurveyForm(FlaskForm):
    name = StringField("Name (for staff)", validators=[DataRequired("Give the survey a name."), Length(max=120)])
    kind = OptionsField("Kind", options=list(SURVEY_KINDS.items()), default="nps")
    title = StringField("Heading donors see", validators=[DataRequired("Write the heading donors will see."), Length(max=200)],
                        description="Also the email subject, e.g. “How are we doing?”")
    intro = TextAreaField("Introduction", validators=[Optional(), Length(max=1000)],
                          description="One or two sentences above the questions.")
    active = BooleanField("Switched on: invitations go out by the rules below")
    on_gift = BooleanField("After a gift is received")
    on_ticket_closed = BooleanField("After a support ticket is closed")
    on_plan_end = BooleanField("When a recurring gift, sponsorship or membership ends")
    delay_days = IntegerField("Wait before sending (days)", default=0, validators=[
        InputRequired("Enter a number of days (0 to send straight away)."), NumberRange(0, 365, "Enter between 0 and 365 days.")])
    periodic_months = IntegerField("Also ask active donors every (months)", default=0, validators=[
        InputRequired("Enter a number of months (0 for never)."), NumberRange(0, 36, "Enter between 0 (never) and 36 months.")],
        description="0 switches periodic sending off. Active donors gave in the last 12 months or give regularly.")


class QuestionForm(FlaskForm):
    kind = OptionsField("Kind of question", options=list(QUESTION_KINDS.items()), default="text")
    prompt = StringField("Question", validators=[DataRequired("Write the question."), Length(max=300)])
    required = BooleanField("An answer is required")
    options_text = TextAreaField("Choices", validators=[Optional(), Length(max=2000)], description="One per line (choice questions).")
    scale_min = OptionsField("Scale from", options=[("0", "0"), ("1", "1")], default="1", coerce=int)
    scale_max = IntegerField("Scale to", default=5, validators=[Optional(), NumberRange(3, 10, "A scale goes up to between 3 and 10.")])
    low_label = StringField("Label for the lowest", validators=[Optional(), Length(max=60)])
    high_label = StringField("Label for the highest", validators=[Optional(), Length(max=60)])


class FeedbackSettingsForm(FlaskForm):
    csat_low_max = OptionsField("A CSAT rating is low at or below", options=[(str(n), str(n)) for n in range(1, 5)], coerce=int)
    nps_low_max = OptionsField("An NPS rating is low at or below", options=[(str(n), str(n)) for n in range(0, 10)], coerce=int)
    follow_up_hours = IntegerField("Follow up a low rating within (hours)", validators=[
        InputRequired("Enter a number of hours."), NumberRange(1, 720, "Enter between 1 and 720 hours.")])
    follow_up_team = OptionsField("Follow-up tasks go to", options=list(FOLLOW_UP_TEAMS.items()))
    cap_surveys = IntegerField("Ask one donor at most (surveys)", validators=[
        InputRequired("Enter a number of surveys."), NumberRange(1, 20, "Enter between 1 and 20.")])
    cap_days = IntegerField("in any (days)", validators=[
        InputRequired("Enter a number of days."), NumberRange(1, 730, "Enter between 1 and 730 days.")])


class AnswerForm(FlaskForm):
    """Carries the CSRF token; the questions are read and checked by the survey service."""
