from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.engagement.models import CATEGORIES
from portal.engagement.workflows.services import TRIGGERS
from portal.params import parse_id


class SegmentForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the segment a name."), Length(max=120)])
    description = StringField("Description", validators=[Optional(), Length(max=300)],
                              description="What the segment is for, so colleagues know when to use it")


class TemplateForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the template a name."), Length(max=120)])
    description = StringField("When it is used", validators=[Optional(), Length(max=300)])
    category = SelectField("Kind of email", choices=dict(CATEGORIES),
                           description="Marketing email goes only to donors who opted in, and carries an unsubscribe link")
    subject = StringField("Subject", validators=[InputRequired("Enter a subject."), Length(max=300)])
    html_body = TextAreaField("HTML body", validators=[Optional(), Length(max=100_000)],
                              description="Leave empty to send plain text only")
    text_body = TextAreaField("Plain-text body", validators=[InputRequired("Write the plain-text version."), Length(max=100_000)])


class WorkflowForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the workflow a name."), Length(max=120)])
    description = StringField("Description", validators=[Optional(), Length(max=300)])
    trigger = SelectField("Starts when", choices={key: t.label.replace("…", "N") for key, t in TRIGGERS.items()})
    trigger_days = IntegerField("Number of days (N)", validators=[Optional(), NumberRange(1, 3650, "Between 1 and 3,650 days.")],
                                description="For triggers that count days")
    segment_id = SelectField("Only for donors in", coerce=lambda v: int(v) if v not in (None, "", "None") else None,
                             description="Checked when the donor enters")
    reentry_days = IntegerField("Not again within (days)", validators=[Optional(), NumberRange(1, 3650, "Between 1 and 3,650 days.")],
                                description="Leave empty to let each gift, birthday or renewal start it once")
    conversion_days = IntegerField("Count a gift within (days) as a conversion", default=30,
                                   validators=[InputRequired("Enter a number of days."), NumberRange(1, 365, "Between 1 and 365 days.")])


class BulkSendForm(FlaskForm):
    template_id = SelectField("Email template", coerce=parse_id,
                              validators=[InputRequired("Choose a template.")])
    segment_id = SelectField("Send to segment", coerce=parse_id,
                             validators=[InputRequired("Choose a segment.")])
    name = StringField("Name for this send", validators=[Optional(), Length(max=200)],
                       description="Shown in the list of sends; the template and segment names if empty")


class SettingsForm(FlaskForm):
    marketing_weekly_cap = IntegerField("Marketing emails per donor per 7 days, at most",
                                        validators=[InputRequired("Enter a number."), NumberRange(1, 50, "Between 1 and 50.")],
                                        description="Workflows and sends skip a donor who has reached it; receipts and other transactional mail are not counted")
    track_opens = BooleanField("Record when an email is opened (a tiny image in the email)")
    track_clicks = BooleanField("Record which links are clicked (links go through this site first)")
