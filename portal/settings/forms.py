import calendar

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.forms import choices
from portal.money import CURRENCIES


class OrganisationForm(FlaskForm):
    name = StringField("Organisation name", validators=[DataRequired("Enter the organisation's name."), Length(max=120)])
    currency = SelectField("Currency", choices=choices((c, c) for c in CURRENCIES))
    financial_year_start = SelectField("Financial year starts", coerce=int,
                                       choices=[SelectChoice(number, calendar.month_name[number]) for number in range(1, 13)])
    timezone = StringField("Time zone", validators=[DataRequired("Enter a time zone."), Length(max=64)])
    support_email = EmailField("Support email", validators=[Optional(), Email("Enter a valid email address.")])
    impact_line = StringField("Impact line shown to donors", validators=[Optional(), Length(max=300)])
    two_factor_required_for = SelectField("Two-step sign-in required for",
                                          choices=choices([("admins", "Administrators"), ("staff", "All staff")]))
