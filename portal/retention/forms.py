from flask_wtf import FlaskForm
from wtforms import IntegerField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.giving.forms import AmountField
from portal.retention.models import CHECK_IN_ACTIONS
from portal.retention.services import SIGNALS, TEAMS
from portal.support.forms import OptionsField, StaffChoiceField


def _whole(label: str, low: int, high: int, description: str = "") -> IntegerField:
    return IntegerField(label, description=description, validators=[
        InputRequired(f"Enter a whole number from {low} to {high}."), NumberRange(low, high, f"Enter a whole number from {low} to {high}.")])


class RiskSettingsForm(FlaskForm):
    threshold = _whole("Alert when the score reaches", 1, 100, "0–100; an alert and a task are raised once as a donor crosses it")
    no_contact_days = _whole("“No recent contact” after (days)", 7, 1095)
    renewal_window_days = _whole("“Renews soon” means within (days)", 1, 180)
    recent_contact_days = _whole("…with no contact in the last (days)", 7, 365)
    alert_team = OptionsField("Alert tasks go to", options=list(TEAMS.items()))
    alert_task_hours = _whole("Alert tasks are due within (hours)", 1, 720)
    check_in_renewal_days = _whole("Check in before a renewal (days ahead)", 0, 180, "0 switches renewal check-ins off")
    check_in_anniversary_days = _whole("Check in before a giving anniversary (days ahead)", 0, 60, "0 switches anniversary check-ins off")
    major_donor = AmountField("Major donors have given at least")
    major_check_in_months = _whole("Check in with major donors every (months)", 0, 24, "0 switches major-donor check-ins off")
    check_in_action = OptionsField("A check-in creates", options=list(CHECK_IN_ACTIONS.items()))
    check_in_team = OptionsField("Check-in tasks go to (when the donor has no relationship manager)", options=list(TEAMS.items()))


for _key, _signal in SIGNALS.items():
    setattr(RiskSettingsForm, f"w_{_key}", _whole(_signal.label, 0, 100, _signal.weight_help))


class DismissForm(FlaskForm):
    reason = TextAreaField("Why dismiss it?", validators=[DataRequired("Say why you're dismissing this alert."), Length(max=1000)])


class ResolveForm(FlaskForm):
    note = TextAreaField("What was done (optional)", validators=[Optional(), Length(max=1000)])


class ManagerForm(FlaskForm):
    user_id = StaffChoiceField("Relationship manager", blank="Nobody")
