from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.forms import choices
from portal.giving.forms import AmountField
from portal.taxrelief.models import METHODS, SCHEMES, SCOPES


def _not_future(form, field):
    if field.data and field.data > date.today():
        raise ValidationError("The date can't be in the future.")


class DonorDeclarationForm(FlaskForm):
    """A donor's own declaration in the portal: always online, made today."""

    scope = RadioField("What should it cover?", choices=choices({k: v for k, v in SCOPES.items() if k != "this_gift"}),
                       default="past_and_future", validators=[DataRequired("Choose what your declaration covers.")])
    confirm = BooleanField("I am a UK taxpayer and I agree to the declaration above",
                           validators=[DataRequired("Tick the box to confirm the declaration.")])


class GiftDeclarationForm(FlaskForm):
    """Gift Aid one pledge from the thank-you page."""

    gift_id = HiddenField(validators=[DataRequired()])
    scope = RadioField("Gift Aid", choices=choices({"this_gift": "This gift only", "future": "This gift and all future gifts"}),
                       default="future", validators=[DataRequired("Choose what your declaration covers.")])


class StaffDeclarationForm(FlaskForm):
    scope = SelectField("Covers", choices=choices({k: v for k, v in SCOPES.items() if k != "this_gift"}),
                        default="past_and_future")
    method = SelectField("Made", choices=choices({k: v for k, v in METHODS.items() if k != "online"}), default="paper")
    made_on = DateField("Date made", validators=[DataRequired("Enter the date the donor made it."), _not_future],
                        default=date.today)


class CancelForm(FlaskForm):
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=200)])


class ClaimRangeForm(FlaskForm):
    start = DateField("Gifts received from", validators=[DataRequired("Enter the first date.")])
    end = DateField("to", validators=[DataRequired("Enter the last date."), _not_future])

    def validate_end(self, field):
        if self.start.data and field.data and field.data < self.start.data:
            raise ValidationError("The end date must be on or after the start date.")


class SettingsForm(FlaskForm):
    scheme = SelectField("Tax relief scheme", choices=choices(SCHEMES))
    hmrc_reference = StringField("HMRC charity reference", validators=[Optional(), Length(max=20)])


class RewardValueForm(FlaskForm):
    reward_id = SelectField("Reward", coerce=int, choices=[])
    value = AmountField("Value to the donor", description="What HMRC would count as the benefit's value")
