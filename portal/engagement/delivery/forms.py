from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.params import parse_id


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
