from datetime import date

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.forms import choices
from portal.giving.models import GIFT_METHODS, PLAN_INTERVALS, PLAN_KINDS
from portal.money import MoneyError, parse_amount


class AmountField(StringField):
    """Text input that parses to integer minor units in .minor, with a clear message when it can't."""

    minor: int | None = None

    def pre_validate(self, form):
        try:
            self.minor = parse_amount(self.data)
        except MoneyError as exc:
            self.minor = None
            raise ValidationError(str(exc)) from exc


class GiftForm(FlaskForm):
    amount = AmountField("Amount")
    received_on = DateField("Date received", validators=[DataRequired("Enter the date the gift was received.")], default=date.today)
    fund = StringField("Fund", validators=[Optional(), Length(max=80)], default="General fund")
    campaign = StringField("Campaign", validators=[Optional(), Length(max=80)])
    method = SelectField("Method", choices=choices(GIFT_METHODS), default="card")
    reference = StringField("Reference", validators=[Optional(), Length(max=80)])

    def validate_received_on(self, field):
        if field.data and field.data > date.today():
            raise ValidationError("A received gift cannot be dated in the future.")
        if field.data and field.data.year < 1950:
            raise ValidationError("Check the year.")


class PlanForm(FlaskForm):
    kind = SelectField("Type", choices=choices(PLAN_KINDS))
    amount = AmountField("Amount each time")
    interval = SelectField("How often", choices=choices(PLAN_INTERVALS))
    started_on = DateField("Start date", validators=[DataRequired("Enter a start date.")], default=date.today)
    renews_on = DateField("Renews on", validators=[Optional()], description="Leave blank: a year after the start for sponsorships, the next payment for gifts")
    fund = StringField("Fund", validators=[Optional(), Length(max=80)], default="General fund")
    description = StringField("Description", validators=[Optional(), Length(max=200)], description="e.g. the child or project sponsored")

    def validate_renews_on(self, field):
        if field.data and self.started_on.data and field.data <= self.started_on.data:
            raise ValidationError("The renewal date must be after the start date.")


class PlanChangeForm(FlaskForm):
    """Pause or resume in one click; cancelling has its own confirmation page (PlanCancelForm)."""
    action = SelectField("Change", choices=choices({"pause": "Pause", "resume": "Resume"}))


class PlanCancelForm(FlaskForm):
    reason = TextAreaField("Why is it ending?", validators=[DataRequired("Say why it is ending: it is kept with the donor's record."),
                                                            Length(max=1000)],
                           description="e.g. what the donor told you on the phone. Kept on the timeline.")


class PlanAmountForm(FlaskForm):
    amount = AmountField("New amount")
