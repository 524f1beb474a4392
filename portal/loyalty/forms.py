from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.giving.forms import AmountField
from portal.loyalty.models import REWARD_KINDS


class RulesForm(FlaskForm):
    points_per_unit = IntegerField("Points per whole currency unit", validators=[InputRequired("Enter a number."), NumberRange(0, 100_000)])
    recurring_multiplier_percent = IntegerField("Regular giving multiplier (%)", validators=[DataRequired("Enter a percentage."), NumberRange(100, 1000, "Use 100 (no bonus) to 1000.")],
                                                description="150 means gifts from a recurring plan earn one and a half times the points")
    first_gift_bonus = IntegerField("First gift bonus", validators=[Optional(), NumberRange(0, 100_000)], default=0)
    fifth_gift_bonus = IntegerField("Fifth gift bonus", validators=[Optional(), NumberRange(0, 100_000)], default=0)
    anniversary_bonus = IntegerField("Anniversary bonus", validators=[Optional(), NumberRange(0, 100_000)], default=0,
                                     description="Each year on the anniversary of the first gift, for donors still giving")
    birthday_bonus = IntegerField("Birthday bonus", validators=[Optional(), NumberRange(0, 100_000)], default=0)
    tier_window_months = IntegerField("Tier window (months)", validators=[DataRequired("Enter a number of months."), NumberRange(1, 60)],
                                      description="Tiers count the points earned over this many months")
    expiry_months = IntegerField("Points expire after (months of inactivity)", validators=[Optional(), NumberRange(1, 120)],
                                 description="Leave blank to keep points forever. Earning or redeeming counts as activity.")


class TierForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the tier a name."), Length(max=60)])
    min_points = IntegerField("From (points in the window)", validators=[InputRequired("Enter a number of points (0 for the first tier)."), NumberRange(0, 10_000_000)])
    benefits = StringField("Benefits", validators=[Optional(), Length(max=300)])


class RewardForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the reward a name."), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    kind = SelectField("Kind", choices=lambda: list(REWARD_KINDS.items()))
    points_cost = IntegerField("Points", validators=[DataRequired("Enter the points it costs."), NumberRange(1, 10_000_000, "At least one point.")])
    stock = IntegerField("Stock", validators=[Optional(), NumberRange(0, 1_000_000)], description="Leave blank for unlimited")
    donation_amount = AmountField("Donation made", validators=[Optional()], description="For “points into a donation”: what the organisation gives")
    funds = StringField("Funds the donor can choose", validators=[Optional(), Length(max=300)], description="Comma-separated, for donations")
    position = IntegerField("Order", validators=[Optional(), NumberRange(0, 1000)], default=0)
    active = BooleanField("Offered to donors", default=True)


class AdjustForm(FlaskForm):
    points = IntegerField("Points (use a minus sign to deduct)", validators=[DataRequired("Enter a number of points other than zero."), NumberRange(-1_000_000, 1_000_000)])
    reason = StringField("Reason", validators=[DataRequired("Say why the points are being adjusted."), Length(max=200)])


class RedemptionActionForm(FlaskForm):
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=1000)])


class PastGiftsForm(FlaskForm):
    since = DateField("Gifts received on or after", validators=[Optional()],
                      description="Leave blank to count every past gift")
