from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import Email, Length, Optional, Regexp, ValidationError

from portal.forms import choices
from portal.donors.models import CHANNELS, DONOR_KINDS
from portal.journey.services import INTERACTION_KINDS, KINDS


def _birthday_in_past(form, field):
    if field.data and (field.data > date.today() or field.data.year < 1900):
        raise ValidationError("Enter a birthday in the past, such as 1984-03-21.")


class DonorForm(FlaskForm):
    kind = SelectField("Donor type", choices=choices(DONOR_KINDS))
    title = StringField("Title", validators=[Optional(), Length(max=20)])
    first_name = StringField("First name", validators=[Optional(), Length(max=80)])
    last_name = StringField("Last name", validators=[Length(max=80)])
    organisation_name = StringField("Organisation name", validators=[Length(max=160)])
    email = EmailField("Email address", validators=[Optional(), Email("Enter a valid email address, such as name@example.org."), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40), Regexp(r"^[0-9+()\-. ]{6,}$", message="Use digits, spaces and + ( ) - only.")])
    birthday = DateField("Birthday", validators=[Optional(), _birthday_in_past])
    address_line1 = StringField("Address", validators=[Optional(), Length(max=160)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=160)])
    city = StringField("Town or city", validators=[Optional(), Length(max=80)])
    region = StringField("County or region", validators=[Optional(), Length(max=80)])
    postcode = StringField("Postcode", validators=[Optional(), Length(max=20)])
    country = StringField("Country", validators=[Optional(), Length(max=80)])
    preferred_channel = SelectField("Preferred channel", choices=choices(CHANNELS))
    source = StringField("Source", validators=[Optional(), Length(max=80)], description="How they found us, e.g. 'Spring appeal 2026'")
    tags = StringField("Tags", validators=[Optional(), Length(max=500)], description="Separate with commas")
    interests = StringField("Interests", validators=[Optional(), Length(max=500)], description="Causes they care about, separated with commas")
    marketing_opt_in = BooleanField("Agreed to receive marketing email")
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    # Staff confirmations the form asks for only when needed (see services.create_donor).
    confirm_erased_email = BooleanField("They asked to be added again")
    create_anyway = BooleanField("Create anyway")

    def validate_last_name(self, field):
        if self.kind.data == "individual" and not (field.data or "").strip() and not (self.first_name.data or "").strip():
            raise ValidationError("Enter a first or last name.")

    def validate_organisation_name(self, field):
        if self.kind.data == "organisation" and not (field.data or "").strip():
            raise ValidationError("An organisation needs a name.")


class InteractionForm(FlaskForm):
    kind = SelectField("Type", choices=choices((k, KINDS[k].label) for k in INTERACTION_KINDS))
    summary = StringField("Summary", validators=[Length(min=1, max=300, message="Write a short summary (up to 300 characters).")])
    occurred_on = DateField("Date", validators=[Optional()])
    details = TextAreaField("Details", validators=[Optional(), Length(max=5000)])

    def validate_occurred_on(self, field):
        if field.data and field.data > date.today():
            raise ValidationError("An interaction cannot be in the future.")
