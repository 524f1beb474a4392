from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.engagement.models import CATEGORIES


class TemplateForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the template a name."), Length(max=120)])
    description = StringField("When it is used", validators=[Optional(), Length(max=300)])
    category = SelectField("Kind of email", choices=dict(CATEGORIES),
                           description="Marketing email goes only to donors who opted in, and carries an unsubscribe link")
    subject = StringField("Subject", validators=[InputRequired("Enter a subject."), Length(max=300)])
    html_body = TextAreaField("HTML body", validators=[Optional(), Length(max=100_000)],
                              description="Leave empty to send plain text only")
    text_body = TextAreaField("Plain-text body", validators=[InputRequired("Write the plain-text version."), Length(max=100_000)])
