from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.donors.models import CHANNELS
from portal.donors.preferences import CAUSES, TOPICS
from portal.giving.forms import AmountField


# Choices are given as callables: WTForms 3.3 deprecates passing a list of tuples to the constructor.
class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ProfileForm(FlaskForm):
    title = StringField("Title", validators=[Optional(), Length(max=20)], description="Optional, e.g. Ms, Dr")
    first_name = StringField("First name", validators=[Optional(), Length(max=80)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=80)])
    organisation_name = StringField("Organisation name", validators=[Optional(), Length(max=160)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    address_line1 = StringField("Address", validators=[Optional(), Length(max=160)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=160)])
    city = StringField("Town or city", validators=[Optional(), Length(max=80)])
    region = StringField("County or region", validators=[Optional(), Length(max=80)])
    postcode = StringField("Postcode", validators=[Optional(), Length(max=20)])
    country = StringField("Country", validators=[Optional(), Length(max=80)])
    birthday = DateField("Birthday", validators=[Optional()], description="Optional. We'll send you a birthday greeting (and a few bonus points).")
    preferred_channel = SelectField("How would you like us to contact you?", choices=lambda: list(CHANNELS.items()))
    interests = CheckboxesField("The causes you care about", choices=lambda: list(CAUSES.items()))

    def validate_birthday(self, field):
        if field.data and field.data > date.today():
            raise ValidationError("Your birthday can't be in the future.")
        if field.data and field.data.year < 1900:
            raise ValidationError("Check the year.")


class PreferencesForm(FlaskForm):
    marketing = BooleanField("Yes, email me about the work my gifts support")
    topics = CheckboxesField("Which emails would you like?", choices=lambda: [(key, label) for key, (label, _) in TOPICS.items()])


class GiveForm(FlaskForm):
    amount = AmountField("Amount")
    fund = SelectField("Where should it go?")


class PlanAmountForm(FlaskForm):
    amount = AmountField("New amount each time")


class PlanCancelForm(FlaskForm):
    reason = TextAreaField("Would you tell us why? (optional)", validators=[Optional(), Length(max=1000)],
                           description="It helps us do better. Only our supporter care team reads it.")


class TicketForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired("Enter a subject."), Length(max=200)])
    body = TextAreaField("How can we help?", validators=[DataRequired("Tell us how we can help."), Length(max=10_000)])


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[DataRequired("Write a message."), Length(max=10_000)])


class RedeemForm(FlaskForm):
    fund = SelectField("Which fund should receive the donation?", validators=[Optional()], validate_choice=False)
